package restart

import (
	"context"
	"fmt"
	"iter"
	"os"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// What a pass changes is recorded before its first patch, in one undo file
// written and synced once: the previous value of the annotation of every
// workload it is about to patch (and spec.paused of the Deployments
// --resume-paused resumes). A record is an intent, not proof of a write: a
// workload the pass did not reach still lacks the value, and undo, which
// restores only what still holds the value the pass set, leaves it alone.

// undoChanges is what the pass is about to change, made one at a time as
// they are walked (at 50,000 workloads a slice of them and their lines
// held 17 MB), and in how many workloads.
func (r *pass) undoChanges() (changes iter.Seq[undofile.Change], count, workloads int) {
	key := undofile.WorkloadAnnotationKey(r.o.Annotation)
	// each calls yield with every change of every workload about to be
	// patched, and workload after each workload that has any.
	each := func(yield func(undofile.Change) bool, workload func()) {
		for _, t := range r.targets {
			if !checks.PlanRestart(t.asChecks(), r.value, r.o.ResumePaused).Patch {
				continue
			}
			changed := false
			if !t.hasValue || t.value != r.value {
				if !yield(undofile.Change{Kind: t.Kind(), Namespace: t.Namespace, Name: t.Name,
					Key: key, Previous: t.value, Absent: !t.hasValue, Set: r.value}) {
					return
				}
				changed = true
			}
			if r.o.ResumePaused && t.Kind() == checks.KindDeployment && t.paused {
				if !yield(undofile.Change{Kind: t.Kind(), Namespace: t.Namespace, Name: t.Name,
					Key: undofile.WorkloadPausedKey, Previous: "true", Set: "false"}) {
					return
				}
				changed = true
			}
			if changed {
				workload()
			}
		}
	}
	each(func(undofile.Change) bool { count++; return true }, func() { workloads++ })
	return func(yield func(undofile.Change) bool) { each(yield, func() {}) }, count, workloads
}

// writeUndo records the pass's changes before the first patch. Without an
// undo file nothing is patched: the values it would hold are not kept
// anywhere else.
func (r *pass) writeUndo(ctx context.Context) error {
	o := r.o
	if o.dryRun != cmdutil.DryRunNone {
		return nil
	}
	changes, count, workloads := r.undoChanges()
	if count == 0 {
		return nil
	}
	var dir string
	var err error
	switch {
	case o.UndoDir == "" && o.activeRead:
		// The record as the pass value's lookup read it (rotation.UndoDir
		// would read it again).
		id := ""
		if o.active != nil {
			id = o.active.ID
		}
		dir, err = undofile.DefaultDir(id)
	default:
		dir, err = rotation.UndoDir(ctx, o.client, o.UndoDir)
	}
	if err != nil {
		return fmt.Errorf("cannot choose a directory for the undo file, nothing was patched: %w", err)
	}
	id := ""
	if o.recorded != nil {
		id = o.recorded.ID
	}
	w, err := undofile.Create(dir, undofile.Header{Command: "restart-workloads", RotationID: id, Server: o.server, CreatedAt: o.Now()})
	if err != nil {
		return fmt.Errorf("cannot create the undo file in %s (--undo-dir chooses another directory), nothing was patched: %w", dir, err)
	}
	err = w.RecordEach(changes)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write the undo file %s, nothing was patched: %w", w.Path, err)
	}
	r.undoFile = w.Path
	fmt.Fprintf(o.ErrOut, "Undo file: %s (the previous values of %d workload(s); kubectl carotate undo FILE puts them back, which rolls them again)\n",
		w.Path, workloads)
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
func (r *pass) trimUndo() error {
	if r.undoFile == "" {
		return nil
	}
	untouched := map[string]bool{}
	for _, it := range r.items {
		switch {
		case it.result == resultCurrent, it.result == resultGone,
			it.result == resultNotReached && it.errText() == notAttempted:
			untouched[it.Kind()+"/"+it.Namespace+"/"+it.Name] = true
		}
	}
	if len(untouched) == 0 {
		return nil
	}
	h, changes, err := undofile.Read(r.undoFile)
	if err != nil {
		return err
	}
	var keep []undofile.Change
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
	return undofile.Rewrite(r.undoFile, h, keep)
}
