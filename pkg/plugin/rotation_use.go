package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"

	"k8s.io/client-go/kubernetes"
)

// What the in-cluster commands take from the rotation record, so that a
// second admin, or the same admin after a crash, resumes with no flags.

// recordedRotation returns the active rotation for a command whose CA flags
// were left out; without one, it says which flag is missing and how a
// record comes to exist.
func recordedRotation(ctx context.Context, client kubernetes.Interface, missing string) (*rotationRecord, error) {
	var rec *rotationRecord
	err := WithRetry(ctx, func() (err error) {
		rec, err = loadRotation(ctx, client)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s not given, and the rotation record could not be read: %w", missing, err)
	}
	if !rec.active() {
		return nil, fmt.Errorf("%s is required: no active rotation is recorded (\"kubectl carotate start\" records one; later commands take the CAs from it)", missing)
	}
	return rec, nil
}

// activeRotationID is the id of the active rotation, or "" (none, or the
// record cannot be read: callers only use it for naming files).
func activeRotationID(ctx context.Context, client kubernetes.Interface) string {
	rec, err := loadRotation(ctx, client)
	if err != nil || !rec.active() {
		return ""
	}
	return rec.ID
}

// undoDirFor is --undo-dir, or ~/.kube/carotate/<active rotation id>.
func undoDirFor(ctx context.Context, client kubernetes.Interface, flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	return DefaultUndoDir(activeRotationID(ctx, client))
}

// logPass records a pass in the active rotation's log, which status reads.
// Dry runs are not passes, and without an active rotation there is nothing
// to log into. A failure to log is a warning: the pass itself is done.
func logPass(ctx context.Context, client kubernetes.Interface, errOut io.Writer, dry DryRun, pass rotationPass) {
	if dry != DryRunNone {
		return
	}
	err := WithRetry(ctx, func() error { return appendPass(ctx, client, pass) })
	if err != nil && !errors.Is(err, errNoActiveRotation) {
		fmt.Fprintf(errOut, "warning: the %s pass is done but could not be logged in the rotation record: %v\n", pass.Kind, err)
	}
}
