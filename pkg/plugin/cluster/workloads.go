package cluster

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// WorkloadKind is a kind of workload a pass rolls, and its resource.
type WorkloadKind struct {
	Kind     string // checks.KindDeployment ...
	Resource string // deployments ...
}

// WorkloadKinds are the three, in the upstream loop's order.
var WorkloadKinds = []WorkloadKind{
	{checks.KindDeployment, "deployments"},
	{checks.KindDaemonSet, "daemonsets"},
	{checks.KindStatefulSet, "statefulsets"},
}

// Workload is one Deployment, DaemonSet or StatefulSet: what the rules in
// pkg/checks read, plus what it takes to patch it and find its pods.
type Workload struct {
	checks.Workload
	UID types.UID
	// ResourceVersion is the version the pass read: its patch is
	// conditional on it, so two passes racing on one workload cannot both
	// report it patched.
	ResourceVersion string
	// Selector is the workload's pod label selector, as a string.
	Selector string
}

// Key is kind/namespace/name.
func (t *Workload) Key() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

func selectorString(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing().String()
	}
	return sel.String()
}

func fromDeployment(d *appsv1.Deployment, annotation string) *Workload {
	w := checks.Workload{Kind: checks.KindDeployment, Namespace: d.Namespace, Name: d.Name, Generation: d.Generation, Replicas: 1, Paused: d.Spec.Paused}
	if d.Spec.Replicas != nil {
		w.Replicas = *d.Spec.Replicas
	}
	w.Value, w.HasValue = d.Spec.Template.Annotations[annotation]
	s := d.Status
	w.Status = checks.WorkloadStatus{ObservedGeneration: s.ObservedGeneration, Replicas: s.Replicas,
		UpdatedReplicas: s.UpdatedReplicas, ReadyReplicas: s.ReadyReplicas, AvailableReplicas: s.AvailableReplicas}
	for _, c := range s.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Reason == "ProgressDeadlineExceeded" {
			w.Status.ProgressDeadlineExceeded = true
		}
	}
	return &Workload{Workload: w, UID: d.UID, ResourceVersion: d.ResourceVersion, Selector: selectorString(d.Spec.Selector)}
}

func fromDaemonSet(d *appsv1.DaemonSet, annotation string) *Workload {
	s := d.Status
	w := checks.Workload{Kind: checks.KindDaemonSet, Namespace: d.Namespace, Name: d.Name, Generation: d.Generation,
		Replicas: s.DesiredNumberScheduled, OnDelete: d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType}
	w.Value, w.HasValue = d.Spec.Template.Annotations[annotation]
	w.Status = checks.WorkloadStatus{ObservedGeneration: s.ObservedGeneration, DesiredNumberScheduled: s.DesiredNumberScheduled,
		UpdatedNumberScheduled: s.UpdatedNumberScheduled, NumberAvailable: s.NumberAvailable}
	return &Workload{Workload: w, UID: d.UID, ResourceVersion: d.ResourceVersion, Selector: selectorString(d.Spec.Selector)}
}

func fromStatefulSet(d *appsv1.StatefulSet, annotation string) *Workload {
	w := checks.Workload{Kind: checks.KindStatefulSet, Namespace: d.Namespace, Name: d.Name, Generation: d.Generation, Replicas: 1,
		OnDelete: d.Spec.UpdateStrategy.Type == appsv1.OnDeleteStatefulSetStrategyType}
	if d.Spec.Replicas != nil {
		w.Replicas = *d.Spec.Replicas
	}
	if ru := d.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		w.HasPartition, w.Partition = true, *ru.Partition
	}
	w.Value, w.HasValue = d.Spec.Template.Annotations[annotation]
	s := d.Status
	w.Status = checks.WorkloadStatus{ObservedGeneration: s.ObservedGeneration, Replicas: s.Replicas, UpdatedReplicas: s.UpdatedReplicas,
		ReadyReplicas: s.ReadyReplicas, AvailableReplicas: s.AvailableReplicas, CurrentReplicas: s.CurrentReplicas,
		CurrentRevision: s.CurrentRevision, UpdateRevision: s.UpdateRevision}
	return &Workload{Workload: w, UID: d.UID, ResourceVersion: d.ResourceVersion, Selector: selectorString(d.Spec.Selector)}
}

// WorkloadFrom is the Workload of a Deployment, DaemonSet or StatefulSet
// object (as a watch or an informer delivers it); false for anything else.
func WorkloadFrom(obj any, annotation string) (*Workload, bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return fromDeployment(o, annotation), true
	case *appsv1.DaemonSet:
		return fromDaemonSet(o, annotation), true
	case *appsv1.StatefulSet:
		return fromStatefulSet(o, annotation), true
	}
	return nil, false
}

// ListWorkloads lists one kind with one paged list (cluster-wide when ns is
// ""), never one list per namespace, and calls each with every workload.
// reset is called when the list starts over.
func ListWorkloads(ctx context.Context, client kubernetes.Interface, kind, ns string, opts metav1.ListOptions, annotation string, reset func(), each func(*Workload)) error {
	apps := client.AppsV1()
	var err error
	switch kind {
	case checks.KindDeployment:
		_, err = Each(ctx, PageSize, opts, func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return apps.Deployments(ns).List(ctx, lo)
		},
			reset, func(d *appsv1.Deployment) { each(fromDeployment(d, annotation)) })
	case checks.KindDaemonSet:
		_, err = Each(ctx, PageSize, opts, func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return apps.DaemonSets(ns).List(ctx, lo)
		},
			reset, func(d *appsv1.DaemonSet) { each(fromDaemonSet(d, annotation)) })
	case checks.KindStatefulSet:
		_, err = Each(ctx, PageSize, opts, func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return apps.StatefulSets(ns).List(ctx, lo)
		},
			reset, func(d *appsv1.StatefulSet) { each(fromStatefulSet(d, annotation)) })
	default:
		err = fmt.Errorf("unknown kind %q", kind)
	}
	return err
}

// GetWorkload reads one workload.
func GetWorkload(ctx context.Context, client kubernetes.Interface, kind, ns, name, annotation string) (*Workload, error) {
	obj, err := getWorkload(ctx, client, kind, ns, name)
	if err != nil {
		return nil, err
	}
	w, _ := WorkloadFrom(obj, annotation)
	return w, nil
}

// PatchWorkload sends one patch to a Deployment, DaemonSet or StatefulSet
// and returns the generation it left.
func PatchWorkload(ctx context.Context, client kubernetes.Interface, kind, ns, name string, pt types.PatchType, body []byte, opts metav1.PatchOptions) (int64, error) {
	apps := client.AppsV1()
	switch kind {
	case checks.KindDeployment:
		d, err := apps.Deployments(ns).Patch(ctx, name, pt, body, opts)
		if err != nil {
			return 0, err
		}
		return d.Generation, nil
	case checks.KindDaemonSet:
		d, err := apps.DaemonSets(ns).Patch(ctx, name, pt, body, opts)
		if err != nil {
			return 0, err
		}
		return d.Generation, nil
	case checks.KindStatefulSet:
		d, err := apps.StatefulSets(ns).Patch(ctx, name, pt, body, opts)
		if err != nil {
			return 0, err
		}
		return d.Generation, nil
	}
	return 0, fmt.Errorf("unknown kind %q", kind)
}

// CloudControllerWorkloads finds a cloud-controller-manager run as a
// Deployment or DaemonSet in kube-system, by name or by the usual labels.
func CloudControllerWorkloads(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	match := func(name string, labels map[string]string) bool {
		return strings.Contains(name, "cloud-controller-manager") || labels["component"] == checks.ComponentCloudController ||
			labels["k8s-app"] == checks.ComponentCloudController || labels["app.kubernetes.io/name"] == checks.ComponentCloudController
	}
	var out []string
	deps, err := client.AppsV1().Deployments(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		return nil, err
	}
	if deps != nil {
		for _, d := range deps.Items {
			if match(d.Name, d.Spec.Template.Labels) {
				out = append(out, "Deployment kube-system/"+d.Name)
			}
		}
	}
	dss, err := client.AppsV1().DaemonSets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsForbidden(err) {
		return nil, err
	}
	if dss != nil {
		for _, d := range dss.Items {
			if match(d.Name, d.Spec.Template.Labels) {
				out = append(out, "DaemonSet kube-system/"+d.Name)
			}
		}
	}
	return out, nil
}
