package calls

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"switchboard/handler/internal/auth"
	"switchboard/handler/internal/httpapi"
)

func TestPSTNPolicy(t *testing.T) {
	blocked := []string{"+1900", "+1976", "+881", "+882", "+883"}
	open := PSTNPolicy{Role: "Switchboard.Dial", Allowed: []string{"+1", "+44"}, Blocked: blocked}
	dialler := &auth.Principal{UserID: "alice", Roles: []string{"Switchboard.Dial"}}
	plain := &auth.Principal{UserID: "bob"}
	service := &auth.Principal{UserID: "backend", Roles: []string{"Switchboard.Service"}, Service: true}
	tests := []struct {
		name    string
		policy  PSTNPolicy
		caller  *auth.Principal
		numbers []string
		status  int    // 0: allowed
		detail  string // must appear in the detail
	}{
		{"no numbers, no rule", PSTNPolicy{}, plain, nil, 0, ""},
		{"allowed number, role holder", open, dialler, []string{"+14255550100"}, 0, ""},
		{"allowed number, service caller", open, service, []string{"+442071234567"}, 0, ""},
		{"no dial role", open, plain, []string{"+14255550100"}, 403, "role Switchboard.Dial"},
		{"another role's name is not the dial role", PSTNPolicy{Role: "Dial", Allowed: []string{"+1"}}, &auth.Principal{Roles: []string{"Dialer"}}, []string{"+14255550100"}, 403, "role Dial"},
		{"no prefixes: no dialling, even for services", PSTNPolicy{Role: "Switchboard.Dial", Blocked: blocked}, service, []string{"+14255550100"}, 403, "PSTN_ALLOWED_PREFIXES is empty"},
		{"premium rate", open, dialler, []string{"+19005550100"}, 403, "+19005550100: blocked prefix +1900"},
		{"satellite, and not allowed either", open, dialler, []string{"+882355555555"}, 403, "+882355555555: blocked prefix +882"},
		{"unlisted country", open, dialler, []string{"+33123456789"}, 403, "+33123456789: not under an allowed prefix"},
		{"one bad number refuses the call", open, dialler, []string{"+14255550100", "+19765550100"}, 403, "blocked prefix +1976"},
		{"blocked wins over a longer allowed prefix", PSTNPolicy{Role: "r", Allowed: []string{"+19005"}, Blocked: []string{"+1900"}}, service, []string{"+19005550100"}, 403, "blocked prefix +1900"},
		{"the issue's example", open, dialler, []string{"+19005550100", "+882355555555"}, 403, "+882355555555"},
		{"not E.164", open, dialler, []string{"+1 425 555 0100"}, 400, "E.164"},
		{"no principal", open, nil, []string{"+14255550100"}, 403, "role"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.policy.Check(tt.caller, tt.numbers)
			if tt.status == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var p *httpapi.Problem
			if !errors.As(err, &p) || p.Status != tt.status {
				t.Fatalf("want %d, got %v", tt.status, err)
			}
			if tt.status == http.StatusForbidden && p.Code != CodePSTNNotAllowed {
				t.Fatalf("code %q, want %s", p.Code, CodePSTNNotAllowed)
			}
			if !strings.Contains(p.Detail, tt.detail) {
				t.Fatalf("detail %q does not name %q", p.Detail, tt.detail)
			}
		})
	}
}

func FuzzPSTNPolicyNeverAllowsBlocked(f *testing.F) {
	f.Add("+19005550100")
	f.Add("+14255550100")
	pol := PSTNPolicy{Role: "r", Allowed: []string{"+1", "+88"}, Blocked: []string{"+1900", "+882"}}
	caller := &auth.Principal{Service: true}
	f.Fuzz(func(t *testing.T, n string) {
		if pol.Check(caller, []string{n}) != nil {
			return
		}
		if strings.HasPrefix(n, "+1900") || strings.HasPrefix(n, "+882") || !(strings.HasPrefix(n, "+1") || strings.HasPrefix(n, "+88")) {
			t.Fatalf("%q was allowed", n)
		}
	})
}
