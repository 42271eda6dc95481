package restart

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// scope is which namespaces a pass covers.
type scope struct {
	namespace  string          // -n: this namespace only
	nsSelector labels.Selector // --namespace-selector, nil when not given
	include    map[string]bool // namespaces matching nsSelector
	exclude    map[string]bool // --exclude-namespace
}

func (s scope) covers(ns string) bool {
	if s.exclude[ns] {
		return false
	}
	if s.nsSelector != nil {
		return s.include[ns]
	}
	return s.namespace == "" || s.namespace == ns
}

func (s scope) String() string {
	switch {
	case s.namespace != "":
		return "namespace " + s.namespace
	case s.nsSelector != nil:
		return fmt.Sprintf("%d namespace(s) matching %s", len(s.include), s.nsSelector)
	}
	return "all namespaces"
}

// listOptions narrows a cluster-wide list server-side: the label selector,
// and a field selector for the excluded namespaces (every resource supports
// metadata.namespace), so their objects are never sent.
func (o *Options) listOptions(labelSelector string) metav1.ListOptions {
	var sels []fields.Selector
	excluded := make([]string, 0, len(o.scope.exclude))
	for ns := range o.scope.exclude {
		excluded = append(excluded, ns)
	}
	sort.Strings(excluded)
	for _, ns := range excluded {
		sels = append(sels, fields.OneTermNotEqualSelector("metadata.namespace", ns))
	}
	opts := metav1.ListOptions{LabelSelector: labelSelector}
	if len(sels) > 0 {
		opts.FieldSelector = fields.AndSelectors(sels...).String()
	}
	return opts
}

// selectNamespaces resolves --namespace-selector with one paginated
// list; the workload lists stay cluster-wide and are filtered by it.
func (o *Options) selectNamespaces(ctx context.Context) error {
	reset := func() { o.scope.include = map[string]bool{} }
	reset()
	namespaces := o.client.CoreV1().Namespaces()
	_, err := cluster.Each(ctx, cluster.PageSize, metav1.ListOptions{LabelSelector: o.scope.nsSelector.String()},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return namespaces.List(ctx, lo)
		},
		reset, func(ns *corev1.Namespace) { o.scope.include[ns.Name] = true })
	if err != nil {
		return fmt.Errorf("listing namespaces matching %s: %w", o.scope.nsSelector, err)
	}
	return nil
}

// scopeNote says how a pass was narrowed; "" for the whole cluster
// and every kind. A narrowed pass does not complete its phase.
func (o *Options) scopeNote() string {
	var parts []string
	if o.scope.namespace != "" || o.scope.nsSelector != nil || len(o.scope.exclude) > 0 {
		parts = append(parts, o.scope.String())
		if len(o.scope.exclude) > 0 {
			parts = append(parts, fmt.Sprintf("%d namespace(s) excluded", len(o.scope.exclude)))
		}
	}
	if o.Selector != "" {
		parts = append(parts, "-l "+o.Selector)
	}
	if len(o.kinds) < len(cluster.WorkloadKinds) {
		var ks []string
		for _, k := range o.kinds {
			ks = append(ks, k.Resource)
		}
		parts = append(parts, "--kinds "+strings.Join(ks, ","))
	}
	return strings.Join(parts, ", ")
}
