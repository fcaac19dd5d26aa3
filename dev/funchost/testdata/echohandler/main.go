// Command echohandler is a custom handler for funchost's tests: it answers
// GET / for readiness, echoes forwarded HTTP requests as JSON, records
// envelope invocations, and reports SIGTERM on stdout. ECHO_MODE selects
// failure behaviours: exit, nolisten, ignoreterm, spawnchild.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

type invocation struct {
	Function string            `json:"function"`
	Headers  map[string]string `json:"headers"`
	Body     json.RawMessage   `json:"body"`
}

var (
	mu          sync.Mutex
	probes      int
	invocations []invocation
	childPID    int
)

func main() {
	mode := os.Getenv("ECHO_MODE")
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	fmt.Printf("echohandler: starting on port %s mode %q\n", port, mode)
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "echohandler: exiting on purpose before listening")
		os.Exit(3)
	case "nolisten":
		time.Sleep(time.Hour)
	case "spawnchild":
		cmd := exec.Command("sleep", "300")
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "echohandler:", err)
			os.Exit(1)
		}
		childPID = cmd.Process.Pid
	}
	if d := os.Getenv("ECHO_LISTEN_DELAY"); d != "" {
		dur, _ := time.ParseDuration(d)
		time.Sleep(dur)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		probes++
		mu.Unlock()
		_, _ = io.WriteString(w, "ready")
	})
	mux.HandleFunc("GET /echo/state", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"probes": probes, "invocations": invocations, "childPid": childPID})
	})
	mux.HandleFunc("/", echo) // every forwarded HTTP function
	mux.HandleFunc("POST /{function}", envelope)

	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "echohandler:", err)
		os.Exit(1)
	}
	srv := &http.Server{Handler: mux}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		for range sigs {
			fmt.Println("echohandler: SIGTERM received")
			if mode == "ignoreterm" {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = srv.Shutdown(ctx)
			cancel()
		}
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "echohandler:", err)
		os.Exit(1)
	}
	fmt.Println("echohandler: stopped")
}

func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	wd, _ := os.Getwd()
	hdr := map[string][]string{}
	for k, v := range r.Header {
		hdr[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Add("X-Echo-Reply", "one")
	w.Header().Add("X-Echo-Reply", "two")
	status := http.StatusOK
	if s := r.Header.Get("X-Echo-Status"); s != "" {
		fmt.Sscan(s, &status)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"method":        r.Method,
		"path":          r.URL.EscapedPath(),
		"rawQuery":      r.URL.RawQuery,
		"host":          r.Host,
		"headers":       hdr,
		"body":          string(body),
		"contentLength": r.ContentLength,
		"cwd":           wd,
		"port":          os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"),
		"appRoot":       os.Getenv("FUNCTIONS_APP_ROOT_PATH"),
		"args":          os.Args[1:],
	})
}

func envelope(w http.ResponseWriter, r *http.Request) {
	fn := r.PathValue("function")
	body, _ := io.ReadAll(r.Body)
	h := map[string]string{}
	for k := range r.Header {
		h[k] = r.Header.Get(k)
	}
	mu.Lock()
	invocations = append(invocations, invocation{Function: fn, Headers: h, Body: body})
	mu.Unlock()
	switch {
	case strings.Contains(string(body), "fail-me"):
		http.Error(w, "boom: asked to fail", http.StatusInternalServerError)
		return
	case fn == "emptyanswer":
		w.WriteHeader(http.StatusOK)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"Outputs":     map[string]any{"res": map[string]any{"ok": true}},
		"Logs":        []string{"handled " + fn},
		"ReturnValue": map[string]any{"function": fn},
	})
}
