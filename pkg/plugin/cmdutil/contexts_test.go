package cmdutil

import (
	"slices"
	"strings"
	"testing"
)

// namesOnly is a Factory that knows only its kubeconfig's contexts.
type namesOnly struct {
	Factory
	names []string
}

func (f namesOnly) Contexts() ([]string, error) { return f.names, nil }

func TestContextFlagsSelect(t *testing.T) {
	f := namesOnly{names: []string{"dev", "prod", "staging"}}
	for _, tc := range []struct {
		name    string
		flags   ContextFlags
		want    []string
		wantErr string
	}{
		{"every context", ContextFlags{All: true}, []string{"dev", "prod", "staging"}, ""},
		{"in the order given, once", ContextFlags{Names: []string{"staging,dev", " staging", "prod"}}, []string{"staging", "dev", "prod"}, ""},
		{"unknown", ContextFlags{Names: []string{"dev,qa"}}, nil, `--contexts: no context "qa" in the kubeconfig (it has dev, prod, staging)`},
		{"only commas", ContextFlags{Names: []string{",,"}}, nil, "--contexts names no context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.flags.Select(f)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("Select = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
	if _, err := (ContextFlags{All: true}).Select(namesOnly{}); err == nil || !strings.Contains(err.Error(), "has no context") {
		t.Errorf("an empty kubeconfig: %v", err)
	}
	if err := (ContextFlags{All: true, Names: []string{"dev"}}).Validate(); err == nil || !strings.Contains(err.Error(), "go alone") {
		t.Errorf("both flags: %v", err)
	}
}
