package cluster

import (
	"context"
	"errors"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// FrontProxyEvidence reads everything the front-proxy-ca judges need: the
// requestheader CA kube-apiserver publishes, its flags (mirror pods), and
// whether each APIService served from the cluster is Available (the
// aggregator checks that by calling it with the proxy client
// certificate). Each read that fails leaves its error in the evidence.
func FrontProxyEvidence(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, ev checks.FrontProxyEvidence) checks.FrontProxyEvidence {
	if data, err := ExtensionAuth(ctx, client); err != nil {
		ev.ExtErr = err
	} else {
		ev.RequestHeaderCA = []byte(data["requestheader-client-ca-file"])
	}
	ev.ControlPlane, ev.ControlPlaneErr = ControlPlane(ctx, client)
	ev.APIServices, ev.APIServicesErr = AggregatedAPIs(ctx, dyn)
	return ev
}

// AggregatedAPIs are the APIServices backed by a service, with their
// Available condition.
func AggregatedAPIs(ctx context.Context, dyn dynamic.Interface) ([]checks.AggregatedAPI, error) {
	if dyn == nil {
		return nil, errors.New("no dynamic client")
	}
	var out []checks.AggregatedAPI
	err := eachDynamic(ctx, dyn, APIServiceGVR, PageSize, func() { out = nil }, func(u *unstructured.Unstructured) {
		ns, _, _ := unstructured.NestedString(u.Object, "spec", "service", "namespace")
		name, _, _ := unstructured.NestedString(u.Object, "spec", "service", "name")
		if name == "" {
			return // served by kube-apiserver itself
		}
		a := checks.AggregatedAPI{Name: u.GetName(), Service: ns + "/" + name}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, ok := c.(map[string]any)
			if !ok || m["type"] != "Available" {
				continue
			}
			a.Available = m["status"] == "True"
			a.Reason, _ = m["reason"].(string)
			a.Message, _ = m["message"].(string)
		}
		out = append(out, a)
	})
	return out, err
}
