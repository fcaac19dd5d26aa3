package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// DefaultSMSGuestTemplate is the invitation text when SMS_GUEST_TEMPLATE is
// not set: {inviter} is the call creator's display name, {link} the join link.
const DefaultSMSGuestTemplate = "{inviter} invited you to a call: {link}"

// maxSMSTemplate leaves room in ACS's 2048-character message for the
// inviter's name and the link.
const maxSMSTemplate = 1000

// SMS is the SMS guests capability's settings. From empty means off.
type SMS struct {
	From      string   // ACS_SMS_FROM: E.164 number, short code or alphanumeric sender ID owned by the ACS resource
	Template  string   // SMS_GUEST_TEMPLATE: holds {link}; may hold {inviter} and {name}
	JoinURL   string   // GUEST_JOIN_URL: holds {code}
	Allowed   []string // SMS_ALLOWED_PREFIXES: E.164 prefixes that may be texted (none: no texts)
	Blocked   []string // SMS_BLOCKED_PREFIXES: never texted, even when allowed
	MaxGuests int      // MAX_GUESTS_PER_CALL
}

var (
	shortCodeRE    = regexp.MustCompile(`^[0-9]{5,6}$`)
	alphaSenderRE  = regexp.MustCompile(`^[A-Za-z0-9 +\-_&]{1,11}$`)
	hasLetterRE    = regexp.MustCompile(`[A-Za-z]`)
	placeholderRE  = regexp.MustCompile(`\{[a-z]+\}`)
	templateFields = []string{"{inviter}", "{link}", "{name}"}
)

// sms reads ACS_SMS_FROM, SMS_GUEST_TEMPLATE, GUEST_JOIN_URL,
// SMS_ALLOWED_PREFIXES, SMS_BLOCKED_PREFIXES and MAX_GUESTS_PER_CALL.
func (r *reader) sms(c *Config) {
	s := &c.SMS
	s.From = r.str("ACS_SMS_FROM")
	if s.From != "" && !IsSMSSender(s.From) {
		r.fail("ACS_SMS_FROM", "must be an E.164 number such as +18005550100, a 5-6 digit short code, or an alphanumeric sender ID (at most 11 letters, digits, spaces or +-_&, with a letter)")
	}
	s.Template = r.strDefault("SMS_GUEST_TEMPLATE", DefaultSMSGuestTemplate)
	if !strings.Contains(s.Template, "{link}") {
		r.fail("SMS_GUEST_TEMPLATE", "must hold {link}, where the join link goes (e.g. \""+DefaultSMSGuestTemplate+"\")")
	} else if utf8.RuneCountInString(s.Template) > maxSMSTemplate {
		r.fail("SMS_GUEST_TEMPLATE", fmt.Sprintf("must be at most %d characters", maxSMSTemplate))
	}
	for _, p := range placeholderRE.FindAllString(s.Template, -1) {
		if !slices.Contains(templateFields, p) {
			r.fail("SMS_GUEST_TEMPLATE", fmt.Sprintf("holds %s; the placeholders are {inviter}, {link} and {name}", p))
		}
	}
	s.JoinURL = r.str("GUEST_JOIN_URL")
	if s.JoinURL != "" {
		if !strings.Contains(s.JoinURL, "{code}") {
			r.fail("GUEST_JOIN_URL", "must hold {code}, e.g. https://app.example.com/join?code={code}")
		} else if u, err := url.Parse(strings.ReplaceAll(s.JoinURL, "{code}", "x")); err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && IsLoopback(u.Hostname()))) {
			r.fail("GUEST_JOIN_URL", "must be an https URL (plain http only for loopback hosts), e.g. https://app.example.com/join?code={code}")
		}
	}
	r.together("ACS_SMS_FROM", s.From, "GUEST_JOIN_URL", s.JoinURL)
	s.Allowed = r.prefixes("SMS_ALLOWED_PREFIXES", "")
	s.Blocked = r.prefixes("SMS_BLOCKED_PREFIXES", DefaultPSTNBlockedPrefixes)
	s.MaxGuests = r.intRange("MAX_GUESTS_PER_CALL", 10, 1, 50)
}

// IsSMSSender reports whether from is a sender ACS can text from: an E.164
// number, a short code (without +) or an alphanumeric sender ID.
func IsSMSSender(from string) bool {
	return e164RE.MatchString(from) || shortCodeRE.MatchString(from) ||
		alphaSenderRE.MatchString(from) && hasLetterRE.MatchString(from)
}
