package deploycheck

import (
	"strconv"
	"strings"
	"testing"
)

// intDecorator returns the integer argument of @name(n) on d.
func intDecorator(t *testing.T, d *Decl, name string) (int, bool) {
	t.Helper()
	dec := d.Decorator(name)
	if dec == nil || len(dec.Items) != 1 {
		return 0, false
	}
	n, err := strconv.Atoi(dec.Items[0].Text)
	if err != nil {
		t.Errorf("param %s: @%s(%s) is not a number", d.Name, name, dec.Items[0].Text)
		return 0, false
	}
	return n, true
}

// Flex Consumption accepts 40 to 1000 instances; a value outside fails the
// deployment late, after the plan and app were validated.
func TestFlexInstanceCountBounds(t *testing.T) {
	for _, file := range []string{"infra/main.bicep", "infra/modules/functionapp.bicep"} {
		p := mustDecl(t, parseBicep(t, file), file, "param", "maximumInstanceCount")
		lo, okLo := intDecorator(t, p, "minValue")
		hi, okHi := intDecorator(t, p, "maxValue")
		if !okLo || !okHi || lo != 40 || hi != 1000 {
			t.Errorf("%s: param maximumInstanceCount needs @minValue(40) @maxValue(1000)", file)
		}
		if p.Value != nil {
			if n, err := strconv.Atoi(p.Value.Text); err != nil || n < 40 || n > 1000 {
				t.Errorf("%s: maximumInstanceCount defaults to %s, outside 40..1000", file, p.Value.Text)
			}
		}
	}
}

// disableLocalAuth exists from Microsoft.Communication 2025-05-01; main.bicep
// offers it as a parameter (off by default, for local development against
// the resource).
func TestACSLocalAuthIsAParameter(t *testing.T) {
	const file = "infra/modules/communication.bicep"
	f := parseBicep(t, file)
	var acs *Decl
	for _, d := range f.All("resource") {
		if strings.HasPrefix(d.Type, "Microsoft.Communication/communicationServices@") {
			acs = d
		}
	}
	if acs == nil {
		t.Fatalf("%s declares no Microsoft.Communication/communicationServices", file)
	}
	if v := strings.TrimPrefix(acs.Type, "Microsoft.Communication/communicationServices@"); v < "2025-05-01" || strings.Contains(v, "preview") {
		t.Errorf("%s: apiVersion %s has no disableLocalAuth; use 2025-05-01 or a later stable one", file, v)
	}
	v := acs.Body().Get("properties", "disableLocalAuth")
	if v == nil || v.Kind != Other || f.Find("param", v.Text) == nil {
		t.Fatalf("%s: properties.disableLocalAuth must be a parameter", file)
	}
	p := f.Find("param", v.Text)
	if p.Type != "bool" || p.Value == nil || p.Value.Text != "false" {
		t.Errorf("%s: param %s must be a bool that defaults to false", file, p.Name)
	}

	main := parseBicep(t, "infra/main.bicep")
	arg := mustDecl(t, main, "infra/main.bicep", "module", "communication").Body().Get("params", p.Name)
	if arg == nil || main.Find("param", arg.Text) == nil {
		t.Errorf("infra/main.bicep: module communication does not pass %s from a parameter", p.Name)
	}
}
