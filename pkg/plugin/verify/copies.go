package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// checkCopies is the "copies" check: one paginated pass over the
// ConfigMaps and Secrets (cluster.ScanCopies), plus the user-made
// ClusterTrustBundles, for copies of the old CA, found by fingerprint. Each
// finding names the object, the key and whether it trusts the old CA alone
// or next to the new one; nothing else of the object is printed.
func (r *run) checkCopies(ctx context.Context, sec *section, tb *cluster.TrustBundles) {
	o := r.o
	cas := checks.NewCopyCAs(o.rule.Old, o.rule.New())
	if !cas.Known() {
		sec.fail("the old CA is not known, so copies of it cannot be told from other CAs (%s): pass --old-ca FILE", cmdutil.Or(o.oldUnknown, "no --old-ca"))
		sec.Summary = "not run: the old CA is not known"
		return
	}
	phase := r.copyPhase(ctx, sec)

	var oldAlone, both int
	add := func(h cluster.CopyHit) {
		v, ok := cas.JudgeCopy(h.Place, phase)
		if !ok {
			return
		}
		if v.Verdict == checks.CopyOldAlone {
			oldAlone++
		} else {
			both++
		}
		it := item{Severity: v.Severity, Kind: h.Kind, Namespace: h.Namespace, Name: h.Name, Where: h.Where(), Holds: v.Holds, Verdict: v.Verdict, Detail: v.Detail}
		it.Action, it.Fix = copyAction(h, v)
		sec.add(it)
	}
	r.progress.start()
	client := o.pageClient
	if client == nil {
		client = o.client
	}
	counts, cmErr, secErr := cluster.ScanCopies(ctx, client, cluster.CopyScan{Namespace: o.namespace, CAs: cas, Skip: rotation.Objects(),
		Progress: func(kind string, n int) { r.progress.tick("copies: %d %s read", n, kind) }},
		func(kind string) {
			sec.Items = slices.DeleteFunc(sec.Items, func(it item) bool { return it.Kind == kind })
			oldAlone, both = 0, 0
			for _, it := range sec.Items {
				if it.Verdict == checks.CopyOldAlone {
					oldAlone++
				} else {
					both++
				}
			}
		}, add)
	for _, e := range []struct {
		err  error
		what string
	}{{cmErr, "ConfigMaps"}, {secErr, "Secrets"}} {
		switch {
		case e.err == nil:
		case apierrors.IsForbidden(e.err):
			sec.fail("%s were not checked: listing them is forbidden (%v); a copy of the old CA in them would go unnoticed", e.what, e.err)
		default:
			sec.fail("%s were not checked completely: %v", e.what, e.err)
		}
	}
	bundles := 0
	switch {
	case tb == nil || tb.NotServed:
	case tb.Err != nil:
		sec.fail("user-made ClusterTrustBundles were not checked: %v", tb.Err)
	default:
		for _, b := range tb.All {
			if b.UserMade() {
				bundles++
			}
		}
		for _, h := range cluster.TrustBundleCopies(*tb, cas) {
			add(h)
		}
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	scope := "every namespace"
	if o.namespace != "" {
		scope = "namespace " + o.namespace
	}
	sec.Summary = fmt.Sprintf("%s and %s in %s, %s: %d place(s) trust the old CA alone, %d trust it next to the new one",
		cmdutil.Plural(counts.ConfigMaps, "ConfigMap"), cmdutil.Plural(counts.Secrets, "Secret"), scope, cmdutil.Plural(bundles, "user-made ClusterTrustBundle"), oldAlone, both)
	skipped := "kube-root-ca.crt and ServiceAccount token Secrets (the sa check), kube-public/cluster-info and kube-system/extension-apiserver-authentication (the clients and webhooks checks), " +
		"Helm release Secrets (type " + cluster.HelmReleaseSecretType + ": a compressed record of manifests whose objects are read themselves)"
	if len(counts.Skipped) > 0 {
		skipped += ", and the rotation's own record (" + strings.Join(counts.Skipped, ", ") + "), which holds the old CA on purpose"
	}
	sec.notef("not read as copies: %s", skipped)
	sec.notef("found by fingerprint in every key: PEM blocks (a CA file, a TLS Secret's ca.crt), and base64 PEMs (a kubeconfig's certificate-authority-data, Argo CD's caData); only subjects and fingerprints are printed")
}

// copyPhase is how far the rotation is for copies: at the end (--expect
// new), or whether the API server already serves from the new CA (after
// step 9.3 a kubeconfig that pins the old CA alone fails).
func (r *run) copyPhase(ctx context.Context, sec *section) checks.CopyPhase {
	o := r.o
	if o.rule.Expect == checks.ExpectNew {
		return checks.CopyEnd
	}
	chain, err := cluster.FetchServingChain(ctx, o.cfg)
	if err != nil {
		sec.notef("the API server's serving chain could not be read (%v): copies of the old CA alone are judged as before step 9.3 (warnings)", err)
		return checks.CopyBeforeServe
	}
	if newCAs := o.rule.New(); len(newCAs) > 0 && checks.ChainVerifies(chain, newCAs) {
		return checks.CopyServesNew
	}
	return checks.CopyBeforeServe
}

// copyAction is what to do about one copy. User-made ClusterTrustBundles
// are ours to update; Secrets and ConfigMaps are someone else's (an
// operator, a GitOps repository, a person): the fix says what to change.
func copyAction(h cluster.CopyHit, v checks.CopyVerdict) (action, fix string) {
	if v.Severity == checks.SeverityInfo {
		return "", ""
	}
	if h.Kind == "ClusterTrustBundle" {
		if v.Verdict == checks.CopyOldAlone {
			return "kubectl carotate bundle --trust-bundles", ""
		}
		return "kubectl carotate unbundle --trust-bundles", ""
	}
	// One fix for all of them: the rows name each object and key.
	if v.Verdict == checks.CopyOldAlone {
		return "", "Secrets and ConfigMaps that trust the old CA alone: add the new CA next to the old one where each comes from (its operator, chart or repository; a stored kubeconfig's certificate-authority-data becomes the bundle), then restart what reads it"
	}
	return "", "Secrets and ConfigMaps that still trust the old CA: remove it where each comes from, once nothing served from the old CA is left"
}
