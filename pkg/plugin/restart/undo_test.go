package restart

import (
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

func TestRestartUndoChanges(t *testing.T) {
	wl := func(kind, name, value string, has, paused bool) *cluster.Workload {
		return &cluster.Workload{Workload: checks.Workload{Kind: kind, Namespace: "ns", Name: name, Value: value, HasValue: has, Paused: paused, Replicas: 1}}
	}
	tests := []struct {
		name   string
		resume bool
		target *cluster.Workload
		want   []string // key=previous>set, "absent" for no previous
	}{
		{"no annotation yet", false, wl(checks.KindDaemonSet, "a", "", false, false), []string{"spec.template.metadata.annotations[ca-rotation]=absent>v2"}},
		{"older value", false, wl(checks.KindDeployment, "b", "v1", true, false), []string{"spec.template.metadata.annotations[ca-rotation]=v1>v2"}},
		{"empty value is a value", false, wl(checks.KindStatefulSet, "c", "", true, false), []string{"spec.template.metadata.annotations[ca-rotation]=>v2"}},
		{"already current", false, wl(checks.KindDeployment, "d", "v2", true, false), nil},
		{"paused, not resumed", false, wl(checks.KindDeployment, "e", "v1", true, true), []string{"spec.template.metadata.annotations[ca-rotation]=v1>v2"}},
		{"paused and resumed", true, wl(checks.KindDeployment, "f", "v1", true, true), []string{"spec.template.metadata.annotations[ca-rotation]=v1>v2", "spec.paused=true>false"}},
		{"current but resumed", true, wl(checks.KindDeployment, "g", "v2", true, true), []string{"spec.paused=true>false"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := &Options{Annotation: "ca-rotation", ResumePaused: tt.resume}
			r := &pass{o: o, value: "v2", targets: []*target{newTarget(tt.target)}}
			var got []string
			changes, count, workloads := r.undoChanges()
			for c := range changes {
				prev := c.Previous
				if c.Absent {
					prev = "absent"
				}
				got = append(got, c.Key+"="+prev+">"+c.Set)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if count != len(tt.want) {
				t.Errorf("%d change(s) counted, want %d", count, len(tt.want))
			}
			if want := min(len(tt.want), 1); workloads != want {
				t.Errorf("%d workload(s) counted, want %d", workloads, want)
			}
		})
	}
}
