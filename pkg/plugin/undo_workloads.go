package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Workloads in an undo file (restart-workloads) carry no resourceVersion:
// their status changes all the time. A workload is restored only while every
// recorded key still holds the value the command set (UndoChange.Set), and
// the patch itself tests the annotation, so a change that lands between
// the read and the write makes it fail instead of being overwritten.

// isUndoWorkloadKind: a kind restart-workloads patches.
func isUndoWorkloadKind(kind string) bool {
	for _, k := range restartKinds {
		if k.Kind == kind {
			return true
		}
	}
	return false
}

// undoWorkloadState is what undo reads of a workload.
type undoWorkloadState struct {
	annotations map[string]string // the pod template's
	paused      bool              // a Deployment's spec.paused
}

func (u *undoRun) getWorkload(ctx context.Context, obj *undoObject) (undoWorkloadState, error) {
	var st undoWorkloadState
	err := WithRetry(ctx, func() error {
		apps := u.client.AppsV1()
		switch obj.Kind {
		case checks.KindDeployment:
			d, err := apps.Deployments(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			st = undoWorkloadState{annotations: d.Spec.Template.Annotations, paused: d.Spec.Paused}
		case checks.KindDaemonSet:
			d, err := apps.DaemonSets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			st = undoWorkloadState{annotations: d.Spec.Template.Annotations}
		case checks.KindStatefulSet:
			s, err := apps.StatefulSets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			st = undoWorkloadState{annotations: s.Spec.Template.Annotations}
		default:
			return fmt.Errorf("unsupported kind %q", obj.Kind)
		}
		return nil
	})
	return st, err
}

// undoWorkloadDrift says why a workload no longer holds what the command
// set ("" when it still does).
func undoWorkloadDrift(obj *undoObject, st undoWorkloadState) string {
	for _, k := range obj.keys {
		c := obj.prev[k]
		if name, ok := workloadAnnotationFromKey(k); ok {
			cur, present := st.annotations[name]
			switch {
			case c.Removed && present:
				return fmt.Sprintf("changed since: annotation %s is %q again, the command had removed it", name, cur)
			case c.Removed:
			case (!present && c.Absent) || (present && !c.Absent && cur == c.Previous):
				// A pass records before it patches: this one was never
				// reached (interrupted, failed) or was put back since.
				return fmt.Sprintf("nothing to undo: annotation %s is as it was before the command", name)
			case !present:
				return fmt.Sprintf("changed since: annotation %s is gone, the command set %q", name, c.Set)
			case cur != c.Set:
				return fmt.Sprintf("changed since: annotation %s is %q, the command set %q", name, cur, c.Set)
			}
			continue
		}
		if k == workloadPausedKey && strconv.FormatBool(st.paused) != c.Set {
			return fmt.Sprintf("changed since: spec.paused is %t, the command set %s", st.paused, c.Set)
		}
	}
	return ""
}

// undoWorkloadPatch is the JSON patch that puts the recorded values back,
// testing first that each annotation still holds what the command set.
func undoWorkloadPatch(obj *undoObject, st undoWorkloadState) ([]byte, error) {
	var ops []map[string]any
	annotations := len(st.annotations) > 0
	for _, k := range obj.keys {
		c := obj.prev[k]
		if name, ok := workloadAnnotationFromKey(k); ok {
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
		if k == workloadPausedKey {
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

func (u *undoRun) restoreWorkload(ctx context.Context, obj *undoObject) undoResult {
	r := undoResult{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Keys: obj.keys}
	st, err := u.getWorkload(ctx, obj)
	switch {
	case apierrors.IsNotFound(err):
		r.Result, r.Reason = "skipped", "no longer exists"
		return r
	case err != nil:
		r.Result, r.Reason = "failed", err.Error()
		return r
	}
	if why := undoWorkloadDrift(obj, st); why != "" {
		r.Result, r.Reason = "skipped", why
		return r
	}
	body, err := undoWorkloadPatch(obj, st)
	if err != nil {
		r.Result, r.Reason = "failed", err.Error()
		return r
	}
	r.Result, r.Reason = "restored", strings.TrimSpace(u.dryRun.Suffix())
	if !u.dryRun.Writes() {
		return r
	}
	opts := metav1.PatchOptions{FieldManager: fieldManager, DryRun: u.dryRun.Options()}
	err = WithRetry(ctx, func() error {
		_, err := patchWorkload(ctx, u.client, obj.Kind, obj.Namespace, obj.Name, types.JSONPatchType, body, opts)
		return err
	})
	if err != nil && apierrors.IsInvalid(err) {
		// A failed test op: read again to tell a change since from a patch
		// the API server refused for another reason.
		if now, gerr := u.getWorkload(ctx, obj); gerr == nil {
			if why := undoWorkloadDrift(obj, now); why != "" {
				r.Result, r.Reason = "skipped", strings.Replace(why, "changed since", "changed while undo ran", 1)
				return r
			}
		}
	}
	r = undoWriteResult(r, err)
	if err == nil && u.dryRun == DryRunNone {
		u.recordWorkload(obj)
	}
	return r
}

// recordWorkload saves the reverse of a workload restore, so an undo of a
// restart pass can itself be undone.
func (u *undoRun) recordWorkload(obj *undoObject) {
	var changes []UndoChange
	for _, k := range obj.keys {
		c := obj.prev[k]
		changes = append(changes, UndoChange{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Key: k,
			Previous: c.Set, Absent: c.Removed, Set: c.Previous, Removed: c.Absent})
	}
	u.recordChanges(changes)
}
