package plugin

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Neither kube-aggregator's nor apiextensions' clientset is a dependency:
// APIServices and CRDs are read with the dynamic client.
var (
	verifyAPIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	verifyCRDGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// A CRD carries its whole schema: a page of 500 can be hundreds of MiB.
const verifyCRDPageSize = 50

// verifyBundleCounts sums the caBundles seen.
type verifyBundleCounts struct {
	total, related, other, empty int
	// seen drops what a list restarted after an expired continue token
	// shows again.
	seen map[string]bool
}

// checkWebhooks is the "webhooks" check.
func (r *verifyRun) checkWebhooks(ctx context.Context, sec *verifySection) {
	o := r.o
	n := verifyBundleCounts{seen: map[string]bool{}}
	adm := o.client.AdmissionregistrationV1()

	vwc := adm.ValidatingWebhookConfigurations()
	err := verifyPages(ctx, verifyPageSize, metav1.ListOptions{}, func(ctx context.Context, lo metav1.ListOptions) ([]admissionregistrationv1.ValidatingWebhookConfiguration, string, error) {
		l, err := vwc.List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []admissionregistrationv1.ValidatingWebhookConfiguration) {
		for _, c := range items {
			for i, wh := range c.Webhooks {
				r.verifyCABundle(sec, &n, "ValidatingWebhookConfiguration", "", c.Name, "validatingwebhookconfiguration",
					fmt.Sprintf("webhooks[%d] (%s).clientConfig.caBundle", i, wh.Name), fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), wh.ClientConfig.CABundle)
			}
		}
	})
	if err != nil {
		sec.fail("listing ValidatingWebhookConfigurations: %v", err)
	}

	mwc := adm.MutatingWebhookConfigurations()
	err = verifyPages(ctx, verifyPageSize, metav1.ListOptions{}, func(ctx context.Context, lo metav1.ListOptions) ([]admissionregistrationv1.MutatingWebhookConfiguration, string, error) {
		l, err := mwc.List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []admissionregistrationv1.MutatingWebhookConfiguration) {
		for _, c := range items {
			for i, wh := range c.Webhooks {
				r.verifyCABundle(sec, &n, "MutatingWebhookConfiguration", "", c.Name, "mutatingwebhookconfiguration",
					fmt.Sprintf("webhooks[%d] (%s).clientConfig.caBundle", i, wh.Name), fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), wh.ClientConfig.CABundle)
			}
		}
	})
	if err != nil {
		sec.fail("listing MutatingWebhookConfigurations: %v", err)
	}

	local := 0
	err = r.verifyDynamic(ctx, verifyAPIServiceGVR, verifyPageSize, func(u *unstructured.Unstructured) {
		if svc, _, _ := unstructured.NestedMap(u.Object, "spec", "service"); svc == nil {
			local++ // served by kube-apiserver itself: no caBundle involved
			return
		}
		if skip, _, _ := unstructured.NestedBool(u.Object, "spec", "insecureSkipTLSVerify"); skip {
			n.total++
			sec.add(verifyItem{Severity: checks.SeverityWarning, Kind: "APIService", Name: u.GetName(), Where: "spec.insecureSkipTLSVerify", Verdict: "insecure",
				Detail: "the API server does not check this aggregated API server's certificate at all",
				Fix:    "set spec.caBundle to the CA that signs its serving certificate and spec.insecureSkipTLSVerify to false"})
			return
		}
		r.verifyCABundle(sec, &n, "APIService", "", u.GetName(), "apiservice", "spec.caBundle", "/spec/caBundle", verifyB64Field(u, "spec", "caBundle"))
	})
	if err != nil {
		sec.fail("listing APIServices: %v", err)
	}

	err = r.verifyDynamic(ctx, verifyCRDGVR, verifyCRDPageSize, func(u *unstructured.Unstructured) {
		if strategy, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy"); strategy != "Webhook" {
			return
		}
		r.verifyCABundle(sec, &n, "CustomResourceDefinition", "", u.GetName(), "customresourcedefinition", "spec.conversion.webhook.clientConfig.caBundle",
			"/spec/conversion/webhook/clientConfig/caBundle", verifyB64Field(u, "spec", "conversion", "webhook", "clientConfig", "caBundle"))
	})
	if err != nil {
		sec.fail("listing CustomResourceDefinitions: %v", err)
	}

	r.verifyExtensionAuth(ctx, sec)
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s: %d part of this rotation, %d of other CAs, %d empty (system roots); %d local APIServices need none",
		plural(n.total, "caBundle"), n.related, n.other, n.empty, local)
	if n.related > 0 {
		sec.notef("a caBundle that a controller manages (cert-manager's cainjector, an operator) is rewritten by it: change its source rather than patch it")
	}
}

// verifyCABundle judges one caBundle. Only caBundles that hold a
// certificate of this rotation, or one it signed, are its business: a
// webhook served under another CA (cert-manager's, say) is listed as such.
func (r *verifyRun) verifyCABundle(sec *verifySection, n *verifyBundleCounts, kind, ns, name, resource, field, jsonPath string, data []byte) {
	o := r.o
	if key := kind + "/" + ns + "/" + name + "/" + field; n.seen[key] {
		return
	} else {
		n.seen[key] = true
	}
	n.total++
	it := verifyItem{Severity: checks.SeverityOK, Kind: kind, Namespace: ns, Name: name, Where: field}
	if len(data) == 0 {
		n.empty++
		it.Verdict, it.Holds = "no-ca-bundle", "empty"
		it.Detail = "no caBundle: the API server checks this server against the system's trusted roots"
		sec.add(it)
		return
	}
	v := o.rule.Judge(kind+" "+name+" "+field, data)
	it.Holds, it.Verdict = v.Holds, v.Reason
	if !v.Related && (v.Reason == checks.CALacks || v.Reason == checks.CAHoldsExpected) {
		n.other++
		it.Verdict, it.Detail = "other-ca", "a CA outside this rotation: nothing to do here"
		sec.add(it)
		return
	}
	n.related++
	prep, file := o.caFile()
	patch := prep + fmt.Sprintf(`kubectl patch %s %s --type=json -p "[{\"op\":\"replace\",\"path\":\"%s\",\"value\":\"$(base64 -w0 %s)\"}]"`,
		resource, checks.ShellQuote(name), jsonPath, file)
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

// verifyExtensionAuth reports the client CA and requestheader (front-proxy)
// CA that kube-apiserver publishes for aggregated API servers and webhooks
// that authenticate their callers.
func (r *verifyRun) verifyExtensionAuth(ctx context.Context, sec *verifySection) {
	o := r.o
	var data map[string]string
	err := WithRetry(ctx, func() error {
		cm, err := o.client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, verifyExtensionAuth, metav1.GetOptions{})
		if err == nil {
			data = cm.Data
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		sec.notef("kube-system/%s not found: kube-apiserver publishes it at start; aggregated API servers cannot authenticate callers without it", verifyExtensionAuth)
		return
	}
	if err != nil {
		sec.fail("reading kube-system/%s: %v", verifyExtensionAuth, err)
		return
	}
	base := verifyItem{Kind: "ConfigMap", Namespace: metav1.NamespaceSystem, Name: verifyExtensionAuth}

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

// verifyDynamic lists a resource that may not be served (no aggregation
// layer, no CRDs): a missing API is not a failure.
func (r *verifyRun) verifyDynamic(ctx context.Context, gvr schema.GroupVersionResource, limit int64, each func(*unstructured.Unstructured)) error {
	res := r.o.dyn.Resource(gvr)
	err := verifyPages(ctx, limit, metav1.ListOptions{}, func(ctx context.Context, lo metav1.ListOptions) ([]unstructured.Unstructured, string, error) {
		l, err := res.List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.GetContinue(), nil
	}, func(items []unstructured.Unstructured) {
		for i := range items {
			each(&items[i])
		}
	})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// verifyB64Field reads a []byte field, which JSON carries as base64.
func verifyB64Field(u *unstructured.Unstructured, fields ...string) []byte {
	s, _, _ := unstructured.NestedString(u.Object, fields...)
	if s == "" {
		return nil
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return []byte(s) // judged as unparsable, which it is
	}
	return b
}

// verifyPages walks a list page by page with a page size of its own (see
// restartPages, which fixes it at 500). After an expired continue token the
// list starts over: callers drop what they see twice.
func verifyPages[L any](ctx context.Context, limit int64, opts metav1.ListOptions, list func(context.Context, metav1.ListOptions) (L, string, error), each func(L)) error {
	opts.Limit = limit
	for restarts := 0; ; {
		var page L
		var cont string
		err := WithRetry(ctx, func() (err error) {
			page, cont, err = list(ctx, opts)
			return err
		})
		if err != nil && opts.Continue != "" && restarts < 3 && (apierrors.IsResourceExpired(err) || apierrors.IsGone(err)) {
			restarts++
			opts.Continue = ""
			continue
		}
		if err != nil {
			return err
		}
		each(page)
		if cont == "" {
			return nil
		}
		opts.Continue = cont
	}
}
