package deploycheck

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseObjectKeys(t *testing.T) {
	tests := []struct {
		name string
		src  string
		path []string // under var x
		keys []string
	}{
		{
			name: "plain",
			src:  "var x = {\n  A: 'a'\n  B: 1\n}\n",
			keys: []string{"A", "B"},
		},
		{
			name: "comments do not count",
			src:  "var x = {\n  // C: 'c'\n  A: 'a' // D: 'd'\n  /* E: 'e'\n  F: 'f' */\n}\n",
			keys: []string{"A"},
		},
		{
			name: "strings do not count",
			src:  "var x = {\n  A: 'B: c'\n  C: '''\nD: e\n'''\n}\n",
			keys: []string{"A", "C"},
		},
		{
			name: "nested objects keep their keys",
			src:  "var x = {\n  A: {\n    B: { C: 1 }\n  }\n  D: 2\n}\n",
			keys: []string{"A", "D"},
		},
		{
			name: "walks a path",
			src:  "var x = {\n  A: {\n    B: { C: 1, D: 2 }\n  }\n}\n",
			path: []string{"A", "B"},
			keys: []string{"C", "D"},
		},
		{
			name: "interpolation with braces and quotes",
			src:  "var x = {\n  A: '${y}{}'\n  B: '${z ? '}' : '{'}'\n  '${k}': 1\n}\n",
			keys: []string{"A", "B", "${k}"},
		},
		{
			name: "escaped quote",
			src:  "var x = {\n  A: 'it\\'s: {'\n  B: 1\n}\n",
			keys: []string{"A", "B"},
		},
		{
			name: "ternary and calls",
			src:  "var x = {\n  A: b ? 'true' : 'false'\n  C: string(d)\n  E: union(f, { G: 1 })\n}\n",
			keys: []string{"A", "C", "E"},
		},
		{
			name: "comma separated",
			src:  "var x = { A: 1, B: [1, 2], C: 'c' }\n",
			keys: []string{"A", "B", "C"},
		},
		{
			name: "pragma line",
			src:  "#disable-next-line no-unused-vars\nvar x = {\n  A: 1\n}\n",
			keys: []string{"A"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			d := f.Find("var", "x")
			if d == nil {
				t.Fatal("no var x")
			}
			v := d.Value.Get(tt.path...)
			if v == nil || v.Kind != Object {
				t.Fatalf("%v is not an object", tt.path)
			}
			if !slices.Equal(v.Keys, tt.keys) {
				t.Errorf("keys %q, want %q", v.Keys, tt.keys)
			}
		})
	}
}

func TestParseDeclarations(t *testing.T) {
	src := `targetScope = 'resourceGroup'

@description('''
A multi-line
description: with a colon.
''')
@minLength(3)
param name string

@allowed([512, 2048])
param memory int = 512

@secure()
param key string = ''

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  properties: {
    siteConfig: {
      appSettings: [for s in items(x): {
        name: s.key
        value: s.value
      }]
    }
  }
}

resource old 'Microsoft.Web/sites@2024-04-01' existing = {
  name: 'old'
}

module m 'modules/m.bicep' = if (memory > 0) {
  name: 'm'
  params: {
    settings: {
      A: app.properties.defaultHostName
    }
  }
}

output URL string = 'https://${app.properties.defaultHostName}/api'
`
	f, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range f.Decls {
		got = append(got, d.Keyword+" "+d.Name)
	}
	want := []string{"targetScope targetScope", "param name", "param memory", "param key", "resource app", "resource old", "module m", "output URL"}
	if !slices.Equal(got, want) {
		t.Fatalf("declarations %q, want %q", got, want)
	}
	if d := f.Find("param", "name"); d.Value != nil || d.Type != "string" {
		t.Errorf("param name: type %q, default %v; want string without default", d.Type, d.Value)
	}
	if d := f.Find("param", "memory"); d.Value == nil || d.Value.Text != "512" || d.Type != "int" {
		t.Errorf("param memory: type %q, default %+v", d.Type, d.Value)
	}
	if d := f.Find("resource", "app"); d.Type != "Microsoft.Web/sites@2024-04-01" {
		t.Errorf("resource app type %q", d.Type)
	}
	loop := f.Find("resource", "app").Body().Get("properties", "siteConfig", "appSettings")
	if loop == nil || loop.Kind != Array || len(loop.Items) != 1 || !slices.Equal(loop.Items[0].Keys, []string{"name", "value"}) {
		t.Errorf("for-expression: %+v", loop)
	}
	if dec := f.Find("param", "memory").Decorator("allowed"); dec == nil || len(dec.Items) != 1 || dec.Items[0].Kind != Array || len(dec.Items[0].Items) != 2 {
		t.Errorf("param memory: @allowed decorator %+v", dec)
	}
	if f.Find("param", "key").Decorator("secure") == nil || f.Find("param", "memory").Decorator("secure") != nil {
		t.Error("@secure() is not attached to param key alone")
	}
	if got := len(f.Find("param", "name").Decorators); got != 2 {
		t.Errorf("param name has %d decorators, want 2 (@description, @minLength)", got)
	}
	if f.Find("resource", "old").Body().Get("name").Text != "old" {
		t.Error("existing resource body not read")
	}
	m := f.Find("module", "m")
	if m.Type != "modules/m.bicep" {
		t.Errorf("module path %q", m.Type)
	}
	if s := m.Body().Get("params", "settings"); s == nil || !slices.Equal(s.Keys, []string{"A"}) {
		t.Errorf("conditional module body: %+v", s)
	}
	if u := f.Find("output", "URL"); u.Value.Kind != String || u.Value.Text != "https://${app.properties.defaultHostName}/api" {
		t.Errorf("output URL: %+v", u.Value)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"unclosed object", "var x = {\n  A: 1\n", "unclosed {"},
		{"unterminated string", "var x = 'abc\n", "newline in string"},
		{"string at end of file", "var x = 'abc", "unterminated string"},
		{"unclosed interpolation", "var x = '${a'\n", "newline in string"},
		{"interpolation at end of file", "var x = '${a", "unterminated string interpolation"},
		{"unclosed multi-line string", "var x = '''abc\n", "unclosed '''"},
		{"unclosed comment", "/* abc\nvar x = 1\n", "unclosed /*"},
		{"missing colon", "var x = {\n  A 1\n}\n", `want ":"`},
		{"duplicate key", "var x = {\n  A: 1\n  A: 2\n}\n", "set twice"},
		{"missing value", "var x = }\n", "expression expected"},
		{"stray closer", "}\n", "declaration expected"},
		{"bad escape", "var x = '\\q'\n", "unknown escape"},
		{"unknown character", "var x = 1 ^ 2\n", "unexpected character"},
		{"mismatched bracket", "var x = [1, 2}\n", `want "]"`},
		{"decorator without declaration", "param p int\n@secure()\n", "decorates nothing"},
		{"decorator without name", "@(1)\nparam p int\n", "decorator name expected"},
		{"unclosed decorator", "@minValue(1\nparam p int\n", `missing ")"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q does not name its line", err)
			}
		})
	}
}

// Every Bicep file in infra/ must parse: the consistency tests read them.
func TestInfraFilesParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(repoRoot(t), "infra", "*.bicep"))
	if err != nil {
		t.Fatal(err)
	}
	mods, _ := filepath.Glob(filepath.Join(repoRoot(t), "infra", "modules", "*.bicep"))
	files = append(files, mods...)
	if len(files) < 2 {
		t.Fatalf("found only %d Bicep files under infra/", len(files))
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(string(b)); err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
		}
	}
}

func TestParseDecorators(t *testing.T) {
	src := "@sys.minValue(40)\n@maxValue(1000)\n@description('a (b)')\nparam n int = 100\n\n@secure()\noutput o string = x\nvar v = 1\n"
	f, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	n := f.Find("param", "n")
	var names []string
	for _, d := range n.Decorators {
		names = append(names, d.Name)
	}
	if !slices.Equal(names, []string{"minValue", "maxValue", "description"}) {
		t.Fatalf("decorators %q", names)
	}
	if lo := n.Decorator("minValue"); len(lo.Items) != 1 || lo.Items[0].Text != "40" {
		t.Errorf("@minValue args %+v", lo.Items)
	}
	if d := n.Decorator("description"); d.Items[0].Kind != String || d.Items[0].Text != "a (b)" {
		t.Errorf("@description args %+v", d.Items)
	}
	if f.Find("output", "o").Decorator("secure") == nil {
		t.Error("output o lost its @secure()")
	}
	if len(f.Find("var", "v").Decorators) != 0 {
		t.Error("var v took a decorator of the declaration above it")
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"var x = {\n  A: '${b}'\n}\n",
		"param p string = 'a\\'b'\n",
		"resource r 'T@1' = [for i in range(0, 2): {\n  name: '${i}'\n}]\n",
		"output o string = '''\nx\n'''\n",
		"var y = union(a, {\n  B: c ? 'd' : 'e'\n})\n",
		// Small seeds: the engine minimizes every new input, and a whole
		// main.bicep makes that take most of a short run.
		"@description('''x: y''')\n@allowed([1, 2])\nparam n int = 1\nmodule m 'm.bicep' = if (n > 0) {\n  params: { s: { A: 'a', B: string(n) } }\n}\n",
		"/* c */ #disable-next-line x\nvar z = '${a['b']}{\\$}' // d\n",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, src string) {
		file, err := Parse(src)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Errorf("error %q does not name its line", err)
			}
			return
		}
		for _, d := range file.Decls {
			d.Body().Get("properties", "name")
		}
	})
}
