package verify

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// checkTrustBundles is the "trustbundles" check: the ClusterTrustBundle(s)
// kube-controller-manager publishes for kubernetes.io/kube-apiserver-serving
// from its --root-ca-file must hold what kube-root-ca.crt holds (old+new
// after step 2, the new CA alone after step 12.1); other signers' bundles
// that hold a CA of this rotation are listed (their controller owns them).
// User-made bundles are copies: the copies check judges them.
func (r *run) checkTrustBundles(ctx context.Context, sec *section, tb *cluster.TrustBundles) {
	o := r.o
	switch {
	case tb.NotServed:
		sec.Summary = "the API server does not serve certificates.k8s.io/v1 ClusterTrustBundles: nothing to judge"
		return
	case tb.Err != nil:
		sec.fail("listing ClusterTrustBundles: %v", tb.Err)
		sec.Summary = "ClusterTrustBundles could not be listed"
		return
	}
	var published, others, user, unrelated []string
	for _, b := range tb.All {
		switch {
		case b.UserMade():
			user = append(user, b.Name)
		case b.Signer == checks.APIServerServingSigner:
			published = append(published, b.Name)
			sec.add(r.publishedBundle(ctx, b))
		default:
			v := o.rule.Judge("ClusterTrustBundle "+b.Name, b.Value)
			if !v.Related {
				unrelated = append(unrelated, b.Name)
				continue
			}
			others = append(others, b.Name)
			sec.add(item{Severity: checks.SeverityInfo, Kind: "ClusterTrustBundle", Name: b.Name, Where: "spec.trustBundle", Holds: v.Holds, Verdict: "other-signer",
				Detail: fmt.Sprintf("published for signer %s, which holds a CA of this rotation: that signer's controller writes it, kubectl carotate never does", b.Signer)})
		}
	}
	if len(published) == 0 {
		sec.notef("no ClusterTrustBundle of signer %s: kube-controller-manager's kube-apiserver-serving-clustertrustbundle-publisher-controller does not run (it is on by default since Kubernetes 1.37); pods that project it get nothing", checks.APIServerServingSigner)
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s: %d of %s (%s); %d of other signers with this rotation's CAs (%s), %d of other signers without (%s); %d user-made (%s), judged by the copies check",
		cmdutil.Plural(len(tb.All), "ClusterTrustBundle"), len(published), checks.APIServerServingSigner, names(published),
		len(others), names(others), len(unrelated), names(unrelated), len(user), names(user))
}

// publishedBundle judges one bundle of kube-apiserver-serving by the rule,
// and says why it is behind: the controller-manager publishes
// kube-root-ca.crt and this bundle from the same --root-ca-file, so when
// kube-system/kube-root-ca.crt (written by it) already holds what the rule
// wants, the bundle's publisher lags or is disabled; when it holds the same
// as the bundle, the flag is not changed yet or the controller-manager was
// not restarted.
func (r *run) publishedBundle(ctx context.Context, b cluster.TrustBundle) item {
	o := r.o
	v := o.rule.Judge("ClusterTrustBundle "+b.Name, b.Value)
	it := item{Severity: checks.SeverityOK, Kind: "ClusterTrustBundle", Name: b.Name, Where: "spec.trustBundle", Holds: v.Holds, Verdict: v.Reason,
		Detail: fmt.Sprintf("published by %s at %s from its --root-ca-file", cmdutil.Or(b.ChangedBy, "kube-controller-manager"), b.ChangedAt.UTC().Format("2006-01-02T15:04:05Z"))}
	if v.Note != "" {
		it.Detail = v.Note + "; " + it.Detail
	}
	if v.OK {
		return it
	}
	it.Severity = checks.SeverityError
	it.Detail = v.Problem + "; " + it.Detail
	it.Action, it.Fix = o.rootCAAction(v)
	ks, err := cluster.GetRootCAConfigMap(ctx, o.client, metav1.NamespaceSystem)
	if err != nil || ks.ChangedBy != cluster.ControllerManagerFieldManager {
		return it
	}
	kv := o.rule.Judge("kube-system/kube-root-ca.crt", ks.Value)
	if kv.OK {
		it.Detail += fmt.Sprintf("; kube-system/kube-root-ca.crt, written by kube-controller-manager at %s, already holds %s: the ClusterTrustBundle publisher lags (it follows --root-ca-file within seconds of a restart) or is disabled (--controllers)",
			ks.ChangedAt.UTC().Format("2006-01-02T15:04:05Z"), kv.Holds)
		it.Fix = "check kube-controller-manager's --controllers: kube-apiserver-serving-clustertrustbundle-publisher-controller must run; then wait a few seconds and verify again"
		it.Action = ""
		return it
	}
	it.Detail += "; kube-system/kube-root-ca.crt holds " + kv.Holds + " too: kube-controller-manager's --root-ca-file does not hold what --ca says, or it was not restarted since it changed"
	return it
}

// names lists names for a summary line: every one up to listCap, then
// how many more.
func names(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	if len(list) <= listCap {
		return strings.Join(list, ", ")
	}
	return strings.Join(list[:listCap], ", ") + fmt.Sprintf(" and %d more", len(list)-listCap)
}
