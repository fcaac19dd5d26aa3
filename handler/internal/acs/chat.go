package acs

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// ChatAPIVersion is the newest GA Chat api-version, the default of
// @azure/communication-chat 1.6.0.
const ChatAPIVersion = "2025-03-15"

// Chat limits (service-limits.md): participants per thread, and per create
// or add batch.
const (
	MaxChatParticipants = 250
	MaxChatBatch        = 200
)

// ChatCredential gives the ACS user access token (chat scope) the Chat API
// takes: Chat accepts no access key and no Entra token. refresh asks for a
// new token after Chat refused the last one.
type ChatCredential interface {
	ChatToken(ctx context.Context, refresh bool) (string, error)
}

// ChatClient calls the Chat API of one ACS resource as the ACS identity its
// credential's tokens belong to. It is safe for concurrent use.
type ChatClient struct {
	c *Client
}

// NewChatClient builds a Chat client for endpoint (https, or http on a
// loopback host) authenticating with cred's tokens.
func NewChatClient(endpoint string, cred ChatCredential, opts *ClientOptions) (*ChatClient, error) {
	if cred == nil {
		return nil, errors.New("acs: chat credential is nil")
	}
	c, err := newClient(endpoint, &chatAuth{cred: cred}, opts)
	if err != nil {
		return nil, err
	}
	return &ChatClient{c: c}, nil
}

// chatAuth sets `Authorization: Bearer <ACS user token>`, and on a 401 asks
// the credential once for a fresh token (ours may have been revoked).
type chatAuth struct{ cred ChatCredential }

func (p *chatAuth) Do(req *policy.Request) (*http.Response, error) {
	ctx := req.Raw().Context()
	tok, err := p.cred.ChatToken(ctx, false)
	if err != nil {
		return nil, fmt.Errorf("acs: chat token: %w", err)
	}
	req.Raw().Header.Set("Authorization", "Bearer "+tok)
	if err := req.RewindBody(); err != nil {
		return nil, err
	}
	resp, err := req.Next()
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if tok, err = p.cred.ChatToken(ctx, true); err != nil {
		return resp, nil
	}
	resp.Body.Close()
	if err := req.RewindBody(); err != nil {
		return nil, err
	}
	req.Raw().Header.Set("Authorization", "Bearer "+tok)
	return req.Next()
}

// ChatParticipant is a member of a chat thread.
type ChatParticipant struct {
	ID          string
	DisplayName string
	// ShareHistoryTime is where the participant's view of history starts; zero shares all of it.
	ShareHistoryTime time.Time
}

// ChatThread is a created thread.
type ChatThread struct {
	ID        string
	Topic     string
	CreatedOn time.Time
	CreatedBy string
}

// InvalidParticipant is a participant Chat refused in a create or add that
// otherwise succeeded (a 201 still carries them).
type InvalidParticipant struct {
	ID      string
	Code    string
	Message string
}

// CreateChatThreadOptions describes a new thread.
type CreateChatThreadOptions struct {
	Topic        string
	Participants []ChatParticipant
	Metadata     map[string]string
	// RepeatabilityRequestID makes a resent create (same id) answer the first
	// thread instead of making another; required.
	RepeatabilityRequestID string
}

type chatIdentifier struct {
	RawID             string                       `json:"rawId,omitempty"`
	CommunicationUser *CommunicationUserIdentifier `json:"communicationUser,omitempty"`
}

func chatUser(id string) chatIdentifier {
	return chatIdentifier{RawID: id, CommunicationUser: &CommunicationUserIdentifier{ID: id}}
}

func (id chatIdentifier) raw() string {
	if id.RawID != "" {
		return id.RawID
	}
	if id.CommunicationUser != nil {
		return id.CommunicationUser.ID
	}
	return ""
}

type wireChatParticipant struct {
	CommunicationIdentifier chatIdentifier `json:"communicationIdentifier"`
	DisplayName             string         `json:"displayName,omitempty"`
	ShareHistoryTime        *time.Time     `json:"shareHistoryTime,omitempty"`
}

func wireParticipants(ps []ChatParticipant) ([]wireChatParticipant, error) {
	out := make([]wireChatParticipant, 0, len(ps))
	for _, p := range ps {
		if p.ID == "" {
			return nil, errors.New("acs: chat participant id is empty")
		}
		w := wireChatParticipant{CommunicationIdentifier: chatUser(p.ID), DisplayName: p.DisplayName}
		if !p.ShareHistoryTime.IsZero() {
			t := p.ShareHistoryTime.UTC()
			w.ShareHistoryTime = &t
		}
		out = append(out, w)
	}
	return out, nil
}

type wireCommunicationError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Target  string `json:"target"`
}

func invalidParticipants(in []wireCommunicationError) []InvalidParticipant {
	var out []InvalidParticipant
	for _, e := range in {
		out = append(out, InvalidParticipant{ID: e.Target, Code: e.Code, Message: e.Message})
	}
	return out
}

type wireChatThread struct {
	ID                               string         `json:"id"`
	Topic                            string         `json:"topic"`
	CreatedOn                        time.Time      `json:"createdOn"`
	CreatedByCommunicationIdentifier chatIdentifier `json:"createdByCommunicationIdentifier"`
}

// CreateChatThread creates a thread; the caller's identity is its creator.
func (c *ChatClient) CreateChatThread(ctx context.Context, opts CreateChatThreadOptions) (ChatThread, []InvalidParticipant, error) {
	if opts.Topic == "" {
		return ChatThread{}, nil, errors.New("acs: create chat thread: topic is empty")
	}
	if opts.RepeatabilityRequestID == "" {
		return ChatThread{}, nil, errors.New("acs: create chat thread: a repeatability request id is required")
	}
	if len(opts.Participants) > MaxChatBatch {
		return ChatThread{}, nil, fmt.Errorf("acs: create chat thread: %d participants, at most %d per request", len(opts.Participants), MaxChatBatch)
	}
	ps, err := wireParticipants(opts.Participants)
	if err != nil {
		return ChatThread{}, nil, err
	}
	body := struct {
		Topic        string                `json:"topic"`
		Participants []wireChatParticipant `json:"participants,omitempty"`
		Metadata     map[string]string     `json:"metadata,omitempty"`
	}{opts.Topic, ps, opts.Metadata}
	var out struct {
		ChatThread          *wireChatThread          `json:"chatThread"`
		InvalidParticipants []wireCommunicationError `json:"invalidParticipants"`
	}
	err = c.c.send(ctx, request{method: http.MethodPost, url: c.c.endpoint + "/chat/threads?api-version=" + ChatAPIVersion, body: body,
		header: http.Header{"repeatability-request-id": {opts.RepeatabilityRequestID}}, want: http.StatusCreated}, &out)
	if err != nil {
		return ChatThread{}, nil, err
	}
	if out.ChatThread == nil || out.ChatThread.ID == "" {
		return ChatThread{}, nil, errors.New("acs: create chat thread response has no thread id")
	}
	t := out.ChatThread
	return ChatThread{ID: t.ID, Topic: t.Topic, CreatedOn: t.CreatedOn, CreatedBy: t.CreatedByCommunicationIdentifier.raw()}, invalidParticipants(out.InvalidParticipants), nil
}

// DeleteChatThread deletes a thread for everyone in it.
func (c *ChatClient) DeleteChatThread(ctx context.Context, threadID string) error {
	if threadID == "" {
		return errors.New("acs: delete chat thread: thread id is empty")
	}
	return c.c.do(ctx, http.MethodDelete, "/chat/threads/"+escapeSegment(threadID), ChatAPIVersion, nil, http.StatusNoContent, nil)
}

// AddChatParticipants adds up to MaxChatBatch participants; those already in
// the thread are left as they are. Participants Chat refused come back.
func (c *ChatClient) AddChatParticipants(ctx context.Context, threadID string, participants []ChatParticipant) ([]InvalidParticipant, error) {
	if threadID == "" {
		return nil, errors.New("acs: add chat participants: thread id is empty")
	}
	if len(participants) == 0 || len(participants) > MaxChatBatch {
		return nil, fmt.Errorf("acs: add chat participants: %d participants, 1 to %d per request", len(participants), MaxChatBatch)
	}
	ps, err := wireParticipants(participants)
	if err != nil {
		return nil, err
	}
	var out struct {
		InvalidParticipants []wireCommunicationError `json:"invalidParticipants"`
	}
	err = c.c.do(ctx, http.MethodPost, "/chat/threads/"+escapeSegment(threadID)+"/participants/:add", ChatAPIVersion,
		map[string]any{"participants": ps}, http.StatusCreated, &out)
	if err != nil {
		return nil, err
	}
	return invalidParticipants(out.InvalidParticipants), nil
}

// RemoveChatParticipant removes one participant (Chat takes one per call).
func (c *ChatClient) RemoveChatParticipant(ctx context.Context, threadID, id string) error {
	if threadID == "" || id == "" {
		return errors.New("acs: remove chat participant: thread id and participant id are required")
	}
	return c.c.do(ctx, http.MethodPost, "/chat/threads/"+escapeSegment(threadID)+"/participants/:remove", ChatAPIVersion,
		chatUser(id), http.StatusNoContent, nil)
}

// ListChatParticipants returns every participant of a thread, following nextLink.
func (c *ChatClient) ListChatParticipants(ctx context.Context, threadID string) ([]ChatParticipant, error) {
	if threadID == "" {
		return nil, errors.New("acs: list chat participants: thread id is empty")
	}
	next := c.c.endpoint + "/chat/threads/" + escapeSegment(threadID) + "/participants?api-version=" + ChatAPIVersion
	var all []ChatParticipant
	for page := 0; next != ""; page++ {
		if page == maxParticipantPages {
			return nil, fmt.Errorf("acs: list chat participants of %s: more than %d pages", threadID, maxParticipantPages)
		}
		var out struct {
			Value    []wireChatParticipant `json:"value"`
			NextLink string                `json:"nextLink"`
		}
		if err := c.c.send(ctx, request{method: http.MethodGet, url: next, want: http.StatusOK}, &out); err != nil {
			return nil, err
		}
		for _, p := range out.Value {
			cp := ChatParticipant{ID: p.CommunicationIdentifier.raw(), DisplayName: p.DisplayName}
			if p.ShareHistoryTime != nil {
				cp.ShareHistoryTime = *p.ShareHistoryTime
			}
			all = append(all, cp)
		}
		var err error
		if next, err = c.c.nextLink(out.NextLink, ChatAPIVersion); err != nil {
			return nil, err
		}
	}
	return all, nil
}

// SendChatMessage posts a text message as the credential's identity and
// returns the message id.
func (c *ChatClient) SendChatMessage(ctx context.Context, threadID, content, senderDisplayName string) (string, error) {
	if threadID == "" || content == "" {
		return "", errors.New("acs: send chat message: thread id and content are required")
	}
	body := struct {
		Content           string `json:"content"`
		SenderDisplayName string `json:"senderDisplayName,omitempty"`
		Type              string `json:"type"`
	}{content, senderDisplayName, "text"}
	var out struct {
		ID string `json:"id"`
	}
	if err := c.c.do(ctx, http.MethodPost, "/chat/threads/"+escapeSegment(threadID)+"/messages", ChatAPIVersion, body, http.StatusCreated, &out); err != nil {
		return "", err
	}
	return out.ID, nil
}

// StaticChatToken is a ChatCredential holding one token (a client's, in tools and tests).
type StaticChatToken string

// ChatToken returns the token.
func (t StaticChatToken) ChatToken(context.Context, bool) (string, error) { return string(t), nil }
