package rotation

import (
	"context"
	"errors"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// What the in-cluster commands take from the rotation record, so that a
// second admin, or the same admin after a crash, resumes with no flags.

// Recorded returns the active rotation for a command whose CA flags
// were left out; without one, it says which flag is missing and how a
// record comes to exist.
func Recorded(ctx context.Context, client kubernetes.Interface, missing string) (*Record, error) {
	rec, err := Load(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("%s not given, and the rotation record could not be read: %w", missing, err)
	}
	if !rec.Active() {
		return nil, fmt.Errorf("%s is required: no active rotation is recorded (\"kubectl carotate start\" records one; later commands take the CAs from it)", missing)
	}
	return rec, nil
}

// ActiveID is the id of the active rotation, or "" (none, or the
// record cannot be read: callers only use it for naming files).
func ActiveID(ctx context.Context, client kubernetes.Interface) string {
	rec, err := Load(ctx, client)
	if err != nil || !rec.Active() {
		return ""
	}
	return rec.ID
}

// UndoDir is --undo-dir, or ~/.kube/carotate/<active rotation id>.
func UndoDir(ctx context.Context, client kubernetes.Interface, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return undofile.DefaultDir(ActiveID(ctx, client))
}

// LogPass records a pass in the active rotation's log, which status reads.
// Dry runs are not passes, and without an active rotation there is nothing
// to log into. A failure to log is a warning: the pass itself is done.
func LogPass(ctx context.Context, client kubernetes.Interface, errOut io.Writer, dry cmdutil.DryRun, pass Pass) {
	if dry != cmdutil.DryRunNone {
		return
	}
	err := AppendPass(ctx, client, pass)
	if err != nil && !errors.Is(err, ErrNoActive) {
		fmt.Fprintf(errOut, "warning: the %s pass is done but could not be logged in the rotation record: %v\n", pass.Kind, err)
	}
}

// Result is the rotation log's word for how a pass ended.
func Result(err error) string {
	if err != nil {
		return "failed"
	}
	return "ok"
}
