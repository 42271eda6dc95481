package undo

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// Workloads in an undo file (restart-workloads) carry no resourceVersion:
// their status changes all the time. A workload is restored only while every
// recorded key still holds the value the command set (undofile.Change.Set), and
// the patch itself tests the annotation, so a change that lands between
// the read and the write makes it fail instead of being overwritten.

// isWorkloadKind: a kind restart-workloads patches.
func isWorkloadKind(kind string) bool {
	for _, k := range cluster.WorkloadKinds {
		if k.Kind == kind {
			return true
		}
	}
	return false
}

func (u *restorer) getWorkload(ctx context.Context, obj *object) (cluster.PodTemplate, error) {
	var st cluster.PodTemplate
	err := cluster.WithRetry(ctx, func() (err error) {
		st, err = cluster.GetPodTemplate(ctx, u.client, obj.Kind, obj.Namespace, obj.Name)
		return err
	})
	return st, err
}

// nothingToUndo starts the reason of a workload that holds its values
// from before the command.
const nothingToUndo = "nothing to undo"

// workloadDrift says why a workload no longer holds what the command
// set ("" when it still does).
func workloadDrift(obj *object, st cluster.PodTemplate) string {
	for _, k := range obj.keys {
		c := obj.prevOf(k)
		if name, ok := undofile.WorkloadAnnotationFromKey(k); ok {
			cur, present := st.Annotations[name]
			switch {
			case c.Removed && present:
				return fmt.Sprintf("changed since: annotation %s is %q again, the command had removed it", name, cur)
			case c.Removed:
			case (!present && c.Absent) || (present && !c.Absent && cur == c.Previous):
				// A pass records before it patches: this one was never
				// reached (interrupted, failed) or was put back since.
				return fmt.Sprintf("%s: annotation %s is as it was before the command", nothingToUndo, name)
			case !present:
				return fmt.Sprintf("changed since: annotation %s is gone, the command set %q", name, c.Set)
			case cur != c.Set:
				return fmt.Sprintf("changed since: annotation %s is %q, the command set %q", name, cur, c.Set)
			}
			continue
		}
		if k == undofile.WorkloadPausedKey && strconv.FormatBool(st.Paused) != c.Set {
			return fmt.Sprintf("changed since: spec.paused is %t, the command set %s", st.Paused, c.Set)
		}
	}
	return ""
}

// restoredByUs tells whether a workload read before undo's write (was)
// and after it (now) shows that write landed: one spec write since (the
// generation), every recorded key back to its value before the command,
// and each value present last written by kubectl-carotate. A key the
// restore removes has no writer to check: there the one write and the
// content decide.
func restoredByUs(obj *object, was, now cluster.PodTemplate) bool {
	if now.Generation != was.Generation+1 {
		return false
	}
	for _, k := range obj.keys {
		c := obj.prevOf(k)
		var path []string
		if name, ok := undofile.WorkloadAnnotationFromKey(k); ok {
			cur, present := now.Annotations[name]
			if c.Absent {
				if present {
					return false
				}
				continue
			}
			if !present || cur != c.Previous {
				return false
			}
			path = []string{"f:spec", "f:template", "f:metadata", "f:annotations", "f:" + name}
		} else if k == undofile.WorkloadPausedKey {
			if strconv.FormatBool(now.Paused) != c.Previous {
				return false
			}
			path = []string{"f:spec", "f:paused"}
		} else {
			return false
		}
		if _, by := cluster.FieldChange(now.ManagedFields, time.Time{}, path...); by != cmdutil.FieldManager {
			return false
		}
	}
	return true
}

// workloadPatch is the JSON patch that puts the recorded values back,
// testing first that each annotation still holds what the command set.
func workloadPatch(obj *object, st cluster.PodTemplate) ([]byte, error) {
	var ops []map[string]any
	annotations := len(st.Annotations) > 0
	for _, k := range obj.keys {
		c := obj.prevOf(k)
		if name, ok := undofile.WorkloadAnnotationFromKey(k); ok {
			path := "/spec/template/metadata/annotations/" + jsonPointerEscape(name)
			if !c.Removed {
				ops = append(ops, map[string]any{"op": "test", "path": path, "value": c.Set})
			}
			switch {
			case c.Absent:
				ops = append(ops, map[string]any{"op": "remove", "path": path})
			case !annotations:
				ops = append(ops, map[string]any{"op": "add", "path": "/spec/template/metadata/annotations", "value": map[string]string{name: c.Previous}})
				annotations = true
			default:
				ops = append(ops, map[string]any{"op": "add", "path": path, "value": c.Previous})
			}
			continue
		}
		if k == undofile.WorkloadPausedKey {
			prev, err := strconv.ParseBool(c.Previous)
			if err != nil {
				return nil, fmt.Errorf("spec.paused: recorded value %q is not a boolean", c.Previous)
			}
			ops = append(ops, map[string]any{"op": "add", "path": "/spec/paused", "value": prev})
			continue
		}
		return nil, fmt.Errorf("unsupported key %q for %s", k, obj.Kind)
	}
	return json.Marshal(ops)
}

// jsonPointerEscape escapes a JSON Pointer token (RFC 6901).
func jsonPointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func (u *restorer) restoreWorkload(ctx context.Context, obj *object) result {
	r := result{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Keys: obj.keys}
	st, err := u.getWorkload(ctx, obj)
	if err != nil {
		return r.unread(err)
	}
	if why := workloadDrift(obj, st); why != "" {
		r.Result, r.Reason, r.asBefore = "skipped", why, strings.HasPrefix(why, nothingToUndo)
		return r
	}
	body, err := workloadPatch(obj, st)
	if err != nil {
		r.Result, r.Reason = "failed", err.Error()
		return r
	}
	r.Result, r.Reason = "restored", strings.TrimSpace(u.dryRun.Suffix())
	if !u.dryRun.Writes() {
		return r
	}
	opts := metav1.PatchOptions{FieldManager: cmdutil.FieldManager, DryRun: u.dryRun.Options()}
	mayHaveWritten, err := cluster.WithRetryWrite(ctx, func() error {
		_, err := cluster.PatchWorkload(ctx, u.client, obj.Kind, obj.Namespace, obj.Name, types.JSONPatchType, body, opts)
		return err
	})
	if err != nil && apierrors.IsInvalid(err) {
		// A failed test op: read again to tell a change since from a patch
		// the API server refused for another reason.
		if now, gerr := u.getWorkload(ctx, obj); gerr == nil {
			if mayHaveWritten && restoredByUs(obj, st, now) {
				// An answer was lost, and the write sent again failed
				// its test op on the first one's effect.
				err, r.Reason = nil, "an answer was lost: read back, it holds the restored values, written once since undo read it"
			} else if why := workloadDrift(obj, now); why != "" {
				r.Result, r.Reason, r.asBefore = "skipped", strings.Replace(why, "changed since", "changed while undo ran", 1), strings.HasPrefix(why, nothingToUndo)
				return r
			}
		}
	}
	r = writeResult(r, err)
	if err == nil && u.dryRun == cmdutil.DryRunNone {
		u.recordWorkload(obj)
	}
	return r
}

// recordWorkload saves the reverse of a workload restore, so an undo of a
// restart pass can itself be undone.
func (u *restorer) recordWorkload(obj *object) {
	var changes []undofile.Change
	for _, k := range obj.keys {
		c := obj.prevOf(k)
		changes = append(changes, undofile.Change{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Key: k,
			Previous: c.Set, Absent: c.Removed, Set: c.Previous, Removed: c.Absent})
	}
	u.recordChanges(changes)
}
