package acs

import (
	"strings"
	"testing"
)

const connected = `{"id":"e1","source":"calling/callConnections/c1","type":"Microsoft.Communication.CallConnected","subject":"calling/callConnections/c1","time":"2026-11-24T15:44:43.123Z","specversion":"1.0","datacontenttype":"application/json","data":{"callConnectionId":"c1","serverCallId":"s1","correlationId":"k1","operationContext":"op","resultInformation":{"code":200,"subCode":0,"message":"ok"}}}`

const updated = `{"id":"e2","source":"calling/callConnections/c1","type":"Microsoft.Communication.ParticipantsUpdated","specversion":"1.0","data":{"callConnectionId":"c1","sequenceNumber":3,"participants":[{"identifier":{"kind":"communicationUser","rawId":"8:acs:r_u1","communicationUser":{"id":"8:acs:r_u1"}},"isMuted":true,"isOnHold":false},{"identifier":{"kind":"phoneNumber","rawId":"4:+14255550100","phoneNumber":{"value":"+14255550100"}},"isMuted":false,"isOnHold":true}]}}`

func TestParseCallbackEvents(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		kinds []string
		err   string
	}{
		{"array of two", "[" + connected + "," + updated + "]", []string{"CallConnected", "ParticipantsUpdated"}, ""},
		{"single object", connected, []string{"CallConnected"}, ""},
		{"unknown type kept", `[{"id":"e","type":"Microsoft.Communication.PlayCompleted","specversion":"1.0","data":{"callConnectionId":"c"}}]`, []string{"PlayCompleted"}, ""},
		{"empty", "  ", nil, "empty"},
		{"empty array", "[]", nil, "no events"},
		{"not JSON", "[{", nil, "not a JSON array"},
		{"no id", `[{"type":"Microsoft.Communication.CallConnected","specversion":"1.0","data":{"callConnectionId":"c"}}]`, nil, "no id"},
		{"foreign type", `[{"id":"e","type":"Microsoft.Storage.BlobCreated","specversion":"1.0","data":{"callConnectionId":"c"}}]`, nil, "not a Microsoft.Communication"},
		{"bare prefix", `[{"id":"e","type":"Microsoft.Communication.","specversion":"1.0","data":{"callConnectionId":"c"}}]`, nil, "not a Microsoft.Communication"},
		{"Event Grid schema", `[{"id":"e","eventType":"Microsoft.Communication.CallConnected","dataVersion":"1.0","data":{"callConnectionId":"c"}}]`, nil, "specversion"},
		{"no call id", `[{"id":"e","type":"Microsoft.Communication.CallConnected","specversion":"1.0","data":{}}]`, nil, "no callConnectionId"},
		{"data not object", `[{"id":"e","type":"Microsoft.Communication.CallConnected","specversion":"1.0","data":"x"}]`, nil, "not a JSON object"},
		{"bad time", `[{"id":"e","type":"Microsoft.Communication.CallConnected","specversion":"1.0","time":"yesterday","data":{"callConnectionId":"c"}}]`, nil, "time"},
		{"negative sequence", `[{"id":"e","type":"Microsoft.Communication.ParticipantsUpdated","specversion":"1.0","data":{"callConnectionId":"c","sequenceNumber":-1}}]`, nil, "negative"},
		{"too many", "[" + strings.Repeat(connected+",", MaxCallbackEvents) + connected + "]", nil, "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := ParseCallbackEvents([]byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != len(tt.kinds) {
				t.Fatalf("%d events, want %d", len(evs), len(tt.kinds))
			}
			for i, k := range tt.kinds {
				if evs[i].Kind() != k {
					t.Errorf("event %d kind = %q, want %q", i, evs[i].Kind(), k)
				}
			}
		})
	}
}

func TestParseCallbackEventFields(t *testing.T) {
	evs, err := ParseCallbackEvents([]byte("[" + connected + "," + updated + "]"))
	if err != nil {
		t.Fatal(err)
	}
	c := evs[0]
	if c.Type != EventCallConnected || c.ID != "e1" || c.Data.ServerCallID != "s1" || c.Data.CorrelationID != "k1" ||
		c.Data.OperationContext != "op" || c.Data.ResultInformation == nil || c.Data.ResultInformation.Code != 200 || c.Time.Nanosecond() != 123e6 {
		t.Errorf("CallConnected = %+v", c)
	}
	u := evs[1].Data
	if u.SequenceNumber != 3 || len(u.Participants) != 2 || u.Participants[0].Identifier.Raw() != "8:acs:r_u1" || !u.Participants[0].IsMuted ||
		u.Participants[1].Identifier.PhoneNumber == nil || u.Participants[1].Identifier.PhoneNumber.Value != "+14255550100" || !u.Participants[1].IsOnHold {
		t.Errorf("ParticipantsUpdated data = %+v", u)
	}
}

func TestParseRawID(t *testing.T) {
	tests := []struct {
		raw, kind string
		ok        bool
	}{
		{"8:acs:res_user", KindCommunicationUser, true},
		{"8:spool:x", KindCommunicationUser, true},
		{"4:+14255550100", KindPhoneNumber, true},
		{"4:14255550100", "", false},
		{"4:+0123456", "", false},
		{"8:", "", false},
		{"28:orgid:x", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		id, err := ParseRawID(tt.raw)
		if (err == nil) != tt.ok || (tt.ok && (id.Kind != tt.kind || id.Raw() != tt.raw)) {
			t.Errorf("ParseRawID(%q) = %+v, %v", tt.raw, id, err)
		}
	}
	if got := (CommunicationIdentifier{PhoneNumber: &PhoneNumberIdentifier{Value: "+1425555"}}).Raw(); got != "4:+1425555" {
		t.Errorf("Raw without rawId = %q", got)
	}
	if err := (CommunicationIdentifier{Kind: KindPhoneNumber, RawID: "8:acs:x"}).validate(); err == nil {
		t.Error("identifier whose kind contradicts its raw id validated")
	}
}

func FuzzParseCallbackEvents(f *testing.F) {
	f.Add([]byte("[" + connected + "," + updated + "]"))
	f.Add([]byte(connected))
	f.Add([]byte(`[{"id":"e","type":"Microsoft.Communication.X","specversion":"1.0","data":{"callConnectionId":"c","participants":[{}]}}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		evs, err := ParseCallbackEvents(body)
		if err != nil {
			return
		}
		if len(evs) == 0 || len(evs) > MaxCallbackEvents {
			t.Fatalf("%d events accepted", len(evs))
		}
		for _, e := range evs {
			if e.ID == "" || e.Data.CallConnectionID == "" || !strings.HasPrefix(e.Type, eventTypePrefix) || e.Kind() == "" {
				t.Fatalf("accepted an invalid event %+v", e)
			}
		}
	})
}
