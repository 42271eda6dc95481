package undo

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// tokenKey is a legacy token Secret's token, which no undo file holds.
const tokenKey = "token"

// object is everything the undo file says about one object: the
// earliest recorded value of each key (what it was before the command) and
// the latest resourceVersion (what it was after the command's last write).
type object struct {
	Kind, Namespace, Name string
	Created               bool
	ResourceVersion       string
	keys                  []string
	// firsts is the earliest change of each key, in keys' order: a slice,
	// not a map, since an object has one or two keys, and a map each took
	// undo over bundle's file of 11,004 objects to 15 MiB live (92 MiB RSS).
	firsts []undofile.Change
}

// prev is the earliest recorded change of key.
func (o *object) prev(key string) (undofile.Change, bool) {
	for _, c := range o.firsts {
		if c.Key == key {
			return c, true
		}
	}
	return undofile.Change{}, false
}

// prevOf is prev's change alone (the zero Change when key has none).
func (o *object) prevOf(key string) undofile.Change {
	c, _ := o.prev(key)
	return c
}

// group merges the changes of one undo file per object, in file order.
// Keys of one object are restored in one write: a command that wrote
// several keys at once recorded one resourceVersion for all of them, and
// restoring them one by one would make the second look "changed since".
func group(changes []undofile.Change) []*object {
	var order []*object
	byKey := map[string]*object{}
	for _, c := range changes {
		k := c.Kind + "/" + c.Namespace + "/" + c.Name
		o := byKey[k]
		if o == nil {
			o = &object{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name}
			byKey[k] = o
			order = append(order, o)
		}
		o.ResourceVersion = c.ResourceVersion
		if c.Created {
			o.Created = true
		}
		if _, seen := o.prev(c.Key); !seen {
			o.firsts = append(o.firsts, c)
			o.keys = append(o.keys, c.Key)
		}
	}
	return order
}

// restorer puts the objects of one undo file back, and records what it
// replaced in an undo file of its own.
type restorer struct {
	client  kubernetes.Interface
	dryRun  cmdutil.DryRun
	errOut  io.Writer
	newUndo func() (*undofile.Writer, error)
	// pace is the requests in flight (adaptive when nil).
	pace *cluster.Pace
	// rootCASet is the undo file's RootCASet: what the command left in
	// the ca.crt of the ConfigMaps and Secrets it recorded.
	rootCASet []byte

	mu       sync.Mutex
	undo     *undofile.Writer
	undoFail error
}

func (u *restorer) run(ctx context.Context, objects []*object) []result {
	results := make([]result, len(objects))
	// Once ctx is done the fanout starts no restore: those left say so.
	for i, obj := range objects {
		results[i] = result{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Keys: obj.keys, Result: "failed", Reason: "interrupted before it was restored"}
	}
	if u.pace == nil {
		u.pace = cluster.NewPace(0)
	}
	u.pace.Fanout(ctx, len(objects), func(i int) { results[i] = u.restore(ctx, objects[i]) })
	sort.SliceStable(results, func(i, j int) bool {
		a, b := results[i], results[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return results
}

// current is what undo reads of an object before restoring it.
type current struct {
	rv     string
	values map[string][]byte
	// by is the manager that last wrote every present key of values (""
	// when they differ or none is present): managedFields' account.
	by string
}

// noteWriter keeps the last writer of one more key in cur.by: set by the
// first key, cleared when another key's writer differs.
func (cur *current) noteWriter(first bool, mf []metav1.ManagedFieldsEntry, created time.Time, path ...string) {
	_, by := cluster.FieldChange(mf, created, path...)
	if first {
		cur.by = by
	} else if cur.by != by {
		cur.by = ""
	}
}

// holdsRestore tells whether cur holds what restoring obj writes: each
// key's earliest recorded value, and the keys the command added gone.
func (cur current) holdsRestore(obj *object) bool {
	for _, k := range obj.keys {
		c := obj.prevOf(k)
		v, ok := cur.values[k]
		if c.Absent || c.Created {
			if ok {
				return false
			}
		} else if !ok || string(v) != c.Previous {
			return false
		}
	}
	return true
}

func (u *restorer) get(ctx context.Context, obj *object) (current, error) {
	var cur current
	err := cluster.WithRetry(ctx, func() error {
		if obj.Kind == kindTrustBundle {
			b, err := u.client.CertificatesV1().ClusterTrustBundles().Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur = current{rv: b.ResourceVersion, values: map[string][]byte{cluster.TrustBundleKey: []byte(b.Spec.TrustBundle)}}
			cur.noteWriter(true, b.ManagedFields, b.CreationTimestamp.Time, "f:spec", "f:trustBundle")
			return nil
		}
		if obj.Kind == "Secret" {
			s, err := u.client.CoreV1().Secrets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur = current{rv: s.ResourceVersion, values: map[string][]byte{}}
			for _, k := range obj.keys {
				if v, ok := s.Data[k]; ok {
					cur.values[k] = v
					cur.noteWriter(len(cur.values) == 1, s.ManagedFields, s.CreationTimestamp.Time, "f:data", "f:"+k)
				}
			}
			return nil
		}
		cm, err := u.client.CoreV1().ConfigMaps(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur = current{rv: cm.ResourceVersion, values: map[string][]byte{}}
		for _, k := range obj.keys {
			if v, ok := cm.Data[k]; ok {
				cur.values[k] = []byte(v)
				cur.noteWriter(len(cur.values) == 1, cm.ManagedFields, cm.CreationTimestamp.Time, "f:data", "f:"+k)
			}
		}
		return nil
	})
	return cur, err
}

// unread is r when its object could not be read: skipped when it is gone,
// failed otherwise.
func (r result) unread(err error) result {
	if apierrors.IsNotFound(err) {
		r.Result, r.Reason = "skipped", "no longer exists"
	} else {
		r.Result, r.Reason = "failed", err.Error()
	}
	return r
}

func (u *restorer) restore(ctx context.Context, obj *object) result {
	if isWorkloadKind(obj.Kind) {
		return u.restoreWorkload(ctx, obj)
	}
	r := result{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Keys: obj.keys}
	if obj.Kind == "Secret" && obj.prevOf(tokenKey).Removed {
		// resign-tokens cleared it for the tokens controller to sign again;
		// an undo file never holds token data.
		r.Result, r.Reason = "skipped", "its ServiceAccount token was cleared to be re-signed (resign-tokens): an undo file never holds token data, so there is nothing to put back"
		return r
	}
	cur, known := u.written(obj)
	var err error
	if !known || !u.dryRun.Writes() {
		cur, err = u.get(ctx, obj)
		switch {
		case apierrors.IsNotFound(err) && obj.Created:
			r.Result, r.Reason, r.asBefore = "skipped", "already deleted", true
			return r
		case err != nil:
			return r.unread(err)
		case cur.rv != obj.ResourceVersion:
			return r.changedSince(cur, obj)
		}
	}
	suffix := u.dryRun.Suffix()
	if obj.Created {
		r.Result, r.Reason = "deleted", "created by the command"+suffix
		if !u.dryRun.Writes() {
			return r
		}
		rv := obj.ResourceVersion
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}, DryRun: u.dryRun.Options()}
		mayHaveDeleted, err := cluster.WithRetryWrite(ctx, func() error {
			if obj.Kind == "Secret" {
				return u.client.CoreV1().Secrets(obj.Namespace).Delete(ctx, obj.Name, opts)
			}
			return u.client.CoreV1().ConfigMaps(obj.Namespace).Delete(ctx, obj.Name, opts)
		})
		if apierrors.IsNotFound(err) && mayHaveDeleted {
			// The delete sent again found the object gone: the first one
			// landed, its answer lost (or another delete came first: gone
			// either way, as undo meant).
			r.Reason += "; an answer was lost, and it is gone"
			return r
		}
		return writeResult(r, err)
	}

	r.Result, r.Reason = "restored", suffix
	r.Reason = strings.TrimSpace(r.Reason)
	if !u.dryRun.Writes() {
		return r
	}
	data := map[string]any{}
	for _, k := range obj.keys {
		c := obj.prevOf(k)
		switch {
		case c.Absent || c.Created:
			data[k] = nil // a JSON merge patch null removes the key
		case obj.Kind == "Secret":
			data[k] = []byte(c.Previous) // base64 in JSON, as Secret data is
		default:
			data[k] = c.Previous
		}
	}
	patch := map[string]any{"metadata": map[string]any{"resourceVersion": obj.ResourceVersion}, "data": data}
	if obj.Kind == kindTrustBundle {
		// Its one key is spec.trustBundle, never absent.
		patch = map[string]any{"metadata": patch["metadata"], "spec": map[string]any{"trustBundle": obj.prevOf(cluster.TrustBundleKey).Previous}}
	}
	body, err := json.Marshal(patch)
	if err != nil {
		r.Result, r.Reason = "failed", err.Error()
		return r
	}
	var newRV string
	opts := metav1.PatchOptions{FieldManager: cmdutil.FieldManager, DryRun: u.dryRun.Options()}
	mayHaveWritten, err := cluster.WithRetryWrite(ctx, func() (err error) {
		newRV, err = u.patch(ctx, obj, body, opts)
		return err
	})
	if apierrors.IsConflict(err) && mayHaveWritten {
		// An answer was lost, perhaps not the write: the write sent again
		// then meets its own resourceVersion precondition. Ours landed if
		// the object holds the restore and we wrote it last (the
		// controller-manager puts the same old CA back under its own name).
		if now, gerr := u.get(ctx, obj); gerr == nil && now.by == cmdutil.FieldManager && now.holdsRestore(obj) {
			err, newRV = nil, now.rv
			r.Reason = "an answer was lost: read back, it holds the restored value, written by " + cmdutil.FieldManager
		}
	}
	r = writeResult(r, err)
	if known && (apierrors.IsConflict(err) || apierrors.IsNotFound(err)) {
		// Not read before: say what a read would have said.
		now, gerr := u.get(ctx, obj)
		switch {
		case gerr != nil:
			r = r.unread(gerr)
		case now.rv != obj.ResourceVersion:
			r = r.changedSince(now, obj)
		}
	}
	if err == nil && u.dryRun == cmdutil.DryRunNone {
		u.record(obj, cur, newRV)
	}
	return r
}

// patch sends restore's merge patch of obj once: the resourceVersion
// written, or the error.
func (u *restorer) patch(ctx context.Context, obj *object, body []byte, opts metav1.PatchOptions) (string, error) {
	if obj.Kind == kindTrustBundle {
		b, err := u.client.CertificatesV1().ClusterTrustBundles().Patch(ctx, obj.Name, types.MergePatchType, body, opts)
		if err != nil {
			return "", err
		}
		return b.ResourceVersion, nil
	}
	if obj.Kind == "Secret" {
		s, err := u.client.CoreV1().Secrets(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, opts)
		if err != nil {
			return "", err
		}
		return s.ResourceVersion, nil
	}
	cm, err := u.client.CoreV1().ConfigMaps(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, opts)
	if err != nil {
		return "", err
	}
	return cm.ResourceVersion, nil
}

// written is what obj holds when the undo file says what the command
// wrote there (known): a root CA object of bundle or unbundle, whose
// ca.crt got the file's RootCASet. Such an object is written without a
// read before: the write's resourceVersion precondition fails where it
// changed since. Over bundle's 11,004 objects the read before each write
// made undo send twice bundle's requests (docs/benchmarks.md).
func (u *restorer) written(obj *object) (current, bool) {
	// Without a resourceVersion the write would carry no precondition.
	if u.rootCASet == nil || obj.Created || obj.ResourceVersion == "" || (obj.Kind != "ConfigMap" && obj.Kind != "Secret") {
		return current{}, false
	}
	for _, k := range obj.keys {
		if k != cluster.RootCAKey {
			return current{}, false
		}
	}
	return current{rv: obj.ResourceVersion, values: map[string][]byte{cluster.RootCAKey: u.rootCASet}}, true
}

// changedSince is r for an object written since the command (cur, read
// now): nothing to undo where it holds its values from before the command
// again (a controller put them back, or an earlier undo did), changed
// since otherwise; either way it is left as it is.
func (r result) changedSince(cur current, obj *object) result {
	r.Result = "skipped"
	if cur.holdsRestore(obj) {
		r.asBefore = true
		r.Reason = "nothing to undo: it holds its value from before the command again"
		if cur.by != "" {
			r.Reason += " (last written by " + cur.by + ")"
		}
		return r
	}
	r.Reason = fmt.Sprintf("changed since (resourceVersion %s, the undo file has %s)", cur.rv, obj.ResourceVersion)
	return r
}

func writeResult(r result, err error) result {
	switch {
	case err == nil:
	case apierrors.IsConflict(err):
		r.Result, r.Reason = "skipped", "changed while undo ran"
	case apierrors.IsNotFound(err):
		r.Result, r.Reason = "skipped", "deleted while undo ran"
	default:
		r.Result, r.Reason = "failed", err.Error()
	}
	return r
}

// record saves the values the undo replaced, so it can be undone in turn.
func (u *restorer) record(obj *object, cur current, rv string) {
	changes := make([]undofile.Change, 0, len(obj.keys))
	for _, k := range obj.keys {
		v, ok := cur.values[k]
		changes = append(changes, undofile.Change{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Key: k,
			Previous: string(v), Absent: !ok, ResourceVersion: rv})
	}
	u.recordChanges(changes)
}

// recordChanges appends to this undo's own undo file, created on first use.
// A failure here does not stop the restore: the file being restored from
// still holds the other direction.
func (u *restorer) recordChanges(changes []undofile.Change) {
	u.mu.Lock()
	if u.newUndo == nil || u.undoFail != nil {
		u.mu.Unlock()
		return
	}
	if u.undo == nil {
		w, err := u.newUndo()
		if err != nil {
			u.undoFail = err
			u.mu.Unlock()
			fmt.Fprintf(u.errOut, "warning: cannot create an undo file for this undo: %v\n", err)
			return
		}
		u.undo = w
	}
	w := u.undo
	u.mu.Unlock()
	// One sync for the object's keys, shared with the records made at the
	// same time by other objects (the writer's group commit).
	if err := w.RecordAll(changes); err != nil {
		u.mu.Lock()
		first := u.undoFail == nil
		if first {
			u.undoFail = err
		}
		u.mu.Unlock()
		if first {
			fmt.Fprintf(u.errOut, "warning: %v\n", err)
		}
	}
}
