package rotation

import (
	"context"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// PassResignTokens is the pass that re-signs legacy token Secrets (step
// 3.1 of sa-key). Its Started is when the API server was seen signing
// with the new key, which step 3.2 counts token lifetimes from.
const PassResignTokens = "resign-tokens"

// SAKeyFacts is what the sa-key judges take from the record.
func (r *Record) SAKeyFacts(now time.Time) checks.SAKeyEvidence {
	ev := checks.SAKeyEvidence{ID: r.ID, OldKIDs: checks.KeyIDs(r.OldSAKeys), NewKIDs: checks.KeyIDs(r.NewSAKeys), Now: now}
	for _, p := range r.Passes {
		if p.Kind == PassResignTokens && !p.Started.IsZero() && (ev.SwitchedAt.IsZero() || p.Started.Before(ev.SwitchedAt)) {
			ev.SwitchedAt = p.Started
		}
	}
	return ev
}

// OtherActive is every active record of a target other than cluster-ca,
// for status without --target. A record that cannot be read is skipped:
// status --target T says why.
func OtherActive(ctx context.Context, client kubernetes.Interface) []*Record {
	var out []*Record
	for _, t := range checks.SupportedTargets {
		if t == checks.TargetClusterCA {
			continue
		}
		if rec, err := LoadTarget(ctx, client, t); err == nil && rec.Active() {
			out = append(out, rec)
		}
	}
	return out
}
