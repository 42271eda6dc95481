package undofile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
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

// RecordEach writes what RecordAll wrote (a JSON line per change, one
// sync), and refuses private-key material before writing anything, even
// when it comes after changes that would have been written.
func TestRecordEachWritesLinesOrNothing(t *testing.T) {
	dir := t.TempDir()
	h := Header{Command: "restart-workloads", CreatedAt: time.Date(2026, 11, 30, 15, 4, 5, 0, time.UTC)}
	changes := []Change{
		{Kind: "Deployment", Namespace: "ns", Name: "web", Key: WorkloadAnnotationKey("ca-rotation"), Absent: true, Set: "v<2>"},
		{Kind: "StatefulSet", Namespace: "ns", Name: "db", Key: WorkloadAnnotationKey("ca-rotation"), Previous: "v1", Set: "v<2>"},
	}
	w, err := Create(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.RecordEach(slices.Values(changes)); err != nil {
		t.Fatal(err)
	}
	w.Close()
	b, err := os.ReadFile(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	for i, c := range changes {
		want, _ := json.Marshal(c)
		if got := lines[i+1]; got != string(want)+"\n" {
			t.Errorf("line %d: %q, want %q", i+2, got, string(want)+"\n")
		}
	}
	if _, got, err := Read(w.Path); err != nil || len(got) != 2 || w.Changes() != 2 {
		t.Fatalf("read back %d change(s), %v; %d counted", len(got), err, w.Changes())
	}

	h.CreatedAt = h.CreatedAt.Add(time.Second)
	w, err = Create(dir, h)
	if err != nil {
		t.Fatal(err)
	}
	key := "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n"
	bad := append(slices.Clone(changes), Change{Kind: "Deployment", Namespace: "ns", Name: "leak", Key: WorkloadAnnotationKey("ca-rotation"), Previous: key, Set: "v"})
	if err := w.RecordEach(slices.Values(bad)); err == nil || strings.Contains(err.Error(), "MIIB") {
		t.Fatalf("err = %v, want a refusal that does not echo the key", err)
	}
	if b, _ := os.ReadFile(w.Path); strings.Count(string(b), "\n") != 1 || w.Changes() != 0 {
		t.Fatalf("after a refusal the file holds:\n%s", b)
	}
	w.Close()
}
