package rotation

import (
	"context"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// FrontProxyFacts is what the front-proxy-ca judges take from the record:
// its CAs, which are the front-proxy CAs.
func (r *Record) FrontProxyFacts() checks.FrontProxyEvidence {
	return checks.FrontProxyEvidence{OldCAs: r.OldCAs, NewCAs: r.NewCAs}
}

// EtcdCAFacts is what the etcd-ca judges take from the record: its id
// (the Node marks name it) and its CAs, which are the etcd CAs.
func (r *Record) EtcdCAFacts() checks.EtcdCAEvidence {
	return checks.EtcdCAEvidence{RotationID: r.ID, OldCAs: r.OldCAs, NewCAs: r.NewCAs}
}

// JudgeTarget judges the steps of a target's record other than
// cluster-ca's, from what the cluster shows now: what status, verify and
// finish all go by.
func JudgeTarget(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, rec *Record, now time.Time) []checks.StepState {
	switch rec.Target {
	case checks.TargetFrontProxyCA:
		return checks.JudgeFrontProxy(cluster.FrontProxyEvidence(ctx, client, dyn, rec.FrontProxyFacts()))
	case checks.TargetEtcdCA:
		return checks.JudgeEtcdCA(cluster.EtcdCAEvidence(ctx, client, rec.EtcdCAFacts()))
	}
	return checks.JudgeSAKey(cluster.SAKeyEvidence(ctx, client, rec.SAKeyFacts(now)))
}
