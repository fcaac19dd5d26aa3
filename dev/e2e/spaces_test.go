package e2e

import (
	"testing"

	"github.com/google/uuid"
)

func TestSpaces(t *testing.T) {
	owner := userClient(t, st, "s-owner", "Olivia")
	mem := userClient(t, st, "s-member", "Max")
	outsider := userClient(t, st, "s-outsider", "Otto")
	for _, c := range []*client{owner, mem, outsider} {
		c.ok("POST", "/api/token", "", 200)
	}
	owner.do("POST", "/api/spaces", `{"name":""}`).problem(t, 400, "invalid-request")
	sp := owner.ok("POST", "/api/spaces", `{"name":"Team standup"}`, 201)
	id := sp["id"].(string)
	path := "/api/spaces/" + id

	// A non-member gets the answer a space that does not exist gets.
	missing := "/api/spaces/" + uuid.NewString()
	for _, p := range []string{path, missing} {
		outsider.do("GET", p, "").problem(t, 404, "space-not-found")
		outsider.do("PUT", p+"/members/s-member", "").problem(t, 404, "space-not-found")
		outsider.do("PUT", p+"/members/s-outsider", "").problem(t, 404, "space-not-found")
		outsider.do("DELETE", p+"/members/s-owner", "").problem(t, 404, "space-not-found")
		outsider.do("PUT", p+"/call", `{"groupCallId":"`+uuid.NewString()+`"}`).problem(t, 404, "space-not-found")
	}

	// An invitation reads the same whether or not the user exists, and grants nothing yet.
	for _, who := range []string{"s-nobody", "s-member"} {
		if r := owner.ok("PUT", path+"/members/"+who, "", 200); r["state"] != "invited" || r["userId"] != who || len(r) != 3 {
			t.Fatalf("invite %s: %v", who, r)
		}
	}
	mem.do("GET", "/api/users/s-owner", "").problem(t, 404, "user-not-found")
	mem.do("GET", path, "").problem(t, 404, "space-not-found")
	list := mem.ok("GET", "/api/spaces", "", 200)["value"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["state"] != "invited" || list[0].(map[string]any)["name"] != "Team standup" {
		t.Fatalf("max's spaces: %v", list)
	}
	view := owner.ok("GET", path, "", 200)
	for _, m := range view["members"].([]any) {
		m := m.(map[string]any)
		if m["state"] == "invited" && m["acsUserId"] != nil {
			t.Fatalf("an invited user's ACS id shown: %v", m)
		}
	}

	// Accepting makes a member; owner and member may look each other up.
	if r := mem.ok("PUT", path+"/members/s-member", "", 200); r["state"] != "accepted" {
		t.Fatalf("accept: %v", r)
	}
	mem.ok("PUT", path+"/members/s-member", "", 200) // again: still accepted
	outsider.do("PUT", path+"/members/s-outsider", "").problem(t, 404, "space-not-found")
	mem.do("PUT", path+"/members/s-outsider", "").problem(t, 403, "forbidden")
	if u := mem.ok("GET", "/api/users/s-owner", "", 200); u["acsUserId"] == "" {
		t.Fatalf("member lookup: %v", u)
	}
	outsider.do("GET", "/api/users/s-member", "").problem(t, 404, "user-not-found")
	owner.do("DELETE", path+"/members/s-owner", "").problem(t, 400, "owner-cannot-leave")

	// A member shares the group call they started in the client.
	call := uuid.NewString()
	mem.do("PUT", path+"/call", `{"groupCallId":"not-a-uuid"}`).problem(t, 400, "invalid-request")
	got := mem.ok("PUT", path+"/call", `{"groupCallId":"`+call+`"}`, 200)
	if got["call"].(map[string]any)["groupCallId"] != call {
		t.Fatalf("space call: %v", got)
	}
	view = owner.ok("GET", path, "", 200)
	members := view["members"].([]any)
	if len(members) != 3 || view["call"].(map[string]any)["setBy"] != "s-member" {
		t.Fatalf("space: %v", view)
	}
	for _, m := range members {
		m := m.(map[string]any)
		if (m["state"] == "accepted") != (m["acsUserId"] != nil) {
			t.Fatalf("accepted members, and only they, show ACS ids: %v", m)
		}
	}
	// Leaving ends the lookup right; a new invitation must be accepted again.
	mem.ok("DELETE", path+"/members/s-member", "", 204)
	mem.do("GET", "/api/users/s-owner", "").problem(t, 404, "user-not-found")
	mem.do("GET", path, "").problem(t, 404, "space-not-found")
	owner.ok("PUT", path+"/members/s-member", "", 200)
	mem.do("GET", path, "").problem(t, 404, "space-not-found")
	mem.ok("PUT", path+"/members/s-member", "", 200)
	// Erasing removes the user from spaces.
	mem.ok("DELETE", "/api/me", "", 204)
	if l := owner.ok("GET", path, "", 200)["members"].([]any); len(l) != 2 {
		t.Fatalf("members after erase: %v", l)
	}
	if n := countRows(t, st, "memberships", "s-member"); n != 0 {
		t.Fatalf("%d membership rows left for an erased user", n)
	}
}

func TestDecliningAndRemovingInvitations(t *testing.T) {
	owner := userClient(t, st, "sd-owner", "Olivia")
	guest := userClient(t, st, "sd-guest", "Gus")
	sp := owner.ok("POST", "/api/spaces", `{"name":"Book club"}`, 201)
	path := "/api/spaces/" + sp["id"].(string)
	// Accepting an invitation that does not exist: as if there were no space.
	guest.do("PUT", path+"/members/sd-guest", "").problem(t, 404, "space-not-found")
	owner.ok("PUT", path+"/members/sd-guest", "", 200)
	guest.ok("DELETE", path+"/members/sd-guest", "", 204) // declines
	if l := guest.ok("GET", "/api/spaces", "", 200)["value"].([]any); len(l) != 0 {
		t.Fatalf("declined invitation still listed: %v", l)
	}
	guest.do("PUT", path+"/members/sd-guest", "").problem(t, 404, "space-not-found")
	// The owner withdraws an invitation.
	owner.ok("PUT", path+"/members/sd-guest", "", 200)
	owner.ok("DELETE", path+"/members/sd-guest", "", 204)
	guest.do("PUT", path+"/members/sd-guest", "").problem(t, 404, "space-not-found")
}

func TestErasedOwnerHandsOverOrDeletesTheSpace(t *testing.T) {
	owner := userClient(t, st, "so-owner", "Olivia")
	heir := userClient(t, st, "so-heir", "Hana")
	invited := userClient(t, st, "so-invited", "Ivan")
	for _, c := range []*client{owner, heir, invited} {
		c.ok("POST", "/api/token", "", 200)
	}
	kept := owner.ok("POST", "/api/spaces", `{"name":"Kept"}`, 201)["id"].(string)
	gone := owner.ok("POST", "/api/spaces", `{"name":"Gone"}`, 201)["id"].(string)
	owner.ok("PUT", "/api/spaces/"+kept+"/members/so-heir", "", 200)
	heir.ok("PUT", "/api/spaces/"+kept+"/members/so-heir", "", 200)
	owner.ok("PUT", "/api/spaces/"+gone+"/members/so-invited", "", 200)

	owner.ok("DELETE", "/api/me", "", 204)
	v := heir.ok("GET", "/api/spaces/"+kept, "", 200)
	if v["owner"] != "so-heir" || len(v["members"].([]any)) != 1 {
		t.Fatalf("space after its owner was erased: %v", v)
	}
	heir.ok("PUT", "/api/spaces/"+kept+"/members/so-invited", "", 200) // the heir owns it now
	if l := invited.ok("GET", "/api/spaces", "", 200)["value"].([]any); len(l) != 1 || l[0].(map[string]any)["id"] != kept {
		t.Fatalf("invitations after the owner was erased: %v", l)
	}
	if n := countRows(t, st, "spaces", gone); n != 0 {
		t.Fatalf("%d rows left of a space with no members", n)
	}
	if n := countRows(t, st, "memberships", "so-owner"); n != 0 {
		t.Fatalf("%d membership rows left for the erased owner", n)
	}
}
