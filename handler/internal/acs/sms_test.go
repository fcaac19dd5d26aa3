package acs

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"switchboard/dev/acsemu"
)

func smsClient(t *testing.T, apiVersion string) (*SMSClient, *acsemu.Emulator, *wireRecorder) {
	t.Helper()
	// A clock stopped at the start of a minute: rate-limit windows never turn mid-test.
	stopped := time.Now().Truncate(time.Minute)
	emu := startEmulator(t, acsemu.Options{Now: func() time.Time { return stopped }})
	rec := &wireRecorder{}
	opts := fastRetries(2)
	opts.Transport = rec
	c, err := NewClientFromConnectionString(emu.ConnectionString(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.SMS(apiVersion), emu, rec
}

func TestSMSSendBothAPIVersions(t *testing.T) {
	for _, v := range []string{SMSAPIVersion, SMSAPIVersionJS} {
		t.Run(v, func(t *testing.T) {
			s, emu, rec := smsClient(t, v)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			res, err := s.Send(ctx, SendSMSOptions{From: "+18005550100", Message: "hello", EnableDeliveryReport: true, Tag: "t1",
				Recipients: []SMSRecipient{{To: "+14255550123"}, {To: "4255550123"}}})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(rec.targets, "POST /sms?api-version="+v) {
				t.Fatalf("requests %v lack POST /sms?api-version=%s", rec.targets, v)
			}
			if !res[0].Successful || res[0].HTTPStatusCode != 202 || res[0].MessageID == "" {
				t.Errorf("valid recipient: %+v", res[0])
			}
			if res[1].Successful || res[1].HTTPStatusCode != 400 || res[1].ErrorMessage == "" {
				t.Errorf("invalid recipient inside the 202: %+v", res[1])
			}
			msgs := emu.SMSMessages()
			if len(msgs) != 1 || msgs[0].To != "+14255550123" || msgs[0].Tag != "t1" || !msgs[0].DeliveryReport {
				t.Fatalf("emulator texts %+v", msgs)
			}
		})
	}
}

// The same repeatability id is one message, and answers the first result.
func TestSMSRepeatabilityIsOneMessage(t *testing.T) {
	s, emu, _ := smsClient(t, "")
	id, first := uuid.NewString(), time.Now().Add(-time.Minute)
	opts := SendSMSOptions{From: "+18005550100", Message: "once", Recipients: []SMSRecipient{{To: "+14255550123", RepeatabilityRequestID: id, RepeatabilityFirstSent: first}}}
	a, err := s.Send(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Send(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if a[0].MessageID == "" || a[0].MessageID != b[0].MessageID || a[0].RepeatabilityResult != "accepted" {
		t.Fatalf("first %+v, repeat %+v: want the same accepted message", a[0], b[0])
	}
	if n := len(emu.SMSMessages()); n != 1 {
		t.Fatalf("%d messages, want 1", n)
	}
}

// A 429 with a short Retry-After is retried after it; a long one is not.
func TestSMSThrottlingRetriedWithinBudget(t *testing.T) {
	s, emu, rec := smsClient(t, "")
	emu.FailNext(1, http.StatusTooManyRequests, time.Second)
	start := time.Now()
	if _, err := s.Send(t.Context(), SendSMSOptions{From: "+18005550100", Message: "x", Recipients: []SMSRecipient{{To: "+14255550123"}}}); err != nil {
		t.Fatal(err)
	}
	if len(rec.targets) != 2 || time.Since(start) < time.Second {
		t.Fatalf("%d attempts in %v, want 2, the second after Retry-After", len(rec.targets), time.Since(start))
	}
	emu.SetSMSRateLimit(1)
	if _, err := s.Send(t.Context(), SendSMSOptions{From: "+18005550100", Message: "y", Recipients: []SMSRecipient{{To: "+14255550123"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Send(t.Context(), SendSMSOptions{From: "+18005550100", Message: "y", Recipients: []SMSRecipient{{To: "+14255550123"}}})
	if !IsThrottled(err) || RetryAfter(err) < 30*time.Second {
		t.Fatalf("over the sender's rate: %v, want 429 with Retry-After", err)
	}
}

func TestSMSSendRefusesBadOptions(t *testing.T) {
	s, emu, _ := smsClient(t, "")
	for _, o := range []SendSMSOptions{
		{Message: "no from", Recipients: []SMSRecipient{{To: "+14255550123"}}},
		{From: "+18005550100", Message: "nobody"},
		{From: "+18005550100", Message: string(make([]byte, MaxSMSMessage+1)), Recipients: []SMSRecipient{{To: "+14255550123"}}},
	} {
		if _, err := s.Send(t.Context(), o); err == nil {
			t.Errorf("Send(%+v) = nil error", o.Message[:min(len(o.Message), 10)])
		}
	}
	if n := emu.Requests("SendSMS"); n != 0 {
		t.Fatalf("%d requests sent for refused options", n)
	}
}
