package undofile

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Records made at the same time share syncs, and each returns only once its
// own line is synced: every record is in the file, and far fewer syncs ran
// than records (one per record when each waited for the last, as before).
func TestConcurrentRecordsShareSyncs(t *testing.T) {
	w, err := Create(t.TempDir(), Header{Command: "bundle", CreatedAt: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var syncs atomic.Int64
	sync0 := w.f.Sync
	w.fsync = func() error {
		syncs.Add(1)
		time.Sleep(2 * time.Millisecond) // a disk's sync
		return sync0()
	}
	const workers, each = 32, 10
	var wg sync.WaitGroup
	for g := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				c := Change{Kind: "ConfigMap", Namespace: fmt.Sprintf("ns-%d-%d", g, i), Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "OLD"}
				w.mu.Lock()
				before := w.lines // this record's line comes after these
				w.mu.Unlock()
				if err := w.Record(c); err != nil {
					t.Error(err)
					return
				}
				w.mu.Lock()
				durable := w.durable
				w.mu.Unlock()
				if durable <= before {
					t.Errorf("the record of %s returned with %d lines synced, before its own line (after %d)", c.Namespace, durable, before)
				}
			}
		}()
	}
	wg.Wait()
	if got := w.Changes(); got != workers*each {
		t.Fatalf("Changes() = %d, want %d", got, workers*each)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, got, err := Read(w.Path)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range got {
		seen[c.Namespace] = true
	}
	if len(got) != workers*each || len(seen) != workers*each {
		t.Fatalf("the file holds %d changes (%d namespaces), want %d", len(got), len(seen), workers*each)
	}
	if n := syncs.Load(); n >= workers*each/4 {
		t.Fatalf("%d syncs for %d records made by %d writers at once: records do not share syncs", n, workers*each, workers)
	}
	t.Logf("%d syncs for %d records", syncs.Load(), workers*each)
}

// A failed sync fails the records it was to cover and every later one: the
// caller must not take a change as recorded.
func TestFailedSyncFailsRecords(t *testing.T) {
	w, err := Create(t.TempDir(), Header{Command: "bundle", CreatedAt: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	disk := errors.New("input/output error")
	w.fsync = func() error { return disk }
	c := Change{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "OLD"}
	if err := w.Record(c); !errors.Is(err, disk) {
		t.Fatalf("Record with a failing sync = %v, want %v", err, disk)
	}
	w.fsync = w.f.Sync // the disk is back; the file is not to be trusted
	if err := w.Record(c); !errors.Is(err, disk) {
		t.Fatalf("Record after a failed sync = %v, want the first failure", err)
	}
	if got := w.Changes(); got != 0 {
		t.Fatalf("Changes() = %d after failed syncs, want 0", got)
	}
}
