package verify

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// bundleCounts sums the caBundles seen, and names the objects behind
// each count: a summary line names what it counts.
type bundleCounts struct {
	total, related, other, empty int

	relatedNames, otherNames, emptyNames, localNames, insecure []string
}

// addName adds one object to a list of names, once.
func addName(list []string, b cluster.Backend) []string {
	n := b.Kind + " " + b.Name
	if slices.Contains(list, n) {
		return list
	}
	return append(list, n)
}

// checkWebhooks is the "webhooks" check.
func (r *run) checkWebhooks(ctx context.Context, sec *section) {
	o := r.o
	var n bundleCounts
	local := 0
	// A list that starts over after its continue token expired shows its
	// backends again.
	seen := map[string]bool{}
	errs := cluster.EachBackend(ctx, o.client, o.dyn, func(string) {}, func(b cluster.Backend) {
		key := b.Kind + "/" + b.Name + "/" + b.Field
		if seen[key] {
			return
		}
		seen[key] = true
		switch {
		case b.Local:
			local++ // served by kube-apiserver itself: no caBundle involved
			n.localNames = append(n.localNames, b.Name)
		case b.Insecure:
			n.total++
			n.insecure = addName(n.insecure, b)
			sec.add(item{Severity: checks.SeverityWarning, Kind: b.Kind, Name: b.Name, Where: "spec.insecureSkipTLSVerify", Verdict: "insecure",
				Detail: "the API server does not check this aggregated API server's certificate at all",
				Fix:    "set spec.caBundle to the CA that signs its serving certificate and spec.insecureSkipTLSVerify to false"})
		default:
			r.judgeCABundle(sec, &n, b)
		}
	})
	for _, kind := range []string{cluster.KindValidatingWebhook, cluster.KindMutatingWebhook, cluster.KindAPIService, cluster.KindCRD} {
		if err := errs[kind]; err != nil {
			sec.fail("listing %ss: %v", kind, err)
		}
	}

	r.extensionAuth(ctx, sec)
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s: %d part of this rotation (%s), %d of other CAs (%s), %d empty, system roots (%s), %d insecureSkipTLSVerify (%s); %d local APIServices need none (%s)",
		cmdutil.Plural(n.total, "caBundle"), n.related, names(n.relatedNames), n.other, names(n.otherNames), n.empty, names(n.emptyNames),
		len(n.insecure), names(n.insecure), local, names(n.localNames))
	if n.related > 0 {
		sec.notef("a caBundle that a controller manages (cert-manager's cainjector, an operator) is rewritten by it: change its source rather than patch it")
	}
}

// judgeCABundle judges one caBundle. Only caBundles that hold a
// certificate of this rotation, or one it signed, are its business: a
// webhook served under another CA (cert-manager's, say) is listed as such.
func (r *run) judgeCABundle(sec *section, n *bundleCounts, b cluster.Backend) {
	o := r.o
	n.total++
	it := item{Severity: checks.SeverityOK, Kind: b.Kind, Name: b.Name, Where: b.Field}
	if len(b.CABundle) == 0 {
		n.empty++
		n.emptyNames = addName(n.emptyNames, b)
		it.Verdict, it.Holds = "no-ca-bundle", "empty"
		it.Detail = "no caBundle: the API server checks this server against the system's trusted roots"
		sec.add(it)
		return
	}
	v := o.rule.Judge(b.Kind+" "+b.Name+" "+b.Field, b.CABundle)
	it.Holds, it.Verdict = v.Holds, v.Reason
	if !v.Related && (v.Reason == checks.CALacks || v.Reason == checks.CAHoldsExpected) {
		n.other++
		n.otherNames = addName(n.otherNames, b)
		it.Verdict, it.Detail = "other-ca", "a CA outside this rotation: nothing to do here"
		sec.add(it)
		return
	}
	n.related++
	n.relatedNames = addName(n.relatedNames, b)
	prep, file := o.caFile()
	patch := prep + fmt.Sprintf(`kubectl patch %s %s --type=json -p "[{\"op\":\"replace\",\"path\":\"%s\",\"value\":\"$(base64 -w0 %s)\"}]"`,
		b.Resource, checks.ShellQuote(b.Name), b.JSONPath, file)
	switch {
	case v.OK || v.Reason == checks.CAOutside:
		// A webhook may well trust another CA next to ours.
		it.Verdict, it.Detail = checks.CAHoldsExpected, v.Note
		if v.Reason == checks.CAOutside {
			it.Detail = strings.TrimPrefix(v.Problem, "also holds ")
			it.Detail = "also trusts " + it.Detail
			// Without --old-ca that other CA may well be the old one: say
			// so rather than pass it silently at the end of a rotation.
			if o.rule.Expect == checks.ExpectNew && len(o.rule.Old) == 0 {
				it.Severity = checks.SeverityWarning
				it.Detail += "; if that is the old CA, replace the caBundle (give --old-ca to tell)"
				it.Action = patch
			}
		}
	case v.Reason == checks.CALacks && o.rule.Expect == checks.ExpectBundle:
		// It works as long as the webhook's serving certificate comes from
		// the CA it trusts; it breaks when that is re-issued (step 9.1).
		it.Severity, it.Detail = checks.SeverityWarning, v.Problem+": update it before the webhook's serving certificate is re-issued from the new CA"
		it.Action = patch
	default:
		it.Severity, it.Detail = checks.SeverityError, v.Problem
		it.Action = patch
		if o.rule.Expect == checks.ExpectNew {
			it.Fix = "patch it once the server's certificate is issued by the new CA"
		}
	}
	sec.add(it)
}

// extensionAuth reports the client CA and requestheader (front-proxy)
// CA that kube-apiserver publishes for aggregated API servers and webhooks
// that authenticate their callers.
func (r *run) extensionAuth(ctx context.Context, sec *section) {
	o := r.o
	data, err := cluster.ExtensionAuth(ctx, o.client)
	if apierrors.IsNotFound(err) {
		sec.notef("kube-system/%s not found: kube-apiserver publishes it at start; aggregated API servers cannot authenticate callers without it", cluster.ExtensionAuthName)
		return
	}
	if err != nil {
		sec.fail("reading kube-system/%s: %v", cluster.ExtensionAuthName, err)
		return
	}
	base := item{Kind: "ConfigMap", Namespace: metav1.NamespaceSystem, Name: cluster.ExtensionAuthName}

	it := base
	it.Where = "data.client-ca-file"
	value, ok := data["client-ca-file"]
	v := o.rule.Judge("client-ca-file", []byte(value))
	it.Holds, it.Verdict, it.Severity, it.Detail = v.Holds, v.Reason, checks.SeverityOK, v.Note
	what := o.CAFile
	if what == "" {
		what = o.caName
	}
	step := "5"
	if o.rule.Expect == checks.ExpectNew {
		step = "12.2"
	}
	action := "kubectl carotate instructions --step " + step
	fix := fmt.Sprintf("point kube-apiserver's --client-ca-file at a file holding %s and restart it (step %s)", what, step)
	switch {
	case !ok:
		it.Holds, it.Verdict, it.Severity = "absent", "absent", checks.SeverityInfo
		it.Detail = "kube-apiserver runs without --client-ca-file: no client certificates are accepted"
	case v.OK:
	case v.Reason == checks.CAStillOld || v.Reason == checks.CAOutside:
		it.Severity, it.Detail = checks.SeverityWarning, v.Problem+": client certificates from it are still accepted (remove it in step 12.2)"
		it.Action, it.Fix = action, fix
	case v.Reason == checks.CALacks && o.rule.Expect == checks.ExpectBundle:
		it.Severity, it.Detail = checks.SeverityWarning, v.Problem+": client certificates issued by it are refused until step 5 is done"
		it.Action, it.Fix = action, fix
	default:
		it.Severity, it.Detail, it.Action, it.Fix = checks.SeverityError, v.Problem, action, fix
	}
	sec.add(it)

	it = base
	it.Where = "data.requestheader-client-ca-file"
	value, ok = data["requestheader-client-ca-file"]
	if !ok {
		it.Holds, it.Verdict, it.Severity = "absent", "absent", checks.SeverityInfo
		it.Detail = "kube-apiserver runs without --requestheader-client-ca-file: aggregated API servers cannot trust its front proxy"
		sec.add(it)
		return
	}
	v = o.rule.Judge("requestheader-client-ca-file", []byte(value))
	it.Holds, it.Verdict, it.Severity = v.Holds, "front-proxy-ca", checks.SeverityInfo
	it.Detail = "the front-proxy CA aggregated API servers trust for requests kube-apiserver proxies to them; rotate it with front-proxy-ca.crt (steps 1 and 9.3) and restart the aggregated API servers (step 9.1)"
	if v.Reason == checks.CAUnparsable || v.Reason == checks.CAPrivateKey || v.Reason == checks.CAEmpty {
		it.Severity, it.Verdict, it.Detail = checks.SeverityError, v.Reason, v.Problem
	}
	sec.add(it)
}
