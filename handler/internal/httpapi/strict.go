package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// checkNames walks one JSON value (already known to decode into t) and
// refuses what encoding/json lets through silently: a key given twice at any
// depth (it keeps the last) and a key that names a struct field only when
// case is ignored (it matches case-insensitively). Values decoded by their
// own UnmarshalJSON (json.RawMessage: foreign payloads) are not entered.
func checkNames(body []byte, t reflect.Type) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	return walkValue(dec, t, "")
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// walkValue reads one value; t is what it decodes into, nil when unknown.
func walkValue(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		if t.Implements(unmarshalerType) {
			break
		}
		t = t.Elem()
	}
	if t != nil && (t.Implements(unmarshalerType) || reflect.PointerTo(t).Implements(unmarshalerType)) {
		var skip json.RawMessage
		return dec.Decode(&skip)
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('{'):
		return walkObject(dec, t, path)
	case json.Delim('['):
		var elem reflect.Type
		if t != nil {
			switch t.Kind() {
			case reflect.Slice, reflect.Array:
				elem = t.Elem()
			case reflect.Interface:
				elem = t
			}
		}
		for i := 0; dec.More(); i++ {
			if err := walkValue(dec, elem, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ]
		return err
	}
	return nil
}

func walkObject(dec *json.Decoder, t reflect.Type, path string) error {
	var fields *structFields
	kind := reflect.Invalid
	if t != nil {
		kind = t.Kind()
		if kind == reflect.Struct {
			fields = fieldsOf(t)
		}
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		at := key
		if path != "" {
			at = path + "." + key
		}
		if seen[key] {
			p := Problemf(http.StatusBadRequest, CodeInvalidJSON, "the request body has the key %q twice", at)
			p.Errors = []FieldError{{Field: at, Detail: "duplicate key"}}
			return p
		}
		seen[key] = true
		var next reflect.Type
		switch kind {
		case reflect.Struct:
			if ft, ok := fields.exact[key]; ok {
				next = ft
			} else if right := fields.folded(key); right != "" {
				p := Problemf(http.StatusBadRequest, CodeUnknownField,
					"the request body has an unknown field %q: field names are case-sensitive; did you mean %q?", at, right)
				p.Errors = []FieldError{{Field: at, Detail: fmt.Sprintf("unknown field; did you mean %q?", right)}}
				return p
			}
		case reflect.Map:
			next = t.Elem()
		case reflect.Interface:
			next = t
		}
		if err := walkValue(dec, next, at); err != nil {
			return err
		}
	}
	_, err := dec.Token() // }
	return err
}

// structFields are the JSON names encoding/json decodes into a struct type.
type structFields struct {
	exact map[string]reflect.Type
	names []string // in field order, for the case-insensitive lookup
}

// folded returns the field name key matches only case-insensitively (with
// encoding/json's Unicode folding), or "".
func (f *structFields) folded(key string) string {
	for _, n := range f.names {
		if strings.EqualFold(n, key) {
			return n
		}
	}
	return ""
}

var fieldCache sync.Map // reflect.Type -> *structFields

// fieldsOf lists t's JSON fields the way encoding/json does: tag names or Go
// names, `json:"-"` and unexported fields left out, fields of embedded
// structs promoted, and of several fields with one name the shallowest (then
// the only tagged one) kept, none when that is ambiguous.
func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	type candidate struct {
		name   string
		typ    reflect.Type
		depth  int
		tagged bool
	}
	var cands []candidate
	visited := map[reflect.Type]bool{}
	var visit func(t reflect.Type, depth int)
	visit = func(t reflect.Type, depth int) {
		if visited[t] {
			return
		}
		visited[t] = true
		for i := range t.NumField() {
			sf := t.Field(i)
			ft := sf.Type
			if sf.Anonymous {
				if ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if !sf.IsExported() && ft.Kind() != reflect.Struct {
					continue
				}
			} else if !sf.IsExported() {
				continue
			}
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct {
				visit(ft, depth+1)
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			cands = append(cands, candidate{name: name, typ: sf.Type, depth: depth, tagged: tagged})
		}
	}
	visit(t, 0)

	f := &structFields{exact: map[string]reflect.Type{}}
	byName := map[string][]candidate{}
	for _, c := range cands {
		if _, ok := byName[c.name]; !ok {
			f.names = append(f.names, c.name)
		}
		byName[c.name] = append(byName[c.name], c)
	}
	kept := f.names[:0]
	for _, name := range f.names {
		cs := byName[name]
		minDepth := cs[0].depth
		for _, c := range cs {
			minDepth = min(minDepth, c.depth)
		}
		var top, tagged []candidate
		for _, c := range cs {
			if c.depth == minDepth {
				top = append(top, c)
				if c.tagged {
					tagged = append(tagged, c)
				}
			}
		}
		switch {
		case len(top) == 1:
			f.exact[name] = top[0].typ
		case len(tagged) == 1:
			f.exact[name] = tagged[0].typ
		default:
			continue // ambiguous: encoding/json drops the name
		}
		kept = append(kept, name)
	}
	f.names = kept
	actual, _ := fieldCache.LoadOrStore(t, f)
	return actual.(*structFields)
}
