package funchost

import (
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Headers the host adds to every request it sends the handler (HttpWorkerConstants).
const (
	HeaderInvocationID = "X-Azure-Functions-InvocationId"
	HeaderHostVersion  = "X-Azure-Functions-HostVersion"
	userAgentProduct   = "Azure-Functions-Host/" + HostVersion
)

type httpRoute struct {
	fn   *Function
	tmpl *RouteTemplate
	prec []int
}

// buildRoutes orders HTTP functions the way ASP.NET routing tries them: by
// precedence (literal before constrained before plain parameter before
// catch-all), then by template text.
func buildRoutes(app *App) []*httpRoute {
	var rs []*httpRoute
	for _, f := range app.Functions {
		if !f.IsType(TypeHTTPTrigger) || f.Disabled {
			continue
		}
		full := f.Route.Template
		if app.RoutePrefix != "" {
			full = app.RoutePrefix + "/" + full
		}
		tmpl, err := ParseRoute(full)
		if err != nil { // both halves parsed on Load; joined they cannot fail
			panic(fmt.Sprintf("funchost: route %q: %v", full, err))
		}
		rs = append(rs, &httpRoute{fn: f, tmpl: tmpl, prec: tmpl.precedence()})
	}
	sort.SliceStable(rs, func(i, j int) bool {
		if c := comparePrecedence(rs[i].prec, rs[j].prec); c != 0 {
			return c < 0
		}
		return strings.ToLower(rs[i].tmpl.Template) < strings.ToLower(rs[j].tmpl.Template)
	})
	return rs
}

// lookup finds the function for a method and path. A path that matches only
// with another method is not found: the host's method constraint makes the
// route not match, so it answers 404, never 405.
func (h *Host) lookup(method, escapedPath string) (*Function, map[string]string) {
	m := strings.ToLower(method)
	for _, r := range h.routes {
		if len(r.fn.Trigger.Methods) > 0 && !slices.Contains(r.fn.Trigger.Methods, m) {
			continue
		}
		if vals, ok := r.tmpl.Match(escapedPath); ok {
			return r.fn, vals
		}
	}
	return nil, nil
}

// ServeHTTP is the host's public side, with the front end's minimum body data rate.
func (h *Host) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body := &minRateBody{body: r.Body, rc: http.NewResponseController(w), limits: h.opts.Limits.withDefaults()}
	r.Body = body
	if h.journal == nil {
		h.serve(w, r)
		return
	}
	start := time.Now()
	body.capture = &capBuf{}
	rec := &recorder{ResponseWriter: w}
	h.serve(rec, r)
	h.record(r, start, body.capture, rec)
}

func (h *Host) serve(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if strings.EqualFold(strings.TrimSuffix(path, "/"), "/runtime/webhooks/eventgrid") {
		h.serveEventGrid(w, r)
		return
	}
	fn, _ := h.lookup(r.Method, path)
	if fn == nil {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if !h.authorized(r, fn.Trigger.AuthLevel) {
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if !h.app.EnableForwardingHTTPRequest || !fn.IsHTTPInAndOut() {
		http.Error(w, fmt.Sprintf("funchost: function %q needs the envelope form of HTTP invocation (enableForwardingHttpRequest is %v, HTTP-in/out only: %v), which this stand-in does not implement",
			fn.Name, h.app.EnableForwardingHTTPRequest, fn.IsHTTPInAndOut()), http.StatusNotImplemented)
		return
	}
	h.forwardHTTP(w, r, fn)
}

// authorized applies the host's key check for an auth level. With no keys
// configured every request passes, as under Core Tools.
func (h *Host) authorized(r *http.Request, level string) bool {
	if h.opts.FunctionKey == "" && h.opts.SystemKey == "" && h.opts.MasterKey == "" {
		return true
	}
	var keys []string
	switch level {
	case "anonymous":
		return true
	case "admin":
		keys = []string{h.opts.MasterKey}
	case "system":
		keys = []string{h.opts.SystemKey, h.opts.MasterKey}
	default:
		keys = []string{h.opts.FunctionKey, h.opts.MasterKey}
	}
	given := r.Header.Get("x-functions-key")
	if given == "" {
		given = r.URL.Query().Get("code")
	}
	if given == "" {
		return false
	}
	for _, k := range keys {
		if k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(given)) == 1 {
			return true
		}
	}
	return false
}

// hopHeaders are connection-level headers a proxy never forwards.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forwardHTTP sends the request on as DefaultHttpWorkerService does with
// enableForwardingHttpRequest: same method, absolute path, query, headers
// (Host included) and body, plus the invocation headers; the answer goes back
// unchanged.
func (h *Host) forwardHTTP(w http.ResponseWriter, r *http.Request, fn *Function) {
	target := h.handlerURL + r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	// The host copies the body only when Content-Length is positive
	// (HttpRequestExtensions.ToHttpRequestMessage); a chunked body is dropped,
	// and Content-Type with it.
	var body io.Reader
	if r.ContentLength > 0 {
		body = r.Body
	}
	out, err := http.NewRequestWithContext(r.Context(), r.Method, target, body)
	if err != nil {
		http.Error(w, "funchost: "+err.Error(), http.StatusInternalServerError)
		return
	}
	out.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		out.Header.Del(k)
	}
	if body == nil {
		out.Header.Del("Content-Type")
		out.Header.Del("Content-Length")
	} else {
		out.ContentLength = r.ContentLength
	}
	out.Host = r.Host
	h.addInvocationHeaders(out.Header, uuid.NewString())

	resp, err := h.forward.RoundTrip(out)
	if body, ok := r.Body.(*minRateBody); err != nil && ok && body.expired() {
		fmt.Fprintf(h.stdout, "[%s] request body too slow; connection closed\n", fn.Name)
		slowBodyAnswer(w)
		return
	}
	if err != nil {
		fmt.Fprintf(h.stdout, "[%s] invocation failed: %v\n", fn.Name, err)
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if slices.Contains(hopHeaders, http.CanonicalHeaderKey(k)) {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush() // stream: server-sent events and long answers arrive as written
		}
		if err != nil {
			return
		}
	}
}

// addInvocationHeaders adds what DefaultHttpWorkerService.AddHeaders adds. The
// User-Agent product is appended to the caller's, as HttpHeaders.UserAgent.ParseAdd does.
func (h *Host) addInvocationHeaders(hd http.Header, invocationID string) {
	hd.Set(HeaderHostVersion, HostVersion)
	hd.Set(HeaderInvocationID, invocationID)
	if ua := hd.Get("User-Agent"); ua != "" {
		hd.Set("User-Agent", ua+" "+userAgentProduct)
	} else {
		hd.Set("User-Agent", userAgentProduct)
	}
}
