package funchost

import (
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// RouteTemplate is a parsed ASP.NET Core route template, the syntax of
// function.json's "route": literal segments, {name}, {name?}, {name=default},
// {*rest} and constraints such as {id:guid} or {n:int:min(1)}.
type RouteTemplate struct {
	Template string
	segs     []routeSeg
}

type segKind int

const (
	segLiteral segKind = iota
	segParam
	segCatchAll
)

type routeSeg struct {
	kind        segKind
	literal     string
	name        string
	optional    bool
	def         *string
	constraints []routeConstraint
}

type routeConstraint struct {
	name  string
	check func(string) bool
}

// ParseRoute parses an ASP.NET route template. Leading and trailing slashes
// are ignored, as the Functions host trims them. Segments that mix literals and
// parameters ("{a}.{b}") are refused: the stand-in does not implement them.
func ParseRoute(template string) (*RouteTemplate, error) {
	t := strings.Trim(template, "/")
	rt := &RouteTemplate{Template: t}
	if t == "" {
		return rt, nil
	}
	seen := map[string]bool{}
	parts := strings.Split(t, "/")
	for i, p := range parts {
		if p == "" {
			return nil, fmt.Errorf("route %q: empty segment (consecutive '/')", template)
		}
		if !strings.ContainsAny(p, "{}") {
			if strings.ContainsAny(p, "?#") {
				return nil, fmt.Errorf("route %q: segment %q has '?' or '#' outside a parameter", template, p)
			}
			rt.segs = append(rt.segs, routeSeg{kind: segLiteral, literal: p})
			continue
		}
		if !strings.HasPrefix(p, "{") || !strings.HasSuffix(p, "}") || strings.ContainsAny(p[1:len(p)-1], "{}") {
			return nil, fmt.Errorf("route %q: segment %q mixes literals and parameters or has unbalanced braces; use one parameter per segment", template, p)
		}
		seg, err := parseParam(p[1 : len(p)-1])
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", template, err)
		}
		key := strings.ToLower(seg.name)
		if seen[key] {
			return nil, fmt.Errorf("route %q: parameter %q appears more than once", template, seg.name)
		}
		seen[key] = true
		if seg.kind == segCatchAll && i != len(parts)-1 {
			return nil, fmt.Errorf("route %q: catch-all parameter %q must be the last segment", template, seg.name)
		}
		rt.segs = append(rt.segs, seg)
	}
	// An optional or defaulted parameter can only be followed by more of the same.
	for i, s := range rt.segs {
		if s.kind == segParam && (s.optional || s.def != nil) {
			for _, after := range rt.segs[i+1:] {
				if after.kind == segLiteral || (after.kind == segParam && !after.optional && after.def == nil) {
					return nil, fmt.Errorf("route %q: optional parameter %q must be followed only by optional parameters", template, s.name)
				}
			}
		}
	}
	return rt, nil
}

func parseParam(body string) (routeSeg, error) {
	seg := routeSeg{kind: segParam}
	if strings.HasPrefix(body, "*") {
		seg.kind = segCatchAll
		body = strings.TrimPrefix(strings.TrimPrefix(body, "*"), "*")
	}
	end := strings.IndexAny(body, ":=?")
	if end < 0 {
		end = len(body)
	}
	seg.name = body[:end]
	if seg.name == "" {
		return seg, fmt.Errorf("parameter with an empty name")
	}
	for _, r := range seg.name {
		if r == '{' || r == '}' || r == '/' || r == '*' || unicode.IsSpace(r) {
			return seg, fmt.Errorf("parameter name %q has an invalid character %q", seg.name, r)
		}
	}
	rest := body[end:]
	for strings.HasPrefix(rest, ":") {
		rest = rest[1:]
		i := 0
		for i < len(rest) && rest[i] != '(' && rest[i] != ':' && rest[i] != '=' && rest[i] != '?' {
			i++
		}
		name, args := rest[:i], ""
		rest = rest[i:]
		if strings.HasPrefix(rest, "(") {
			// Arguments run to the ')' that ends the constraint, so regex bodies may hold ':' and ')'.
			j := closingParen(rest)
			if j < 0 {
				return seg, fmt.Errorf("constraint %q of %q has no closing ')'", name, seg.name)
			}
			args, rest = rest[1:j], rest[j+1:]
		}
		c, err := newConstraint(name, args)
		if err != nil {
			return seg, fmt.Errorf("parameter %q: %w", seg.name, err)
		}
		seg.constraints = append(seg.constraints, c)
	}
	switch {
	case rest == "":
	case rest == "?":
		if seg.kind == segCatchAll {
			return seg, fmt.Errorf("catch-all parameter %q cannot be marked optional", seg.name)
		}
		seg.optional = true
	case strings.HasPrefix(rest, "="):
		d := rest[1:]
		if strings.HasSuffix(d, "?") {
			return seg, fmt.Errorf("parameter %q cannot have a default value and be optional", seg.name)
		}
		seg.def = &d
	default:
		return seg, fmt.Errorf("parameter %q has unexpected text %q", seg.name, rest)
	}
	return seg, nil
}

// closingParen finds the ')' that closes the '(' at s[0]: the first one
// followed by the end, ':', '=' or '?', as ASP.NET's parser does.
func closingParen(s string) int {
	for j := 1; j < len(s); j++ {
		if s[j] == ')' && (j == len(s)-1 || strings.ContainsRune(":=?", rune(s[j+1]))) {
			return j
		}
	}
	return -1
}

var alphaRE = regexp.MustCompile(`^[A-Za-z]*$`)

func newConstraint(name, args string) (routeConstraint, error) {
	c := routeConstraint{name: strings.ToLower(name)}
	ints := func(n int) ([]int64, error) {
		fs := strings.Split(args, ",")
		if len(fs) != n {
			return nil, fmt.Errorf("constraint %s needs %d argument(s), got %q", name, n, args)
		}
		out := make([]int64, n)
		for i, f := range fs {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("constraint %s: argument %q is not an integer: %w", name, f, err)
			}
			out[i] = v
		}
		return out, nil
	}
	noArgs := func() error {
		if args != "" {
			return fmt.Errorf("constraint %s takes no arguments", name)
		}
		return nil
	}
	var err error
	switch c.name {
	case "int":
		err = noArgs()
		c.check = func(s string) bool { _, e := strconv.ParseInt(s, 10, 32); return e == nil }
	case "long":
		err = noArgs()
		c.check = func(s string) bool { _, e := strconv.ParseInt(s, 10, 64); return e == nil }
	case "bool":
		err = noArgs()
		c.check = func(s string) bool { return strings.EqualFold(s, "true") || strings.EqualFold(s, "false") }
	case "guid":
		err = noArgs()
		c.check = func(s string) bool { _, e := uuid.Parse(s); return e == nil }
	case "alpha":
		err = noArgs()
		c.check = alphaRE.MatchString
	case "decimal", "double", "float":
		err = noArgs()
		c.check = func(s string) bool {
			f, e := strconv.ParseFloat(s, 64)
			return e == nil && !math.IsInf(f, 0) && !math.IsNaN(f)
		}
	case "datetime":
		err = noArgs()
		c.check = func(s string) bool { return looksLikeDateTime(s) }
	case "required":
		err = noArgs()
		c.check = func(s string) bool { return s != "" }
	case "minlength", "maxlength", "min", "max":
		var v []int64
		if v, err = ints(1); err == nil {
			n := v[0]
			c.check = map[string]func(string) bool{
				"minlength": func(s string) bool { return int64(len([]rune(s))) >= n },
				"maxlength": func(s string) bool { return int64(len([]rune(s))) <= n },
				"min":       func(s string) bool { x, e := strconv.ParseInt(s, 10, 64); return e == nil && x >= n },
				"max":       func(s string) bool { x, e := strconv.ParseInt(s, 10, 64); return e == nil && x <= n },
			}[c.name]
		}
	case "length":
		var v []int64
		if strings.Contains(args, ",") {
			if v, err = ints(2); err == nil {
				lo, hi := v[0], v[1]
				c.check = func(s string) bool { l := int64(len([]rune(s))); return l >= lo && l <= hi }
			}
		} else if v, err = ints(1); err == nil {
			n := v[0]
			c.check = func(s string) bool { return int64(len([]rune(s))) == n }
		}
	case "range":
		var v []int64
		if v, err = ints(2); err == nil {
			lo, hi := v[0], v[1]
			c.check = func(s string) bool { x, e := strconv.ParseInt(s, 10, 64); return e == nil && x >= lo && x <= hi }
		}
	case "regex":
		// Like ASP.NET's RegexRouteConstraint: case-insensitive, and unanchored unless the pattern anchors itself.
		var re *regexp.Regexp
		re, err = regexp.Compile("(?i)" + args)
		if err == nil {
			c.check = re.MatchString
		} else {
			err = fmt.Errorf("constraint regex(%s): %w", args, err)
		}
	default:
		err = fmt.Errorf("unknown route constraint %q", name)
	}
	return c, err
}

func looksLikeDateTime(s string) bool {
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04:05", "2006-01-02T15:04:05Z07:00", "2006-01-02 15:04:05"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}

// Match reports whether path (slash-separated, percent-encoded as on the wire,
// with or without a leading '/') matches the template, and the parameter values.
// Literal segments compare case-insensitively, as ASP.NET routing does.
func (rt *RouteTemplate) Match(path string) (map[string]string, bool) {
	path = strings.TrimPrefix(path, "/")
	path = strings.TrimSuffix(path, "/")
	var parts []string
	if path != "" {
		parts = strings.Split(path, "/")
	}
	values := map[string]string{}
	for i, s := range rt.segs {
		if s.kind == segCatchAll {
			rest := ""
			if i < len(parts) {
				dec := make([]string, 0, len(parts)-i)
				for _, p := range parts[i:] {
					d, err := url.PathUnescape(p)
					if err != nil {
						return nil, false
					}
					dec = append(dec, d)
				}
				rest = strings.Join(dec, "/")
			}
			if rest == "" && s.def != nil {
				rest = *s.def
			}
			if rest != "" && !s.satisfied(rest) {
				return nil, false
			}
			values[s.name] = rest
			return values, true
		}
		if i >= len(parts) {
			if s.kind == segParam && (s.optional || s.def != nil) {
				if s.def != nil {
					values[s.name] = *s.def
				}
				continue
			}
			return nil, false
		}
		v, err := url.PathUnescape(parts[i])
		if err != nil || v == "" {
			return nil, false
		}
		switch s.kind {
		case segLiteral:
			if !strings.EqualFold(v, s.literal) {
				return nil, false
			}
		case segParam:
			if !s.satisfied(v) {
				return nil, false
			}
			values[s.name] = v
		}
	}
	if len(parts) > len(rt.segs) {
		return nil, false
	}
	return values, true
}

func (s routeSeg) satisfied(v string) bool {
	for _, c := range s.constraints {
		if !c.check(v) {
			return false
		}
	}
	return true
}

// precedence is ASP.NET's inbound precedence, one digit per segment: literal 1,
// constrained parameter 2, parameter 3, constrained catch-all 4, catch-all 5.
// Lower sorts first.
func (rt *RouteTemplate) precedence() []int {
	d := make([]int, len(rt.segs))
	for i, s := range rt.segs {
		switch s.kind {
		case segLiteral:
			d[i] = 1
		case segParam:
			d[i] = 3
		case segCatchAll:
			d[i] = 5
		}
		if s.kind != segLiteral && len(s.constraints) > 0 {
			d[i]--
		}
	}
	return d
}

// comparePrecedence orders a before b (negative) when a is more specific,
// comparing the digits as a decimal number does.
func comparePrecedence(a, b []int) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			return a[i] - b[i]
		}
	}
	return len(a) - len(b)
}
