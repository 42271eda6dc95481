package plugin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// DryRun is kubectl's --dry-run: none, client or server.
type DryRun string

// The three --dry-run modes.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// ParseDryRun validates a --dry-run value.
func ParseDryRun(s string) (DryRun, error) {
	switch d := DryRun(s); d {
	case DryRunNone, DryRunClient, DryRunServer:
		return d, nil
	case "":
		return DryRunNone, nil
	}
	return "", fmt.Errorf(`invalid --dry-run value %q: must be "none", "client", or "server"`, s)
}

// Suffix is what kubectl appends to messages about a dry run.
func (d DryRun) Suffix() string {
	switch d {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// Options is the DryRun field of metav1 write options: All in server mode.
func (d DryRun) Options() []string {
	if d == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// Writes tells whether the mode sends writes to the server at all.
func (d DryRun) Writes() bool { return d != DryRunClient }

// AccessCheck is one right a command needs, asked with a
// SelfSubjectAccessReview before the first write.
type AccessCheck struct {
	Verb, Group, Resource, Subresource, Namespace string
}

func (a AccessCheck) String() string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	where := "in all namespaces"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace
	}
	return a.Verb + " " + res + " " + where
}

// Preflight asks the API server whether the current user may do each check,
// and fails listing every missing right, so that a command with too little
// RBAC stops before it writes anything rather than halfway through.
func Preflight(ctx context.Context, client kubernetes.Interface, checks []AccessCheck) error {
	var missing []string
	for _, c := range checks {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: c.Verb, Group: c.Group, Resource: c.Resource, Subresource: c.Subresource, Namespace: c.Namespace,
			},
		}}
		var res *authorizationv1.SelfSubjectAccessReview
		err := WithRetry(ctx, func() (err error) {
			res, err = client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("checking RBAC (%s): %w", c, err)
		}
		if !res.Status.Allowed {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing RBAC permissions, nothing was changed:\n  - %s", strings.Join(missing, "\n  - "))
	}
	return nil
}

// retryDelay is the pause between two tries of a request: 0.2 s doubling
// to 10 s, then 10 s (jittered) until retryBudget runs out. (A wait.Backoff
// with a Cap stops at the cap; its DelayFunc stays there, which is what
// outlasting an API server restart needs.)
var retryDelay = wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: math.MaxInt32, Cap: 10 * time.Second}

// retryBudget is how long a request is tried again on transient errors: an
// API server restart takes about 10 s here and up to a minute or two on a
// real control plane, where etcd and the caches come back slowly. Until the
// API server has answered once in this process, firstContactBudget applies:
// a server that never answers is more likely a wrong address than a
// restart, and nothing has been changed yet, so failing soon costs nothing.
var (
	retryBudget        = 2 * time.Minute
	firstContactBudget = 15 * time.Second
)

// currentRetryBudget is firstContactBudget until the API server has
// answered once, retryBudget after.
func currentRetryBudget() time.Duration {
	if !stalls.answered.Load() {
		return firstContactBudget
	}
	return retryBudget
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
	}
	msg := err.Error()
	return strings.Contains(msg, "http2: client connection lost") || strings.Contains(msg, "GOAWAY") ||
		strings.Contains(msg, "TLS handshake timeout") || strings.Contains(msg, "i/o timeout")
}

// WithRetry runs fn until it succeeds, fails with a non-transient error, or
// retryBudget has passed; then it returns fn's last error. While it waits
// to try again it counts as a request pending on the API server, which the
// stall watchdog reports.
func WithRetry(ctx context.Context, fn func() error) error {
	rctx, cancel := context.WithTimeout(ctx, currentRetryBudget())
	defer cancel()
	var last error
	retrying := false
	defer func() {
		if retrying {
			stalls.retrying.Add(-1)
		}
	}()
	err := retryDelay.DelayFunc().Until(rctx, true, false, func(context.Context) (bool, error) {
		last = fn()
		switch {
		case last == nil:
			return true, nil
		case ctx.Err() == nil && IsTransient(last):
			if !retrying {
				retrying = true
				stalls.retrying.Add(1)
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

// addDryRunFlag binds kubectl's --dry-run with its completion; clientDoes
// says what client mode shows for this command. A bare --dry-run means
// client, as it does for kubectl: it never writes. So "--dry-run server" is
// a client dry run and a stray argument; the command's argument check says
// how to write it instead of "unknown command".
func addDryRunFlag(cmd *cobra.Command, p *string, clientDoes string) {
	cmd.Flags().StringVar(p, "dry-run", *p, `"none", "client" (`+clientDoes+`) or "server" (the API server validates the writes, nothing is stored)`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = string(DryRunClient)
	args := cmd.Args
	cmd.Args = func(c *cobra.Command, a []string) error {
		if c.Flags().Changed("dry-run") {
			for _, s := range a {
				if _, err := ParseDryRun(s); err == nil {
					return fmt.Errorf("write --dry-run=%s (with '='): a bare --dry-run means client, and %q was taken as an argument", s, s)
				}
			}
		}
		if args == nil {
			return nil
		}
		return args(c, a)
	}
	_ = cmd.RegisterFlagCompletionFunc("dry-run", completeFixed(string(DryRunNone), string(DryRunClient), string(DryRunServer)))
}

// addUndoDirFlag binds --undo-dir; see undoDirFor for the default.
func addUndoDirFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "undo-dir", *p, "Directory for the undo file (default ~/.kube/carotate/<rotation id>, or no-rotation without a recorded rotation)")
}
