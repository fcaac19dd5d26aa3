package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"switchboard/dev/stack"
)

// sameAnswer fails unless two answers are byte for byte the same once the id
// each names is replaced: a stranger must not tell a real user from no user.
func sameAnswer(t *testing.T, what string, real response, realID string, none response, noneID string) {
	t.Helper()
	a := strings.ReplaceAll(string(real.body), realID, "<id>")
	b := strings.ReplaceAll(string(none.body), noneID, "<id>")
	if real.status != none.status || a != b {
		t.Fatalf("%s: a real user and no user answer differently:\n%d %s\n%d %s", what, real.status, a, none.status, b)
	}
}

func TestStrangersReachNothing(t *testing.T) {
	alice := userClient(t, st, "k-alice", "Alice")
	carol := userClient(t, st, "k-carol", "Carol")
	alice.ok("POST", "/api/token", "", 200)
	carol.ok("POST", "/api/token", "", 200)
	hookID, hookURL := st.Push.NewWebhook()
	reg := alice.ok("PUT", "/api/devices/alice-k-hook", `{"provider":"webhook","url":"`+hookURL+`"}`, 201)
	st.Push.SetSecret(hookID, reg["secret"].(string))

	// Contact request, call invitation, lookup, space invitation: identical
	// answers for alice and for a user who does not exist, and nothing reaches alice.
	sameAnswer(t, "contact request",
		carol.do("PUT", "/api/contacts/k-alice", ""), "k-alice",
		carol.do("PUT", "/api/contacts/k-ghost", ""), "k-ghost")
	for _, kind := range []string{"group", "room"} {
		sameAnswer(t, kind+" call invitation",
			carol.do("POST", "/api/calls", `{"kind":"`+kind+`","invitees":["k-alice"],"subject":"URGENT"}`), "k-alice",
			carol.do("POST", "/api/calls", `{"kind":"`+kind+`","invitees":["k-ghost"],"subject":"URGENT"}`), "k-ghost")
	}
	carol.do("POST", "/api/calls", `{"kind":"group","invitees":["k-alice"]}`).problem(t, 400, "invitees-not-reachable")
	sameAnswer(t, "lookup",
		carol.do("GET", "/api/users/k-alice", ""), "k-alice",
		carol.do("GET", "/api/users/k-ghost", ""), "k-ghost")
	space := carol.ok("POST", "/api/spaces", `{"name":"Carol's"}`, 201)["id"].(string)
	sameAnswer(t, "space invitation",
		carol.do("PUT", "/api/spaces/"+space+"/members/k-alice", ""), "k-alice",
		carol.do("PUT", "/api/spaces/"+space+"/members/k-ghost", ""), "k-ghost")
	if n := len(st.Push.Received(hookID)); n != 0 {
		t.Fatalf("a stranger's requests pushed %d notifications to alice", n)
	}
	// An invitation to a space is not membership: it does not open a call to alice.
	carol.do("POST", "/api/calls", `{"kind":"group","spaceId":"`+space+`","invitees":["k-alice"]}`).problem(t, 400, "invitees-not-reachable")
	carol.do("GET", "/api/users/k-alice", "").problem(t, 404, "user-not-found")

	// Once alice agrees (returns the request), the same requests succeed.
	if r := alice.ok("PUT", "/api/contacts/k-carol", "", 200); r["state"] != "mutual" || r["acsUserId"] == nil {
		t.Fatalf("accepting: %v", r)
	}
	carol.ok("GET", "/api/users/k-alice", "", 200)
	call := carol.ok("POST", "/api/calls", `{"kind":"group","invitees":["k-alice"]}`, 201)
	if n := len(st.Push.Received(hookID)); n != 1 {
		t.Fatalf("alice got %d invitations, want 1", n)
	}

	// Blocking cuts it again, and to carol it looks as if alice never answered.
	alice.ok("PUT", "/api/blocks/k-carol", "", 200)
	alice.ok("PUT", "/api/blocks/k-carol", "", 200) // idempotent
	alice.ok("GET", "/api/blocks/k-carol", "", 200)
	if l := alice.ok("GET", "/api/blocks", "", 200)["value"].([]any); len(l) != 1 || l[0].(map[string]any)["userId"] != "k-carol" {
		t.Fatalf("alice's blocks: %v", l)
	}
	carol.do("GET", "/api/users/k-alice", "").problem(t, 404, "user-not-found")
	alice.do("GET", "/api/users/k-carol", "").problem(t, 404, "user-not-found")
	carol.do("POST", "/api/calls", `{"kind":"group","invitees":["k-alice"]}`).problem(t, 400, "invitees-not-reachable")
	carol.do("POST", "/api/calls/"+call["id"].(string)+"/invites", `{"invitees":["k-alice"]}`).problem(t, 400, "invitees-not-reachable")
	for _, c := range carol.ok("GET", "/api/contacts", "", 200)["value"].([]any) {
		if c := c.(map[string]any); c["state"] != "requested" || c["acsUserId"] != nil {
			t.Fatalf("carol's view after the block: %v", c)
		}
	}
	sameAnswer(t, "contact request to someone who blocked you",
		carol.do("PUT", "/api/contacts/k-alice", ""), "k-alice",
		carol.do("PUT", "/api/contacts/k-ghost", ""), "k-ghost")
	if l := alice.ok("GET", "/api/contacts/requests", "", 200)["value"].([]any); len(l) != 0 {
		t.Fatalf("a blocked user's request is still listed: %v", l)
	}
	alice.do("PUT", "/api/contacts/k-carol", "").problem(t, 400, "contact-blocked")
	// Carol's space invitation to alice reads as usual but never reaches her.
	space2 := carol.ok("POST", "/api/spaces", `{"name":"Carol again"}`, 201)["id"].(string)
	sameAnswer(t, "space invitation to someone who blocked you",
		carol.do("PUT", "/api/spaces/"+space2+"/members/k-alice", ""), "k-alice",
		carol.do("PUT", "/api/spaces/"+space2+"/members/k-ghost", ""), "k-ghost")
	for _, s := range alice.ok("GET", "/api/spaces", "", 200)["value"].([]any) {
		if s.(map[string]any)["id"] == space2 {
			t.Fatalf("a blocked user's space invitation is listed: %v", s)
		}
	}
	alice.do("PUT", "/api/spaces/"+space2+"/members/k-alice", "").problem(t, 404, "space-not-found")

	// Unblocking shows carol's request again; accepting it makes them mutual.
	alice.ok("DELETE", "/api/blocks/k-carol", "", 204)
	alice.do("GET", "/api/blocks/k-carol", "").problem(t, 404, "block-not-found")
	if l := alice.ok("GET", "/api/contacts/requests", "", 200)["value"].([]any); len(l) != 1 {
		t.Fatalf("requests after unblocking: %v", l)
	}
	if r := alice.ok("PUT", "/api/contacts/k-carol", "", 200); r["state"] != "mutual" {
		t.Fatalf("re-accepting: %v", r)
	}
}

func TestBlockCutsSharedSpaces(t *testing.T) {
	owner := userClient(t, st, "kb-owner", "Olivia")
	alice := userClient(t, st, "kb-alice", "Alice")
	carol := userClient(t, st, "kb-carol", "Carol")
	for _, c := range []*client{owner, alice, carol} {
		c.ok("POST", "/api/token", "", 200)
	}
	sp := owner.ok("POST", "/api/spaces", `{"name":"Shared"}`, 201)["id"].(string)
	for _, c := range []struct {
		cl *client
		id string
	}{{alice, "kb-alice"}, {carol, "kb-carol"}} {
		owner.ok("PUT", "/api/spaces/"+sp+"/members/"+c.id, "", 200)
		c.cl.ok("PUT", "/api/spaces/"+sp+"/members/"+c.id, "", 200)
	}
	// Accepted co-members reach each other through the space.
	carol.ok("GET", "/api/users/kb-alice", "", 200)
	carol.ok("POST", "/api/calls", `{"kind":"group","spaceId":"`+sp+`","invitees":["kb-alice"]}`, 201)
	// Without the spaceId the space does not count.
	carol.do("POST", "/api/calls", `{"kind":"group","invitees":["kb-alice"]}`).problem(t, 400, "invitees-not-reachable")
	// A block cuts it in both directions.
	alice.ok("PUT", "/api/blocks/kb-carol", "", 200)
	carol.do("GET", "/api/users/kb-alice", "").problem(t, 404, "user-not-found")
	alice.do("GET", "/api/users/kb-carol", "").problem(t, 404, "user-not-found")
	carol.do("POST", "/api/calls", `{"kind":"group","spaceId":"`+sp+`","invitees":["kb-alice"]}`).problem(t, 400, "invitees-not-reachable")
	alice.do("POST", "/api/calls", `{"kind":"group","spaceId":"`+sp+`","invitees":["kb-carol"]}`).problem(t, 400, "invitees-not-reachable")
	owner.ok("GET", "/api/users/kb-alice", "", 200)
	// A call in a space one does not belong to is refused as if there were no space.
	outsider := userClient(t, st, "kb-outsider", "")
	outsider.ok("POST", "/api/token", "", 200)
	outsider.do("POST", "/api/calls", `{"kind":"group","spaceId":"`+sp+`"}`).problem(t, 404, "space-not-found")
}

func TestServiceCallersInviteAnyExistingUser(t *testing.T) {
	alice := userClient(t, st, "ks-alice", "Alice")
	alice.ok("POST", "/api/token", "", 200)
	svcTok, err := st.Issuer.MintUser("ks-backend", "", time.Hour, map[string]any{"roles": []string{"Switchboard.Service"}})
	if err != nil {
		t.Fatal(err)
	}
	svc := &client{t: t, base: st.URL(), token: svcTok, hdr: map[string]string{"X-On-Behalf-Of": "ks-bot"}}
	svc.ok("POST", "/api/calls", `{"kind":"group","invitees":["ks-alice"]}`, 201)
	p := svc.do("POST", "/api/calls", `{"kind":"group","invitees":["ks-alice","ks-ghost"]}`).problem(t, 400, "invitees-not-reachable")
	if len(p["errors"].([]any)) != 1 {
		t.Fatalf("a service caller is refused only users that do not exist: %v", p)
	}
}

func TestConsentBadInput(t *testing.T) {
	alice := userClient(t, st, "kx-alice", "Alice")
	alice.do("PUT", "/api/contacts/kx-alice", "").problem(t, 400, "contact-is-self")
	alice.do("PUT", "/api/blocks/kx-alice", "").problem(t, 400, "block-is-self")
	long := strings.Repeat("x", 1100)
	alice.do("PUT", "/api/contacts/"+long, "").problem(t, 400, "invalid-key")
	alice.do("PUT", "/api/blocks/"+long, "").problem(t, 400, "invalid-key")
	alice.ok("PUT", "/api/blocks/kx-bob", "", 200)
	alice.do("PUT", "/api/contacts/kx-bob", "").problem(t, 400, "contact-blocked")
	sp := alice.ok("POST", "/api/spaces", `{"name":"X"}`, 201)["id"].(string)
	alice.do("PUT", "/api/spaces/"+sp+"/members/kx-bob", "").problem(t, 400, "member-blocked")
	alice.do("PUT", "/api/spaces/"+sp+"/members/"+long, "").problem(t, 400, "invalid-key")
	if n := countRows(t, st, "contacts", "kx-alice"); n != 0 {
		t.Fatalf("refused requests left %d rows", n)
	}
}

func TestConcurrentMutualAddsBothEndMutual(t *testing.T) {
	const pairs = 12
	var wg sync.WaitGroup
	clients := make([][2]*client, pairs)
	for i := range pairs {
		a := userClient(t, st, fmt.Sprintf("kc-a%d", i), "A")
		b := userClient(t, st, fmt.Sprintf("kc-b%d", i), "B")
		clients[i] = [2]*client{a, b}
	}
	for i, p := range clients {
		for side := range 2 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				other := fmt.Sprintf("kc-%c%d", "ba"[side], i)
				if r := p[side].do("PUT", "/api/contacts/"+other, ""); r.status != 200 {
					t.Errorf("pair %d side %d: %d %s", i, side, r.status, r.body)
				}
			}()
		}
	}
	wg.Wait()
	for i, p := range clients {
		for side := range 2 {
			l := p[side].ok("GET", "/api/contacts", "", 200)["value"].([]any)
			if len(l) != 1 || l[0].(map[string]any)["state"] != "mutual" {
				t.Fatalf("pair %d side %d after a concurrent add: %v", i, side, l)
			}
		}
	}
}

func TestContactCap(t *testing.T) {
	s, err := stack.Start(context.Background(), stack.Options{Binary: binary, Env: []string{"MAX_CONTACTS_PER_USER=2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	alice := userClient(t, s, "cap-alice", "")
	alice.ok("PUT", "/api/contacts/cap-1", "", 200)
	alice.ok("PUT", "/api/contacts/cap-2", "", 200)
	alice.ok("PUT", "/api/contacts/cap-2", "", 200) // an existing one is no new row
	alice.do("PUT", "/api/contacts/cap-3", "").problem(t, 409, "too-many-contacts")
	alice.ok("DELETE", "/api/contacts/cap-1", "", 204)
	alice.ok("PUT", "/api/contacts/cap-3", "", 200)
}

func TestEraseRemovesRequestsBlocksAndInvitations(t *testing.T) {
	zoe := userClient(t, st, "kz-zoe", "Zoe")
	pal := userClient(t, st, "kz-pal", "Pal")
	fan := userClient(t, st, "kz-fan", "Fan")
	foe := userClient(t, st, "kz-foe", "Foe")
	host := userClient(t, st, "kz-host", "Host")
	for _, c := range []*client{zoe, pal, fan, foe, host} {
		c.ok("POST", "/api/token", "", 200)
	}
	befriend(t, zoe, "kz-zoe", pal, "kz-pal")
	zoe.ok("PUT", "/api/contacts/kz-stranger", "", 200) // a request made
	fan.ok("PUT", "/api/contacts/kz-zoe", "", 200)      // a request received
	zoe.ok("PUT", "/api/blocks/kz-foe", "", 200)        // blocks both ways
	foe.ok("PUT", "/api/blocks/kz-zoe", "", 200)
	sp := host.ok("POST", "/api/spaces", `{"name":"Invite"}`, 201)["id"].(string)
	host.ok("PUT", "/api/spaces/"+sp+"/members/kz-zoe", "", 200) // an invitation
	mine := zoe.ok("POST", "/api/calls", `{"kind":"room","invitees":["kz-pal"]}`, 201)
	theirs := pal.ok("POST", "/api/calls", `{"kind":"group","invitees":["kz-zoe"]}`, 201)

	zoe.ok("DELETE", "/api/me", "", 204)
	for _, table := range []string{"users", "contacts", "contactof", "blocks", "blockedby", "memberships", "spaces", "calls", "usercalls"} {
		if rows := rowsNaming(t, st, table, "kz-zoe"); len(rows) != 0 {
			t.Errorf("%s still names the erased user: %v", table, rows)
		}
	}
	if l := fan.ok("GET", "/api/contacts", "", 200)["value"].([]any); len(l) != 0 {
		t.Errorf("the fan still lists the erased user: %v", l)
	}
	if l := pal.ok("GET", "/api/contacts/requests", "", 200)["value"].([]any); len(l) != 0 {
		t.Errorf("requests from the erased user remain: %v", l)
	}
	// The erased user's call is ended and gone; in others' calls they are no longer invited.
	pal.do("GET", "/api/calls/"+mine["id"].(string), "").problem(t, 404, "call-not-found")
	if _, ok := st.ACS.Room(mine["roomId"].(string)); ok {
		t.Error("the erased creator's room outlived them")
	}
	if inv := pal.ok("GET", "/api/calls/"+theirs["id"].(string), "", 200)["invitees"].([]any); len(inv) != 0 {
		t.Errorf("the erased user is still invited: %v", inv)
	}
	if n := countRows(t, st, "calls", mine["id"].(string)); n != 0 {
		t.Errorf("%d rows left of the erased creator's call", n)
	}
}

// rowsNaming lists "table/PK/RK" of every row whose keys name id: as the
// partition, the row, or a prefixed row ("m:<id>" in spaces, "i:<id>" in calls).
func rowsNaming(t *testing.T, s *stack.Stack, table, id string) []string {
	t.Helper()
	svc, err := aztables.NewServiceClientFromConnectionString(s.Azurite.ConnectionString(), nil)
	if err != nil {
		t.Fatal(err)
	}
	filter := fmt.Sprintf("PartitionKey eq '%[1]s' or RowKey eq '%[1]s' or RowKey eq 'm:%[1]s' or RowKey eq 'i:%[1]s'", strings.ReplaceAll(id, "'", "''"))
	pager := svc.NewClient(table).NewListEntitiesPager(&aztables.ListEntitiesOptions{Filter: &filter})
	var out []string
	for pager.More() {
		page, err := pager.NextPage(context.Background())
		if err != nil {
			if strings.Contains(err.Error(), "TableNotFound") {
				return nil
			}
			t.Fatal(err)
		}
		for _, e := range page.Entities {
			out = append(out, string(e))
		}
	}
	return out
}
