package console

import (
	"encoding/json"
	"sort"
	"time"

	"switchboard/dev/acsemu"
)

// ChatThread is a chat thread of the ACS emulator, with its messages.
type ChatThread struct {
	ID           string        `json:"id"`
	Topic        string        `json:"topic"`
	CreatedOn    time.Time     `json:"createdOn"`
	Participants []Person      `json:"participants"`
	Messages     []ChatMessage `json:"messages"`
	// Count is how many messages the thread holds (Messages are those whose
	// ChatMessageReceived ACS raised: a thread nobody else is in has none).
	Count int `json:"count"`
}

// ChatMessage is one message, as ACS told its recipients.
type ChatMessage struct {
	ID         string    `json:"id"`
	Sender     Person    `json:"sender"`
	Body       string    `json:"body"`
	At         time.Time `json:"at"`
	Recipients int       `json:"recipients"`
}

// chatThreads are the emulator's threads, newest first, with the raw ids
// named as app users where they are (byACS).
func chatThreads(acs *acsemu.Emulator, byACS map[string]User) []ChatThread {
	person := func(raw, name string) Person {
		p := Person{RawID: raw, DisplayName: name}
		if u, ok := byACS[raw]; ok {
			p.UserID = u.UserID
			if p.DisplayName == "" {
				p.DisplayName = u.DisplayName
			}
		}
		return p
	}
	out := []ChatThread{}
	byID := map[string]int{}
	for _, t := range acs.ChatThreads() {
		ct := ChatThread{ID: t.ID, Topic: t.Topic, CreatedOn: t.CreatedOn, Participants: []Person{}, Messages: []ChatMessage{}, Count: t.Messages}
		for raw, name := range t.Participants {
			ct.Participants = append(ct.Participants, person(raw, name))
		}
		sort.Slice(ct.Participants, func(i, j int) bool { return ct.Participants[i].RawID < ct.Participants[j].RawID })
		byID[t.ID] = len(out)
		out = append(out, ct)
	}
	seen := map[string]int{} // message id: its index in its thread
	for _, raw := range acs.ChatEvents() {
		var evs []struct {
			Type string `json:"eventType"`
			Data struct {
				MessageBody       string    `json:"messageBody"`
				MessageID         string    `json:"messageId"`
				SenderID          string    `json:"senderId"`
				SenderDisplayName string    `json:"senderDisplayName"`
				ComposeTime       time.Time `json:"composeTime"`
				ThreadID          string    `json:"threadId"`
			} `json:"data"`
		}
		if json.Unmarshal(raw, &evs) != nil {
			continue
		}
		for _, ev := range evs {
			i, ok := byID[ev.Data.ThreadID]
			if ev.Type != acsemu.ChatMessageReceived || !ok {
				continue
			}
			t := &out[i]
			if j, ok := seen[ev.Data.ThreadID+"/"+ev.Data.MessageID]; ok {
				t.Messages[j].Recipients++
				continue
			}
			seen[ev.Data.ThreadID+"/"+ev.Data.MessageID] = len(t.Messages)
			t.Messages = append(t.Messages, ChatMessage{ID: ev.Data.MessageID, Sender: person(ev.Data.SenderID, ev.Data.SenderDisplayName),
				Body: ev.Data.MessageBody, At: ev.Data.ComposeTime, Recipients: 1})
		}
	}
	for i := range out {
		sort.SliceStable(out[i].Messages, func(a, b int) bool { return out[i].Messages[a].At.Before(out[i].Messages[b].At) })
	}
	sort.Slice(out, func(i, j int) bool { return out[i].CreatedOn.After(out[j].CreatedOn) })
	return out
}
