package funchost

import (
	"maps"
	"strings"
	"testing"
)

func TestParseRouteErrors(t *testing.T) {
	cases := []struct{ template, wantErr string }{
		{"a//b", "empty segment"},
		{"a/{b}.{c}", "mixes literals"},
		{"a/x{b}", "mixes literals"},
		{"a/{b", "mixes literals"},
		{"a/{}", "empty name"},
		{"a/{b}/{B}", "more than once"},
		{"{*rest}/a", "must be the last"},
		{"{a?}/b", "followed only by optional"},
		{"{a?}/{b}", "followed only by optional"},
		{"{id:nosuch}", "unknown route constraint"},
		{"{id:int(3)}", "takes no arguments"},
		{"{id:min(x)}", "not an integer"},
		{"{id:range(1)}", "needs 2"},
		{"{id:regex(a}", "no closing"},
		{"{id:regex([)}", "regex"},
		{"{*rest?}", "cannot be marked optional"},
		{"{a=1?}", "default value and be optional"},
		{"{a:int)x}", "unknown route constraint"},
		{"{a:int=1=2?}", "default value and be optional"},
		{"{a:int?x}", "unexpected text"},
		{"a?b", "outside a parameter"},
	}
	for _, c := range cases {
		_, err := ParseRoute(c.template)
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("ParseRoute(%q) error = %v, want one containing %q", c.template, err, c.wantErr)
		}
	}
}

func TestRouteMatch(t *testing.T) {
	const g = "6f9619ff-8b86-d011-b42d-00cf4fc964ff"
	cases := []struct {
		template, path string
		want           map[string]string // nil: no match
	}{
		{"token", "token", map[string]string{}},
		{"/token/", "/Token/", map[string]string{}},
		{"token", "token/x", nil},
		{"token", "", nil},
		{"users/{id}", "users/abc", map[string]string{"id": "abc"}},
		{"users/{id}", "users", nil},
		{"users/{id}", "users/a%2Fb", map[string]string{"id": "a/b"}},
		{"users/{id}", "users/%zz", nil},
		{"users/{id:guid}", "users/" + g, map[string]string{"id": g}},
		{"users/{id:guid}", "users/{" + g + "}", map[string]string{"id": "{" + g + "}"}},
		{"users/{id:guid}", "users/me", nil},
		{"items/{n:int}", "items/42", map[string]string{"n": "42"}},
		{"items/{n:int}", "items/-7", map[string]string{"n": "-7"}},
		{"items/{n:int}", "items/4.2", nil},
		{"items/{n:int}", "items/99999999999", nil},
		{"items/{n:long}", "items/99999999999", map[string]string{"n": "99999999999"}},
		{"tags/{t:alpha}", "tags/Abc", map[string]string{"t": "Abc"}},
		{"tags/{t:alpha}", "tags/ab1", nil},
		{"n/{n:int:min(1):max(9)}", "n/5", map[string]string{"n": "5"}},
		{"n/{n:int:min(1):max(9)}", "n/10", nil},
		{"n/{n:range(1,3)}", "n/0", nil},
		{"s/{s:length(2,3)}", "s/abcd", nil},
		{"s/{s:minlength(2)}", "s/ab", map[string]string{"s": "ab"}},
		{"b/{b:bool}", "b/TRUE", map[string]string{"b": "TRUE"}},
		{"r/{c:regex(^[a-z]{{2}}$)}", "r/ab", nil}, // {{ is not supported: refused at parse, so never here
		{"r/{c:regex(^a+b$)}", "r/aab", map[string]string{"c": "aab"}},
		{"r/{c:regex(^a+b$)}", "r/ac", nil},
		{"items/{n:int}/{name?}", "items/1", map[string]string{"n": "1"}},
		{"items/{n:int}/{name?}", "items/1/x", map[string]string{"n": "1", "name": "x"}},
		{"items/{n:int}/{name?}", "items/1/x/y", nil},
		{"p/{page=1}", "p", map[string]string{"page": "1"}},
		{"p/{page=1}", "p/3", map[string]string{"page": "3"}},
		{"files/{*rest}", "files", map[string]string{"rest": ""}},
		{"files/{*rest}", "files/a/b%20c/d", map[string]string{"rest": "a/b c/d"}},
		{"files/{**rest}", "files/a/b", map[string]string{"rest": "a/b"}},
		{"files/{*rest:minlength(3)}", "files/ab", nil},
		{"api/{a}/x/{b}", "API/1/X/2", map[string]string{"a": "1", "b": "2"}},
	}
	for _, c := range cases {
		rt, err := ParseRoute(c.template)
		if err != nil {
			if c.want == nil && strings.Contains(c.template, "{{") {
				continue
			}
			t.Errorf("ParseRoute(%q): %v", c.template, err)
			continue
		}
		got, ok := rt.Match(c.path)
		if c.want == nil {
			if ok {
				t.Errorf("%q matched %q with %v, want no match", c.template, c.path, got)
			}
			continue
		}
		if !ok || !maps.Equal(got, c.want) {
			t.Errorf("%q on %q = %v, %v; want %v", c.template, c.path, got, ok, c.want)
		}
	}
}

func TestRoutePrecedence(t *testing.T) {
	mk := func(name, route string, methods ...string) *Function {
		rt, err := ParseRoute(route)
		if err != nil {
			t.Fatal(err)
		}
		b := Binding{Type: TypeHTTPTrigger, Direction: "in", Name: "req", AuthLevel: "anonymous", Methods: methods, Route: route}
		f := &Function{Name: name, Bindings: []Binding{b, {Type: TypeHTTP, Direction: "out", Name: "res"}}, Route: rt}
		f.Trigger = &f.Bindings[0]
		return f
	}
	app := &App{RoutePrefix: "api", Functions: []*Function{
		mk("catchall", "users/{*rest}"),
		mk("byid", "users/{id}"),
		mk("byguid", "users/{id:guid}"),
		mk("me", "users/me"),
		mk("mePost", "users/me/x", "post"),
		mk("getOnly", "things/{id}", "get"),
		mk("deleteOnly", "things/{id}", "delete"),
	}}
	h := &Host{app: app, routes: buildRoutes(app)}
	cases := []struct{ method, path, want string }{
		{"GET", "/api/users/me", "me"},
		{"GET", "/api/users/6f9619ff-8b86-d011-b42d-00cf4fc964ff", "byguid"},
		{"GET", "/api/users/bob", "byid"},
		{"GET", "/api/users/bob/x", "catchall"},
		{"GET", "/api/users/me/x", "catchall"}, // mePost's method does not match: the next route is tried
		{"POST", "/api/users/me/x", "mePost"},
		{"GET", "/api/things/1", "getOnly"},
		{"DELETE", "/api/things/1", "deleteOnly"},
		{"PUT", "/api/things/1", ""},
		{"GET", "/users/me", ""},
	}
	for _, c := range cases {
		f, _ := h.lookup(c.method, c.path)
		got := ""
		if f != nil {
			got = f.Name
		}
		if got != c.want {
			t.Errorf("%s %s -> %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func FuzzRoute(f *testing.F) {
	for _, s := range []string{"users/{id:guid}", "files/{*rest}", "items/{n:int}/{name?}", "r/{c:regex(^a+b$)}", "p/{page=1}", "{a:length(1,2):alpha}"} {
		f.Add(s, "users/abc/def")
	}
	f.Fuzz(func(t *testing.T, template, path string) {
		rt, err := ParseRoute(template)
		if err != nil {
			return
		}
		vals, ok := rt.Match(path)
		if ok && vals == nil {
			t.Fatal("match without values map")
		}
		// A template always matches its own literal text when it has no parameters.
		if !strings.ContainsAny(rt.Template, "{}%") && rt.Template != "" {
			if _, ok := rt.Match(rt.Template); !ok {
				t.Fatalf("%q does not match itself", rt.Template)
			}
		}
	})
}
