package plugin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// restartTracker is the live state of the workloads during --wait.
type restartTracker interface {
	// Get returns the latest state of a workload; false once it is deleted.
	Get(kind, namespace, name string) (*restartTarget, bool)
	// Subscribe returns a channel that receives a value whenever the
	// workload changes; call the cancel function when done.
	Subscribe(kind, namespace, name string) (<-chan struct{}, func())
	Stop()
}

// errRestartGone says a workload was deleted while we waited for it.
var errRestartGone = errors.New("deleted while waiting for its rollout")

// restartTimeoutError is a rollout that did not finish within --timeout.
type restartTimeoutError struct{ last string }

func (e *restartTimeoutError) Error() string {
	if e.last == "" {
		return "did not finish in time"
	}
	return "did not finish in time: " + e.last
}

// executeWait patches and rolls with at most --max-in-flight workloads
// rolling at once. A slot is taken before the patch (the patch is what
// starts a rollout) and given back when the watch shows the rollout
// complete, so the cap holds across the cluster. Workloads that will not
// roll (paused, OnDelete without --delete-ondelete-pods, 0 replicas) take no
// slot and are patched first.
func (r *restartRun) executeWait(ctx context.Context) {
	tr, err := r.o.NewTracker(ctx)
	if err != nil {
		for _, it := range r.items {
			if it.Result == "" {
				it.Result, it.Error = restartResultNotReached, "watching workloads: "+err.Error()
			}
		}
		return
	}
	defer tr.Stop()

	var free, slotted []int
	for i, t := range r.targets {
		plan := checks.PlanRestart(t.Workload, r.value, r.o.ResumePaused)
		replace := plan.Reason == checks.ReasonOnDelete && r.o.DeleteOnDeletePods && t.Replicas > 0 &&
			(plan.Patch || r.items[i].OldPods > 0)
		if plan.Rolls || replace {
			slotted = append(slotted, i)
		} else {
			free = append(free, i)
		}
	}
	r.patchAll(ctx, free, true)

	slots := make(chan struct{}, r.o.MaxInFlight)
	var wg sync.WaitGroup
	for _, i := range slotted {
		if r.alreadyRolledOut(tr, i) {
			r.patchOne(ctx, i) // records "already current" and the skip reason
			r.items[i].Rollout = restartRolloutComplete
			r.progress.finished(r.items[i])
			continue
		}
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		r.progress.rolling.Add(1)
		wg.Go(func() {
			defer func() { r.progress.rolling.Add(-1); <-slots }()
			r.rollOne(ctx, tr, i)
			r.progress.finished(r.items[i])
		})
	}
	wg.Wait()
}

// alreadyRolledOut: a workload that carries the value from an earlier run
// and has finished rolling needs neither a patch nor a slot. One that is
// still rolling (the earlier run was interrupted) takes a slot and is
// waited for like the others.
func (r *restartRun) alreadyRolledOut(tr restartTracker, i int) bool {
	t := r.targets[i]
	if checks.PlanRestart(t.Workload, r.value, r.o.ResumePaused).Patch {
		return false
	}
	if t.OnDelete {
		return r.items[i].OldPods == 0
	}
	cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
	if !ok {
		return false
	}
	done, _, err := checks.RolloutStatus(cur.Workload, cur.Generation)
	return done && err == nil
}

// rollOne patches one workload, then waits for its rollout (or replaces the
// pods of an OnDelete workload), within --timeout.
func (r *restartRun) rollOne(ctx context.Context, tr restartTracker, i int) {
	t, it := r.targets[i], r.items[i]
	gen, ok := r.patchOne(ctx, i)
	if !ok {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	var err error
	if t.OnDelete {
		err = r.replaceOnDeletePods(wctx, tr, t, it, gen)
	} else {
		err = r.waitRollout(wctx, tr, t, gen)
	}
	var timeout *restartTimeoutError
	switch {
	case err == nil:
		it.Rollout = restartRolloutComplete
		if t.OnDelete {
			it.Skipped = ""
		}
		r.progress.eventf("%s -n %s rolled out", t.Ref(), t.Namespace)
	case ctx.Err() != nil:
		it.Rollout, it.Error = restartRolloutNotReached, "interrupted while waiting for the rollout"
	case errors.Is(err, errRestartGone):
		it.Result, it.Error, it.Skipped = restartResultGone, err.Error(), ""
	case errors.As(err, &timeout):
		it.Rollout, it.Error = restartRolloutTimedOut, fmt.Sprintf("rollout did not finish within %s: %s", r.o.Timeout, timeout.last)
		r.progress.eventf("%s -n %s: %s", t.Ref(), t.Namespace, it.Error)
	default:
		it.Rollout, it.Error = restartRolloutFailed, "rollout: "+err.Error()
		r.progress.eventf("%s -n %s: %s", t.Ref(), t.Namespace, it.Error)
	}
}

// waitRollout blocks until the watch shows the rollout of generation
// minGen complete by kubectl rollout status's rules.
func (r *restartRun) waitRollout(ctx context.Context, tr restartTracker, t *restartTarget, minGen int64) error {
	changed, unsubscribe := tr.Subscribe(t.Kind, t.Namespace, t.Name)
	defer unsubscribe()
	var last string
	for {
		cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
		if !ok {
			return errRestartGone
		}
		done, msg, err := checks.RolloutStatus(cur.Workload, minGen)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		last = msg
		select {
		case <-changed:
		case <-ctx.Done():
			return &restartTimeoutError{last: last}
		}
	}
}

// replaceOnDeletePods deletes, one at a time, the pods of an OnDelete
// DaemonSet or StatefulSet whose template lacks the pass value. Before each
// deletion every pod of the workload must be Ready and the previously
// deleted one gone, so at most one pod is down at a time, as a rolling
// update with maxUnavailable 1 would do. A pod watch (not polling) drives it.
func (r *restartRun) replaceOnDeletePods(ctx context.Context, tr restartTracker, t *restartTarget, it *restartItem, minGen int64) error {
	// The StatefulSet controller stamps replacements with the update revision
	// it has observed: wait until that is ours.
	wlChanged, unsubscribe := tr.Subscribe(t.Kind, t.Namespace, t.Name)
	defer unsubscribe()
	for {
		cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
		if !ok {
			return errRestartGone
		}
		if cur.Generation >= minGen && cur.Status.ObservedGeneration >= minGen {
			break
		}
		select {
		case <-wlChanged:
		case <-ctx.Done():
			return &restartTimeoutError{last: fmt.Sprintf("waiting for the %s controller to observe the new template", t.Kind)}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	pods := r.o.client.CoreV1().Pods(t.Namespace)
	podInformer := restartNewInformer(&corev1.Pod{}, func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
		lo.LabelSelector = t.Selector
		return pods.List(ctx, lo)
	}, func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
		lo.LabelSelector = t.Selector
		return pods.Watch(ctx, lo)
	}, restartTrimmer(r.o.Annotation))
	podsChanged := make(chan struct{}, 1)
	signal := func(any) {
		select {
		case podsChanged <- struct{}{}:
		default:
		}
	}
	if _, err := podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: signal, UpdateFunc: func(_, n any) { signal(n) }, DeleteFunc: signal,
	}); err != nil {
		cancel()
		return err
	}
	var running sync.WaitGroup
	running.Go(func() { podInformer.RunWithContext(ctx) })
	defer func() { cancel(); running.Wait() }()
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced) {
		return &restartTimeoutError{last: "listing its pods"}
	}

	var deleted types.UID
	for {
		cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
		if !ok {
			return errRestartGone
		}
		var live, old []*corev1.Pod
		deletedGone, ready := true, 0
		for _, obj := range podInformer.GetStore().List() {
			p := obj.(*corev1.Pod)
			if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != t.UID {
				continue
			}
			if p.UID == deleted {
				deletedGone = false
			}
			if p.DeletionTimestamp != nil {
				continue
			}
			live = append(live, p)
			if restartPodReady(p) {
				ready++
			}
			if p.Annotations[r.o.Annotation] != r.value {
				old = append(old, p)
			}
		}
		var waiting string
		switch {
		case !deletedGone:
			waiting = "waiting for the deleted pod to go away"
		case int32(len(live)) < cur.Replicas:
			waiting = fmt.Sprintf("waiting for its replacement pod: %d of %d pods exist", len(live), cur.Replicas)
		case ready < len(live):
			waiting = fmt.Sprintf("waiting for %d of %d pods to be Ready before deleting the next", len(live)-ready, len(live))
		case len(old) == 0:
			return nil
		default:
			// Highest ordinal first, as a StatefulSet rolling update goes.
			sort.Slice(old, func(a, b int) bool { return restartOrdinalLess(old[b].Name, old[a].Name) })
			p := old[0]
			uid := p.UID
			err := WithRetry(ctx, func() error {
				return r.o.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("deleting pod %s: %w", p.Name, err)
			}
			deleted = uid
			it.DeletedPods++
			r.progress.eventf("%s -n %s: deleted pod %s (OnDelete), waiting for its replacement", t.Ref(), t.Namespace, p.Name)
			continue
		}
		select {
		case <-podsChanged:
		case <-wlChanged:
		case <-ctx.Done():
			return &restartTimeoutError{last: waiting}
		}
	}
}

// restartOrdinalLess orders pod names so that web-10 follows web-9.
func restartOrdinalLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func restartPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// restartTrimmer drops from cached objects everything --wait does not read
// (pod specs, managed fields, labels, other annotations), so watching
// thousands of workloads costs little memory. The informer hands the
// transform its own copy, so trimming in place is allowed.
func restartTrimmer(annotation string) cache.TransformFunc {
	keep := func(m map[string]string) map[string]string {
		if v, ok := m[annotation]; ok {
			return map[string]string{annotation: v}
		}
		return nil
	}
	meta := func(m *metav1.ObjectMeta) {
		m.ManagedFields, m.Labels, m.Annotations = nil, nil, keep(m.Annotations)
	}
	tmpl := func(t *corev1.PodTemplateSpec) {
		t.Labels, t.Annotations, t.Spec = nil, keep(t.Annotations), corev1.PodSpec{}
	}
	return func(obj any) (any, error) {
		switch o := obj.(type) {
		case *appsv1.Deployment:
			meta(&o.ObjectMeta)
			tmpl(&o.Spec.Template)
		case *appsv1.DaemonSet:
			meta(&o.ObjectMeta)
			tmpl(&o.Spec.Template)
		case *appsv1.StatefulSet:
			meta(&o.ObjectMeta)
			tmpl(&o.Spec.Template)
			o.Spec.VolumeClaimTemplates = nil
		case *corev1.Pod:
			meta(&o.ObjectMeta)
			o.Spec = corev1.PodSpec{NodeName: o.Spec.NodeName}
			o.Status = corev1.PodStatus{Phase: o.Status.Phase, Conditions: o.Status.Conditions}
		}
		return obj, nil
	}
}

// restartNewInformer builds one informer (list, then watch, re-listing by
// itself after a disconnect or an expired resourceVersion, e.g. across an
// API server restart) from typed list and watch calls. client-go/informers
// would do the same, but its factory links every API group's informers and
// listers into the binary: about 14 MB more text, which is resident memory
// here.
func restartNewInformer(example runtime.Object, list cache.ListWithContextFunc, watchFn cache.WatchFuncWithContext, transform cache.TransformFunc) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: watchFn}, example, 0, cache.Indexers{})
	_ = inf.SetTransform(transform) // cannot fail before the informer runs
	return inf
}

// restartInformers is the restartTracker behind --wait: one informer per
// kind, scoped like the pass's lists.
type restartInformers struct {
	stores     map[string]cache.Store
	annotation string
	cancel     context.CancelFunc
	running    sync.WaitGroup

	mu   sync.Mutex
	subs map[string][]chan struct{}
}

func (o *RestartWorkloadsOptions) restartInformerTracker(ctx context.Context) (restartTracker, error) {
	ctx, cancel := context.WithCancel(ctx)
	lo := o.restartListOptions(o.Selector)
	scoped := func(l metav1.ListOptions) metav1.ListOptions {
		l.LabelSelector, l.FieldSelector = lo.LabelSelector, lo.FieldSelector
		return l
	}
	ns, apps, trim := o.scope.namespace, o.client.AppsV1(), restartTrimmer(o.Annotation)
	t := &restartInformers{stores: map[string]cache.Store{}, annotation: o.Annotation, cancel: cancel, subs: map[string][]chan struct{}{}}
	var synced []cache.InformerSynced
	for _, k := range o.kinds {
		var inf cache.SharedIndexInformer
		switch k.Kind {
		case checks.KindDeployment:
			inf = restartNewInformer(&appsv1.Deployment{},
				func(ctx context.Context, l metav1.ListOptions) (runtime.Object, error) {
					return apps.Deployments(ns).List(ctx, scoped(l))
				},
				func(ctx context.Context, l metav1.ListOptions) (watch.Interface, error) {
					return apps.Deployments(ns).Watch(ctx, scoped(l))
				}, trim)
		case checks.KindDaemonSet:
			inf = restartNewInformer(&appsv1.DaemonSet{},
				func(ctx context.Context, l metav1.ListOptions) (runtime.Object, error) {
					return apps.DaemonSets(ns).List(ctx, scoped(l))
				},
				func(ctx context.Context, l metav1.ListOptions) (watch.Interface, error) {
					return apps.DaemonSets(ns).Watch(ctx, scoped(l))
				}, trim)
		case checks.KindStatefulSet:
			inf = restartNewInformer(&appsv1.StatefulSet{},
				func(ctx context.Context, l metav1.ListOptions) (runtime.Object, error) {
					return apps.StatefulSets(ns).List(ctx, scoped(l))
				},
				func(ctx context.Context, l metav1.ListOptions) (watch.Interface, error) {
					return apps.StatefulSets(ns).Watch(ctx, scoped(l))
				}, trim)
		}
		kind := k.Kind
		notify := func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				t.notify(kind + "/" + key)
			}
		}
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: notify, UpdateFunc: func(_, n any) { notify(n) }, DeleteFunc: notify,
		}); err != nil {
			t.Stop()
			return nil, err
		}
		t.stores[kind] = inf.GetStore()
		synced = append(synced, inf.HasSynced)
		t.running.Go(func() { inf.RunWithContext(ctx) })
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		t.Stop()
		return nil, fmt.Errorf("watching workloads did not start: %w", context.Cause(ctx))
	}
	return t, nil
}

func (t *restartInformers) notify(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range t.subs[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (t *restartInformers) Subscribe(kind, namespace, name string) (<-chan struct{}, func()) {
	key := kind + "/" + namespace + "/" + name
	ch := make(chan struct{}, 1)
	t.mu.Lock()
	t.subs[key] = append(t.subs[key], ch)
	t.mu.Unlock()
	return ch, func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		list := t.subs[key]
		for i, c := range list {
			if c == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(t.subs, key)
		} else {
			t.subs[key] = list
		}
	}
}

func (t *restartInformers) Get(kind, namespace, name string) (*restartTarget, bool) {
	store := t.stores[kind]
	if store == nil {
		return nil, false
	}
	obj, ok, err := store.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return restartFromDeployment(o, t.annotation), true
	case *appsv1.DaemonSet:
		return restartFromDaemonSet(o, t.annotation), true
	case *appsv1.StatefulSet:
		return restartFromStatefulSet(o, t.annotation), true
	}
	return nil, false
}

func (t *restartInformers) Stop() {
	t.cancel()
	t.running.Wait()
}
