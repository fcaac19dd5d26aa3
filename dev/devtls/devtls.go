// Package devtls makes the development TLS certificates the push, ACS, Entra
// and Graph emulators serve: self-signed for 127.0.0.1, ::1 and localhost and its own
// CA, so a client trusts exactly it (Go through SSL_CERT_FILE, Node through
// NODE_EXTRA_CA_CERTS). azidentity, MSAL and the Graph SDKs refuse to send
// credentials or bearer tokens over plain http.
package devtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"time"
)

// Certificate is a generated certificate and its key.
type Certificate struct {
	tls  tls.Certificate
	pem  []byte
	pool *x509.CertPool
}

// New generates a certificate valid for a week.
func New(commonName string) (*Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devtls: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devtls: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return &Certificate{
		tls:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pool: pool,
	}, nil
}

// ServerConfig serves the certificate.
func (c *Certificate) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.tls}, MinVersion: tls.VersionTLS12}
}

// PEM is the certificate in PEM, to trust it.
func (c *Certificate) PEM() []byte { return append([]byte(nil), c.pem...) }

// Pool trusts the certificate, for Go clients in tests.
func (c *Certificate) Pool() *x509.CertPool { return c.pool }

// WriteBundle writes the PEM blocks given into one CA file (SSL_CERT_FILE
// names a single file, so every local certificate goes in it).
func WriteBundle(path string, pems ...[]byte) error {
	var all []byte
	for _, p := range pems {
		all = append(all, p...)
	}
	return os.WriteFile(path, all, 0o644)
}
