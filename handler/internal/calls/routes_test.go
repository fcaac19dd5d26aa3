package calls

import (
	"testing"

	"switchboard/handler/internal/quota"
)

func TestCreateCosts(t *testing.T) {
	tests := []struct {
		name string
		req  CreateRequest
		want map[quota.Name]int
	}{
		{"group call", CreateRequest{Kind: KindGroup, Invitees: []string{"bob", "carol"}}, map[quota.Name]int{quota.Calls: 1, quota.Invites: 2}},
		{"duplicates and the creator do not count", CreateRequest{Kind: KindRoom, Invitees: []string{"bob", "bob", "alice"}}, map[quota.Name]int{quota.Calls: 1, quota.Invites: 1}},
		{"dial: one per phone number", CreateRequest{Kind: KindDial, Invitees: []string{"bob"}, PhoneNumbers: []string{"+14255550100", "+14255550101"}}, map[quota.Name]int{quota.Calls: 1, quota.Invites: 1, quota.Dials: 2}},
		{"teams: one meeting", CreateRequest{Kind: KindTeams, Invitees: []string{"bob"}}, map[quota.Name]int{quota.Calls: 1, quota.Invites: 1, quota.TeamsMeetings: 1}},
		{"dial to app users only: one dial", CreateRequest{Kind: KindDial, Invitees: []string{"bob"}}, map[quota.Name]int{quota.Calls: 1, quota.Invites: 1, quota.Dials: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := map[quota.Name]int{}
			for _, c := range createCosts("alice", tt.req) {
				got[c.Quota] += c.N
			}
			for q, n := range tt.want {
				if got[q] != n {
					t.Errorf("%s: %d, want %d (%v)", q, got[q], n, got)
				}
			}
			for q, n := range got {
				if n != 0 && tt.want[q] == 0 {
					t.Errorf("spends %d %s, want none", n, q)
				}
			}
		})
	}
}
