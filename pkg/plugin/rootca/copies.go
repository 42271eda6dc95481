package rootca

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// refusalNames caps the copies a refusal names; verify --only copies
// lists them all.
const refusalNames = 20

// record is the rotation record, read once per run; nil when there is
// none or it cannot be read.
func (o *UnbundleOptions) record(ctx context.Context, client kubernetes.Interface) *rotation.Record {
	if !o.recRead {
		o.rec, _ = rotation.Load(ctx, client)
		o.recRead = true
	}
	return o.rec
}

// keepsRecorded tells whether rec's new CA is among the kept CAs: only
// then is its old CA the one this run retires, and its log about it.
func (o *UnbundleOptions) keepsRecorded(rec *rotation.Record) bool {
	if rec == nil || len(rec.NewCAs) == 0 {
		return false
	}
	for _, c := range rec.NewCAs {
		if !checks.Contains(o.kept, c) {
			return false
		}
	}
	return true
}

// findOld is the CA unbundle retires when neither --old-ca nor the
// record (as --keep's source) says: a record whose new CA is kept, else
// what kube-system/kube-root-ca.crt holds besides the kept CA (the bundle,
// until the controller-manager publishes the kept CA alone).
func (o *UnbundleOptions) findOld(ctx context.Context, client kubernetes.Interface) ([]*x509.Certificate, string) {
	if rec := o.record(ctx, client); o.keepsRecorded(rec) && len(rec.OldCAs) > 0 {
		return rec.OldCAs, "rotation " + rec.ID
	}
	cm, err := cluster.GetRootCAConfigMap(ctx, client, metav1.NamespaceSystem)
	if err != nil {
		return nil, ""
	}
	certs, err := checks.ParseCertificates("kube-system/kube-root-ca.crt", cm.Value)
	if err != nil {
		return nil, ""
	}
	var old []*x509.Certificate
	for _, c := range certs {
		if !checks.Contains(o.kept, c) {
			old = append(old, c)
		}
	}
	return old, "kube-system/kube-root-ca.crt besides the kept CA"
}

// checkCopies refuses while a copy of the old CA trusts it alone: a
// Secret, a ConfigMap or a user-made ClusterTrustBundle that pins it. Its
// readers break once the old CA is retired, which is what this step
// begins. It is the pass of verify --only copies (cluster.ScanCopies).
func (o *UnbundleOptions) checkCopies(ctx context.Context, client kubernetes.Interface) error {
	if len(o.old) == 0 {
		fmt.Fprintln(o.ErrOut, "warning: copies of the old CA were not checked: the old CA is not known here (pass --old-ca FILE, or record the rotation with kubectl carotate start)")
		return nil
	}
	cas := checks.NewCopyCAs(o.old, o.kept)
	fmt.Fprintf(o.ErrOut, "unbundle: looking for copies of the old CA (%s, from %s) in Secrets, ConfigMaps and user-made ClusterTrustBundles\n",
		checks.DescribeSet(o.old, nil), o.oldFrom)
	var pinned []string
	alone := func(h cluster.CopyHit) {
		if v, ok := cas.JudgeCopy(h.Place, checks.CopyEnd); ok && v.Verdict == checks.CopyOldAlone {
			obj := h.Kind + " " + h.Name
			if h.Namespace != "" {
				obj = h.Kind + " " + h.Namespace + "/" + h.Name
			}
			pinned = append(pinned, obj+" "+h.Where())
		}
	}
	// Protobuf and a ceiling for a rate: small pages, one after the other.
	pages, err := o.ProtobufClientset(o.Pacing.PageRateLimit())
	if err != nil {
		return err
	}
	_, cmErr, secErr := cluster.ScanCopies(ctx, pages, cluster.CopyScan{Namespace: o.namespace, CAs: cas, Skip: rotation.Objects()},
		func(kind string) {
			pinned = slices.DeleteFunc(pinned, func(s string) bool { return strings.HasPrefix(s, kind+" ") })
		}, alone)
	for _, e := range []struct {
		err  error
		what string
	}{{cmErr, "ConfigMaps"}, {secErr, "Secrets"}} {
		if e.err != nil {
			return fmt.Errorf("cannot check %s for copies of the old CA, nothing was changed (--force skips this check): %w", e.what, e.err)
		}
	}
	tb := cluster.ReadTrustBundles(ctx, client)
	if tb.Err != nil {
		return fmt.Errorf("cannot check ClusterTrustBundles for copies of the old CA, nothing was changed (--force skips this check): %w", tb.Err)
	}
	for _, h := range cluster.TrustBundleCopies(tb, cas) {
		alone(h)
	}
	if len(pinned) == 0 {
		return nil
	}
	shown := pinned
	more := ""
	if len(shown) > refusalNames {
		shown, more = shown[:refusalNames], fmt.Sprintf("\n  ... and %d more", len(pinned)-refusalNames)
	}
	return fmt.Errorf(`refusing to unbundle, nothing was changed: %d place(s) trust the old CA (%s) without the new
one, and their readers break once it is retired:
  %s%s
Add the new CA next to the old one in each, where it comes from (its operator,
chart or repository; a stored kubeconfig's certificate-authority-data becomes
the bundle; user-made ClusterTrustBundles: kubectl carotate bundle --trust-bundles),
and restart what reads them. kubectl carotate verify --only copies lists them all.
Then run this command again (--force skips this check)`,
		len(pinned), checks.DescribeSet(o.old, nil), strings.Join(shown, "\n  "), more)
}
