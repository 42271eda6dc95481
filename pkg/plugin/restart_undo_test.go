package plugin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

func TestWorkloadAnnotationKey(t *testing.T) {
	for _, name := range []string{"ca-rotation", "example.com/rotated-at", "a]b"} {
		got, ok := workloadAnnotationFromKey(workloadAnnotationKey(name))
		if !ok || got != name {
			t.Errorf("round trip of %q: %q, %v", name, got, ok)
		}
	}
	for _, key := range []string{"ca.crt", "spec.paused", "spec.template.metadata.annotations[", "spec.template.metadata.annotations[x"} {
		if _, ok := workloadAnnotationFromKey(key); ok {
			t.Errorf("%q taken for an annotation key", key)
		}
	}
}

func TestRestartUndoChanges(t *testing.T) {
	wl := func(kind, name, value string, has, paused bool) *restartTarget {
		return &restartTarget{Workload: checks.Workload{Kind: kind, Namespace: "ns", Name: name, Value: value, HasValue: has, Paused: paused, Replicas: 1}}
	}
	tests := []struct {
		name   string
		resume bool
		target *restartTarget
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
			o := &RestartWorkloadsOptions{Annotation: "ca-rotation", ResumePaused: tt.resume}
			r := &restartRun{o: o, value: "v2", targets: []*restartTarget{tt.target}}
			var got []string
			for _, c := range r.restartUndoChanges() {
				prev := c.Previous
				if c.Absent {
					prev = "absent"
				}
				got = append(got, c.Key+"="+prev+">"+c.Set)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUndoWorkloadDriftAndPatch(t *testing.T) {
	ann := workloadAnnotationKey("example.com/ca")
	obj := func(changes ...UndoChange) *undoObject {
		for i := range changes {
			changes[i].Kind, changes[i].Namespace, changes[i].Name = checks.KindDeployment, "ns", "web"
		}
		return undoGroup(changes)[0]
	}
	tests := []struct {
		name      string
		obj       *undoObject
		state     undoWorkloadState
		wantDrift string
		wantPatch string
	}{
		{"restore a previous value", obj(UndoChange{Key: ann, Previous: "v1", Set: "v2"}),
			undoWorkloadState{annotations: map[string]string{"example.com/ca": "v2", "other": "x"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"add","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v1"}]`},
		{"remove an annotation that was absent", obj(UndoChange{Key: ann, Absent: true, Set: "v2"}),
			undoWorkloadState{annotations: map[string]string{"example.com/ca": "v2"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"remove","path":"/spec/template/metadata/annotations/example.com~1ca"}]`},
		{"pause again", obj(UndoChange{Key: ann, Previous: "v1", Set: "v2"}, UndoChange{Key: workloadPausedKey, Previous: "true", Set: "false"}),
			undoWorkloadState{annotations: map[string]string{"example.com/ca": "v2"}}, "",
			`[{"op":"test","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v2"},{"op":"add","path":"/spec/template/metadata/annotations/example.com~1ca","value":"v1"},{"op":"add","path":"/spec/paused","value":true}]`},
		{"re-add to a template without annotations", obj(UndoChange{Key: ann, Previous: "v2", Removed: true}),
			undoWorkloadState{}, "",
			`[{"op":"add","path":"/spec/template/metadata/annotations","value":{"example.com/ca":"v2"}}]`},
		{"never patched", obj(UndoChange{Key: ann, Previous: "v1", Set: "v2"}),
			undoWorkloadState{annotations: map[string]string{"example.com/ca": "v1"}}, "nothing to undo: annotation example.com/ca is as it was before the command", ""},
		{"never patched, was absent", obj(UndoChange{Key: ann, Absent: true, Set: "v2"}),
			undoWorkloadState{}, "nothing to undo: annotation example.com/ca is as it was before the command", ""},
		{"changed since", obj(UndoChange{Key: ann, Previous: "v1", Set: "v2"}),
			undoWorkloadState{annotations: map[string]string{"example.com/ca": "v3"}}, `changed since: annotation example.com/ca is "v3", the command set "v2"`, ""},
		{"annotation gone since", obj(UndoChange{Key: ann, Previous: "v1", Set: "v2"}),
			undoWorkloadState{}, `changed since: annotation example.com/ca is gone, the command set "v2"`, ""},
		{"re-added since the removal", obj(UndoChange{Key: ann, Previous: "v2", Removed: true}),
			undoWorkloadState{annotations: map[string]string{"example.com/ca": "v9"}}, `changed since: annotation example.com/ca is "v9" again, the command had removed it`, ""},
		{"paused again since", obj(UndoChange{Key: workloadPausedKey, Previous: "true", Set: "false"}),
			undoWorkloadState{paused: true}, "changed since: spec.paused is true, the command set false", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := undoWorkloadDrift(tt.obj, tt.state); got != tt.wantDrift {
				t.Fatalf("drift %q, want %q", got, tt.wantDrift)
			}
			if tt.wantDrift != "" {
				return
			}
			b, err := undoWorkloadPatch(tt.obj, tt.state)
			if err != nil || string(b) != tt.wantPatch {
				t.Fatalf("patch %s (%v), want %s", b, err, tt.wantPatch)
			}
		})
	}
}

func TestCreateUndoFileSameMillisecond(t *testing.T) {
	dir := t.TempDir()
	h := UndoHeader{Command: "restart-workloads", CreatedAt: time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC)}
	var paths []string
	for range 3 {
		w, err := CreateUndoFile(dir, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.RecordAll([]UndoChange{{Kind: "Deployment", Namespace: "ns", Name: "web", Key: workloadAnnotationKey("ca-rotation"), Absent: true, Set: "v"}}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		paths = append(paths, filepath.Base(w.Path))
	}
	want := []string{"restart-workloads-20261130T150405.000Z.undo.jsonl", "restart-workloads-20261130T150405.000Z-2.undo.jsonl", "restart-workloads-20261130T150405.000Z-3.undo.jsonl"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	_, changes, err := ReadUndoFile(filepath.Join(dir, want[2]))
	if err != nil || len(changes) != 1 || changes[0].Set != "v" || !changes[0].Absent {
		t.Fatalf("read back: %+v, %v", changes, err)
	}
	if _, err := os.Stat(filepath.Join(dir, want[0])); err != nil {
		t.Fatal(err)
	}
}

func TestRecordAllRefusesPrivateKeys(t *testing.T) {
	w, err := CreateUndoFile(t.TempDir(), UndoHeader{Command: "restart-workloads", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.RecordAll([]UndoChange{{Kind: "Deployment", Name: "x", Key: "k", Previous: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}})
	if err == nil || strings.Contains(err.Error(), "MIIB") {
		t.Fatalf("RecordAll = %v, want a refusal that does not echo the key", err)
	}
}
