package undo

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// webChanges is the object the undo file makes of changes to Deployment
// ns/web.
func webChanges(changes ...undofile.Change) *object {
	for i := range changes {
		changes[i].Kind, changes[i].Namespace, changes[i].Name = checks.KindDeployment, "ns", "web"
	}
	return group(changes)[0]
}

func TestUndoWorkloadDriftAndPatch(t *testing.T) {
	ann := undofile.WorkloadAnnotationKey("example.com/ca")
	tests := []struct {
		name      string
		obj       *object
		state     cluster.PodTemplate
		wantDrift string
		wantPatch string
	}{
		{"restore a previous value", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v2", "other": "x"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"add","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v1"}]`},
		{"remove an annotation that was absent", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v2"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"remove","path":"/spec/template/metadata/annotations/example.com~1ca"}]`},
		{"pause again", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}, undofile.Change{Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v2"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"add","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v1"},{"op":"add","path":"/spec/paused","value":true}]`},
		{"re-add to a template without annotations", webChanges(undofile.Change{Key: ann, Previous: "v2", Removed: true}),
			cluster.PodTemplate{}, "",
			`[{"op":"add","path":"/spec/template/metadata/annotations","value":{"example.com/ca":"v2"}}]`},
		{"never patched", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v1"}}, "nothing to undo: annotation example.com/ca is as it was before the command", ""},
		{"never patched, was absent", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{}, "nothing to undo: annotation example.com/ca is as it was before the command", ""},
		{"changed since", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v3"}}, `changed since: annotation example.com/ca is "v3", the command set "v2"`, ""},
		{"annotation gone since", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{}, `changed since: annotation example.com/ca is gone, the command set "v2"`, ""},
		{"re-added since the removal", webChanges(undofile.Change{Key: ann, Previous: "v2", Removed: true}),
			cluster.PodTemplate{Annotations: map[string]string{"example.com/ca": "v9"}}, `changed since: annotation example.com/ca is "v9" again, the command had removed it`, ""},
		{"paused again since", webChanges(undofile.Change{Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}),
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

// restoredByUs: after a lost answer, a workload is called restored by
// undo only when one spec write came since undo read it, every key holds
// its value from before the command, and each value present was written
// last by kubectl-carotate.
func TestRestoredByUs(t *testing.T) {
	ann := undofile.WorkloadAnnotationKey("ca-rotation")
	owned := func(manager string, fields string) []metav1.ManagedFieldsEntry {
		return []metav1.ManagedFieldsEntry{{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, Time: &metav1.Time{Time: time.Unix(100, 0)},
			FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}}
	}
	annotationBy := func(m string) []metav1.ManagedFieldsEntry {
		return owned(m, `{"f:spec":{"f:template":{"f:metadata":{"f:annotations":{"f:ca-rotation":{}}}}}}`)
	}
	was := cluster.PodTemplate{Annotations: map[string]string{"ca-rotation": "v2"}, Generation: 4}
	for _, tc := range []struct {
		name string
		obj  *object
		now  cluster.PodTemplate
		want bool
	}{
		{"removed, one write", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{}, Generation: 5}, true},
		{"removed, two writes since", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{}, Generation: 6}, false},
		{"removed, no write since", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{}, Generation: 4}, false},
		{"still there", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"ca-rotation": "v3"}, Generation: 5}, false},
		{"previous value back, by us", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"ca-rotation": "v1"}, Generation: 5, ManagedFields: annotationBy(cmdutil.FieldManager)}, true},
		{"previous value back, by someone else", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"ca-rotation": "v1"}, Generation: 5, ManagedFields: annotationBy("argocd")}, false},
		{"another value", webChanges(undofile.Change{Key: ann, Previous: "v1", Set: "v2"}),
			cluster.PodTemplate{Annotations: map[string]string{"ca-rotation": "v9"}, Generation: 5, ManagedFields: annotationBy(cmdutil.FieldManager)}, false},
		{"paused again, by us", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}, undofile.Change{Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}),
			cluster.PodTemplate{Annotations: map[string]string{}, Paused: true, Generation: 5, ManagedFields: owned(cmdutil.FieldManager, `{"f:spec":{"f:paused":{}}}`)}, true},
		{"paused again, by someone else", webChanges(undofile.Change{Key: ann, Absent: true, Set: "v2"}, undofile.Change{Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}),
			cluster.PodTemplate{Annotations: map[string]string{}, Paused: true, Generation: 5, ManagedFields: owned("kubectl-rollout", `{"f:spec":{"f:paused":{}}}`)}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := restoredByUs(tc.obj, was, tc.now); got != tc.want {
				t.Errorf("restoredByUs = %v, want %v", got, tc.want)
			}
		})
	}
}
