package calls

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"switchboard/handler/internal/acs"
	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

// CodePSTNNotAllowed is the problem code of a refused phone number.
const CodePSTNNotAllowed = "pstn-not-allowed"

// PSTNPolicy says who may dial phone numbers, and which: a service caller
// or a holder of Role, and only numbers under an Allowed prefix and under no
// Blocked one (blocked wins). The zero policy allows no dialling at all.
type PSTNPolicy struct {
	Role    string   // AUTH_PSTN_ROLE
	Allowed []string // PSTN_ALLOWED_PREFIXES (E.164 prefixes such as "+44")
	Blocked []string // PSTN_BLOCKED_PREFIXES
}

// Check answers nil when p may dial every one of numbers, else a 403
// pstn-not-allowed naming the reason, or a 400 for a number that is not
// E.164. Routes ask it before anything is created, so a refused number
// never reaches Call Automation.
func (pol PSTNPolicy) Check(p *auth.Principal, numbers []string) error {
	if len(numbers) == 0 {
		return nil
	}
	for _, n := range numbers {
		if !acs.IsE164(n) {
			return fieldProblem("phoneNumbers", fmt.Sprintf("%q is not an E.164 number such as +14255550100", n))
		}
	}
	if len(pol.Allowed) == 0 {
		return pstnRefused("dialling phone numbers is turned off on this deployment (PSTN_ALLOWED_PREFIXES is empty)", nil)
	}
	if p == nil || !p.Service && !slices.Contains(p.Roles, pol.Role) {
		return pstnRefused(fmt.Sprintf("dialling phone numbers needs the role %s in your token's roles", pol.Role), nil)
	}
	var refused []httpapi.FieldError
	for _, n := range numbers {
		if b := MatchPrefix(pol.Blocked, n); b != "" {
			refused = append(refused, httpapi.FieldError{Field: "phoneNumbers", Detail: n + ": blocked prefix " + b})
		} else if MatchPrefix(pol.Allowed, n) == "" {
			refused = append(refused, httpapi.FieldError{Field: "phoneNumbers", Detail: n + ": not under an allowed prefix"})
		}
	}
	if len(refused) > 0 {
		details := make([]string, len(refused))
		for i, r := range refused {
			details[i] = r.Detail
		}
		return pstnRefused("these numbers may not be dialled: "+strings.Join(details, "; "), refused)
	}
	return nil
}

// MatchPrefix returns the longest of prefixes that n starts with, or "".
// PSTN dialling and SMS (package guests) judge numbers by it.
func MatchPrefix(prefixes []string, n string) string {
	best := ""
	for _, p := range prefixes {
		if strings.HasPrefix(n, p) && len(p) > len(best) {
			best = p
		}
	}
	return best
}

func pstnRefused(detail string, errs []httpapi.FieldError) *httpapi.Problem {
	p := httpapi.NewProblem(http.StatusForbidden, CodePSTNNotAllowed, detail)
	p.Errors = errs
	return p
}
