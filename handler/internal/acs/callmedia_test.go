package acs

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestDTMFTones(t *testing.T) {
	cases := []struct {
		data string
		want []string
		ok   bool
	}{
		{`{"recognitionType":"dtmf","dtmfResult":{"tones":["one","pound","asterisk","zero"]}}`, []string{"1", "#", "*", "0"}, true},
		{`{"recognitionType":"dtmf","dtmfResult":{"tones":[]}}`, []string{}, true},
		{`{"recognitionType":"dtmf","dtmfResult":{"tones":["hash"]}}`, nil, false},
		{`{"recognitionType":"speech","speechResult":{"speech":"one"}}`, nil, false},
		{`{"dtmfResult":"one"}`, nil, false},
	}
	for _, c := range cases {
		got, err := CallbackEvent{Type: EventRecognizeCompleted, RawData: json.RawMessage(c.data)}.DTMFTones()
		if (err == nil) != c.ok || (c.ok && !slices.Equal(got, c.want)) {
			t.Errorf("DTMFTones(%s) = %v, %v; want %v (ok %v)", c.data, got, err, c.want, c.ok)
		}
	}
	for k, name := range toneNames {
		if DTMFKey(name) != k {
			t.Errorf("DTMFKey(%q) = %q, want %q", name, DTMFKey(name), k)
		}
	}
}

// FuzzDTMFTones: a callback's dtmfResult never panics, and every key it yields is a DTMF key.
func FuzzDTMFTones(f *testing.F) {
	f.Add([]byte(`{"recognitionType":"dtmf","dtmfResult":{"tones":["one","two"]}}`))
	f.Add([]byte(`{"dtmfResult":{"tones":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := CallbackEvent{RawData: data}.DTMFTones()
		if err != nil {
			return
		}
		for _, k := range keys {
			if _, ok := toneNames[k]; !ok {
				t.Fatalf("key %q from %s", k, data)
			}
		}
	})
}

func TestPlaySourceWire(t *testing.T) {
	long := make([]rune, MaxTTSCharacters+1)
	for i := range long {
		long[i] = 'é'
	}
	for _, p := range []PlaySource{{}, {Text: "a", FileURL: "https://x/a.wav"}, {Text: string(long)}} {
		if _, err := p.wire(); err == nil {
			t.Errorf("wire(%+v) accepted", p)
		}
	}
	w, err := PlaySource{Text: "hi", VoiceName: "en-US-JennyNeural"}.wire()
	if err != nil || w.Kind != "text" || w.Text.VoiceName != "en-US-JennyNeural" {
		t.Errorf("text wire = %+v, %v", w, err)
	}
	if w, err := (PlaySource{FileURL: "https://cdn.contoso.com/a.wav"}).wire(); err != nil || w.Kind != "file" || w.File.URI == "" {
		t.Errorf("file wire = %+v, %v", w, err)
	}
}
