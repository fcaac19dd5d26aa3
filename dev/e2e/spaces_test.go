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

	// Strangers cannot look each other up, until they share a space.
	mem.do("GET", "/api/users/s-owner", "").problem(t, 404, "user-not-found")
	mem.do("PUT", path+"/members/s-outsider", "").problem(t, 403, "forbidden")
	owner.do("PUT", path+"/members/s-nobody", "").problem(t, 404, "user-not-found")
	owner.ok("PUT", path+"/members/s-member", "", 204)
	if u := mem.ok("GET", "/api/users/s-owner", "", 200); u["acsUserId"] == "" {
		t.Fatalf("member lookup: %v", u)
	}
	outsider.do("GET", "/api/users/s-member", "").problem(t, 404, "user-not-found")
	outsider.do("GET", path, "").problem(t, 404, "space-not-found")

	// A member shares the group call they started in the client.
	call := uuid.NewString()
	outsider.do("PUT", path+"/call", `{"groupCallId":"`+call+`"}`).problem(t, 403, "forbidden")
	mem.do("PUT", path+"/call", `{"groupCallId":"not-a-uuid"}`).problem(t, 400, "invalid-request")
	got := mem.ok("PUT", path+"/call", `{"groupCallId":"`+call+`"}`, 200)
	if got["call"].(map[string]any)["groupCallId"] != call {
		t.Fatalf("space call: %v", got)
	}
	view := owner.ok("GET", path, "", 200)
	members := view["members"].([]any)
	if len(members) != 2 || view["call"].(map[string]any)["setBy"] != "s-member" {
		t.Fatalf("space: %v", view)
	}
	for _, m := range members {
		if m.(map[string]any)["acsUserId"] == "" {
			t.Fatalf("member without ACS id: %v", m)
		}
	}
	// Leaving ends the lookup right; erasing removes the user from spaces.
	mem.ok("DELETE", path+"/members/s-member", "", 204)
	mem.do("GET", "/api/users/s-owner", "").problem(t, 404, "user-not-found")
	owner.ok("PUT", path+"/members/s-member", "", 204)
	mem.ok("DELETE", "/api/me", "", 204)
	if l := owner.ok("GET", path, "", 200)["members"].([]any); len(l) != 1 {
		t.Fatalf("members after erase: %v", l)
	}
}
