package undofile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The undo file as restart-workloads writes it: workload keys, and files
// created within the same millisecond.

func TestWorkloadAnnotationKey(t *testing.T) {
	for _, name := range []string{"ca-rotation", "example.com/rotated-at", "a]b"} {
		got, ok := WorkloadAnnotationFromKey(WorkloadAnnotationKey(name))
		if !ok || got != name {
			t.Errorf("round trip of %q: %q, %v", name, got, ok)
		}
	}
	for _, key := range []string{"ca.crt", "spec.paused", "spec.template.metadata.annotations[", "spec.template.metadata.annotations[x"} {
		if _, ok := WorkloadAnnotationFromKey(key); ok {
			t.Errorf("%q taken for an annotation key", key)
		}
	}
}

func TestCreateSameMillisecond(t *testing.T) {
	dir := t.TempDir()
	h := Header{Command: "restart-workloads", CreatedAt: time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC)}
	var paths []string
	for range 3 {
		w, err := Create(dir, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.RecordAll([]Change{{Kind: "Deployment", Namespace: "ns", Name: "web", Key: WorkloadAnnotationKey("ca-rotation"), Absent: true, Set: "v"}}); err != nil {
			t.Fatal(err)
		}
		w.Close()
		paths = append(paths, filepath.Base(w.Path))
	}
	want := []string{"restart-workloads-20261130T150405.000Z.undo.jsonl", "restart-workloads-20261130T150405.000Z-2.undo.jsonl", "restart-workloads-20261130T150405.000Z-3.undo.jsonl"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	_, changes, err := Read(filepath.Join(dir, want[2]))
	if err != nil || len(changes) != 1 || changes[0].Set != "v" || !changes[0].Absent {
		t.Fatalf("read back: %+v, %v", changes, err)
	}
	if _, err := os.Stat(filepath.Join(dir, want[0])); err != nil {
		t.Fatal(err)
	}
}

func TestRecordAllRefusesPrivateKeys(t *testing.T) {
	w, err := Create(t.TempDir(), Header{Command: "restart-workloads", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	err = w.RecordAll([]Change{{Kind: "Deployment", Name: "x", Key: "k", Previous: "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"}})
	if err == nil || strings.Contains(err.Error(), "MIIB") {
		t.Fatalf("RecordAll = %v, want a refusal that does not echo the key", err)
	}
}
