package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// restartPageSize bounds what one list response holds in memory; 500 is
// kubectl's chunk size too.
const restartPageSize = 500

// restartTarget is one workload of the pass: what the rules in pkg/checks
// read, plus what it takes to find its pods.
type restartTarget struct {
	checks.Workload
	UID types.UID
	// ResourceVersion is the version the pass read: its patch is
	// conditional on it, so two passes racing on one workload cannot both
	// report it patched.
	ResourceVersion string
	// Selector is the workload's pod label selector, as a string.
	Selector string
}

func (t *restartTarget) key() string { return t.Kind + "/" + t.Namespace + "/" + t.Name }

func restartSelector(s *metav1.LabelSelector) string {
	sel, err := metav1.LabelSelectorAsSelector(s)
	if err != nil {
		return labels.Nothing().String()
	}
	return sel.String()
}

func restartFromDeployment(d *appsv1.Deployment, annotation string) *restartTarget {
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
	return &restartTarget{Workload: w, UID: d.UID, ResourceVersion: d.ResourceVersion, Selector: restartSelector(d.Spec.Selector)}
}

func restartFromDaemonSet(d *appsv1.DaemonSet, annotation string) *restartTarget {
	s := d.Status
	w := checks.Workload{Kind: checks.KindDaemonSet, Namespace: d.Namespace, Name: d.Name, Generation: d.Generation,
		Replicas: s.DesiredNumberScheduled, OnDelete: d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType}
	w.Value, w.HasValue = d.Spec.Template.Annotations[annotation]
	w.Status = checks.WorkloadStatus{ObservedGeneration: s.ObservedGeneration, DesiredNumberScheduled: s.DesiredNumberScheduled,
		UpdatedNumberScheduled: s.UpdatedNumberScheduled, NumberAvailable: s.NumberAvailable}
	return &restartTarget{Workload: w, UID: d.UID, ResourceVersion: d.ResourceVersion, Selector: restartSelector(d.Spec.Selector)}
}

func restartFromStatefulSet(d *appsv1.StatefulSet, annotation string) *restartTarget {
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
	return &restartTarget{Workload: w, UID: d.UID, ResourceVersion: d.ResourceVersion, Selector: restartSelector(d.Spec.Selector)}
}

// listKind lists one kind with one paginated list: cluster-wide, or in the
// -n namespace; never one list per namespace.
func (r *restartRun) listKind(ctx context.Context, k restartKind) ([]*restartTarget, error) {
	o := r.o
	ns, ann := o.scope.namespace, o.Annotation
	apps := o.client.AppsV1()
	var out []*restartTarget
	add := func(t *restartTarget) {
		if o.scope.covers(t.Namespace) {
			out = append(out, t)
		}
	}
	reset := func() { out = out[:0] }
	opts := o.restartListOptions(o.Selector)
	switch k.Kind {
	case checks.KindDeployment:
		return out, restartPages(ctx, opts, func(ctx context.Context, lo metav1.ListOptions) ([]appsv1.Deployment, string, error) {
			l, err := apps.Deployments(ns).List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []appsv1.Deployment) {
			for i := range items {
				add(restartFromDeployment(&items[i], ann))
			}
		}, reset)
	case checks.KindDaemonSet:
		return out, restartPages(ctx, opts, func(ctx context.Context, lo metav1.ListOptions) ([]appsv1.DaemonSet, string, error) {
			l, err := apps.DaemonSets(ns).List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []appsv1.DaemonSet) {
			for i := range items {
				add(restartFromDaemonSet(&items[i], ann))
			}
		}, reset)
	case checks.KindStatefulSet:
		return out, restartPages(ctx, opts, func(ctx context.Context, lo metav1.ListOptions) ([]appsv1.StatefulSet, string, error) {
			l, err := apps.StatefulSets(ns).List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []appsv1.StatefulSet) {
			for i := range items {
				add(restartFromStatefulSet(&items[i], ann))
			}
		}, reset)
	}
	return nil, fmt.Errorf("unknown kind %q", k.Kind)
}

// restartKindOrder sorts the report: the upstream loop's order, then pods.
func restartKindOrder(kind string) int {
	switch kind {
	case checks.KindDeployment:
		return 0
	case checks.KindDaemonSet:
		return 1
	case checks.KindStatefulSet:
		return 2
	}
	return 3
}

// list finds the workloads of the pass and the pods no patch restarts.
func (r *restartRun) list(ctx context.Context) error {
	start := time.Now()
	var counts []string
	for _, k := range r.o.kinds {
		ts, err := r.listKind(ctx, k)
		if err != nil {
			return fmt.Errorf("listing %s: %w", k.Resource, err)
		}
		r.targets = append(r.targets, ts...)
		counts = append(counts, fmt.Sprintf("%s %d", k.Resource, len(ts)))
	}
	// Patches go out in list order, kind by kind: etcd's keys are laid out
	// the same way, which writes measurably faster than interleaving kinds.
	// The report sorts by namespace.
	if err := r.scanPods(ctx); err != nil {
		return fmt.Errorf("listing pods: %w", err)
	}
	r.items = make([]*restartItem, len(r.targets))
	for i, t := range r.targets {
		plan := checks.PlanRestart(t.Workload, r.value, r.o.ResumePaused)
		r.items[i] = &restartItem{Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Note: plan.Note, OldPods: r.oldPods[t.UID]}
	}
	fmt.Fprintf(r.o.ErrOut, "Listed %d workloads in %s (%s) and %d pod(s) no patch restarts, in %s\n",
		len(r.targets), r.o.scope, strings.Join(counts, ", "), len(r.pods), time.Since(start).Round(time.Millisecond))
	return nil
}

// scanPods walks every pod in scope once. It counts, per DaemonSet and
// StatefulSet, the running pods whose template does not carry the pass value
// (for OnDelete workloads those stay until deleted), and collects the pods
// no workload patch restarts. -l filters only the reported pods: a
// workload's pods need not carry the workload's own labels.
func (r *restartRun) scanPods(ctx context.Context) error {
	o := r.o
	sel := labels.Everything()
	if o.Selector != "" {
		var err error
		if sel, err = labels.Parse(o.Selector); err != nil {
			return err
		}
	}
	r.oldPods = map[types.UID]int{}
	r.pods = nil
	return restartPages(ctx, o.restartListOptions(""), func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Pod, string, error) {
		l, err := o.client.CoreV1().Pods(o.scope.namespace).List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(pods []corev1.Pod) {
		for i := range pods {
			p := &pods[i]
			if !o.scope.covers(p.Namespace) {
				continue
			}
			info := checks.PodInfo{Namespace: p.Namespace, Name: p.Name, Phase: string(p.Status.Phase),
				TemplateHash: p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]}
			_, info.Mirror = p.Annotations[corev1.MirrorPodAnnotationKey]
			if ref := metav1.GetControllerOf(p); ref != nil {
				info.OwnerKind, info.OwnerName = ref.Kind, ref.Name
				if (ref.Kind == checks.KindDaemonSet || ref.Kind == checks.KindStatefulSet) && p.DeletionTimestamp == nil &&
					p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.Annotations[o.Annotation] != r.value {
					r.oldPods[ref.UID]++
				}
			}
			if reason, detail, ok := checks.UnrolledPod(info); ok && sel.Matches(labels.Set(p.Labels)) {
				r.pods = append(r.pods, restartPodItem{Namespace: p.Namespace, Name: p.Name, Reason: reason, Detail: detail})
			}
		}
	}, func() {
		r.oldPods = map[types.UID]int{}
		r.pods = nil
	})
}
