package httpapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

type strictInner struct {
	Name string `json:"name"`
}

type strictBase struct {
	Kind string `json:"kind"`
}

type strictBody struct {
	strictBase
	*StrictPtrBase
	Scopes   []string               `json:"scopes"`
	Minutes  *int                   `json:"expiresInMinutes"`
	Inner    *strictInner           `json:"inner"`
	List     []strictInner          `json:"list"`
	ByKey    map[string]strictInner `json:"byKey"`
	Any      any                    `json:"any"`
	Raw      json.RawMessage        `json:"raw"`
	Untagged string
	Skipped  string `json:"-"`
}

type StrictPtrBase struct {
	Depth int `json:"depth"`
}

func TestUnmarshalStrictNames(t *testing.T) {
	cases := []struct {
		name, body string
		code       string // "" = accepted
		field      string
		detail     string // part of the problem's detail
	}{
		{"exact names", `{"scopes":["chat"],"expiresInMinutes":1440,"inner":{"name":"a"},"kind":"k","depth":2,"Untagged":"u"}`, "", "", ""},
		{"issue example", `{"SCOPES":["chat"],"ExpiresInMinutes":1440}`, CodeUnknownField, "SCOPES", `did you mean "scopes"`},
		{"case in second key", `{"scopes":["chat"],"ExpiresInMinutes":1440}`, CodeUnknownField, "ExpiresInMinutes", `"expiresInMinutes"`},
		{"untagged field exact only", `{"untagged":"u"}`, CodeUnknownField, "untagged", `"Untagged"`},
		{"embedded field", `{"Kind":"k"}`, CodeUnknownField, "Kind", `"kind"`},
		{"embedded pointer field", `{"DEPTH":1}`, CodeUnknownField, "DEPTH", `"depth"`},
		{"nested pointer struct", `{"inner":{"Name":"a"}}`, CodeUnknownField, "inner.Name", `"name"`},
		{"in a slice", `{"list":[{"name":"a"},{"NAME":"b"}]}`, CodeUnknownField, "list[1].NAME", `"name"`},
		{"in a map value", `{"byKey":{"x":{"nAme":"a"}}}`, CodeUnknownField, "byKey.x.nAme", `"name"`},
		{"unicode folding", "{\"\u212aind\":\"k\"}", CodeUnknownField, "\u212aind", `"kind"`}, // KELVIN SIGN folds to k
		{"duplicate top level", `{"scopes":["voip"],"scopes":["chat"]}`, CodeInvalidJSON, "scopes", "twice"},
		{"duplicate escaped", `{"scopes":["voip"],"\u0073copes":["chat"]}`, CodeInvalidJSON, "scopes", "twice"},
		{"duplicate nested", `{"inner":{"name":"a","name":"b"}}`, CodeInvalidJSON, "inner.name", "twice"},
		{"duplicate map key", `{"byKey":{"x":{},"x":{}}}`, CodeInvalidJSON, "byKey.x", "twice"},
		{"duplicate inside any", `{"any":[{"a":1,"a":2}]}`, CodeInvalidJSON, "any[0].a", "twice"},
		{"any keeps foreign case", `{"any":{"A":1,"a":2}}`, "", "", ""},
		{"raw message is not ours", `{"raw":{"ID":1,"ID":2,"Name":3}}`, "", "", ""},
		{"same key in sibling objects", `{"list":[{"name":"a"},{"name":"b"}]}`, "", "", ""},
		{"skipped field stays unknown", `{"Skipped":"x"}`, CodeUnknownField, "Skipped", "unknown field"},
		{"plain unknown field", `{"scope":["voip"]}`, CodeUnknownField, "scope", "unknown field"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b strictBody
			err := UnmarshalStrict([]byte(tc.body), &b)
			if tc.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var p *Problem
			if !errors.As(err, &p) {
				t.Fatalf("err = %v, want a %s problem", err, tc.code)
			}
			if p.Status != 400 || p.Code != tc.code || !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("problem %d %s %q, want 400 %s with %q", p.Status, p.Code, p.Detail, tc.code, tc.detail)
			}
			if len(p.Errors) != 1 || p.Errors[0].Field != tc.field {
				t.Errorf("errors %+v, want field %q", p.Errors, tc.field)
			}
		})
	}
}

// An ambiguous promoted name (two embedded fields at one depth) is dropped
// by encoding/json: it is an unknown field, not a case mismatch.
func TestUnmarshalStrictAmbiguousEmbedded(t *testing.T) {
	type a struct{ X int }
	type b struct{ X int }
	type both struct {
		a
		b
	}
	var v both
	err := UnmarshalStrict([]byte(`{"X":1}`), &v)
	var p *Problem
	if !errors.As(err, &p) || p.Code != CodeUnknownField {
		t.Fatalf("err = %v, want unknown-field", err)
	}
	if got := fieldsOf(reflectTypeOf[both]()); len(got.names) != 0 {
		t.Errorf("fields %v, want none", got.names)
	}
}

// A map destination keeps its keys exactly, so only duplicates are refused.
func TestUnmarshalStrictMapRoot(t *testing.T) {
	var m map[string]int
	if err := UnmarshalStrict([]byte(`{"A":1,"a":2}`), &m); err != nil || m["A"] != 1 || m["a"] != 2 {
		t.Fatalf("%v %v", m, err)
	}
	if err := UnmarshalStrict([]byte(`{"a":1,"a":2}`), &m); err == nil {
		t.Fatal("duplicate map key accepted")
	}
}

func reflectTypeOf[T any]() reflect.Type { return reflect.TypeFor[T]() }
