// Package deploycheck keeps the deployment in step with the code: the
// settings the handler reads, local.settings.sample.json, the Bicep in infra/,
// azure.yaml, the function folders and the zip `make package` builds. Its
// tests run in CI; this file is the small Bicep reader they use, so a name
// that only appears in a comment or a string does not count as wired.
package deploycheck

import (
	"fmt"
	"strings"
)

// Kind says what a Value is.
type Kind int

const (
	Other  Kind = iota // any other expression: Text holds its tokens, Items the structured parts found in it
	Object             // { key: value ... }
	Array              // [ item ... ]; a for-expression is an Array whose only item is its body
	String             // '...' or '''...'''
	Call               // name(args...)
)

// Value is one parsed Bicep expression.
type Value struct {
	Kind   Kind
	Line   int
	Keys   []string          // Object: keys in source order
	Fields map[string]*Value // Object: key -> value
	Items  []*Value          // Array items, Call arguments, Other's structured parts
	Name   string            // Call: the function name
	Text   string            // String: the text with escapes resolved and ${...} kept as written; Other: its tokens joined by spaces
}

// Get walks object keys; it returns nil when a step is missing or not an object.
func (v *Value) Get(path ...string) *Value {
	for _, k := range path {
		if v == nil || v.Kind != Object {
			return nil
		}
		v = v.Fields[k]
	}
	return v
}

// Decl is one top-level statement: param, var, resource, module, output, ...
type Decl struct {
	Keyword    string
	Name       string
	Type       string   // resource type or module path (the quoted string), or a param/output type
	Value      *Value   // what follows '=', nil for a param without default
	Decorators []*Value // the @name(args) lines above it, as Calls (Name without a `sys.` prefix)
	Line       int
}

// Decorator returns the decorator with that name (`secure`, `minValue`,
// ...), or nil.
func (d *Decl) Decorator(name string) *Value {
	if d == nil {
		return nil
	}
	for _, dec := range d.Decorators {
		if dec.Name == name {
			return dec
		}
	}
	return nil
}

// Body is the object a resource or module declares, also behind
// `if (condition)`; nil if there is none.
func (d *Decl) Body() *Value {
	if d == nil || d.Value == nil {
		return nil
	}
	v := d.Value
	if v.Kind == Other && len(v.Items) > 0 {
		v = v.Items[len(v.Items)-1]
	}
	if v.Kind != Object {
		return nil
	}
	return v
}

// File is a parsed Bicep file.
type File struct {
	Decls []*Decl
}

// Find returns the declaration with that keyword and name, or nil.
func (f *File) Find(keyword, name string) *Decl {
	for _, d := range f.Decls {
		if d.Keyword == keyword && d.Name == name {
			return d
		}
	}
	return nil
}

// All returns the declarations with that keyword.
func (f *File) All(keyword string) []*Decl {
	var ds []*Decl
	for _, d := range f.Decls {
		if d.Keyword == keyword {
			ds = append(ds, d)
		}
	}
	return ds
}

// Parse reads the subset of Bicep that infra/ uses: declarations with
// decorators, objects, arrays, strings with interpolation, calls and
// for-expressions. Operators are kept as tokens, never evaluated.
func Parse(src string) (*File, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &bicepParser{toks: toks}
	f := &File{}
	var decorators []*Value
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tEOF {
			if len(decorators) > 0 {
				return nil, fmt.Errorf("line %d: decorator @%s decorates nothing", decorators[0].Line, decorators[0].Name)
			}
			return f, nil
		}
		if t.kind == tPunct && t.text == "@" {
			dec, err := p.decorator()
			if err != nil {
				return nil, err
			}
			decorators = append(decorators, dec)
			continue
		}
		d, err := p.decl()
		if err != nil {
			return nil, err
		}
		d.Decorators, decorators = decorators, nil
		f.Decls = append(f.Decls, d)
	}
}

type tokKind int

const (
	tEOF tokKind = iota
	tNewline
	tIdent
	tString
	tNumber
	tPunct
)

type lexeme struct {
	kind tokKind
	text string // identifier, punctuation, number; a string's resolved text
	line int
}

func lex(src string) ([]lexeme, error) {
	var toks []lexeme
	line := 1
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			toks = append(toks, lexeme{tNewline, "\n", line})
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case strings.HasPrefix(src[i:], "//") || c == '#':
			// Comments, and #disable-next-line pragmas, run to the end of the line.
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unclosed /* comment", line)
			}
			line += strings.Count(src[i:i+2+end], "\n")
			i += 2 + end + 2
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return nil, fmt.Errorf("line %d: unclosed ''' string", line)
			}
			text := src[i+3 : i+3+end]
			toks = append(toks, lexeme{tString, text, line})
			line += strings.Count(text, "\n")
			i += 3 + end + 3
		case c == '\'':
			text, n, err := lexString(src[i:], line)
			if err != nil {
				return nil, err
			}
			toks = append(toks, lexeme{tString, text, line})
			i += n
		case isIdentStart(c):
			j := i + 1
			for j < len(src) && (isIdentStart(src[j]) || isDigit(src[j])) {
				j++
			}
			toks = append(toks, lexeme{tIdent, src[i:j], line})
			i = j
		case isDigit(c):
			j := i + 1
			for j < len(src) && isDigit(src[j]) {
				j++
			}
			toks = append(toks, lexeme{tNumber, src[i:j], line})
			i = j
		case strings.ContainsRune("{}[]():,=.?!@<>+-*/%&|~", rune(c)):
			toks = append(toks, lexeme{tPunct, string(c), line})
			i++
		default:
			return nil, fmt.Errorf("line %d: unexpected character %q", line, c)
		}
	}
	return append(toks, lexeme{tEOF, "", line}), nil
}

// lexString reads a single-quoted string at the start of s and returns its
// text (escapes resolved, each ${...} kept as written) and its length.
func lexString(s string, line int) (string, int, error) {
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == '\'':
			return b.String(), i + 1, nil
		case c == '\n':
			return "", 0, fmt.Errorf("line %d: newline in string", line)
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("line %d: unterminated string", line)
			}
			switch e := s[i+1]; e {
			case '\'', '\\', '$':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return "", 0, fmt.Errorf("line %d: unknown escape \\%c", line, e)
			}
			i += 2
		case c == '$' && i+1 < len(s) && s[i+1] == '{':
			n, err := interpolationLen(s[i:], line)
			if err != nil {
				return "", 0, err
			}
			b.WriteString(s[i : i+n])
			i += n
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, fmt.Errorf("line %d: unterminated string", line)
}

// interpolationLen measures "${...}" at the start of s, where the expression
// may hold braces and strings of its own.
func interpolationLen(s string, line int) (int, error) {
	depth := 0
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		case '\'':
			_, n, err := lexString(s[i:], line)
			if err != nil {
				return 0, err
			}
			i += n - 1
		case '\n':
			return 0, fmt.Errorf("line %d: newline in string interpolation", line)
		}
	}
	return 0, fmt.Errorf("line %d: unterminated string interpolation", line)
}

func isIdentStart(c byte) bool {
	return c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

type bicepParser struct {
	toks []lexeme
	pos  int
}

func (p *bicepParser) peek() lexeme { return p.toks[p.pos] }

func (p *bicepParser) next() lexeme {
	t := p.toks[p.pos]
	if t.kind != tEOF {
		p.pos++
	}
	return t
}

func (p *bicepParser) skipNewlines() {
	for p.peek().kind == tNewline {
		p.pos++
	}
}

func (p *bicepParser) expect(text string) error {
	t := p.next()
	if t.kind == tString || t.text != text {
		return fmt.Errorf("line %d: want %q, have %q", t.line, text, t.text)
	}
	return nil
}

// decorator reads @name(...) or @sys.name(...) as a Call named name.
func (p *bicepParser) decorator() (*Value, error) {
	at := p.next() // @
	dec := &Value{Kind: Call, Line: at.line}
	for {
		t := p.next()
		if t.kind != tIdent {
			return nil, fmt.Errorf("line %d: decorator name expected", t.line)
		}
		dec.Name = t.text
		if n := p.peek(); n.kind != tPunct || n.text != "." {
			break
		}
		p.next()
	}
	if n := p.peek(); n.kind == tPunct && n.text == "(" {
		p.next()
		args, err := p.list(")")
		if err != nil {
			return nil, err
		}
		dec.Items = args
	}
	return dec, nil
}

func (p *bicepParser) decl() (*Decl, error) {
	t := p.next()
	if t.kind != tIdent {
		return nil, fmt.Errorf("line %d: declaration expected, have %q", t.line, t.text)
	}
	d := &Decl{Keyword: t.text, Line: t.line}
	if d.Keyword == "targetScope" {
		d.Name = d.Keyword
	} else if n := p.next(); n.kind == tIdent || n.kind == tString {
		d.Name = n.text
	} else {
		return nil, fmt.Errorf("line %d: %s needs a name", n.line, d.Keyword)
	}
	// The header runs to '=' or the end of the line: a type, a quoted
	// resource type or module path, `existing`.
	var typ []string
	for {
		h := p.peek()
		if h.kind == tNewline || h.kind == tEOF {
			break
		}
		if h.text == "=" && h.kind == tPunct {
			p.next()
			v, err := p.expr(false)
			if err != nil {
				return nil, err
			}
			d.Value = v
			break
		}
		p.next()
		if h.kind == tString && d.Type == "" {
			d.Type = h.text
		}
		typ = append(typ, h.text)
	}
	if d.Type == "" {
		d.Type = strings.Join(typ, " ")
	}
	return d, nil
}

// expr reads terms up to the end of the line, a comma or a closing bracket
// of the enclosing construct; inParens lets it run across lines.
func (p *bicepParser) expr(inParens bool) (*Value, error) {
	var terms []*Value
	line := p.peek().line
	for {
		t := p.peek()
		if t.kind == tEOF || (t.kind == tNewline && !inParens) {
			break
		}
		if t.kind == tNewline {
			p.next()
			continue
		}
		if t.kind == tPunct && (t.text == "," || t.text == "}" || t.text == "]" || t.text == ")") {
			break
		}
		v, err := p.primary()
		if err != nil {
			return nil, err
		}
		terms = append(terms, v)
	}
	switch len(terms) {
	case 0:
		return nil, fmt.Errorf("line %d: expression expected", line)
	case 1:
		return terms[0], nil
	}
	v := &Value{Kind: Other, Line: line}
	var text []string
	for _, term := range terms {
		if term.Kind == Other {
			text = append(text, term.Text)
			v.Items = append(v.Items, term.Items...)
			continue
		}
		text = append(text, "…")
		v.Items = append(v.Items, term)
	}
	v.Text = strings.Join(text, " ")
	return v, nil
}

func (p *bicepParser) primary() (*Value, error) {
	t := p.next()
	switch {
	case t.kind == tString:
		return &Value{Kind: String, Line: t.line, Text: t.text}, nil
	case t.kind == tPunct && t.text == "{":
		return p.object(t.line)
	case t.kind == tPunct && t.text == "[":
		return p.array(t.line)
	case t.kind == tPunct && t.text == "(":
		items, err := p.list(")")
		if err != nil {
			return nil, err
		}
		return &Value{Kind: Other, Line: t.line, Text: "(…)", Items: items}, nil
	case t.kind == tIdent && p.peek().text == "(" && p.peek().kind == tPunct:
		p.next()
		args, err := p.list(")")
		if err != nil {
			return nil, err
		}
		return &Value{Kind: Call, Line: t.line, Name: t.text, Items: args}, nil
	case t.kind == tEOF:
		return nil, fmt.Errorf("line %d: unexpected end of file", t.line)
	case t.kind == tPunct && (t.text == "}" || t.text == "]" || t.text == ")"):
		return nil, fmt.Errorf("line %d: unexpected %q", t.line, t.text)
	}
	return &Value{Kind: Other, Line: t.line, Text: t.text}, nil
}

func (p *bicepParser) object(line int) (*Value, error) {
	v := &Value{Kind: Object, Line: line, Fields: map[string]*Value{}}
	for {
		p.skipNewlines()
		t := p.next()
		switch {
		case t.kind == tPunct && t.text == "}":
			return v, nil
		case t.kind == tPunct && t.text == ",":
			continue
		case t.kind == tIdent || t.kind == tString:
		case t.kind == tEOF:
			return nil, fmt.Errorf("line %d: unclosed { (opened on line %d)", t.line, line)
		default:
			return nil, fmt.Errorf("line %d: property name expected, have %q", t.line, t.text)
		}
		if err := p.expect(":"); err != nil {
			return nil, err
		}
		val, err := p.expr(false)
		if err != nil {
			return nil, err
		}
		if _, dup := v.Fields[t.text]; dup {
			return nil, fmt.Errorf("line %d: property %s set twice", t.line, t.text)
		}
		v.Keys = append(v.Keys, t.text)
		v.Fields[t.text] = val
	}
}

func (p *bicepParser) array(line int) (*Value, error) {
	p.skipNewlines()
	if t := p.peek(); t.kind == tIdent && t.text == "for" {
		// [for x in y: body]: skip to the ':' that starts the body.
		depth := 0
		for {
			t := p.next()
			switch {
			case t.kind == tEOF:
				return nil, fmt.Errorf("line %d: unclosed for-expression", line)
			case t.kind == tPunct && (t.text == "(" || t.text == "[" || t.text == "{"):
				depth++
			case t.kind == tPunct && (t.text == ")" || t.text == "]" || t.text == "}"):
				depth--
			}
			if t.kind == tPunct && t.text == ":" && depth == 0 {
				break
			}
		}
		p.skipNewlines()
		body, err := p.expr(false)
		if err != nil {
			return nil, err
		}
		p.skipNewlines()
		if err := p.expect("]"); err != nil {
			return nil, err
		}
		return &Value{Kind: Array, Line: line, Items: []*Value{body}}, nil
	}
	items, err := p.list("]")
	if err != nil {
		return nil, err
	}
	return &Value{Kind: Array, Line: line, Items: items}, nil
}

// list reads items separated by commas or newlines up to the closing token.
func (p *bicepParser) list(closing string) ([]*Value, error) {
	var items []*Value
	for {
		p.skipNewlines()
		t := p.peek()
		if t.kind == tPunct && t.text == closing {
			p.next()
			return items, nil
		}
		if t.kind == tPunct && t.text == "," {
			p.next()
			continue
		}
		if t.kind == tEOF {
			return nil, fmt.Errorf("line %d: missing %q", t.line, closing)
		}
		v, err := p.expr(closing == ")")
		if err != nil {
			return nil, err
		}
		items = append(items, v)
		if n := p.peek(); n.kind == tPunct && (n.text == "}" || n.text == "]" || n.text == ")") && n.text != closing {
			return nil, fmt.Errorf("line %d: unexpected %q, want %q", n.line, n.text, closing)
		}
	}
}
