package funchost

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadTestdataApp(t *testing.T) {
	app, err := Load("testdata/app")
	if err != nil {
		t.Fatal(err)
	}
	if app.ExecutablePath != "echohandler" || !app.EnableForwardingHTTPRequest || app.RoutePrefix != "api" {
		t.Errorf("host.json read as %+v", app)
	}
	var names []string
	for _, f := range app.Functions {
		names = append(names, f.Name)
	}
	want := "callevents,emptyanswer,files,housekeeping,items,opsreset,token,users,usersme,withqueue"
	if got := strings.Join(names, ","); got != want {
		t.Errorf("functions = %s, want %s (notafunction has no function.json)", got, want)
	}
	tok := app.Function("token")
	if !tok.IsHTTPInAndOut() || tok.Trigger.AuthLevel != "anonymous" || strings.Join(tok.Trigger.Methods, ",") != "post" {
		t.Errorf("token = %+v", tok.Trigger)
	}
	if app.Function("withqueue").IsHTTPInAndOut() {
		t.Error("withqueue has a queue output: not HTTP in/out only")
	}
	if r := app.Function("withqueue").Route.Template; r != "withqueue" {
		t.Errorf("route defaults to the function name, got %q", r)
	}
	if f := app.Function("files"); len(f.Trigger.Methods) != 0 {
		t.Errorf("absent methods should mean all, got %v", f.Trigger.Methods)
	}
	if !app.Function("callevents").IsType("EVENTGRIDTRIGGER") || app.Function("housekeeping").Trigger.Schedule != "0 */5 * * * *" {
		t.Error("trigger types or schedule misread")
	}
}

func TestParseFunction(t *testing.T) {
	http := func(extra string) string {
		return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"` + extra + `},{"type":"http","direction":"out","name":"res"}]}`
	}
	cases := []struct {
		name, fn, json, wantErr string
	}{
		{"ok", "f", http(`,"methods":["GET","get"],"route":"x/{id}"`), ""},
		{"default auth level", "f", http(``), ""},
		{"BOM", "f", "\xef\xbb\xbf" + http(``), ""},
		{"bad function name", "1f", http(``), "invalid function name"},
		{"not json", "f", `{"bindings":`, "invalid JSON"},
		{"array", "f", `[]`, "not a JSON object"},
		{"trailing", "f", http(``) + `{}`, "data after"},
		{"no bindings", "f", `{"bindings":[]}`, "must have a trigger"},
		{"no trigger", "f", `{"bindings":[{"type":"http","direction":"out","name":"res"}]}`, "no trigger binding"},
		{"two triggers", "f", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"a"},{"type":"timerTrigger","direction":"in","name":"b","schedule":"0 * * * * *"}]}`, "more than one trigger"},
		{"trigger out", "f", `{"bindings":[{"type":"eventGridTrigger","direction":"out","name":"e"}]}`, "must have direction in"},
		{"bad direction", "f", `{"bindings":[{"type":"eventGridTrigger","direction":"sideways","name":"e"}]}`, "direction"},
		{"bad binding name", "f", `{"bindings":[{"type":"eventGridTrigger","direction":"in","name":"my-event"}]}`, "binding name"},
		{"duplicate names", "f", `{"bindings":[{"type":"eventGridTrigger","direction":"in","name":"e"},{"type":"queue","direction":"out","name":"E"}]}`, "unique"},
		{"no type", "f", `{"bindings":[{"direction":"in","name":"e"}]}`, `"type" is required`},
		{"bad auth level", "f", http(`,"authLevel":"user"`), "authLevel"},
		{"bad method", "f", http(`,"methods":["fetch"]`), "unknown HTTP method"},
		{"methods not array", "f", http(`,"methods":"get"`), "array of strings"},
		{"reserved admin", "f", http(`,"route":"admin/x"`), "built-in routes"},
		{"reserved runtime", "f", http(`,"route":"/Runtime/webhooks"`), "built-in routes"},
		{"bad route", "f", http(`,"route":"a/{b"`), "route"},
		{"disabled not bool", "f", `{"disabled":"yes","bindings":[{"type":"eventGridTrigger","direction":"in","name":"e"}]}`, "disabled"},
		{"timer no schedule", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t"}]}`, "schedule"},
		{"timer 5 fields", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"*/5 * * * *"}]}`, "6 fields"},
		{"timer bad field", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * * ?!"}]}`, "not a cron field"},
		{"timer timespan", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"1.00:05:00"}]}`, ""},
		{"timer setting", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"%HOUSEKEEPING_SCHEDULE%"}]}`, ""},
		{"timer named days", "f", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 30 9 * Jan Mon-Fri"}]}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := ParseFunction(c.fn, []byte(c.json))
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if f.Trigger == nil {
					t.Fatal("no trigger")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
}

func writeApp(t *testing.T, host string, fns map[string]string) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "host.json"), []byte(host), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, body := range fns {
		if err := os.MkdirAll(filepath.Join(root, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, name, "function.json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoadErrors(t *testing.T) {
	okHost := `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"handler"}}}`
	fn := func(route, methods string) string {
		return `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"` + route + `"` + methods + `},{"type":"http","direction":"out","name":"res"}]}`
	}
	cases := []struct {
		name, host string
		fns        map[string]string
		wantErr    string // "" = loads
	}{
		{"no version", `{"customHandler":{"description":{"defaultExecutablePath":"h"}}}`, nil, `host.json: "version"`},
		{"no custom handler", `{"version":"2.0"}`, nil, "defaultExecutablePath"},
		{"host.json not json", `{"version":`, nil, "host.json: invalid JSON"},
		{"bad route prefix", `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"http":{"routePrefix":"a/{b"}}}`, nil, "routePrefix"},
		{"empty route prefix", `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"http":{"routePrefix":""}}}`, nil, ""},
		{"bad function.json names the file", okHost, map[string]string{"broken": `{`}, filepath.Join("broken", "function.json")},
		{"same route, overlapping methods", okHost, map[string]string{"a": fn("x/{id}", `,"methods":["get","put"]`), "b": fn("/X/{id}/", `,"methods":["PUT"]`)}, "conflicts with the route defined by function"},
		{"same route, one without methods", okHost, map[string]string{"a": fn("x", ``), "b": fn("x", `,"methods":["get"]`)}, "conflicts"},
		{"same route, disjoint methods", okHost, map[string]string{"a": fn("x", `,"methods":["get"]`), "b": fn("x", `,"methods":["delete"]`)}, ""},
		{"default route equals another's route", okHost, map[string]string{"token": fn("", ``), "other": fn("token", ``)}, "conflicts"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(writeApp(t, c.host, c.fns))
			if c.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error = %v, want one containing %q", err, c.wantErr)
			}
		})
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "host.json") {
		t.Errorf("missing host.json: %v", err)
	}
}

func FuzzParseFunction(f *testing.F) {
	f.Add(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"a/{b:int}"},{"type":"http","direction":"out","name":"res"}]}`)
	f.Add(`{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 */5 * * * *"}]}`)
	f.Add(`{"disabled":true,"bindings":[{"type":"eventGridTrigger","direction":"in","name":"event"}]}`)
	f.Fuzz(func(t *testing.T, raw string) {
		fn, err := ParseFunction("fuzz", []byte(raw))
		if err != nil {
			return
		}
		if fn.Trigger == nil {
			t.Fatal("parsed function without a trigger")
		}
		if fn.IsType(TypeHTTPTrigger) && fn.Route == nil {
			t.Fatal("HTTP function without a parsed route")
		}
		_, _ = parseHostJSON([]byte(raw))
	})
}
