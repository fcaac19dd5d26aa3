package calls

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestLaterOrdersEventsTotally(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		at   time.Time
		id   string
		than time.Time
		tid  string
		want bool
	}{
		{t0.Add(time.Second), "a", t0, "z", true},
		{t0, "z", t0.Add(time.Second), "a", false},
		{t0, "b", t0, "a", true},
		{t0, "a", t0, "a", false}, // the same event again
		{t0, "a", time.Time{}, "", true},
	}
	for _, c := range cases {
		if got := later(c.at, c.id, c.than, c.tid); got != c.want {
			t.Errorf("later(%v,%s, %v,%s) = %v", c.at, c.id, c.than, c.tid, got)
		}
	}
}

// Applying the same events in any order, with repeats, keeps the newest.
func TestRosterRuleConverges(t *testing.T) {
	type ev struct {
		at    time.Time
		id    string
		state string
	}
	t0 := time.Now()
	evs := []ev{{t0, "e1", "joined"}, {t0.Add(time.Second), "e2", "left"}, {t0.Add(time.Second), "e3", "joined"}, {t0.Add(2 * time.Second), "e4", "left"}}
	for range 200 {
		order := append(append([]ev{}, evs...), evs[rand.IntN(len(evs))], evs[rand.IntN(len(evs))])
		rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var cur ev
		for _, e := range order {
			if later(e.at, e.id, cur.at, cur.id) {
				cur = e
			}
		}
		if cur.id != "e4" || cur.state != "left" {
			t.Fatalf("converged to %+v", cur)
		}
	}
}
