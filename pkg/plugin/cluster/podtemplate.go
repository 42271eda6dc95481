package cluster

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// PodTemplate is what undo checks a restart pass's change against before
// it puts the previous values back: every annotation of a workload's pod
// template (a JSON patch must know whether the map exists), and a
// Deployment's spec.paused; and, to tell undo's own write whose answer
// was lost, the workload's generation and managedFields.
type PodTemplate struct {
	Annotations   map[string]string
	Paused        bool
	Generation    int64
	ManagedFields []metav1.ManagedFieldsEntry
}

// GetPodTemplate reads one workload's PodTemplate.
func GetPodTemplate(ctx context.Context, client kubernetes.Interface, kind, ns, name string) (PodTemplate, error) {
	obj, err := getWorkload(ctx, client, kind, ns, name)
	if err != nil {
		return PodTemplate{}, err
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return PodTemplate{Annotations: o.Spec.Template.Annotations, Paused: o.Spec.Paused, Generation: o.Generation, ManagedFields: o.ManagedFields}, nil
	case *appsv1.DaemonSet:
		return PodTemplate{Annotations: o.Spec.Template.Annotations, Generation: o.Generation, ManagedFields: o.ManagedFields}, nil
	case *appsv1.StatefulSet:
		return PodTemplate{Annotations: o.Spec.Template.Annotations, Generation: o.Generation, ManagedFields: o.ManagedFields}, nil
	}
	return PodTemplate{}, fmt.Errorf("unknown kind %q", kind)
}

// getWorkload reads one Deployment, DaemonSet or StatefulSet.
func getWorkload(ctx context.Context, client kubernetes.Interface, kind, ns, name string) (runtime.Object, error) {
	apps := client.AppsV1()
	switch kind {
	case checks.KindDeployment:
		return apps.Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	case checks.KindDaemonSet:
		return apps.DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
	case checks.KindStatefulSet:
		return apps.StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
	}
	return nil, fmt.Errorf("unknown kind %q", kind)
}
