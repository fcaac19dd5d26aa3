package acsemu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxClockSkew is how far x-ms-date may be from the emulator's clock, as in ACS.
const MaxClockSkew = 15 * time.Minute

// MinAPIVersion is the first GA api-version the emulator serves.
const MinAPIVersion = "2023-10-01"

const maxBody = 1 << 20

// signedHeaders is the only header list ACS clients sign with.
const signedHeaders = "x-ms-date;host;x-ms-content-sha256"

// authenticate reads the body and checks the request's credential: an
// HMAC-SHA256 signature over the ACS string-to-sign, or an approved bearer token.
func (e *Emulator) authenticate(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("reading the request body: %w", err)
	}
	if len(body) > maxBody {
		return nil, errors.New("the request body is too large")
	}
	authz := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(authz, "Bearer "); ok {
		if e.opts.VerifyBearer == nil {
			return nil, errors.New("bearer tokens are not accepted by this emulator")
		}
		if err := e.opts.VerifyBearer(token); err != nil {
			return nil, fmt.Errorf("the bearer token is not valid: %w", err)
		}
		return body, nil
	}
	sig, err := parseAuthorization(authz)
	if err != nil {
		return nil, err
	}
	date := r.Header.Get("x-ms-date")
	if date == "" {
		return nil, errors.New("the x-ms-date header is missing")
	}
	at, err := time.Parse(http.TimeFormat, date)
	if err != nil {
		return nil, fmt.Errorf("the x-ms-date header %q is not an RFC 1123 GMT date: %w", date, err)
	}
	// Against the real clock: clients sign with theirs, whatever Options.Now says.
	if skew := time.Since(at); skew > MaxClockSkew || skew < -MaxClockSkew {
		return nil, fmt.Errorf("the x-ms-date header is %s away from the server's clock (at most %s)", skew.Round(time.Second), MaxClockSkew)
	}
	hash := r.Header.Get("x-ms-content-sha256")
	if hash == "" {
		return nil, errors.New("the x-ms-content-sha256 header is missing")
	}
	sum := sha256.Sum256(body)
	if hash != base64.StdEncoding.EncodeToString(sum[:]) {
		return nil, errors.New("the x-ms-content-sha256 header does not match the request body")
	}
	// The path and query are taken exactly as they came on the wire.
	target := r.RequestURI
	if target == "" {
		target = r.URL.RequestURI()
	}
	mac := hmac.New(sha256.New, e.key)
	mac.Write([]byte(r.Method + "\n" + target + "\n" + date + ";" + r.Host + ";" + hash))
	if !hmac.Equal(mac.Sum(nil), sig) {
		return nil, errors.New("the request signature is not valid for this resource's access key")
	}
	return body, nil
}

// parseAuthorization reads `HMAC-SHA256 SignedHeaders=...&Signature=...`
// and returns the decoded signature.
func parseAuthorization(h string) ([]byte, error) {
	if h == "" {
		return nil, errors.New("the Authorization header is missing")
	}
	rest, ok := strings.CutPrefix(h, "HMAC-SHA256 ")
	if !ok {
		return nil, errors.New("the Authorization header is not HMAC-SHA256")
	}
	var headers, sig string
	var haveHeaders, haveSig bool
	for part := range strings.SplitSeq(rest, "&") {
		k, v, _ := strings.Cut(part, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "signedheaders":
			headers, haveHeaders = v, true
		case "signature":
			sig, haveSig = v, true
		default:
			return nil, fmt.Errorf("the Authorization header has an unknown parameter %q", k)
		}
	}
	if !haveHeaders || !strings.EqualFold(headers, signedHeaders) {
		return nil, fmt.Errorf("the Authorization header must sign exactly %s", signedHeaders)
	}
	if !haveSig || sig == "" {
		return nil, errors.New("the Authorization header has no Signature")
	}
	raw, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return nil, fmt.Errorf("the Authorization Signature is not base64: %w", err)
	}
	return raw, nil
}

// checkAPIVersion accepts one GA api-version (YYYY-MM-DD) not older than MinAPIVersion.
func checkAPIVersion(values []string) error {
	if len(values) == 0 || values[0] == "" {
		return errors.New("the api-version query parameter is required")
	}
	if len(values) > 1 {
		return errors.New("the api-version query parameter is given more than once")
	}
	v := values[0]
	if _, err := time.Parse(time.DateOnly, v); err != nil || len(v) != len(time.DateOnly) {
		return fmt.Errorf("the api-version %q is not supported: use a GA version (YYYY-MM-DD) from %s on", v, MinAPIVersion)
	}
	if v < MinAPIVersion {
		return fmt.Errorf("the api-version %q is not supported: the oldest GA version served is %s", v, MinAPIVersion)
	}
	return nil
}

// writeError sends ACS's error body: {"error":{"code","message"}}.
func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": message}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
