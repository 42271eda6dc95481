package restart

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// listKind lists one kind with one paginated list: cluster-wide, or in the
// -n namespace; never one list per namespace.
func (r *pass) listKind(ctx context.Context, k cluster.WorkloadKind) ([]*target, error) {
	o := r.o
	var out []*target
	err := cluster.ListWorkloads(ctx, o.client, k.Kind, o.scope.namespace, o.listOptions(o.Selector), o.Annotation,
		func() { out = out[:0] },
		func(w *cluster.Workload) {
			if o.scope.covers(w.Namespace) {
				out = append(out, newTarget(w))
			}
		})
	return out, err
}

// kindOrder sorts the report: the upstream loop's order, then pods.
func kindOrder(kind string) int {
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
func (r *pass) list(ctx context.Context) error {
	start := time.Now()
	// The kinds are listed one after another while the pods scan runs
	// alongside: each list decodes a page of up to 500 objects at a time,
	// and the three kinds' pages at once raised the pass's memory floor by
	// 10 MiB at 50,000 workloads (docs/benchmarks.md) to save about a
	// second. Their errors are reported in this order.
	kinds := r.o.kinds
	lists := make([][]*target, len(kinds))
	errs := make([]error, len(kinds))
	var podsErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, k := range kinds {
			if lists[i], errs[i] = r.listKind(ctx, k); errs[i] != nil {
				return
			}
		}
	})
	wg.Go(func() { podsErr = r.scanPods(ctx) })
	wg.Wait()
	var counts []string
	for i, k := range kinds {
		if errs[i] != nil {
			return fmt.Errorf("listing %s: %w", k.Resource, errs[i])
		}
		// Patches go out in list order, kind by kind: etcd's keys are laid
		// out the same way, which writes measurably faster than
		// interleaving kinds. The report sorts by namespace.
		r.targets = append(r.targets, lists[i]...)
		counts = append(counts, fmt.Sprintf("%s %d", k.Resource, len(lists[i])))
	}
	if podsErr != nil {
		return fmt.Errorf("listing pods: %w", podsErr)
	}
	r.items = make([]*item, len(r.targets))
	for i, t := range r.targets {
		t.setNote(checks.PlanRestart(t.asChecks(), r.value, r.o.ResumePaused).Note)
		if t.uid != "" {
			t.oldPods = r.oldPods[t.uid]
		}
		r.items[i] = &t.item
	}
	fmt.Fprintf(r.o.ErrOut, "Listed %d workloads in %s (%s) and %d pod(s) no patch restarts, in %s\n",
		len(r.targets), r.o.scope, strings.Join(counts, ", "), r.pods.len(), time.Since(start).Round(time.Millisecond))
	return nil
}

// scanPods walks every pod in scope once. It counts, per DaemonSet and
// StatefulSet, the running pods whose template does not carry the pass value
// (for OnDelete workloads those stay until deleted), and collects the pods
// no workload patch restarts. -l filters only the reported pods: a
// workload's pods need not carry the workload's own labels.
func (r *pass) scanPods(ctx context.Context) error {
	o := r.o
	sel := labels.Everything()
	if o.Selector != "" {
		var err error
		if sel, err = labels.Parse(o.Selector); err != nil {
			return err
		}
	}
	reset := func() {
		r.oldPods = map[types.UID]int32{}
		r.pods = newPodList()
	}
	reset()
	pods := o.client.CoreV1().Pods(o.scope.namespace)
	_, err := cluster.Each(ctx, cluster.PageSize, o.listOptions(""),
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, lo) },
		reset, func(p *corev1.Pod) {
			if !o.scope.covers(p.Namespace) {
				return
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
				r.pods.add(podItem{Namespace: p.Namespace, Name: p.Name, Reason: reason, Detail: detail})
			}
		})
	return err
}
