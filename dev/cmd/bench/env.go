package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	webpush "github.com/SherClockHolmes/webpush-go"

	"switchboard/dev/acsemu"
	"switchboard/dev/azurite"
	"switchboard/dev/oidc"
	"switchboard/dev/pushemu"
	"switchboard/dev/stack"
)

// ACS and push providers answer after these fixed latencies.
const (
	acsLatency  = 20 * time.Millisecond
	pushLatency = 50 * time.Millisecond
)

// benchCacheKey is the TOKEN_CACHE_KEY of the processes run with the cache on.
const benchCacheKey = "YmVuY2gtdG9rZW4tY2FjaGUta2V5LTAxMjM0NTY3ODk="

type env struct {
	azurite *azurite.Server
	tables  *tableCounter
	proxy   *httptest.Server
	issuer  *oidc.Issuer
	acs     *acsemu.Emulator
	push    *pushemu.Emulators
	vars    []string // the handler's settings, token cache off
}

// cacheVars are the handler's settings with the token cache on.
func (e *env) cacheVars() []string {
	return append(append([]string(nil), e.vars...), "TOKEN_CACHE_KEY="+benchCacheKey)
}

func (e *env) audience() string { return oidc.DefaultAudience }

// storageConnectionString is the connection string through the counting proxy.
func (e *env) storageConnectionString() string {
	return strings.TrimPrefix(e.vars[0], "STORAGE_CONNECTION_STRING=")
}

func startEnv(ctx context.Context) (*env, error) {
	e := &env{tables: &tableCounter{counts: map[string]int{}}}
	var err error
	progress("starting Azurite and the emulators")
	if e.azurite, err = azurite.Start(ctx, azurite.Options{}); err != nil {
		return nil, err
	}
	target, _ := url.Parse(strings.TrimSuffix(e.azurite.TableEndpoint(), "/devstoreaccount1"))
	rp := httputil.NewSingleHostReverseProxy(target)
	// Enough idle connections to Azurite for every server's concurrency
	// (the default keeps 2, so the proxy would reconnect for most requests).
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 128}
	e.proxy = httptest.NewServer(e.tables.wrap(rp))
	if e.issuer, err = oidc.Start(oidc.Options{}); err != nil {
		return nil, err
	}
	if e.acs, err = acsemu.Start(acsemu.Options{}); err != nil {
		return nil, err
	}
	e.acs.SetLatency(acsLatency)
	if e.push, err = pushemu.Start(pushemu.Options{}); err != nil {
		return nil, err
	}
	e.push.SetLatency(pushLatency)
	vpriv, vpub, err := webpush.GenerateVAPIDKeys()
	if err != nil {
		return nil, err
	}
	e.vars = []string{
		"STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + azurite.AccountKey + ";TableEndpoint=" + e.proxy.URL + "/devstoreaccount1;",
		"ACS_CONNECTION_STRING=" + e.acs.ConnectionString(),
		"AUTH_ISSUER=" + e.issuer.URL(),
		"AUTH_AUDIENCE=" + oidc.DefaultAudience,
		"NOTIFICATION_HUB_CONNECTION_STRING=" + e.push.ConnectionString(),
		"NOTIFICATION_HUB_NAME=" + e.push.Hub(),
		"APNS_VOIP_TOPIC=com.example.bench.voip",
		"WEBPUSH_VAPID_PUBLIC_KEY=" + vpub,
		"WEBPUSH_VAPID_PRIVATE_KEY=" + vpriv,
		"WEBPUSH_SUBJECT=mailto:bench@example.com",
		"PUSH_ALLOW_LOOPBACK_TARGETS=true",
		"WEBPUSH_ALLOWED_HOSTS=" + stack.WebPushAllowedHosts,
		"MAX_DEVICES_PER_USER=100",
		// The load sections send thousands of tokens and hundreds of device
		// registrations for one user, and hundreds of incoming calls from one
		// caller: quotas high enough never to refuse, so every request still
		// pays the quota's conditional write.
		"QUOTA_TOKENS_PER_MINUTE=1000000",
		"QUOTA_DEVICE_REGISTRATIONS_PER_DAY=1000000",
		"QUOTA_RINGS_PER_HOUR=1000000",
		"SSL_CERT_FILE=" + e.push.CAFile(),
		"LOG_LEVEL=warn",
	}
	return e, nil
}

func (e *env) Close() {
	e.push.Close()
	e.acs.Close()
	e.issuer.Close()
	e.proxy.Close()
	e.azurite.Close()
}

// tableCounter counts Table Storage transactions as Azure bills them: every
// request is one, and a batch ($batch) is one. Those on the quotas table
// are counted apart ("quota read", "quota write"): what a limit costs.
type tableCounter struct {
	mu     sync.Mutex
	counts map[string]int
	spent  map[string]time.Duration // time Azurite took to answer, by kind
}

func (c *tableCounter) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "write"
		switch {
		case strings.HasSuffix(r.URL.Path, "$batch"):
			kind = "batch"
		case r.Method == http.MethodGet && strings.Contains(r.URL.Path, "(PartitionKey="):
			kind = "read"
		case r.Method == http.MethodGet:
			kind = "query"
		case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Tables"):
			kind = "create-table"
		}
		if isQuotaTable(r.URL.Path) {
			kind = "quota " + kind
		}
		c.mu.Lock()
		c.counts[kind]++
		c.mu.Unlock()
		t := time.Now()
		h.ServeHTTP(w, r)
		d := time.Since(t)
		c.mu.Lock()
		if c.spent == nil {
			c.spent = map[string]time.Duration{}
		}
		c.spent[kind] += d
		c.mu.Unlock()
	})
}

// isQuotaTable reports whether path addresses the quotas table
// (/<account>/quotas or /<account>/quotas(PartitionKey=...,RowKey=...)).
func isQuotaTable(path string) bool {
	_, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	return rest == "quotas" || strings.HasPrefix(rest, "quotas(")
}

func (c *tableCounter) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = map[string]int{}
	c.spent = map[string]time.Duration{}
	return out
}

// spentSince is how long Azurite took over the requests since the last reset:
// all of them added up, and the batches'.
func (c *tableCounter) spentSince() (all, batches time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, d := range c.spent {
		all += d
		if strings.HasSuffix(k, "batch") {
			batches += d
		}
	}
	return all, batches
}

// proc is a running handler (or Node reference server).
type proc struct {
	cmd  *exec.Cmd
	port int
	base string
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startProc execs name with the env and a fresh FUNCTIONS_CUSTOMHANDLER_PORT.
func startProc(name string, args []string, dir string, vars []string) (*proc, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), vars...), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = discard, discard
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &proc{cmd: cmd, port: port, base: "http://127.0.0.1:" + strconv.Itoa(port)}, nil
}

func (p *proc) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// rssKB reads the resident set of the process (VmRSS in /proc).
func (p *proc) rssKB() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 0}, Timeout: 30 * time.Second}

// do sends one request and returns its status.
func do(ctx context.Context, method, url, token, body string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// waitFor polls until method url answers want, returning the time it took from start.
func waitFor(ctx context.Context, start time.Time, method, url, token string, want int, limit time.Duration) (time.Duration, error) {
	deadline := start.Add(limit)
	for {
		st, err := do(ctx, method, url, token, "")
		if err == nil && st == want {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s %s did not answer %d within %s (last: %d %v)", method, url, want, limit, st, err)
		}
		time.Sleep(500 * time.Microsecond)
	}
}
