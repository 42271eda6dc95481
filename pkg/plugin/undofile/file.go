// Package undofile is the undo file: what a mutating command changed,
// written (and synced) before or as it changes it, so that "kubectl carotate
// undo FILE" can put it back even after a crash or Ctrl-C.
package undofile

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// An undo file records, one JSON line per change and synced as it is
// written, the previous value of every key a command changed, so that
// "kubectl carotate undo FILE" can put it back even after a crash or Ctrl-C.
// Only public data goes in: CA certificates and kubeconfigs, never token
// data or keys.

// Header is the first line of an undo file.
type Header struct {
	Command    string    `json:"command"`
	RotationID string    `json:"rotationID,omitempty"`
	Server     string    `json:"server"`
	CreatedAt  time.Time `json:"createdAt"`
	// RootCASet is the value bundle or unbundle wrote to the ca.crt key of
	// every ConfigMap and Secret it recorded (its target set of
	// certificates, public). With it, undo writes those objects without
	// reading them first: its write carries the recorded resourceVersion
	// as a precondition, and an object still at that version holds this
	// value, which is what undo records as the value it replaced.
	RootCASet string `json:"rootCASet,omitempty"`
}

// Change is one key of one object as it was before we wrote it.
type Change struct {
	Kind      string `json:"kind"` // ConfigMap, Secret, ClusterTrustBundle, Deployment, DaemonSet or StatefulSet
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Key       string `json:"key"`
	// Previous is the key's value before the change; Absent means the key
	// did not exist, Created that we created the whole object.
	Previous string `json:"previous,omitempty"`
	Absent   bool   `json:"absent,omitempty"`
	Created  bool   `json:"created,omitempty"`
	// ResourceVersion is the object's version right after our write: undo
	// skips objects that changed since. Workloads have none (their status
	// changes all the time): see Set.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Set is the value the command wrote, for workload keys: undo restores
	// Previous only while the object still holds Set. Removed: the command
	// removed the key instead (an undo of a workload whose key was absent).
	Set     string `json:"set,omitempty"`
	Removed bool   `json:"removed,omitempty"`
}

// Writer appends changes to an undo file. It is safe for concurrent use:
// callers that record at the same time share one sync (a group commit),
// and each returns only once its own change is synced.
type Writer struct {
	Path string
	f    *os.File

	mu      sync.Mutex
	synced  sync.Cond // broadcast when a sync ends
	lines   uint64    // change lines written, synced or not
	durable uint64    // change lines synced: the changes recorded
	syncing bool
	err     error        // a failed write or sync: every later record fails
	fsync   func() error // f.Sync; a test counts the calls
}

func newWriter(path string, f *os.File) *Writer {
	w := &Writer{Path: path, f: f, fsync: f.Sync}
	w.synced.L = &w.mu
	return w
}

// DefaultDir is ~/.kube/carotate/<rotation id>.
func DefaultDir(rotationID string) (string, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return "", err
	}
	if rotationID == "" {
		rotationID = "no-rotation"
	}
	return filepath.Join(home, ".kube", "carotate", rotationID), nil
}

// Create creates dir/<command>-<timestamp>.undo.jsonl (0600) and
// writes its header. Two runs within the same millisecond get -2, -3, ...
// rather than one failing or overwriting the other.
func Create(dir string, h Header) (*Writer, error) {
	if checks.ContainsPrivateKey([]byte(h.RootCASet)) {
		return nil, errors.New("refusing to create an undo file: the value it would record as written holds private-key material")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	base := fmt.Sprintf("%s-%s", h.Command, h.CreatedAt.UTC().Format("20060102T150405.000Z"))
	path := filepath.Join(dir, base+".undo.jsonl")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	for n := 2; errors.Is(err, fs.ErrExist) && n < 100; n++ {
		path = filepath.Join(dir, fmt.Sprintf("%s-%d.undo.jsonl", base, n))
		f, err = os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	}
	if err != nil {
		return nil, err
	}
	w := newWriter(path, f)
	if err := w.writeLine(h); err != nil {
		f.Close()
		return nil, err
	}
	return w, nil
}

// Record appends one change. It refuses values that hold private-key
// material: an undo file must never carry secrets.
func (w *Writer) Record(c Change) error { return w.RecordAll([]Change{c}) }

// RecordAll appends changes with one sync, for a command that records its
// changes before it makes them. Nothing is written when one is refused.
func (w *Writer) RecordAll(changes []Change) error { return w.RecordEach(slices.Values(changes)) }

// RecordEach is RecordAll for changes made one at a time as they are
// walked, so that a pass over a cluster need not hold them all (nor their
// lines): it walks them twice, first to refuse private-key material before
// anything is written, then to write them through a buffer, with one sync.
func (w *Writer) RecordEach(changes iter.Seq[Change]) error {
	for c := range changes {
		if checks.ContainsPrivateKey([]byte(c.Previous)) {
			return fmt.Errorf("refusing to record %s %s/%s[%s] in the undo file: it holds private-key material", c.Kind, c.Namespace, c.Name, c.Key)
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	buf := bufio.NewWriter(w.f)
	enc := json.NewEncoder(buf) // Marshal's encoding, and a newline
	n := 0
	for c := range changes {
		if err := enc.Encode(c); err != nil {
			w.err = err
			return err
		}
		n++
	}
	if err := buf.Flush(); err != nil {
		// Part of a line may be on disk: nothing may follow it.
		w.err = err
		return err
	}
	w.lines += uint64(n)
	return w.syncTo(w.lines)
}

// syncTo returns once the first n change lines are synced. One caller
// syncs while the others wait; a waiter whose line came after that sync
// began syncs next, for every line written meanwhile. So a pass writing
// with many requests in flight pays one sync per group of records, not one
// per record each waiting for the last. Called with w.mu held; it is let go
// during the sync.
func (w *Writer) syncTo(n uint64) error {
	for w.durable < n {
		if w.err != nil {
			return w.err
		}
		if w.syncing {
			w.synced.Wait()
			continue
		}
		w.syncing = true
		upTo := w.lines
		w.mu.Unlock()
		err := w.fsync()
		w.mu.Lock()
		w.syncing = false
		if err != nil {
			w.err = err
		} else {
			w.durable = upTo
		}
		w.synced.Broadcast()
	}
	return nil
}

// Changes is how many changes the file records.
func (w *Writer) Changes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return int(w.durable)
}

func (w *Writer) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return err
	}
	return w.f.Sync()
}

// Close closes the file, and removes it when it records no change (it was
// opened for writes that then did not happen): an undo file with nothing
// to undo would only be clutter.
func (w *Writer) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.f.Close()
	if w.durable == 0 {
		if rerr := os.Remove(w.Path); err == nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = rerr
		}
	}
	return err
}

// Rewrite replaces path with a file holding h and changes, through
// a temporary file and a rename, so a crash leaves one or the other whole.
func Rewrite(path string, h Header, changes []Change) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	w := newWriter(tmp, f)
	if err = w.writeLine(h); err == nil {
		err = w.RecordAll(changes)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// Read parses an undo file; a torn last line (a crash mid-write) is
// ignored, any other malformed line is an error. It reads line by line and
// keeps one copy of each distinct value: bundle's file over 10,000
// namespaces records the same old CA 11,004 times, and read whole, then
// parsed, it took undo to 104 MiB (docs/benchmarks.md, "The rate ceiling
// was bundle's gap").
func Read(path string) (Header, []Change, error) {
	var h Header
	f, err := os.Open(path)
	if err != nil {
		return h, nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	if !sc.Scan() {
		if err := sc.Err(); err != nil {
			return h, nil, err
		}
		return h, nil, fmt.Errorf("%s: empty undo file", path)
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil || h.Command == "" {
		return h, nil, fmt.Errorf("%s: not a kubectl carotate undo file", path)
	}
	var changes []Change
	// Not the unique package: its table is weak, so a collection between
	// two lines may make the next copy a new one; this map holds every
	// distinct value until Read returns, which the changes do anyway.
	values := map[string]string{}
	shared := func(v string) string {
		if v == "" {
			return v
		}
		if s, ok := values[v]; ok {
			return s
		}
		values[v] = v
		return v
	}
	// A line that does not parse is an error only when another follows
	// it: the last one may have been torn by a crash.
	var torn error
	for line := 2; sc.Scan(); line++ {
		if torn != nil {
			return h, nil, torn
		}
		var c Change
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			torn = fmt.Errorf("%s: line %d: %w", path, line, err)
			continue
		}
		if c.Kind == "" || c.Name == "" || c.Key == "" {
			return h, nil, fmt.Errorf("%s: line %d: incomplete change record", path, line)
		}
		c.Previous, c.Set = shared(c.Previous), shared(c.Set)
		changes = append(changes, c)
	}
	if err := sc.Err(); err != nil {
		return h, nil, err
	}
	return h, changes, nil
}

// Undo-file keys of a workload: the pod-template annotation, and
// spec.paused.
const (
	workloadAnnotationKeyPrefix = "spec.template.metadata.annotations["
	WorkloadPausedKey           = "spec.paused"
)

// WorkloadAnnotationKey is the undo-file key of a pod-template annotation.
func WorkloadAnnotationKey(name string) string {
	return workloadAnnotationKeyPrefix + name + "]"
}

// WorkloadAnnotationFromKey is the annotation name of such a key.
func WorkloadAnnotationFromKey(key string) (string, bool) {
	name, ok := strings.CutPrefix(key, workloadAnnotationKeyPrefix)
	if !ok || !strings.HasSuffix(name, "]") || len(name) < 2 {
		return "", false
	}
	return strings.TrimSuffix(name, "]"), true
}
