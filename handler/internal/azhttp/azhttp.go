// Package azhttp is the HTTP client Switchboard's Azure clients (Table
// Storage, Communication Services, Notification Hubs) share.
//
// It is azcore's default client with an idle pool sized for a server: azcore
// keeps at most 10 idle connections per host, so above 10 requests in flight
// to one service (Table Storage speaks only HTTP/1.1) every further request
// opens a connection, with its TLS handshake, and drops it afterwards. Here
// up to MaxIdleConnsPerHost stay open for reuse; HTTP/2 is used where the
// service offers it, with the same health-check pings azcore sets.
package azhttp

import (
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// MaxIdleConnsPerHost is how many idle connections to one service are kept:
// the fan-out's parallel sends and a busy instance's concurrent requests
// stay within it.
const MaxIdleConnsPerHost = 100

var client = &http.Client{Transport: newTransport()}

// Client is the shared client (no overall timeout: the pipelines' retry
// policy sets a per-try timeout).
func Client() *http.Client { return client }

func newTransport() *http.Transport {
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          4 * MaxIdleConnsPerHost,
		MaxIdleConnsPerHost:   MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig: &tls.Config{
			MinVersion:    tls.VersionTLS12,
			Renegotiation: tls.RenegotiateFreelyAsClient,
		},
		// A connection idle for 10 s is pinged, and closed without an answer in 5 s.
		HTTP2: &http.HTTP2Config{SendPingTimeout: 10 * time.Second, PingTimeout: 5 * time.Second},
	}
}
