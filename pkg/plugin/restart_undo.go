package plugin

import (
	"context"
	"fmt"
	"os"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// What a pass changes is recorded before its first patch, in one undo file
// written and synced once: the previous value of the annotation of every
// workload it is about to patch (and spec.paused of the Deployments
// --resume-paused resumes). A record is an intent, not proof of a write: a
// workload the pass did not reach still lacks the value, and undo, which
// restores only what still holds the value the pass set, leaves it alone.

// restartUndoChanges is what the pass is about to change, per workload.
func (r *restartRun) restartUndoChanges() []UndoChange {
	var out []UndoChange
	for _, t := range r.targets {
		if !checks.PlanRestart(t.Workload, r.value, r.o.ResumePaused).Patch {
			continue
		}
		if !t.HasValue || t.Value != r.value {
			out = append(out, UndoChange{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name,
				Key: workloadAnnotationKey(r.o.Annotation), Previous: t.Value, Absent: !t.HasValue, Set: r.value})
		}
		if r.o.ResumePaused && t.Kind == checks.KindDeployment && t.Paused {
			out = append(out, UndoChange{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name,
				Key: workloadPausedKey, Previous: "true", Set: "false"})
		}
	}
	return out
}

// writeUndo records the pass's changes before the first patch. Without an
// undo file nothing is patched: the values it would hold are not kept
// anywhere else.
func (r *restartRun) writeUndo(ctx context.Context) error {
	o := r.o
	if o.dryRun != DryRunNone {
		return nil
	}
	changes := r.restartUndoChanges()
	if len(changes) == 0 {
		return nil
	}
	dir, err := undoDirFor(ctx, o.client, o.UndoDir)
	if err != nil {
		return fmt.Errorf("cannot choose a directory for the undo file, nothing was patched: %w", err)
	}
	id := ""
	if o.recorded != nil {
		id = o.recorded.ID
	}
	w, err := CreateUndoFile(dir, UndoHeader{Command: "restart-workloads", RotationID: id, Server: o.server, CreatedAt: o.Now()})
	if err != nil {
		return fmt.Errorf("cannot create the undo file in %s (--undo-dir chooses another directory), nothing was patched: %w", dir, err)
	}
	err = w.RecordAll(changes)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write the undo file %s, nothing was patched: %w", w.Path, err)
	}
	r.undoFile = w.Path
	fmt.Fprintf(o.ErrOut, "Undo file: %s (the previous values of %d workload(s); kubectl carotate undo FILE puts them back, which rolls them again)\n",
		w.Path, len(undoGroup(changes)))
	return nil
}

// trimUndo drops from the undo file the workloads this pass did not
// change: those a conflict showed already carrying the value (another pass
// got there first), those deleted meanwhile, and those an interruption left
// untouched. Undoing a change someone else made is not ours to do. The file
// is rewritten whole (a temporary file and a rename), and removed when
// nothing is left; a crash before this leaves the complete list of
// intents, which undo handles (it restores only what still holds our
// value).
func (r *restartRun) trimUndo() error {
	if r.undoFile == "" {
		return nil
	}
	untouched := map[string]bool{}
	for _, it := range r.items {
		switch {
		case it.Result == restartResultCurrent, it.Result == restartResultGone,
			it.Result == restartResultNotReached && it.Error == restartNotAttempted:
			untouched[it.Kind+"/"+it.Namespace+"/"+it.Name] = true
		}
	}
	if len(untouched) == 0 {
		return nil
	}
	h, changes, err := ReadUndoFile(r.undoFile)
	if err != nil {
		return err
	}
	var keep []UndoChange
	for _, c := range changes {
		if !untouched[c.Kind+"/"+c.Namespace+"/"+c.Name] {
			keep = append(keep, c)
		}
	}
	if len(keep) == len(changes) {
		return nil
	}
	if len(keep) == 0 {
		if err := os.Remove(r.undoFile); err != nil {
			return err
		}
		fmt.Fprintf(r.o.ErrOut, "Undo file %s removed: this pass changed no workload\n", r.undoFile)
		r.undoFile = ""
		return nil
	}
	return rewriteUndoFile(r.undoFile, h, keep)
}
