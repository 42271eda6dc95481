package undofile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

func TestUndoFileRoundTripAndTornLine(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, Header{Command: "bundle", RotationID: "r1", Server: "https://x", CreatedAt: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	want := []Change{
		{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "OLD", ResourceVersion: "5"},
		{Kind: "Secret", Namespace: "b", Name: "tok", Key: "ca.crt", Absent: true, ResourceVersion: "6"},
	}
	for _, c := range want {
		if err := w.Record(c); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Record(Change{Kind: "Secret", Name: "x", Key: "k", Previous: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}); err == nil || strings.Contains(err.Error(), "AAAA") {
		t.Fatalf("a private key must be refused without echo, got %v", err)
	}
	w.Close()
	if fi, _ := os.Stat(w.Path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("undo file mode %v, want 0600", fi.Mode().Perm())
	}
	// A crash in the middle of a write leaves a torn last line.
	f, _ := os.OpenFile(w.Path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"kind":"ConfigMap","name`)
	f.Close()

	h, got, err := Read(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Command != "bundle" || h.RotationID != "r1" || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("read back %+v %+v", h, got)
	}
	bad := filepath.Join(dir, "bad")
	os.WriteFile(bad, []byte("hello\n"), 0o600)
	if _, _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "not a kubectl carotate undo file") {
		t.Fatalf("got %v", err)
	}
	// Torn, then another line: not a crash's mark, a damaged file.
	f, _ = os.OpenFile(w.Path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("\n" + `{"kind":"ConfigMap","name":"n","key":"ca.crt"}` + "\n")
	f.Close()
	if _, _, err := Read(w.Path); err == nil || !strings.Contains(err.Error(), "line 4") {
		t.Fatalf("a malformed line before the last: got %v, want an error naming line 4", err)
	}
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	if _, _, err := Read(empty); err == nil || !strings.Contains(err.Error(), "empty undo file") {
		t.Fatalf("an empty file: got %v", err)
	}
}

// Read keeps one copy of a value recorded many times (bundle records the
// same old CA for every namespace).
func TestReadSharesRepeatedValues(t *testing.T) {
	w, err := Create(t.TempDir(), Header{Command: "bundle", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	pem := strings.Repeat("A", 1100)
	for i := range 3 {
		if err := w.Record(Change{Kind: "ConfigMap", Namespace: fmt.Sprint("ns", i), Name: "kube-root-ca.crt", Key: "ca.crt", Previous: pem}); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	_, got, err := Read(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Previous != pem || got[0].Namespace != "ns0" || got[2].Namespace != "ns2" {
		t.Fatalf("read back %d changes", len(got))
	}
	for _, c := range got[1:] {
		if unsafe.StringData(c.Previous) != unsafe.StringData(got[0].Previous) {
			t.Fatalf("%s: its previous value is a copy of its own, not the one shared", c.Namespace)
		}
	}
}

// The header's RootCASet reads back, and a private key never goes in.
func TestHeaderRootCASet(t *testing.T) {
	dir := t.TempDir()
	w, err := Create(dir, Header{Command: "bundle", CreatedAt: time.Now(), RootCASet: "CERTS"})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Record(Change{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "OLD", ResourceVersion: "5"}); err != nil {
		t.Fatal(err)
	}
	w.Close()
	h, _, err := Read(w.Path)
	if err != nil || h.RootCASet != "CERTS" {
		t.Fatalf("read back %+v, %v", h, err)
	}
	_, err = Create(dir, Header{Command: "bundle", CreatedAt: time.Now(), RootCASet: "-----BEGIN PRIVATE KEY-----\nSECRETBYTES\n-----END PRIVATE KEY-----\n"})
	if err == nil || strings.Contains(err.Error(), "SECRETBYTES") {
		t.Fatalf("a private key as RootCASet: got %v, want a refusal without echo", err)
	}
}
