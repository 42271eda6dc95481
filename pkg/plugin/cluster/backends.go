package cluster

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Neither kube-aggregator's nor apiextensions' clientset is a dependency:
// APIServices and CRDs are read with the dynamic client.
var (
	APIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	CRDGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

// crdPageSize keeps a page of CRDs small: a CRD carries its whole schema,
// and a page of 500 can be hundreds of MiB.
const crdPageSize = 50

// Backend kinds.
const (
	KindValidatingWebhook = "ValidatingWebhookConfiguration"
	KindMutatingWebhook   = "MutatingWebhookConfiguration"
	KindAPIService        = "APIService"
	KindCRD               = "CustomResourceDefinition"
)

// Backend is one server the API server calls and must trust (or that must
// trust the API server's client certificate): an admission webhook, an
// aggregated API server, a CRD conversion webhook (upstream step 9.1).
type Backend struct {
	Kind string
	// Name is the configuration's, APIService's or CRD's name; Webhook
	// and Index name the webhook within a configuration.
	Name    string
	Webhook string
	Index   int
	// Resource is kubectl's name for the kind (for printed commands);
	// Field and JSONPath where its caBundle is.
	Resource, Field, JSONPath string
	// Service is the in-cluster service behind it ("" when reached by URL
	// or served by kube-apiserver itself).
	Namespace, Service, URL string
	CABundle                []byte
	// Insecure: an APIService with insecureSkipTLSVerify.
	Insecure bool
	// Local: an APIService served by kube-apiserver itself (no service).
	Local bool
}

// Ref is the backend as the step renderer names it.
func (b Backend) Ref() checks.ServiceRef {
	name := b.Kind + " " + b.Name
	switch b.Kind {
	case KindValidatingWebhook, KindMutatingWebhook:
		name += "/" + b.Webhook
	case KindCRD:
		name = "CRD " + b.Name
	case KindAPIService:
		name = b.Name
	}
	return checks.ServiceRef{Name: name, Namespace: b.Namespace, Service: b.Service, URL: b.URL}
}

// BackendErrors says which of the lists failed, by kind.
type BackendErrors map[string]error

// Err joins them; nil when none failed.
func (e BackendErrors) Err() error {
	var errs []error
	for _, k := range []string{KindValidatingWebhook, KindMutatingWebhook, KindAPIService, KindCRD} {
		if err := e[k]; err != nil {
			errs = append(errs, fmt.Errorf("%ss: %w", k, err))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	return errors.Join(errs...)
}

// EachBackend lists every webhook configuration, APIService and CRD with a
// conversion webhook, paged (CRDs in small pages), and calls each with
// every backend. An API that is not served (no aggregation layer) is not a
// failure. dyn may be nil: then only the webhook configurations are read.
func EachBackend(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, reset func(kind string), each func(Backend)) BackendErrors {
	errs := BackendErrors{}
	webhook := func(kind, resource, name string, i int, wh string, cc admissionregistrationv1.WebhookClientConfig) Backend {
		b := Backend{Kind: kind, Name: name, Webhook: wh, Index: i, Resource: resource,
			Field: fmt.Sprintf("webhooks[%d] (%s).clientConfig.caBundle", i, wh), JSONPath: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i),
			CABundle: cc.CABundle}
		if s := cc.Service; s != nil {
			b.Namespace, b.Service = s.Namespace, s.Name
		}
		if cc.URL != nil {
			b.URL = *cc.URL
		}
		return b
	}
	adm := client.AdmissionregistrationV1()
	_, err := Each(ctx, PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return adm.ValidatingWebhookConfigurations().List(ctx, lo)
		},
		func() { reset(KindValidatingWebhook) },
		func(c *admissionregistrationv1.ValidatingWebhookConfiguration) {
			for i, wh := range c.Webhooks {
				each(webhook(KindValidatingWebhook, "validatingwebhookconfiguration", c.Name, i, wh.Name, wh.ClientConfig))
			}
		})
	errs.set(KindValidatingWebhook, err)
	_, err = Each(ctx, PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return adm.MutatingWebhookConfigurations().List(ctx, lo)
		},
		func() { reset(KindMutatingWebhook) },
		func(c *admissionregistrationv1.MutatingWebhookConfiguration) {
			for i, wh := range c.Webhooks {
				each(webhook(KindMutatingWebhook, "mutatingwebhookconfiguration", c.Name, i, wh.Name, wh.ClientConfig))
			}
		})
	errs.set(KindMutatingWebhook, err)
	if dyn == nil {
		return errs
	}
	err = eachDynamic(ctx, dyn, APIServiceGVR, PageSize, func() { reset(KindAPIService) }, func(u *unstructured.Unstructured) {
		b := Backend{Kind: KindAPIService, Name: u.GetName(), Resource: "apiservice", Field: "spec.caBundle", JSONPath: "/spec/caBundle"}
		if svc, _, _ := unstructured.NestedMap(u.Object, "spec", "service"); svc == nil {
			b.Local = true
		}
		b.Namespace, _, _ = unstructured.NestedString(u.Object, "spec", "service", "namespace")
		b.Service, _, _ = unstructured.NestedString(u.Object, "spec", "service", "name")
		b.Insecure, _, _ = unstructured.NestedBool(u.Object, "spec", "insecureSkipTLSVerify")
		b.CABundle = b64Field(u, "spec", "caBundle")
		each(b)
	})
	errs.set(KindAPIService, err)
	err = eachDynamic(ctx, dyn, CRDGVR, crdPageSize, func() { reset(KindCRD) }, func(u *unstructured.Unstructured) {
		if strategy, _, _ := unstructured.NestedString(u.Object, "spec", "conversion", "strategy"); strategy != "Webhook" {
			return
		}
		cc := []string{"spec", "conversion", "webhook", "clientConfig"}
		b := Backend{Kind: KindCRD, Name: u.GetName(), Resource: "customresourcedefinition",
			Field: "spec.conversion.webhook.clientConfig.caBundle", JSONPath: "/spec/conversion/webhook/clientConfig/caBundle"}
		b.Namespace, _, _ = unstructured.NestedString(u.Object, append(cc, "service", "namespace")...)
		b.Service, _, _ = unstructured.NestedString(u.Object, append(cc, "service", "name")...)
		b.URL, _, _ = unstructured.NestedString(u.Object, append(cc, "url")...)
		b.CABundle = b64Field(u, append(cc, "caBundle")...)
		each(b)
	})
	errs.set(KindCRD, err)
	return errs
}

func (e BackendErrors) set(kind string, err error) {
	if err != nil {
		e[kind] = err
	}
}

// ServiceBackends are the backends served by a service in the cluster or
// at a URL, as the step renderer names them: aggregated API servers (apis)
// and webhooks (hooks).
func ServiceBackends(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface) (apis, hooks []checks.ServiceRef, err error) {
	seen := map[string]bool{}
	errs := EachBackend(ctx, client, dyn, func(string) {}, func(b Backend) {
		key := b.Kind + "/" + b.Name + "/" + b.Webhook
		if seen[key] {
			return
		}
		seen[key] = true
		switch {
		case b.Kind == KindAPIService && b.Service != "":
			apis = append(apis, b.Ref())
		case b.Kind != KindAPIService && (b.Service != "" || b.URL != "" || b.Kind != KindCRD):
			hooks = append(hooks, b.Ref())
		}
	})
	return apis, hooks, errs.Err()
}

// eachDynamic lists a resource that may not be served (no aggregation
// layer, no CRDs): a missing API is not a failure.
func eachDynamic(ctx context.Context, dyn dynamic.Interface, gvr schema.GroupVersionResource, pageSize int64, reset func(), each func(*unstructured.Unstructured)) error {
	res := dyn.Resource(gvr)
	_, err := Each(ctx, pageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return res.List(ctx, lo) },
		reset, each)
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// b64Field reads a []byte field, which JSON carries as base64.
func b64Field(u *unstructured.Unstructured, fields ...string) []byte {
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
