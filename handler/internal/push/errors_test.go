package push

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		status     int
		retryAfter string
		gone       []int
		wantGone   bool
		wantTrans  bool
		wantAfter  time.Duration
	}{
		{201, "", []int{410}, false, false, 0},
		{400, "", []int{410}, false, false, 0},
		{401, "", []int{410}, false, false, 0},
		{404, "", []int{410}, false, false, 0},
		{404, "", []int{404, 410}, true, false, 0},
		{410, "", []int{410}, true, false, 0},
		{413, "", []int{410}, false, false, 0},
		{429, "7", []int{410}, false, true, 7 * time.Second},
		{429, "soon", []int{410}, false, true, 0},
		{500, "", []int{410}, false, true, 0},
		{503, "-3", []int{410}, false, true, 0},
	}
	for _, tc := range cases {
		resp := &http.Response{StatusCode: tc.status, Status: http.StatusText(tc.status), Header: http.Header{}, Body: io.NopCloser(strings.NewReader("<Error><Detail>why</Detail></Error>"))}
		if tc.retryAfter != "" {
			resp.Header.Set("Retry-After", tc.retryAfter)
		}
		err := classify("test", resp, tc.gone...)
		if tc.status < 300 {
			if err != nil {
				t.Errorf("%d: %v", tc.status, err)
			}
			continue
		}
		if IsGone(err) != tc.wantGone || IsTransient(err) != tc.wantTrans || RetryAfter(err) != tc.wantAfter {
			t.Errorf("%d %q: gone %v transient %v after %s", tc.status, tc.retryAfter, IsGone(err), IsTransient(err), RetryAfter(err))
		}
		if !strings.Contains(err.Error(), "why") {
			t.Errorf("%d: the provider's detail is lost: %v", tc.status, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"120", 2 * time.Minute},
		{"-1", 0},
		{"99999999999", 0},
		{"Wed, 25 Nov 2026 08:00:30 GMT", 30 * time.Second},
		{"Wed, 25 Nov 2026 07:59:00 GMT", 0},
		{"tomorrow", 0},
	}
	for _, tc := range cases {
		if got := parseRetryAfter(tc.in, now); got != tc.want {
			t.Errorf("%q: %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestErrorKinds(t *testing.T) {
	if IsTransient(nil) || IsGone(nil) {
		t.Fatal("nil is neither gone nor transient")
	}
	if IsTransient(ErrTooLarge) || IsTransient(&SendError{Err: ErrProviderNotConfigured}) {
		t.Fatal("too large and not configured never get better by waiting")
	}
	if !IsTransient(errors.New("connection reset")) {
		t.Fatal("an unclassified network error is worth retrying")
	}
	if errors.Is(&SendError{Status: 400}, ErrGone) {
		t.Fatal("a 400 is not gone")
	}
}

func TestSendersWithoutProviders(t *testing.T) {
	var s Senders
	for _, d := range []Device{{Provider: APNs}, {Provider: FCM}, {Provider: WebPush}, {Provider: Webhook}} {
		err := s.Send(t.Context(), d, Notification{})
		if !errors.Is(err, ErrProviderNotConfigured) || IsTransient(err) || IsGone(err) {
			t.Errorf("%s: %v", d.Provider, err)
		}
	}
	if ok, setting := s.Configured(WebPush); ok || !strings.Contains(setting, "WEBPUSH_VAPID_PRIVATE_KEY") {
		t.Errorf("webpush configured %v %q", ok, setting)
	}
}
