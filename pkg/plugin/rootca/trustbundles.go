package rootca

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// bundle --trust-bundles and unbundle --trust-bundles also update the
// user-made ClusterTrustBundles (no signerName) that hold the old CA:
// bundle adds the new CA next to it, unbundle removes it. Nothing else
// updates them, and pods may project them instead of kube-root-ca.crt. A
// signer's bundles are never written: they belong to its controller (the
// controller-manager publishes kube-apiserver-serving's from its
// --root-ca-file). Each write sets spec.trustBundle only, conditional on
// the resourceVersion read, and is recorded in the undo file under the key
// spec.trustBundle.

const kindTrustBundle = "ClusterTrustBundle"

// trustBundleCAs are what a --trust-bundles pass changes: old to drop or to
// add the new one next to, and whether it removes (unbundle).
type trustBundleCAs struct {
	old, new []*x509.Certificate
	remove   bool
}

func trustBundleItem(b cluster.TrustBundle) item {
	return item{kind: kindTrustBundle, name: b.Name, rv: b.ResourceVersion, value: b.Value, present: true, key: cluster.TrustBundleKey}
}

type trustBundleAccess struct {
	client kubernetes.Interface
	cas    trustBundleCAs
}

func (a trustBundleAccess) decide(_ *pass, it item) (checks.RootCADecision, []byte) {
	ch := checks.DecideTrustBundle("ClusterTrustBundle "+it.name, it.value, a.cas.old, a.cas.new, a.cas.remove)
	if !ch.Relevant {
		// No old CA in it: unbundled already, or never ours.
		return checks.RootCADecision{Action: checks.RootCAInPlace, Found: "no old CA"}, nil
	}
	return ch.Decision, ch.Value
}

func (a trustBundleAccess) get(ctx context.Context, _, name string) (item, error) {
	b, err := a.client.CertificatesV1().ClusterTrustBundles().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return item{}, err
	}
	return trustBundleItem(cluster.TrustBundleOf(b)), nil
}

func (a trustBundleAccess) patch(ctx context.Context, it item, value []byte, dry cmdutil.DryRun) (string, error) {
	// A merge patch that carries metadata.resourceVersion fails with a
	// conflict when the bundle changed since it was read.
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": it.rv},
		"spec":     map[string]string{"trustBundle": string(value)},
	})
	if err != nil {
		return "", err
	}
	b, err := a.client.CertificatesV1().ClusterTrustBundles().Patch(ctx, it.name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: cmdutil.FieldManager, DryRun: dry.Options()})
	if err != nil {
		return "", err
	}
	return b.ResourceVersion, nil
}

// walkTrustBundles syncs every user-made ClusterTrustBundle that holds an
// old certificate.
func (p *pass) walkTrustBundles(ctx context.Context) error {
	tb := cluster.ReadTrustBundles(ctx, p.Client)
	switch {
	case tb.NotServed:
		fmt.Fprintf(p.ErrOut, "%s: --trust-bundles: the API server does not serve ClusterTrustBundles; nothing to do\n", p.Command)
		return nil
	case tb.Err != nil:
		return fmt.Errorf("ClusterTrustBundles: %w", tb.Err)
	}
	acc := trustBundleAccess{client: p.Client, cas: *p.TrustBundles}
	var items []item
	for _, b := range tb.All {
		if !b.UserMade() {
			continue
		}
		if ch := checks.DecideTrustBundle("ClusterTrustBundle "+b.Name, b.Value, acc.cas.old, acc.cas.new, acc.cas.remove); ch.Relevant {
			items = append(items, trustBundleItem(b))
		}
	}
	prog := &progress{w: p.ErrOut, what: "user-made ClusterTrustBundles", total: len(items), now: p.Now}
	p.each(ctx, items, nil, acc, prog.tick)
	if len(items) > 0 {
		prog.finish()
	}
	return p.fatalErr()
}
