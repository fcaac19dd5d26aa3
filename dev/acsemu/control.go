package acsemu

import (
	"encoding/json"
	"net/http"
	"time"
)

// FaultsRequest is the body of POST /emulator/faults; it replaces every fault.
type FaultsRequest struct {
	LatencyMS int  `json:"latencyMs,omitempty"`
	Down      bool `json:"down,omitempty"`
	Fail      *struct {
		Count             int `json:"count"`
		Status            int `json:"status"`
		RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	} `json:"fail,omitempty"`
}

// routeControl registers the emulator-only routes, for tests written in
// other languages and for poking at a running dev stack with curl.
func (e *Emulator) routeControl() {
	e.control.HandleFunc("POST /emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		var req FaultsRequest
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "ValidationError", "faults body: "+err.Error())
			return
		}
		if req.LatencyMS < 0 || (req.Fail != nil && (req.Fail.Count < 0 || req.Fail.Status < 400 || req.Fail.Status > 599)) {
			writeError(w, http.StatusBadRequest, "ValidationError", "latencyMs and fail.count must be >= 0 and fail.status a 4xx or 5xx code")
			return
		}
		e.ResetFaults()
		e.SetLatency(time.Duration(req.LatencyMS) * time.Millisecond)
		e.SetDown(req.Down)
		if req.Fail != nil {
			e.FailNext(req.Fail.Count, req.Fail.Status, time.Duration(req.Fail.RetryAfterSeconds)*time.Second)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("DELETE /emulator/faults", func(w http.ResponseWriter, r *http.Request) {
		e.ResetFaults()
		w.WriteHeader(http.StatusNoContent)
	})
	e.control.HandleFunc("POST /emulator/verify", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Token string `json:"token"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Token == "" {
			writeError(w, http.StatusBadRequest, "ValidationError", `body must be {"token":"<access token>"}`)
			return
		}
		claims, err := e.Verify(req.Token)
		if err != nil {
			writeError(w, http.StatusUnauthorized, "InvalidToken", err.Error())
			return
		}
		writeJSON(w, http.StatusOK, claims)
	})
	e.control.HandleFunc("GET /emulator/stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"resourceId": e.resourceID,
			"identities": e.IdentityCount(),
			"requests":   e.RequestCounts(),
			"issued":     e.Issued(),
			"throttled":  e.Throttled(),
		})
	})
	e.control.HandleFunc("/emulator/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no emulator route "+r.Method+" "+r.URL.Path)
	})
}
