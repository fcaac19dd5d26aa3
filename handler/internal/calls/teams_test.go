package calls

import (
	"errors"
	"testing"
	"time"

	"switchboard/handler/internal/httpapi"
)

func TestMeetingTimes(t *testing.T) {
	now := time.Date(2026, 12, 1, 9, 30, 15, 500, time.UTC)
	at := func(d time.Duration) *time.Time { v := now.Add(d); return &v }
	for _, tc := range []struct {
		name               string
		start, end         *time.Time
		wantStart, wantEnd time.Time
		wantField          string
	}{
		{name: "defaults: now for an hour", wantStart: now.Truncate(time.Second), wantEnd: now.Truncate(time.Second).Add(time.Hour)},
		{name: "start only: an hour", start: at(24 * time.Hour), wantStart: now.Add(24 * time.Hour), wantEnd: now.Add(25 * time.Hour)},
		{name: "both", start: at(time.Hour), end: at(90 * time.Minute), wantStart: now.Add(time.Hour), wantEnd: now.Add(90 * time.Minute)},
		{name: "end only, after now", end: at(30 * time.Minute), wantStart: now.Truncate(time.Second), wantEnd: now.Add(30 * time.Minute)},
		{name: "started, still running", start: at(-time.Hour), end: at(time.Minute), wantStart: now.Add(-time.Hour), wantEnd: now.Add(time.Minute)},
		{name: "end before start", start: at(2 * time.Hour), end: at(time.Hour), wantField: "endsAt"},
		{name: "end equals start", start: at(time.Hour), end: at(time.Hour), wantField: "endsAt"},
		{name: "over", start: at(-2 * time.Hour), end: at(-time.Hour), wantField: "endsAt"},
		{name: "366 days ahead is fine", start: at(365 * 24 * time.Hour), end: at(366 * 24 * time.Hour), wantStart: now.Add(365 * 24 * time.Hour), wantEnd: now.Add(366 * 24 * time.Hour)},
		{name: "more than 366 days ahead", start: at(365 * 24 * time.Hour), end: at(366*24*time.Hour + time.Second), wantField: "endsAt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, e, err := meetingTimes(now, tc.start, tc.end)
			if tc.wantField != "" {
				var p *httpapi.Problem
				if !errors.As(err, &p) || p.Status != 400 || len(p.Errors) != 1 || p.Errors[0].Field != tc.wantField {
					t.Fatalf("err = %v, want a 400 naming %s", err, tc.wantField)
				}
				return
			}
			if err != nil || !s.Equal(tc.wantStart) || !e.Equal(tc.wantEnd) {
				t.Errorf("= %s, %s, %v; want %s, %s", s, e, err, tc.wantStart, tc.wantEnd)
			}
		})
	}
}
