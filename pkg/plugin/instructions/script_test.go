package instructions

import (
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// TestScriptNode: without --node a script is this machine's when it is a
// control-plane node, else the only control-plane node's; otherwise the
// error asks for --node and names the candidates.
func TestScriptNode(t *testing.T) {
	hosts := func(names ...string) checks.ClusterDescription {
		var d checks.ClusterDescription
		for _, n := range names {
			d.ControlPlane = append(d.ControlPlane, checks.ControlPlaneHost{Node: n})
		}
		return d
	}
	for _, c := range []struct {
		name, hostname string
		d              checks.ClusterDescription
		want, err      string
	}{
		{"on the only control-plane node", "cp-1", hosts("cp-1"), "cp-1", ""},
		{"from a workstation, one control-plane node", "laptop", hosts("cp-1"), "cp-1", ""},
		{"on one of three", "cp-2", hosts("cp-1", "cp-2", "cp-3"), "cp-2", ""},
		{"from a workstation, three", "laptop", hosts("cp-1", "cp-2", "cp-3"), "", "there are 3 (cp-1, cp-2, cp-3): pass --node NAME"},
		{"none known", "laptop", hosts("*"), "", "no control-plane node is known"},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := &Options{hostname: func() (string, error) { return c.hostname, nil }}
			got, err := o.scriptNode(c.d)
			if got != c.want || (c.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Errorf("scriptNode = %q, %v; want %q, error with %q", got, err, c.want, c.err)
			}
		})
	}
}
