package pushemu

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
)

// CAPEM is the PEM of the certificate both listeners serve (also in CAFile).
func (e *Emulators) CAPEM() []byte { return append([]byte(nil), e.tls.PEM...) }

// CertPool trusts the Notification Hubs emulator's certificate (for Go clients in tests).
func (e *Emulators) CertPool() *x509.CertPool { return e.tls.Pool }

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
