package conformance

import (
	"testing"

	"switchboard/dev/acsemu"
)

// TestSMSSDK sends through the emulator's SMS API with @azure/communication-sms
// 1.1.0, which signs with HMAC, sends api-version 2021-03-07 and a fresh
// repeatability id per recipient, and reads the per-recipient results of the 202.
func TestSMSSDK(t *testing.T) {
	emu, err := acsemu.Start(acsemu.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = emu.Close() })
	type result struct {
		To, MessageID, ErrorMessage string
		HTTPStatusCode              int
		Successful                  bool
	}
	type failure struct {
		Status        int
		Code, Message string
	}
	var res struct {
		Send              []result
		WrongKey, BadFrom failure
	}
	runNode(t, "sms.mjs", []string{"ACS_CONNECTION_STRING=" + emu.ConnectionString(), "SMS_FROM=+18005550100"}, &res, "@azure/communication-sms")

	if len(res.Send) != 3 {
		t.Fatalf("send results = %+v, want one per recipient", res.Send)
	}
	for _, r := range res.Send[:2] {
		if !r.Successful || r.HTTPStatusCode != 202 || r.MessageID == "" {
			t.Errorf("valid recipient: %+v", r)
		}
	}
	if bad := res.Send[2]; bad.Successful || bad.HTTPStatusCode != 400 || bad.ErrorMessage != "Invalid To phone number format." {
		t.Errorf("invalid recipient: %+v", bad)
	}
	msgs := emu.SMSMessages()
	if len(msgs) != 2 || msgs[0].From != "+18005550100" || msgs[0].Tag != "conformance" || !msgs[0].DeliveryReport || msgs[0].Message != "Alice invited you to a call" {
		t.Errorf("emulator texts = %+v", msgs)
	}
	if res.WrongKey.Status != 401 {
		t.Errorf("wrong key: %+v, want 401", res.WrongKey)
	}
	if res.BadFrom.Status != 400 {
		t.Errorf("bad from: %+v, want 400", res.BadFrom)
	}
	if emu.Requests("SendSMS") != 3 || emu.PendingSMSEvents() != 2 {
		t.Errorf("requests %d, pending reports %d; want 3 and 2", emu.Requests("SendSMS"), emu.PendingSMSEvents())
	}
}
