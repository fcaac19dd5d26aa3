package main

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"switchboard/dev/stack"
)

// demoSMSGuest: alice creates a room call and invites Dana's phone number;
// the ACS emulator shows the text with the join link; the code is exchanged
// (no bearer token) for Dana's guest token; the room's participants include
// her; the delivery report and Dana's "running late" come through Event
// Grid, and alice's device gets the reply.
func demoSMSGuest(ctx context.Context, st *stack.Stack, base, alice string) error {
	const dana = "+14255550123"
	fmt.Println("An SMS guest:")
	status, body, err := call(ctx, "PUT", base+"/api/devices/alices-laptop", alice, `{"provider":"fcm","handle":"alices-laptop-fcm"}`)
	if err != nil || status >= 300 {
		return fmt.Errorf("register alice's laptop: %d %s %v", status, body, err)
	}
	status, body, err = call(ctx, "POST", base+"/api/calls", alice, `{"kind":"room","subject":"Support call"}`)
	if err != nil || status != 201 {
		return fmt.Errorf("create room call: %d %s %v", status, body, err)
	}
	var c struct{ ID, RoomID string }
	if err := json.Unmarshal([]byte(body), &c); err != nil {
		return err
	}
	fmt.Printf("  %-50s POST /api/calls -> %d\n", "alice creates a room call", status)
	status, body, err = call(ctx, "POST", base+"/api/calls/"+c.ID+"/guests", alice, `{"phoneNumber":"`+dana+`","displayName":"Dana"}`)
	if err != nil || status != 201 {
		return fmt.Errorf("invite Dana: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s POST /api/calls/{id}/guests -> %d %s\n", "alice invites Dana's phone", status, shorten(body))
	texts := st.ACS.SMSMessagesTo(dana)
	if len(texts) == 0 {
		return fmt.Errorf("the emulator got no text for %s", dana)
	}
	fmt.Printf("  %-50s %s -> %s: %q\n", "the ACS emulator got the text", texts[0].From, texts[0].To, texts[0].Message)
	m := regexp.MustCompile(`code=([A-Za-z0-9_-]{22})`).FindStringSubmatch(texts[0].Message)
	if m == nil {
		return fmt.Errorf("no join code in %q", texts[0].Message)
	}
	status, body, err = call(ctx, "POST", base+"/api/guest/token", "", `{"code":"`+m[1]+`"}`)
	if err != nil || status != 200 {
		return fmt.Errorf("exchange the code: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s POST /api/guest/token -> %d %s\n", "Dana's page exchanges the code (no bearer)", status, shorten(body))
	var tok struct{ ACSUserID string }
	_ = json.Unmarshal([]byte(body), &tok)
	for _, r := range st.ACS.Rooms() {
		if r.ID == c.RoomID {
			fmt.Printf("  %-50s %s is %s\n", "the room's participants include Dana", tok.ACSUserID, r.Participants[tok.ACSUserID])
		}
	}
	if err := st.ACS.DeliverSMSEvents(ctx); err != nil {
		return fmt.Errorf("deliver the delivery report: %w", err)
	}
	_, body, _ = call(ctx, "GET", base+"/api/calls/"+c.ID, alice, "")
	var got struct {
		Guests []struct{ PhoneNumber, SMS string }
	}
	_ = json.Unmarshal([]byte(body), &got)
	fmt.Printf("  %-50s GET /api/calls/{id} -> guests %+v\n", "Event Grid: SMSDeliveryReportReceived", got.Guests)
	if _, err := st.ACS.ReceiveSMS(ctx, dana, stack.SMSFrom, "running late"); err != nil {
		return fmt.Errorf("Dana texts back: %w", err)
	}
	for _, d := range st.Push.Received("alices-laptop-fcm") {
		fmt.Printf("  %-50s %s\n", "Event Grid: SMSReceived; alice's laptop got", d.Body)
	}
	fmt.Printf("  (texts: curl -s %[1]semulator/sms; delivery reports: curl -s -X POST %[1]semulator/sms/deliver;\n   Dana replies: curl -s -X POST %[1]semulator/sms/inbound -d '{\"from\":\"%[2]s\",\"to\":\"%[3]s\",\"message\":\"STOP\"}')\n\n",
		st.ACS.Endpoint(), dana, stack.SMSFrom)
	return nil
}
