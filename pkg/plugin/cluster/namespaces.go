package cluster

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// TerminatingNamespaces reads every namespace, or ns alone when it is not
// "", and tells for each whether it is being deleted: a write into one
// that is either fails or goes with it.
func TerminatingNamespaces(ctx context.Context, client kubernetes.Interface, ns string) (map[string]bool, error) {
	terminating := map[string]bool{}
	isTerminating := func(ns *corev1.Namespace) bool {
		return ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil
	}
	nss := client.CoreV1().Namespaces()
	if ns != "" {
		var got *corev1.Namespace
		err := WithRetry(ctx, func() (err error) {
			got, err = nss.Get(ctx, ns, metav1.GetOptions{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading namespace %s: %w", ns, err)
		}
		terminating[got.Name] = isTerminating(got)
		return terminating, nil
	}
	// A restarted list sees namespaces again: the map keeps one entry each.
	_, err := Each(ctx, PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return nss.List(ctx, lo) },
		func() {},
		func(ns *corev1.Namespace) { terminating[ns.Name] = isTerminating(ns) })
	if err != nil {
		return nil, fmt.Errorf("listing namespaces: %w", err)
	}
	return terminating, nil
}
