package config

import (
	"errors"
	"slices"
	"testing"
)

func smsEnv(set map[string]string) map[string]string {
	env := base()
	env["ACS_SMS_FROM"] = "+18005550100"
	env["GUEST_JOIN_URL"] = "https://app.example.com/join?code={code}"
	for k, v := range set {
		env[k] = v
	}
	return env
}

func TestLoadSMS(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatal(err)
	}
	if c.SMS.From != "" || c.SMS.Template != DefaultSMSGuestTemplate || c.SMS.MaxGuests != 10 || c.SMS.Allowed != nil ||
		!slices.Equal(c.SMS.Blocked, []string{"+1900", "+1976", "+881", "+882", "+883"}) || c.QuotaUser.SMSPerDay != 20 || c.QuotaService.SMSPerDay != 200 {
		t.Errorf("SMS defaults: %+v, quotas %d/%d", c.SMS, c.QuotaUser.SMSPerDay, c.QuotaService.SMSPerDay)
	}
	c, err = load(smsEnv(map[string]string{"SMS_ALLOWED_PREFIXES": "+1425, +44", "MAX_GUESTS_PER_CALL": "3", "QUOTA_SMS_PER_DAY": "5",
		"SMS_GUEST_TEMPLATE": "Hi {name}, {inviter} invites you: {link}"}))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.SMS.Allowed, []string{"+1425", "+44"}) || c.SMS.MaxGuests != 3 || c.QuotaUser.SMSPerDay != 5 || c.SMS.JoinURL == "" {
		t.Errorf("SMS settings: %+v", c.SMS)
	}
	for _, from := range []string{"+18005550100", "12345", "123456", "Contoso", "Contoso-Inc"} {
		if _, err := load(smsEnv(map[string]string{"ACS_SMS_FROM": from})); err != nil {
			t.Errorf("ACS_SMS_FROM %q: %v", from, err)
		}
	}
}

func TestLoadSMSRefuses(t *testing.T) {
	cases := []struct {
		name, setting string
		env           map[string]string
	}{
		{"template without {link}", "SMS_GUEST_TEMPLATE", smsEnv(map[string]string{"SMS_GUEST_TEMPLATE": "{inviter} invited you"})},
		{"template with an unknown placeholder", "SMS_GUEST_TEMPLATE", smsEnv(map[string]string{"SMS_GUEST_TEMPLATE": "{link} {when}"})},
		{"join URL without {code}", "GUEST_JOIN_URL", smsEnv(map[string]string{"GUEST_JOIN_URL": "https://app.example.com/join"})},
		{"join URL over plain http", "GUEST_JOIN_URL", smsEnv(map[string]string{"GUEST_JOIN_URL": "http://app.example.com/join?code={code}"})},
		{"from without join URL", "GUEST_JOIN_URL", smsEnv(map[string]string{"GUEST_JOIN_URL": ""})},
		{"join URL without from", "ACS_SMS_FROM", smsEnv(map[string]string{"ACS_SMS_FROM": ""})},
		{"from not E.164", "ACS_SMS_FROM", smsEnv(map[string]string{"ACS_SMS_FROM": "+0123"})},
		{"from: 4-digit short code", "ACS_SMS_FROM", smsEnv(map[string]string{"ACS_SMS_FROM": "1234"})},
		{"from: 12-character sender ID", "ACS_SMS_FROM", smsEnv(map[string]string{"ACS_SMS_FROM": "ContosoBank1"})},
		{"prefix not E.164", "SMS_ALLOWED_PREFIXES", smsEnv(map[string]string{"SMS_ALLOWED_PREFIXES": "1425"})},
		{"blocked prefix not E.164", "SMS_BLOCKED_PREFIXES", smsEnv(map[string]string{"SMS_BLOCKED_PREFIXES": "+1900,x"})},
		{"too many guests", "MAX_GUESTS_PER_CALL", smsEnv(map[string]string{"MAX_GUESTS_PER_CALL": "51"})},
		{"SMS quota zero", "QUOTA_SMS_PER_DAY", smsEnv(map[string]string{"QUOTA_SMS_PER_DAY": "0"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := load(c.env)
			var e *Error
			if !errors.As(err, &e) || e.Setting != c.setting {
				t.Fatalf("err = %v, want one naming %s", err, c.setting)
			}
		})
	}
}
