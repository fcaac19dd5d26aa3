package console

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"switchboard/dev/acsemu"
)

// Device is one push registration.
type Device struct {
	DeviceID    string         `json:"deviceId"`
	UserID      string         `json:"userId"`
	DisplayName string         `json:"displayName,omitempty"`
	ACSUserID   string         `json:"acsUserId"`
	Provider    string         `json:"provider"`
	VoIP        bool           `json:"voip,omitempty"`
	Target      string         `json:"target"`
	UpdatedAt   string         `json:"updatedAt,omitempty"`
	ExpiresAt   string         `json:"expiresAt,omitempty"`
	Pushes      int            `json:"pushes"`
	Row         map[string]any `json:"row"`
}

// Push is one push a device received, as the push emulators recorded it.
type Push struct {
	Provider string            `json:"provider"`
	Device   string            `json:"device"`
	DeviceID string            `json:"deviceId,omitempty"`
	UserID   string            `json:"userId,omitempty"`
	Kind     string            `json:"kind,omitempty"`
	Headers  map[string]string `json:"headers,omitempty"`
	Body     json.RawMessage   `json:"body"`
	At       time.Time         `json:"at"`
}

// DevicesView is the Devices and pushes tab.
type DevicesView struct {
	Devices []Device `json:"devices"`
	Pushes  []Push   `json:"pushes"`
	// Users are those who could be rung (they have an ACS identity).
	Users []User `json:"users"`
}

// maxPushes bounds the pushes a view carries (newest first).
const maxPushes = 200

func (s *Server) devices(r *http.Request) (any, error) {
	ctx := r.Context()
	byACS, _, err := s.userDirectory(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := s.scan(ctx, "devices")
	if err != nil {
		return nil, err
	}
	view := DevicesView{Devices: []Device{}, Pushes: []Push{}, Users: []User{}}
	for _, row := range rows {
		d := Device{DeviceID: row.RK, ACSUserID: row.PK, UserID: row.str("userId"), Provider: row.str("provider"),
			UpdatedAt: row.str("updatedAt"), ExpiresAt: row.str("expiresAt"), Row: row.Props}
		d.VoIP, _ = row.Props["voip"].(bool)
		d.DisplayName = byACS[d.ACSUserID].DisplayName
		for _, k := range []string{"handle", "endpoint", "url"} {
			if v := row.str(k); v != "" {
				d.Target = v
			}
		}
		for _, k := range []string{"secret", "auth", "p256dh"} { // keys, not state
			if _, ok := row.Props[k]; ok {
				row.Props[k] = "(hidden)"
			}
		}
		view.Devices = append(view.Devices, d)
	}
	sort.Slice(view.Devices, func(i, j int) bool { return view.Devices[i].UpdatedAt > view.Devices[j].UpdatedAt })
	all := s.st.Push.All()
	for i := len(all) - 1; i >= 0 && len(view.Pushes) < maxPushes; i-- {
		p := all[i]
		push := Push{Provider: p.Provider, Device: p.Device, Headers: p.Headers, Body: p.Body, At: p.At, Kind: pushKind(p.Body)}
		for k := range view.Devices {
			d := &view.Devices[k]
			if d.Target == p.Device || strings.HasSuffix(d.Target, "/"+p.Device) {
				push.DeviceID, push.UserID = d.DeviceID, d.UserID
				d.Pushes++
				break
			}
		}
		if !json.Valid(push.Body) {
			push.Body, _ = json.Marshal(string(p.Body))
		}
		view.Pushes = append(view.Pushes, push)
	}
	for _, u := range byACS {
		view.Users = append(view.Users, u)
	}
	sort.Slice(view.Users, func(i, j int) bool { return view.Users[i].UserID < view.Users[j].UserID })
	return view, nil
}

// pushKind finds the notification's type in a push body, whatever the
// provider wrapped it in (APNs aps/data, FCM data, Web Push, webhook).
func pushKind(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	var walk func(any, int) string
	walk = func(v any, depth int) string {
		m, ok := v.(map[string]any)
		if !ok || depth > 4 {
			return ""
		}
		for _, k := range []string{"type", "kind", "event"} {
			if s, ok := m[k].(string); ok && s != "" {
				return s
			}
		}
		for _, x := range m {
			if s, ok := x.(string); ok && strings.HasPrefix(s, "{") {
				var inner any
				if json.Unmarshal([]byte(s), &inner) == nil {
					if k := walk(inner, depth+1); k != "" {
						return k
					}
				}
			}
			if k := walk(x, depth+1); k != "" {
				return k
			}
		}
		return ""
	}
	return walk(v, 0)
}

// RingRequest is the body of POST /console/api/ring: ACS raises
// IncomingCall for a call to an app user (by user id or raw ACS id).
type RingRequest struct {
	To         string `json:"to"`
	From       string `json:"from"`
	CallerName string `json:"callerName"`
}

// DefaultCaller is who the console's calls come from unless told otherwise.
const DefaultCaller = "8:acs:switchboard-console"

func (s *Server) ring(r *http.Request) (any, error) {
	var req RingRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	_, byID, err := s.userDirectory(r.Context())
	if err != nil {
		return nil, err
	}
	to := req.To
	if u, ok := byID[to]; ok {
		if u.ACSUserID == "" {
			return nil, badRequest("%s has no ACS identity yet: it is made by their first POST /api/token", to)
		}
		to = u.ACSUserID
	}
	if !strings.HasPrefix(to, "8:") {
		return nil, badRequest("to must be an app user with an ACS identity, or a raw ACS id (8:...)")
	}
	from := req.From
	if u, ok := byID[from]; ok && u.ACSUserID != "" {
		from = u.ACSUserID
		if req.CallerName == "" {
			req.CallerName = u.DisplayName
		}
	}
	if from == "" {
		from = DefaultCaller
	}
	in, err := s.st.ACS.RingApplication(r.Context(), from, to, req.CallerName)
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "IncomingCall not delivered: " + err.Error()}
	}
	return struct {
		acsemu.IncomingCall
		Delivered bool `json:"delivered"`
	}{in, true}, nil
}

// RegisterRequest is the body of POST /console/api/devices: the console
// registers a device as user As would (PUT /api/devices/{deviceId}), with a
// target on the push emulators, so its pushes show here.
type RegisterRequest struct {
	As       string `json:"as"`
	DeviceID string `json:"deviceId"`
	// Provider is fcm, apns (a VoIP iPhone), webpush or webhook.
	Provider string `json:"provider"`
}

func (s *Server) registerDevice(r *http.Request) (any, error) {
	var req RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.As == "" || req.DeviceID == "" {
		return nil, badRequest("as (the user) and deviceId are required")
	}
	random := make([]byte, 32)
	_, _ = rand.Read(random)
	body := map[string]any{"provider": req.Provider}
	hookID := ""
	switch req.Provider {
	case "fcm":
		body["handle"] = req.DeviceID + "-fcm-" + hex.EncodeToString(random[:8])
	case "apns":
		body["handle"], body["voip"] = hex.EncodeToString(random), true
	case "webpush":
		_, sub, err := s.st.Push.NewSubscription()
		if err != nil {
			return nil, err
		}
		body["subscription"] = sub
	case "webhook":
		var u string
		hookID, u = s.st.Push.NewWebhook()
		body["url"] = u
	default:
		return nil, badRequest("provider must be fcm, apns, webpush or webhook")
	}
	_, byID, err := s.userDirectory(r.Context())
	if err != nil {
		return nil, err
	}
	tok, err := s.token(req.As, byID[req.As].DisplayName, "")
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(body)
	path := "/api/devices/" + url.PathEscape(req.DeviceID)
	status, answer, err := s.callHandler(r.Context(), "PUT", path, tok, string(b))
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "PUT " + path + ": " + err.Error()}
	}
	if hookID != "" && status < 300 {
		var reg struct{ Secret string }
		if json.Unmarshal(answer, &reg) == nil {
			s.st.Push.SetSecret(hookID, reg.Secret) // the sink checks the signature with it
		}
	}
	return HandlerAnswer{Request: "PUT " + path + " " + string(b), Status: status, Body: answer}, nil
}
