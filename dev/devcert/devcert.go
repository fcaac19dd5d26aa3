// Package devcert makes the self-signed TLS certificate local emulators
// serve when a client insists on https (the Chat SDK's bearer policy
// refuses http): one certificate for 127.0.0.1, ::1 and localhost that is
// its own CA, written to a PEM file that SSL_CERT_FILE (Go) or
// NODE_EXTRA_CA_CERTS (Node) can name.
package devcert

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
	"path/filepath"
	"time"
)

// Cert is a generated certificate and the file its PEM is in.
type Cert struct {
	TLS  tls.Certificate
	PEM  []byte
	Pool *x509.CertPool
	// File holds PEM; Close removes it.
	File string
	dir  string
}

// New makes a certificate named name, valid for a week, and writes its PEM.
func New(name string) (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
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
		return nil, fmt.Errorf("devcert: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	c := &Cert{
		TLS:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		PEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		Pool: pool,
	}
	if c.dir, err = os.MkdirTemp("", "devcert-"); err != nil {
		return nil, err
	}
	c.File = filepath.Join(c.dir, "ca.pem")
	if err := os.WriteFile(c.File, c.PEM, 0o644); err != nil {
		os.RemoveAll(c.dir)
		return nil, err
	}
	return c, nil
}

// ServerConfig serves the certificate.
func (c *Cert) ServerConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{c.TLS}, MinVersion: tls.VersionTLS12}
}

// Close removes the PEM file.
func (c *Cert) Close() error { return os.RemoveAll(c.dir) }

// Bundle writes the PEMs of several files into one in dir, for SSL_CERT_FILE
// (which names one file) when several emulators serve their own certificates.
func Bundle(dir string, files ...string) (string, error) {
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("devcert: %w", err)
		}
		all = append(all, b...)
	}
	out := filepath.Join(dir, "ca-bundle.pem")
	return out, os.WriteFile(out, all, 0o644)
}
