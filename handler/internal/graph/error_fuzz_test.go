package graph

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzNewError: whatever Graph (or something in between) answers, the
// error is built without panicking and always has a code.
func FuzzNewError(f *testing.F) {
	f.Add(403, `{"error":{"code":"Unauthorized","message":"App a is not authorized to Create meeting on behalf of user b"}}`, "5")
	f.Add(429, `{"error":{"code":"TooManyRequests"}}`, "Wed, 21 Oct 2015 07:28:00 GMT")
	f.Add(502, `<html>bad gateway</html>`, "")
	f.Add(404, `{"error":"not an object"}`, "-1")
	f.Fuzz(func(t *testing.T, status int, body, retry string) {
		if status < 100 || status > 999 {
			return
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retry}}}
		e := newError("POST", "/users/x/onlineMeetings/createOrGet", resp, []byte(body))
		if e.Code == "" && http.StatusText(status) != "" {
			t.Errorf("no code for %d %q", status, body)
		}
		if e.RetryAfter < 0 {
			t.Errorf("negative Retry-After %s from %q", e.RetryAfter, retry)
		}
		if IsAccessPolicyMissing(e) && (status != 403 || !strings.Contains(strings.ToLower(e.Message), "on behalf of")) {
			t.Errorf("access policy refusal read from %d %q", status, body)
		}
		_ = e.Error()
	})
}
