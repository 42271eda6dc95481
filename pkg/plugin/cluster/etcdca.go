package cluster

import (
	"context"
	"errors"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// ReadyzEtcdPath is kube-apiserver's readiness check of its etcd.
const ReadyzEtcdPath = "/readyz/etcd"

// EtcdCAEvidence reads everything the etcd-ca judges need: the etcd and
// API server mirror pods (flags and start times), kube-apiserver's
// /readyz/etcd, and the etcd-ca marks on the Node objects of the nodes
// those pods run on. Each read that fails leaves its error in the
// evidence.
func EtcdCAEvidence(ctx context.Context, client kubernetes.Interface, ev checks.EtcdCAEvidence) checks.EtcdCAEvidence {
	ev.ControlPlane, ev.ControlPlaneErr = ControlPlaneWithEtcd(ctx, client)
	// An answer that says not ready is the evidence, not a reason to ask
	// again: only a request that got no answer is retried.
	var answer error
	err := WithRetry(ctx, func() error {
		_, answer = client.CoreV1().RESTClient().Get().AbsPath(ReadyzEtcdPath).DoRaw(ctx)
		var status apierrors.APIStatus
		if errors.As(answer, &status) {
			return nil
		}
		return answer
	})
	if ev.ReadyzErr = err; err == nil {
		ev.ReadyzErr = answer
	}
	ev.Marks = map[string]map[string]string{}
	for _, p := range ev.ControlPlane {
		if _, seen := ev.Marks[p.Node]; seen || !p.Mirror || p.Node == "" {
			continue
		}
		var n *corev1.Node
		err := WithRetry(ctx, func() (err error) {
			n, err = client.CoreV1().Nodes().Get(ctx, p.Node, metav1.GetOptions{})
			return err
		})
		marks := map[string]string{}
		ev.Marks[p.Node] = marks
		if apierrors.IsNotFound(err) {
			continue // no Node object: no mark either
		}
		if err != nil {
			ev.MarksErr = err
			return ev
		}
		for k, v := range n.Annotations {
			if step, ok := strings.CutPrefix(k, checks.EtcdCAMarkPrefix); ok {
				marks[step] = v
			}
		}
	}
	return ev
}
