// Package cluster is the one place that reads the cluster for judging: each
// cluster fact is read once, one way (paged, retried, bounded), and handed
// on as plain evidence. Commands write through their own code, with the
// retry policy and the pager of this package.
package cluster

import (
	"context"
	"errors"
	"io"
	"math"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
)

// RetryDelay is the pause between two tries of a request: 0.2 s doubling
// to 10 s, then 10 s (jittered) until RetryBudget runs out. (A wait.Backoff
// with a Cap stops at the cap; its DelayFunc stays there, which is what
// outlasting an API server restart needs.)
var RetryDelay = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: math.MaxInt32, Cap: 10 * time.Second}

// RetryBudget is how long a request is tried again on transient errors: an
// API server restart takes about 10 s here and up to a minute or two on a
// real control plane, where etcd and the caches come back slowly. Until the
// API server has answered once in this process, FirstContactBudget applies:
// a server that never answers is more likely a wrong address than a
// restart, and nothing has been changed yet, so failing soon costs nothing.
var (
	RetryBudget        = 2 * time.Minute
	FirstContactBudget = 15 * time.Second
)

// CurrentRetryBudget is FirstContactBudget until the API server has
// answered once, RetryBudget after.
func CurrentRetryBudget() time.Duration {
	if !Stalls.answered.Load() {
		return FirstContactBudget
	}
	return RetryBudget
}

// IsTransient tells whether a request may succeed if sent again: the API
// server is restarting, overloaded, or timed out. Conflicts are not
// transient here: they need a fresh read, which the caller's loop does.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	switch {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsInternalError(err), apierrors.IsServiceUnavailable(err), apierrors.IsUnexpectedServerError(err):
		return true
	case utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err), utilnet.IsProbableEOF(err),
		utilnet.IsTimeout(err), errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		// client-go's "unexpected error when reading response body. Please
		// retry." wraps io.ErrUnexpectedEOF, which IsProbableEOF does not
		// unwrap: the connection died between the request and its answer.
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "http2: client connection lost") || strings.Contains(msg, "GOAWAY") ||
		strings.Contains(msg, "TLS handshake timeout") || strings.Contains(msg, "i/o timeout") ||
		// client-go's words for a response body cut off mid-read.
		strings.Contains(msg, "when reading response body")
}

// MayHaveApplied tells whether a write that returned err may still have
// been applied: the API server answered with a status that rejects it
// (conflict, forbidden, invalid, not found), or it did not, and then
// nothing says the write did not land. Such a write is re-read before it
// is called failed, so that a change we made is recorded for undo.
func MayHaveApplied(err error) bool {
	if err == nil {
		return false
	}
	if IsTransient(err) {
		return true
	}
	var status apierrors.APIStatus
	return !errors.As(err, &status)
}

// WithRetryWrite is WithRetry for a write: it also tells whether an
// attempt may have applied (MayHaveApplied of its error). A write sent
// again after its answer was lost meets its own effect (a conflict on its
// resourceVersion, an object already created or gone, a failed test op):
// where mayHaveApplied is true, the caller reads the object before it
// calls the write someone else's.
func WithRetryWrite(ctx context.Context, fn func() error) (mayHaveApplied bool, err error) {
	err = WithRetry(ctx, func() error {
		err := fn()
		mayHaveApplied = mayHaveApplied || MayHaveApplied(err)
		return err
	})
	return mayHaveApplied, err
}

// WithRetry runs fn until it succeeds, fails with a non-transient error, or
// RetryBudget has passed; then it returns fn's last error. While it waits
// to try again it counts as a request pending on the API server, which the
// stall watchdog reports.
func WithRetry(ctx context.Context, fn func() error) error {
	rctx, cancel := context.WithTimeout(ctx, CurrentRetryBudget())
	defer cancel()
	var last error
	retrying := false
	defer func() {
		if retrying {
			Stalls.retrying.Add(-1)
		}
	}()
	err := RetryDelay.DelayFunc().Until(rctx, true, false, func(context.Context) (bool, error) {
		last = fn()
		switch {
		case last == nil:
			return true, nil
		case ctx.Err() == nil && IsTransient(last):
			if !retrying {
				retrying = true
				Stalls.retrying.Add(1)
			}
			return false, nil
		}
		return false, last
	})
	if err != nil && last != nil {
		return last
	}
	return err
}
