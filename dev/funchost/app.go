package funchost

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// App is a Functions app root as the host sees it: host.json plus one folder
// per function holding a function.json.
type App struct {
	Root string
	// ExecutablePath, WorkingDirectory and Arguments are customHandler.description as written.
	ExecutablePath   string
	WorkingDirectory string
	Arguments        []string
	// EnableForwardingHTTPRequest is customHandler.enableForwardingHttpRequest.
	EnableForwardingHTTPRequest bool
	// RoutePrefix is extensions.http.routePrefix without slashes ("api" by default).
	RoutePrefix string
	// Functions are sorted by name.
	Functions []*Function
}

// Function is one function.json.
type Function struct {
	Name     string
	Dir      string
	Disabled bool
	Bindings []Binding
	// Trigger points into Bindings.
	Trigger *Binding
	// Route is the parsed route of an httpTrigger (the function name when absent).
	Route *RouteTemplate
}

// Binding is one entry of function.json's "bindings". Raw keeps every field.
type Binding struct {
	Type      string
	Direction string
	Name      string
	// HTTP trigger: AuthLevel is lower-case (anonymous, function, admin; default
	// function); Methods are lower-case and empty means every method.
	AuthLevel string
	Methods   []string
	Route     string
	// Timer trigger.
	Schedule string
	Raw      json.RawMessage
}

// Binding and trigger type names, compared case-insensitively as the host does.
const (
	TypeHTTPTrigger      = "httpTrigger"
	TypeHTTP             = "http"
	TypeEventGridTrigger = "eventGridTrigger"
	TypeTimerTrigger     = "timerTrigger"
)

// Function returns the function with that name, or nil.
func (a *App) Function(name string) *Function {
	for _, f := range a.Functions {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// IsHTTPInAndOut mirrors the host's IsHttpInAndOutFunction: exactly one input
// binding, an httpTrigger, and exactly one output binding, an http.
func (f *Function) IsHTTPInAndOut() bool {
	var in, out []Binding
	for _, b := range f.Bindings {
		if strings.EqualFold(b.Direction, "out") {
			out = append(out, b)
		} else {
			in = append(in, b)
		}
	}
	return len(in) == 1 && len(out) == 1 &&
		strings.EqualFold(in[0].Type, TypeHTTPTrigger) && strings.EqualFold(out[0].Type, TypeHTTP)
}

// IsType reports whether the function's trigger has the given type.
func (f *Function) IsType(triggerType string) bool {
	return f.Trigger != nil && strings.EqualFold(f.Trigger.Type, triggerType)
}

var (
	functionNameRE = regexp.MustCompile(`(?i)^[a-z][a-z0-9_\-]{0,127}$`)
	bindingNameRE  = regexp.MustCompile(`^([a-zA-Z][a-zA-Z0-9]{0,127}|\$return)$`)
	knownMethods   = []string{"get", "post", "put", "delete", "patch", "head", "options", "trace"}
)

// Load reads appRoot/host.json and every appRoot/*/function.json, validating
// them as the host does. A folder without function.json is not a function.
func Load(appRoot string) (*App, error) {
	root, err := filepath.Abs(appRoot)
	if err != nil {
		return nil, fmt.Errorf("funchost: app root %q: %w", appRoot, err)
	}
	hostPath := filepath.Join(root, "host.json")
	raw, err := os.ReadFile(hostPath)
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	app, err := parseHostJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("funchost: %s: %w", hostPath, err)
	}
	app.Root = root

	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("funchost: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		path := filepath.Join(root, e.Name(), "function.json")
		raw, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("funchost: %w", err)
		}
		f, err := ParseFunction(e.Name(), raw)
		if err != nil {
			return nil, fmt.Errorf("funchost: %s: %w", path, err)
		}
		f.Dir = filepath.Dir(path)
		app.Functions = append(app.Functions, f)
	}
	sort.Slice(app.Functions, func(i, j int) bool { return app.Functions[i].Name < app.Functions[j].Name })
	if err := checkRouteConflicts(app.Functions); err != nil {
		return nil, fmt.Errorf("funchost: %s: %w", root, err)
	}
	return app, nil
}

type hostJSONFile struct {
	Version       *string `json:"version"`
	CustomHandler *struct {
		Description *struct {
			DefaultExecutablePath string   `json:"defaultExecutablePath"`
			WorkingDirectory      string   `json:"workingDirectory"`
			Arguments             []string `json:"arguments"`
		} `json:"description"`
		EnableForwardingHTTPRequest bool `json:"enableForwardingHttpRequest"`
	} `json:"customHandler"`
	Extensions struct {
		HTTP struct {
			RoutePrefix *string `json:"routePrefix"`
		} `json:"http"`
	} `json:"extensions"`
}

func parseHostJSON(raw []byte) (*App, error) {
	var h hostJSONFile
	if err := decodeObject(raw, &h); err != nil {
		return nil, err
	}
	if h.Version == nil || *h.Version != "2.0" {
		return nil, errors.New(`"version" must be "2.0"`)
	}
	if h.CustomHandler == nil || h.CustomHandler.Description == nil || strings.TrimSpace(h.CustomHandler.Description.DefaultExecutablePath) == "" {
		return nil, errors.New(`"customHandler.description.defaultExecutablePath" is required`)
	}
	d := h.CustomHandler.Description
	app := &App{
		ExecutablePath:              d.DefaultExecutablePath,
		WorkingDirectory:            d.WorkingDirectory,
		Arguments:                   d.Arguments,
		EnableForwardingHTTPRequest: h.CustomHandler.EnableForwardingHTTPRequest,
		RoutePrefix:                 "api",
	}
	if p := h.Extensions.HTTP.RoutePrefix; p != nil {
		app.RoutePrefix = strings.Trim(*p, "/")
		if _, err := ParseRoute(app.RoutePrefix); err != nil {
			return nil, fmt.Errorf(`"extensions.http.routePrefix": %w`, err)
		}
	}
	return app, nil
}

// decodeObject decodes one JSON object, refusing trailing data. Unknown
// fields are allowed: host.json and function.json carry many we ignore.
func decodeObject(raw []byte, dst any) error {
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf")) // editors on Windows write a BOM; the host accepts it
	if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(dst); err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return errors.New("invalid JSON: data after the object")
	}
	return nil
}

type functionJSONFile struct {
	Disabled json.RawMessage   `json:"disabled"`
	Bindings []json.RawMessage `json:"bindings"`
}

type bindingFile struct {
	Type      string          `json:"type"`
	Direction string          `json:"direction"`
	Name      string          `json:"name"`
	AuthLevel string          `json:"authLevel"`
	Methods   json.RawMessage `json:"methods"`
	Route     string          `json:"route"`
	Schedule  string          `json:"schedule"`
}

// ParseFunction parses and validates one function.json for the function name.
func ParseFunction(name string, raw []byte) (*Function, error) {
	if !functionNameRE.MatchString(name) {
		return nil, fmt.Errorf("invalid function name %q: start with a letter, then letters, digits, '_' or '-' (128 at most)", name)
	}
	var fj functionJSONFile
	if err := decodeObject(raw, &fj); err != nil {
		return nil, err
	}
	f := &Function{Name: name}
	if len(fj.Disabled) > 0 && string(fj.Disabled) != "null" {
		if err := json.Unmarshal(fj.Disabled, &f.Disabled); err != nil {
			return nil, fmt.Errorf(`"disabled" must be true or false: %w`, err)
		}
	}
	if len(fj.Bindings) == 0 {
		return nil, errors.New(`"bindings" is empty: a function must have a trigger input binding`)
	}
	names := map[string]bool{}
	var trigger string
	for i, rawB := range fj.Bindings {
		var bf bindingFile
		if err := decodeObject(rawB, &bf); err != nil {
			return nil, fmt.Errorf("bindings[%d]: %w", i, err)
		}
		b := Binding{Type: bf.Type, Direction: strings.ToLower(bf.Direction), Name: bf.Name, Route: bf.Route, Schedule: bf.Schedule, Raw: rawB}
		if b.Type == "" {
			return nil, fmt.Errorf("bindings[%d]: \"type\" is required", i)
		}
		if b.Direction != "in" && b.Direction != "out" && b.Direction != "inout" {
			return nil, fmt.Errorf("bindings[%d] (%s): \"direction\" must be in, out or inout, not %q", i, b.Type, bf.Direction)
		}
		if !bindingNameRE.MatchString(b.Name) {
			return nil, fmt.Errorf("bindings[%d] (%s): the binding name %q is invalid", i, b.Type, b.Name)
		}
		if names[strings.ToLower(b.Name)] {
			return nil, fmt.Errorf("multiple bindings with name %q: binding names must be unique", b.Name)
		}
		names[strings.ToLower(b.Name)] = true
		if strings.HasSuffix(strings.ToLower(b.Type), "trigger") {
			if b.Direction != "in" {
				return nil, fmt.Errorf("bindings[%d]: trigger %s must have direction in", i, b.Type)
			}
			if trigger != "" {
				return nil, fmt.Errorf("more than one trigger binding (%s and %s)", trigger, b.Type)
			}
			trigger = b.Type
		}
		switch {
		case strings.EqualFold(b.Type, TypeHTTPTrigger):
			if err := parseHTTPTrigger(&b, bf, name); err != nil {
				return nil, fmt.Errorf("bindings[%d] (httpTrigger): %w", i, err)
			}
		case strings.EqualFold(b.Type, TypeTimerTrigger):
			if err := validateSchedule(b.Schedule); err != nil {
				return nil, fmt.Errorf("bindings[%d] (timerTrigger): %w", i, err)
			}
		}
		f.Bindings = append(f.Bindings, b)
	}
	for i := range f.Bindings {
		if strings.HasSuffix(strings.ToLower(f.Bindings[i].Type), "trigger") {
			f.Trigger = &f.Bindings[i]
		}
	}
	if f.Trigger == nil {
		return nil, errors.New("no trigger binding specified: a function must have a trigger input binding")
	}
	if f.IsType(TypeHTTPTrigger) {
		rt, err := ParseRoute(f.Trigger.Route)
		if err != nil {
			return nil, err
		}
		f.Route = rt
	}
	return f, nil
}

func parseHTTPTrigger(b *Binding, bf bindingFile, functionName string) error {
	b.AuthLevel = strings.ToLower(bf.AuthLevel)
	switch b.AuthLevel {
	case "":
		b.AuthLevel = "function" // HttpTriggerAttribute's default
	case "anonymous", "function", "admin":
	default:
		return fmt.Errorf("\"authLevel\" must be anonymous, function or admin, not %q", bf.AuthLevel)
	}
	if len(bf.Methods) > 0 && string(bf.Methods) != "null" {
		var ms []string
		if err := json.Unmarshal(bf.Methods, &ms); err != nil {
			return fmt.Errorf("\"methods\" must be an array of strings: %w", err)
		}
		for _, m := range ms {
			m = strings.ToLower(strings.TrimSpace(m))
			if !slices.Contains(knownMethods, m) {
				return fmt.Errorf("\"methods\" has unknown HTTP method %q", m)
			}
			if !slices.Contains(b.Methods, m) {
				b.Methods = append(b.Methods, m)
			}
		}
	}
	if strings.TrimSpace(b.Route) == "" {
		b.Route = functionName
	}
	lower := strings.ToLower(strings.Trim(b.Route, "/"))
	if strings.HasPrefix(lower, "admin") || strings.HasPrefix(lower, "runtime") {
		return fmt.Errorf("route %q conflicts with one or more built-in routes (admin, runtime)", b.Route)
	}
	return nil
}

// validateSchedule accepts what the timer extension accepts in function.json:
// a 6-field NCRONTAB (seconds first), a TimeSpan "hh:mm:ss", or a %setting%.
func validateSchedule(s string) error {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return errors.New("\"schedule\" is required")
	case len(s) > 2 && strings.HasPrefix(s, "%") && strings.HasSuffix(s, "%"):
		return nil
	case timeSpanRE.MatchString(s):
		return nil
	}
	fields := strings.Fields(s)
	if len(fields) != 6 {
		return fmt.Errorf("schedule %q must have 6 fields (second minute hour day month day-of-week), has %d", s, len(fields))
	}
	for _, fld := range fields {
		if !cronFieldRE.MatchString(fld) {
			return fmt.Errorf("schedule %q: field %q is not a cron field", s, fld)
		}
	}
	return nil
}

var (
	timeSpanRE  = regexp.MustCompile(`^(\d+\.)?\d{1,2}:\d{2}(:\d{2})?$`)
	cronFieldRE = regexp.MustCompile(`^(\*|\?|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/\d+)?(,(\*|[0-9A-Za-z]+(-[0-9A-Za-z]+)?)(/\d+)?)*$`)
)

// checkRouteConflicts mirrors the host's HttpRoutesConflict: the same template
// (slashes trimmed, case-insensitive) with overlapping methods, where no
// methods means all of them.
func checkRouteConflicts(fns []*Function) error {
	var seen []*Function
	for _, f := range fns {
		if !f.IsType(TypeHTTPTrigger) {
			continue
		}
		for _, o := range seen {
			if !strings.EqualFold(f.Route.Template, o.Route.Template) {
				continue
			}
			a, b := f.Trigger.Methods, o.Trigger.Methods
			if len(a) == 0 || len(b) == 0 || slices.ContainsFunc(a, func(m string) bool { return slices.Contains(b, m) }) {
				return fmt.Errorf("function %q: the route %q conflicts with the route defined by function %q", f.Name, f.Trigger.Route, o.Name)
			}
		}
		seen = append(seen, f)
	}
	return nil
}
