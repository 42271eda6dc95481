package undo

import (
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

func TestUndoWorkloadDriftAndPatch(t *testing.T) {
	ann := undofile.WorkloadAnnotationKey("example.com/ca")
	obj := func(changes ...undofile.Change) *object {
		for i := range changes {
			changes[i].Kind, changes[i].Namespace, changes[i].Name = checks.KindDeployment, "ns", "web"
		}
		return group(changes)[0]
	}
	tests := []struct {
		name      string
		obj       *object
		state     cluster.PodTemplate
		wantDrift string
		wantPatch string
	}{
		{"restore a previous value", obj(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v2", "other": "x"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"add","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v1"}]`},
		{"remove an annotation that was absent", obj(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v2"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"remove","path":"/spec/template/metadata/annotations/example.com~1ca"}]`},
		{"pause again", obj(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}, undofile.Change{Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v2"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"add","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v1"},{"op":"add","path":"/spec/paused","value":true}]`},
		{"re-add to a template without annotations", obj(undofile.Change{Key: ann, Previous: "v2", Removed: true}),
			cluster.PodTemplate{}, "",
			`[{"op":"add","path":"/spec/template/metadata/annotations","value":{"example.com/ca":"v2"}}]`},
		{"never patched", obj(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v1"}}, "nothing to undo: annotation example.com/ca is as it was before the command", ""},
		{"never patched, was absent", obj(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{}, "nothing to undo: annotation example.com/ca is as it was before the command", ""},
		{"changed since", obj(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v3"}}, `changed since: annotation example.com/ca is "v3", the command set "v2"`, ""},
		{"annotation gone since", obj(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{}, `changed since: annotation example.com/ca is gone, the command set "v2"`, ""},
		{"re-added since the removal", obj(undofile.Change{Key: ann, Previous: "v2", Removed: true}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v9"}}, `changed since: annotation example.com/ca is "v9" again, the command had removed it`, ""},
		{"paused again since", obj(undofile.Change{Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}),
			cluster.PodTemplate{Paused: true}, "changed since: spec.paused is true, the command set false", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := workloadDrift(tt.obj, tt.state); got != tt.wantDrift {
				t.Fatalf("drift %q, want %q", got, tt.wantDrift)
			}
			if tt.wantDrift != "" {
				return
			}
			b, err := workloadPatch(tt.obj, tt.state)
			if err != nil || string(b) != tt.wantPatch {
				t.Fatalf("patch %s (%v), want %s", b, err, tt.wantPatch)
			}
		})
	}
}
