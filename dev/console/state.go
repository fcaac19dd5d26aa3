package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"
)

// Row is one Table Storage entity: its keys (unescaped as the handler's
// store escapes them) and its properties, without OData annotations.
type Row struct {
	PK, RK string
	Props  map[string]any
}

func (r Row) str(k string) string {
	v, _ := r.Props[k].(string)
	return v
}

// scan reads every entity of a table (the handler's logical name); a table
// the handler has not created yet is empty.
func (s *Server) scan(ctx context.Context, table string) ([]Row, error) {
	pager := s.tables.NewClient(s.prefix + table).NewListEntitiesPager(nil)
	var out []Row
	for pager.More() {
		page, err := pager.NextPage(ctx)
		var re *azcore.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusNotFound || re.ErrorCode == string(aztables.ResourceNotFound)) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read table %s: %w", table, err)
		}
		for _, raw := range page.Entities {
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				return nil, fmt.Errorf("decode %s entity: %w", table, err)
			}
			row := Row{Props: map[string]any{}}
			for k, v := range m {
				switch {
				case k == "PartitionKey":
					row.PK = unescapeKey(v)
				case k == "RowKey":
					row.RK = unescapeKey(v)
				case k == "Timestamp" || strings.HasPrefix(k, "odata.") || strings.Contains(k, "@odata."):
				default:
					row.Props[k] = v
				}
			}
			out = append(out, row)
		}
	}
	return out, nil
}

// unescapeKey reverses the store's percent-encoding of forbidden key characters.
func unescapeKey(v any) string {
	s, _ := v.(string)
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// User is an app user as the users table and its neighbours hold them.
type User struct {
	UserID      string         `json:"userId"`
	DisplayName string         `json:"displayName,omitempty"`
	ACSUserID   string         `json:"acsUserId,omitempty"`
	State       string         `json:"state"`
	CreatedAt   string         `json:"createdAt,omitempty"`
	Contacts    []Contact      `json:"contacts"`
	Blocks      []string       `json:"blocks"`
	Spaces      []SpaceMember  `json:"spaces"`
	Devices     int            `json:"devices"`
	Profile     map[string]any `json:"profile"`
}

// Contact is one entry of a user's contact list, as the API would name its state.
type Contact struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName,omitempty"`
	// State is "mutual", "requested" (this user asked) or "asks-you" (the
	// other asked and this user has not answered).
	State string `json:"state"`
}

// SpaceMember is one user's place in a space.
type SpaceMember struct {
	SpaceID string `json:"spaceId"`
	Name    string `json:"name"`
	Role    string `json:"role"`
	State   string `json:"state"`
}

// Space is a space and its members.
type Space struct {
	ID          string           `json:"id"`
	Name        string           `json:"name"`
	Owner       string           `json:"owner"`
	CreatedAt   string           `json:"createdAt,omitempty"`
	GroupCallID string           `json:"groupCallId,omitempty"`
	Members     []map[string]any `json:"members"`
	Row         map[string]any   `json:"row"`
}

// UsersView is the Users tab.
type UsersView struct {
	Users  []User  `json:"users"`
	Spaces []Space `json:"spaces"`
	// Chats are the ACS emulator's chat threads and their messages.
	Chats []ChatThread `json:"chats"`
}

func (s *Server) users(r *http.Request) (any, error) {
	ctx := r.Context()
	rows, err := s.scan(ctx, "users")
	if err != nil {
		return nil, err
	}
	contacts, err := s.scan(ctx, "contacts")
	if err != nil {
		return nil, err
	}
	blocks, err := s.scan(ctx, "blocks")
	if err != nil {
		return nil, err
	}
	spaceRows, err := s.scan(ctx, "spaces")
	if err != nil {
		return nil, err
	}
	devices, err := s.scan(ctx, "devices")
	if err != nil {
		return nil, err
	}
	byID := map[string]*User{}
	var order []string
	for _, row := range rows {
		if row.RK != "profile" {
			continue
		}
		u := &User{UserID: row.PK, DisplayName: row.str("displayName"), ACSUserID: row.str("acsUserId"), State: row.str("state"),
			CreatedAt: row.str("createdAt"), Contacts: []Contact{}, Blocks: []string{}, Spaces: []SpaceMember{}, Profile: row.Props}
		delete(row.Props, "reservation")
		byID[u.UserID] = u
		order = append(order, u.UserID)
	}
	asked := map[[2]string]Row{}
	for _, c := range contacts {
		asked[[2]string{c.PK, c.RK}] = c
	}
	name := func(id string) string {
		if u := byID[id]; u != nil {
			return u.DisplayName
		}
		return ""
	}
	for k := range asked {
		owner, other := k[0], k[1]
		_, back := asked[[2]string{other, owner}]
		if u := byID[owner]; u != nil {
			state := "requested"
			if back {
				state = "mutual"
			}
			u.Contacts = append(u.Contacts, Contact{UserID: other, DisplayName: name(other), State: state})
		}
		if u := byID[other]; u != nil && !back {
			u.Contacts = append(u.Contacts, Contact{UserID: owner, DisplayName: name(owner), State: "asks-you"})
		}
	}
	for _, b := range blocks {
		if u := byID[b.PK]; u != nil {
			u.Blocks = append(u.Blocks, b.RK)
		}
	}
	acsToUser := map[string]string{}
	for _, u := range byID {
		if u.ACSUserID != "" {
			acsToUser[u.ACSUserID] = u.UserID
		}
	}
	for _, d := range devices {
		if u := byID[acsToUser[d.PK]]; u != nil {
			u.Devices++
		}
	}
	spaces := map[string]*Space{}
	var spaceOrder []string
	get := func(id string) *Space {
		if sp := spaces[id]; sp != nil {
			return sp
		}
		sp := &Space{ID: id, Members: []map[string]any{}}
		spaces[id] = sp
		spaceOrder = append(spaceOrder, id)
		return sp
	}
	for _, row := range spaceRows {
		sp := get(row.PK)
		switch {
		case row.RK == "space":
			sp.Name, sp.Owner, sp.CreatedAt, sp.GroupCallID, sp.Row = row.str("name"), row.str("owner"), row.str("createdAt"), row.str("groupCallId"), row.Props
		case strings.HasPrefix(row.RK, "m:"):
			m := map[string]any{"userId": strings.TrimPrefix(row.RK, "m:")}
			for k, v := range row.Props {
				m[k] = v
			}
			sp.Members = append(sp.Members, m)
		}
	}
	view := UsersView{Users: []User{}, Spaces: []Space{}}
	for _, id := range spaceOrder {
		sp := spaces[id]
		for _, m := range sp.Members {
			uid, _ := m["userId"].(string)
			if u := byID[uid]; u != nil {
				role, _ := m["role"].(string)
				state, _ := m["state"].(string)
				u.Spaces = append(u.Spaces, SpaceMember{SpaceID: sp.ID, Name: sp.Name, Role: role, State: state})
			}
		}
		view.Spaces = append(view.Spaces, *sp)
	}
	sort.Strings(order)
	for _, id := range order {
		u := byID[id]
		sort.Slice(u.Contacts, func(i, j int) bool { return u.Contacts[i].UserID < u.Contacts[j].UserID })
		view.Users = append(view.Users, *u)
	}
	sort.Slice(view.Spaces, func(i, j int) bool { return view.Spaces[i].CreatedAt > view.Spaces[j].CreatedAt })
	byACS := map[string]User{}
	for _, u := range view.Users {
		if u.ACSUserID != "" {
			byACS[u.ACSUserID] = u
		}
	}
	// The handler's own chat identity (it creates the threads and posts in them).
	if svc, err := s.scan(ctx, "chatservice"); err == nil {
		for _, row := range svc {
			if id := row.str("acsUserId"); id != "" {
				byACS[id] = User{UserID: "switchboard", DisplayName: "the service's chat identity"}
			}
		}
	}
	view.Chats = chatThreads(s.st.ACS, byACS)
	return view, nil
}

// userDirectory maps ACS ids to app users and back.
func (s *Server) userDirectory(ctx context.Context) (byACS map[string]User, byID map[string]User, err error) {
	rows, err := s.scan(ctx, "users")
	if err != nil {
		return nil, nil, err
	}
	byACS, byID = map[string]User{}, map[string]User{}
	for _, row := range rows {
		if row.RK != "profile" {
			continue
		}
		u := User{UserID: row.PK, DisplayName: row.str("displayName"), ACSUserID: row.str("acsUserId"), State: row.str("state")}
		byID[u.UserID] = u
		if u.ACSUserID != "" {
			byACS[u.ACSUserID] = u
		}
	}
	return byACS, byID, nil
}

// TokenRequest is the body of POST /console/api/token.
type TokenRequest struct {
	UserID string `json:"userId"`
	Name   string `json:"name"`
	// Role, if set, is put in the token's roles (e.g. Switchboard.Dial, Switchboard.Service).
	Role string `json:"role"`
}

// TokenAnswer is a development bearer token and how to use it.
type TokenAnswer struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	Curl      string    `json:"curl"`
	// TokenCurl is POST /api/token with it: a user's first one creates
	// their ACS identity (and row), which is when the console lists them.
	TokenCurl string `json:"tokenCurl"`
	Export    string `json:"export"`
}

const tokenTTL = time.Hour

// requestedToken decodes a TokenRequest and mints its bearer token.
func (s *Server) requestedToken(r *http.Request) (string, error) {
	var req TokenRequest
	if err := decode(r, &req); err != nil {
		return "", err
	}
	req.UserID = strings.TrimSpace(req.UserID)
	if req.UserID == "" {
		return "", badRequest("userId is required")
	}
	return s.token(req.UserID, req.Name, req.Role)
}

func (s *Server) mintToken(r *http.Request) (any, error) {
	tok, err := s.requestedToken(r)
	if err != nil {
		return nil, err
	}
	return TokenAnswer{
		Token: tok, ExpiresAt: time.Now().Add(tokenTTL).UTC().Truncate(time.Second),
		Curl:      fmt.Sprintf("curl -s %s/api/me -H 'Authorization: Bearer %s'", s.st.URL(), tok),
		TokenCurl: fmt.Sprintf("curl -s -X POST %s/api/token -H 'Authorization: Bearer %s'", s.st.URL(), tok),
		Export:    "export TOKEN=" + tok,
	}, nil
}

// acsToken is POST /console/api/acstoken: POST /api/token as that user, as
// their app would on sign-in (their first one creates their ACS identity).
func (s *Server) acsToken(r *http.Request) (any, error) {
	tok, err := s.requestedToken(r)
	if err != nil {
		return nil, err
	}
	status, answer, err := s.callHandler(r.Context(), "POST", "/api/token", tok, "")
	if err != nil {
		return nil, &apiError{http.StatusBadGateway, "POST /api/token: " + err.Error()}
	}
	return HandlerAnswer{Request: "POST /api/token", Status: status, Body: answer}, nil
}

func (s *Server) token(userID, name, role string) (string, error) {
	extra := map[string]any{}
	if role != "" {
		extra["roles"] = []string{role}
	}
	return s.st.Issuer.MintUser(userID, name, tokenTTL, extra)
}
