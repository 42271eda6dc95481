package verify

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// TestVerifyWebhooksAPIServices covers what the e2e test cannot create
// without breaking discovery for every other test: APIServices. The fake
// clients stand in for the lists only; the judging is the real code.
func TestVerifyWebhooksAPIServices(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA, other := newTestCA(t, dir, "old"), newTestCA(t, dir, "new"), newTestCA(t, dir, "other")
	apiService := func(name string, spec map[string]any) *unstructured.Unstructured {
		return &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
			"metadata": map[string]any{"name": name}, "spec": spec,
		}}
	}
	svc := map[string]any{"namespace": "monitoring", "name": "metrics"}
	b64 := func(p []byte) string { return base64.StdEncoding.EncodeToString(p) }
	scheme := runtime.NewScheme()
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme, map[schema.GroupVersionResource]string{
		cluster.APIServiceGVR: "APIServiceList",
		cluster.CRDGVR:        "CustomResourceDefinitionList",
	},
		apiService("v1.apps", map[string]any{"group": "apps", "version": "v1"}),
		apiService("v1beta1.metrics.k8s.io", map[string]any{"service": svc, "caBundle": b64(oldCA.pem)}),
		apiService("v1.custom.example.com", map[string]any{"service": svc, "caBundle": b64(other.pem)}),
		apiService("v1.insecure.example.com", map[string]any{"service": svc, "insecureSkipTLSVerify": true}),
		apiService("v1.both.example.com", map[string]any{"service": svc, "caBundle": b64(append(append([]byte{}, newCA.pem...), other.pem...))}),
	)
	client := fake.NewClientset(&corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: cluster.ExtensionAuthName},
		Data:       map[string]string{"client-ca-file": string(newCA.pem) + string(oldCA.pem), "requestheader-client-ca-file": string(other.pem)},
	})
	o := &Options{CAFile: "new.crt", client: client, dyn: dyn,
		rule: checks.NewCARule(checks.ExpectNew, []*x509.Certificate{newCA.cert}, []*x509.Certificate{oldCA.cert})}
	r := &run{o: o, progress: &progress{w: &bytes.Buffer{}}}
	sec := newSection(sectionWebhooks)
	r.checkWebhooks(context.Background(), sec)
	sec.finish()

	got := map[string]item{}
	for _, it := range sec.Items {
		got[it.Kind+" "+it.Name+" "+it.Where] = it
	}
	want := map[string]struct{ severity, verdict, action, fix string }{
		"APIService v1beta1.metrics.k8s.io spec.caBundle": {"error", "lacks-ca",
			`kubectl patch apiservice v1beta1.metrics.k8s.io --type=json -p "[{\"op\":\"replace\",\"path\":\"/spec/caBundle\",\"value\":\"$(base64 -w0 new.crt)\"}]"`,
			"patch it once the server's certificate is issued by the new CA"},
		"APIService v1.custom.example.com spec.caBundle": {"ok", "other-ca", "", ""},
		"APIService v1.insecure.example.com spec.insecureSkipTLSVerify": {"warning", "insecure", "",
			"set spec.caBundle to the CA that signs its serving certificate and spec.insecureSkipTLSVerify to false"},
		"APIService v1.both.example.com spec.caBundle": {"ok", "ok", "", ""},
		"ConfigMap extension-apiserver-authentication data.client-ca-file": {"warning", "still-old",
			"kubectl carotate instructions --step 12.2",
			"point kube-apiserver's --client-ca-file at a file holding new.crt and restart it (step 12.2)"},
		"ConfigMap extension-apiserver-authentication data.requestheader-client-ca-file": {"info", "front-proxy-ca", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("items: %+v", sec.Items)
	}
	for _, a := range sec.Actions {
		checkRunnable(t, a)
	}
	for k, w := range want {
		it, ok := got[k]
		if !ok || it.Severity != w.severity || it.Verdict != w.verdict || it.Action != w.action || it.Fix != w.fix {
			t.Errorf("%s: got %+v, want %+v", k, it, w)
		}
	}
	// The summary names every object it counts.
	if sec.Summary != "4 caBundles: 2 part of this rotation (APIService v1.both.example.com, APIService v1beta1.metrics.k8s.io), 1 of other CAs (APIService v1.custom.example.com), "+
		"0 empty, system roots (none), 1 insecureSkipTLSVerify (APIService v1.insecure.example.com); 1 local APIServices need none (v1.apps)" || sec.Status != "findings" {
		t.Fatalf("summary %q status %s", sec.Summary, sec.Status)
	}
}

// With --expect new and no --old-ca, a caBundle that still holds a CA next
// to the new one may hold the old CA: a warning with the patch, never a
// silent pass at the end of a rotation.
func TestVerifyWebhooksExpectNewWithoutOldCA(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newTestCA(t, dir, "old"), newTestCA(t, dir, "new")
	svc := map[string]any{"namespace": "monitoring", "name": "metrics"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		cluster.APIServiceGVR: "APIServiceList",
		cluster.CRDGVR:        "CustomResourceDefinitionList",
	}, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService", "metadata": map[string]any{"name": "v1.both.example.com"},
		"spec": map[string]any{"service": svc, "caBundle": base64.StdEncoding.EncodeToString(append(append([]byte{}, newCA.pem...), oldCA.pem...))},
	}})
	o := &Options{CAFile: "new.crt", client: fake.NewClientset(), dyn: dyn,
		rule: checks.NewCARule(checks.ExpectNew, []*x509.Certificate{newCA.cert}, nil)}
	r := &run{o: o, progress: &progress{w: &bytes.Buffer{}}}
	sec := newSection(sectionWebhooks)
	r.checkWebhooks(context.Background(), sec)
	sec.finish()
	for _, it := range sec.Items {
		if it.Name == "v1.both.example.com" {
			if it.Severity != "warning" || it.Action == "" {
				t.Fatalf("old+new caBundle with --expect new and no --old-ca: %+v", it)
			}
			return
		}
	}
	t.Fatalf("APIService not judged: %+v", sec.Items)
}
