package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"switchboard/dev/stack"
)

// demoChat: alice and bob share a space; bob's app is closed; alice sends a
// message in the space's thread with her own chat token, as a client app's
// Chat SDK would; ACS raises ChatMessageReceived for bob through Event Grid
// and bob's phone gets the chat push.
func demoChat(ctx context.Context, st *stack.Stack, base, alice, bob string) error {
	fmt.Println("Chat in a space, and a push for the reader who is offline:")
	tokens := map[string]string{}
	for name, bearer := range map[string]string{"alice": alice, "bob": bob} {
		_, body, err := call(ctx, "POST", base+"/api/token", bearer, `{"scopes":["voip","chat"]}`)
		if err != nil {
			return err
		}
		var tok struct{ Token string }
		if err := json.Unmarshal([]byte(body), &tok); err != nil || tok.Token == "" {
			return fmt.Errorf("chat token for %s: %s", name, body)
		}
		tokens[name] = tok.Token
	}
	status, body, err := call(ctx, "POST", base+"/api/spaces", alice, `{"name":"Demo team"}`)
	if err != nil || status != 201 {
		return fmt.Errorf("create space: %d %s %v", status, body, err)
	}
	var sp struct{ ID string }
	_ = json.Unmarshal([]byte(body), &sp)
	fmt.Printf("  %-50s POST /api/spaces -> %d %s\n", "alice creates a space", status, shorten(body))
	if err := runSteps(ctx, base, []step{
		{"alice invites bob", "PUT", "/api/spaces/" + sp.ID + "/members/bob", alice, "", 200},
		{"bob accepts", "PUT", "/api/spaces/" + sp.ID + "/members/bob", bob, "", 200},
	}); err != nil {
		return err
	}
	_, body, _ = call(ctx, "GET", base+"/api/spaces/"+sp.ID, alice, "")
	var view struct{ ChatThreadID string }
	_ = json.Unmarshal([]byte(body), &view)
	fmt.Printf("  %-50s GET /api/spaces/{id} -> chatThreadId %s\n", "the space's chat thread", view.ChatThreadID)
	if th, ok := st.ACS.ChatThread(view.ChatThreadID); ok {
		fmt.Printf("  %-50s %d participants (alice, bob and Switchboard)\n", "the thread in the ACS emulator", len(th.Participants))
	}

	const handle = "6e3c9a1d2f4b5c7e8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7"
	status, body, err = call(ctx, "PUT", base+"/api/devices/bobs-phone", bob, `{"provider":"apns","handle":"`+handle+`"}`)
	if err != nil || status >= 300 {
		return fmt.Errorf("register bob's phone: %d %s %v", status, body, err)
	}
	fmt.Printf("  %-50s PUT /api/devices/bobs-phone -> %d\n", "bob's phone (regular APNs token), app closed", status)

	msg, _ := json.Marshal(map[string]string{"content": "Lunch at noon?", "senderDisplayName": "Alice Example"})
	target := strings.TrimSuffix(st.ACS.Endpoint(), "/") + "/chat/threads/" + url.PathEscape(view.ChatThreadID) + "/messages?api-version=2025-03-15"
	req, err := http.NewRequestWithContext(ctx, "POST", target, bytes.NewReader(msg))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tokens["alice"])
	req.Header.Set("Content-Type", "application/json")
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: st.ACS.CertPool()}}}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("send a chat message: %w", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		return fmt.Errorf("send a chat message: %d %s", resp.StatusCode, b)
	}
	fmt.Printf("  %-50s POST <acs>/chat/threads/{id}/messages -> %d %s\n", "alice sends with her chat token", resp.StatusCode, strings.TrimSpace(string(b)))
	for _, d := range st.Push.Received(handle) {
		fmt.Printf("  %-50s %s %s\n", "bob's phone received", d.Headers["apns-push-type"], d.Body)
	}
	fmt.Println()
	return nil
}
