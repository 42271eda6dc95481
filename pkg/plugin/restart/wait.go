package restart

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// tracker is the live state of the workloads during --wait. It keeps the
// state of the workloads it is asked about only: those named when it
// starts, and each one subscribed, from then until its subscription ends.
type tracker interface {
	// Get returns the latest state of a watched workload; nil and true
	// while the watch has shown nothing of it since it was subscribed;
	// false once it is deleted (or not watched).
	Get(kind, namespace, name string) (*cluster.Workload, bool)
	// Subscribe starts watching a workload and returns a channel that
	// receives a value whenever it changes; the cancel function stops
	// watching it.
	Subscribe(kind, namespace, name string) (<-chan struct{}, func())
	// Seed gives a subscribed workload the state of a fresh read, if the
	// watch has shown nothing of it yet (a patch that found the value
	// already set causes no event).
	Seed(w *cluster.Workload)
	Stop()
}

// errGone says a workload was deleted while we waited for it.
var errGone = errors.New("deleted while waiting for its rollout")

// notShownYet is what a wait that timed out says when the watch showed
// nothing of the workload after its patch.
const notShownYet = "the watch showed no change of it after the patch"

// timeoutError is a rollout that did not finish within --timeout.
type timeoutError struct{ last string }

func (e *timeoutError) Error() string {
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
func (r *pass) executeWait(ctx context.Context) {
	var free, slotted []int
	// The slotted workloads the pass will not patch (they carry the value
	// from an earlier run) cause no event: the tracker keeps their state
	// from its first list. The others it keeps from their subscription,
	// before their patch, so it never holds all of them at once.
	var unpatched []*cluster.Workload
	for i, t := range r.targets {
		plan := checks.PlanRestart(t.asChecks(), r.value, r.o.ResumePaused)
		replace := plan.Reason == checks.ReasonOnDelete && r.o.DeleteOnDeletePods && t.replicas > 0 &&
			(plan.Patch || r.items[i].oldPods > 0)
		if plan.Rolls || replace {
			slotted = append(slotted, i)
			if !plan.Patch {
				unpatched = append(unpatched, t.workload())
			}
		} else {
			free = append(free, i)
		}
	}
	tr, err := r.o.NewTracker(ctx, unpatched)
	if err != nil {
		for _, it := range r.items {
			if it.result == resultNone {
				it.result = resultNotReached
				it.setErr("watching workloads: " + err.Error())
			}
		}
		return
	}
	defer tr.Stop()
	r.patchAll(ctx, free, true)

	cluster.Fanout(ctx, r.o.MaxInFlight, len(slotted), func(n int) {
		i := slotted[n]
		if r.alreadyRolledOut(tr, i) {
			r.patchOne(ctx, i) // records "already current" and the skip reason
			r.items[i].rollout = rolloutComplete
			r.progress.finished(r.items[i])
			return
		}
		r.progress.rolling.Add(1)
		defer r.progress.rolling.Add(-1)
		r.rollOne(ctx, tr, i)
		r.progress.finished(r.items[i])
	})
}

// alreadyRolledOut: a workload that carries the value from an earlier run
// and has finished rolling needs neither a patch nor a slot. One that is
// still rolling (the earlier run was interrupted) takes a slot and is
// waited for like the others.
func (r *pass) alreadyRolledOut(tr tracker, i int) bool {
	t := r.targets[i]
	if checks.PlanRestart(t.asChecks(), r.value, r.o.ResumePaused).Patch {
		return false
	}
	if t.onDelete {
		return r.items[i].oldPods == 0
	}
	cur, ok := tr.Get(t.Kind(), t.Namespace, t.Name)
	if !ok || cur == nil {
		return false
	}
	done, _, err := checks.RolloutStatus(cur.Workload, cur.Generation)
	return done && err == nil
}

// rollOne patches one workload, then waits for its rollout (or replaces the
// pods of an OnDelete workload), within --timeout.
func (r *pass) rollOne(ctx context.Context, tr tracker, i int) {
	t, it := r.targets[i].workload(), r.items[i]
	// Subscribed before the patch: the tracker keeps every event the patch
	// causes.
	changed, unsubscribe := tr.Subscribe(t.Kind, t.Namespace, t.Name)
	defer unsubscribe()
	res, ok := r.patchOne(ctx, i)
	if !ok {
		return
	}
	if res.Live != nil {
		tr.Seed(res.Live)
	}
	gen := res.Generation
	wctx, cancel := context.WithTimeout(ctx, r.o.Timeout)
	defer cancel()
	var err error
	if t.OnDelete {
		err = r.replaceOnDeletePods(wctx, tr, changed, t, it, gen)
	} else {
		err = r.waitRollout(wctx, tr, changed, t, gen)
	}
	var timeout *timeoutError
	switch {
	case err == nil:
		it.rollout = rolloutComplete
		if t.OnDelete {
			it.setSkipped("")
		}
		r.progress.eventf("%s -n %s rolled out", t.Ref(), t.Namespace)
	case ctx.Err() != nil:
		it.rollout = rolloutNotReached
		it.setErr("interrupted while waiting for the rollout")
	case errors.Is(err, errGone):
		it.result = resultGone
		it.setErr(err.Error())
		it.setSkipped("")
	case errors.As(err, &timeout):
		it.rollout = rolloutTimedOut
		it.setErr(fmt.Sprintf("rollout did not finish within %s: %s", r.o.Timeout, timeout.last))
		r.progress.eventf("%s -n %s: %s", t.Ref(), t.Namespace, it.errText())
	default:
		it.rollout = rolloutFailed
		it.setErr("rollout: " + err.Error())
		r.progress.eventf("%s -n %s: %s", t.Ref(), t.Namespace, it.errText())
	}
}

// waitRollout blocks until the watch shows the rollout of generation
// minGen complete by kubectl rollout status's rules.
func (r *pass) waitRollout(ctx context.Context, tr tracker, changed <-chan struct{}, t *cluster.Workload, minGen int64) error {
	last := notShownYet
	for {
		cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
		if !ok {
			return errGone
		}
		if cur != nil {
			done, msg, err := checks.RolloutStatus(cur.Workload, minGen)
			if err != nil {
				return err
			}
			if done {
				return nil
			}
			last = msg
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return &timeoutError{last: last}
		}
	}
}

// replaceOnDeletePods deletes, one at a time, the pods of an OnDelete
// DaemonSet or StatefulSet whose template lacks the pass value. Before each
// deletion every pod of the workload must be Ready and the previously
// deleted one gone, so at most one pod is down at a time, as a rolling
// update with maxUnavailable 1 would do. A pod watch (not polling) drives it.
func (r *pass) replaceOnDeletePods(ctx context.Context, tr tracker, wlChanged <-chan struct{}, t *cluster.Workload, it *item, minGen int64) error {
	// The StatefulSet controller stamps replacements with the update revision
	// it has observed: wait until that is ours.
	for {
		cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
		if !ok {
			return errGone
		}
		if cur != nil && cur.Generation >= minGen && cur.Status.ObservedGeneration >= minGen {
			break
		}
		select {
		case <-wlChanged:
		case <-ctx.Done():
			return &timeoutError{last: fmt.Sprintf("waiting for the %s controller to observe the new template", t.Kind)}
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	pods := r.o.client.CoreV1().Pods(t.Namespace)
	podInformer := newInformer(&corev1.Pod{}, func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
		lo.LabelSelector = t.Selector
		return pods.List(ctx, lo)
	}, func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
		lo.LabelSelector = t.Selector
		return pods.Watch(ctx, lo)
	}, trimmer(r.o.Annotation))
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
		return &timeoutError{last: "listing its pods"}
	}

	var deleted types.UID
	for {
		cur, ok := tr.Get(t.Kind, t.Namespace, t.Name)
		if !ok || cur == nil { // shown above: only a deletion takes it away
			return errGone
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
			if podReady(p) {
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
			sort.Slice(old, func(a, b int) bool { return ordinalLess(old[b].Name, old[a].Name) })
			p := old[0]
			uid := p.UID
			err := cluster.WithRetry(ctx, func() error {
				return r.o.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}})
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("deleting pod %s: %w", p.Name, err)
			}
			deleted = uid
			it.more().deletedPods++
			r.progress.eventf("%s -n %s: deleted pod %s (OnDelete), waiting for its replacement", t.Ref(), t.Namespace, p.Name)
			continue
		}
		select {
		case <-podsChanged:
		case <-wlChanged:
		case <-ctx.Done():
			return &timeoutError{last: waiting}
		}
	}
}

// ordinalLess orders pod names so that web-10 follows web-9.
func ordinalLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// trimmer drops from cached pods everything --wait does not read (specs,
// managed fields, labels, other annotations). The informer hands the
// transform its own copy, so trimming in place is allowed.
func trimmer(annotation string) cache.TransformFunc {
	return func(obj any) (any, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			m := &p.ObjectMeta
			m.ManagedFields, m.Labels = nil, nil
			if v, ok := m.Annotations[annotation]; ok {
				m.Annotations = map[string]string{annotation: v}
			} else {
				m.Annotations = nil
			}
			p.Spec = corev1.PodSpec{NodeName: p.Spec.NodeName}
			p.Status = corev1.PodStatus{Phase: p.Status.Phase, Conditions: p.Status.Conditions}
		}
		return obj, nil
	}
}

// newInformer builds one informer (list, then watch, re-listing by
// itself after a disconnect or an expired resourceVersion, e.g. across an
// API server restart) from typed list and watch calls. client-go/informers
// would do the same, but its factory links every API group's informers and
// listers into the binary: about 14 MB more text, which is resident memory
// here.
func newInformer(example runtime.Object, list cache.ListWithContextFunc, watchFn cache.WatchFuncWithContext, transform cache.TransformFunc) cache.SharedIndexInformer {
	inf := cache.NewSharedIndexInformer(&cache.ListWatch{ListWithContextFunc: list, WatchFuncWithContext: watchFn}, example, 0, cache.Indexers{})
	_ = inf.SetTransform(transform) // cannot fail before the informer runs
	return inf
}

// workloads is the tracker behind --wait: for each kind a client-go
// Reflector (list, or stream the initial state where the server can, then
// watch; again after a disconnect or an expired resourceVersion, e.g.
// across an API server restart), scoped like the pass's lists, into a
// workloadStore.
type workloads struct {
	stores  map[string]*workloadStore
	cancel  context.CancelFunc
	running sync.WaitGroup

	mu   sync.Mutex
	subs map[string][]chan struct{}
}

// workloadStore keeps, of the workloads of one kind, the state of those
// --wait is waiting for (about --max-in-flight of them, and those it will
// not patch), and of each only what --wait reads: a cluster.Workload made
// from each object as it arrives, never the object. The watch still sees
// every workload of the kind; what the store is not asked about it drops.
// A cache of every workload, even of these few fields, held about 20 MB
// at 50,000 workloads (docs/benchmarks.md), a cache of whole objects
// (an informer's) about 100 MiB. As a TransformingStore it also has the
// reflector convert the initial state as it streams in (to a namespace and
// a name, for a workload nobody waits for), which the reflector otherwise
// holds whole until the last object has arrived.
type workloadStore struct {
	kind, annotation string
	changed          func(key string) // kind/namespace/name
	synced           chan struct{}
	once             sync.Once

	mu      sync.RWMutex
	watched map[string]*watchedWorkload // namespace/name
}

// watchedWorkload is the state of one workload --wait waits for.
type watchedWorkload struct {
	refs int               // subscriptions, and 1 for a workload named at the start
	w    *cluster.Workload // nil until the watch (or a seed) shows it
	gone bool
}

// trackedWorkload is a workload as the reflector's transform hands it to
// the store; unwatchedWorkload one nobody waited for when it arrived. Both
// have an object's metadata (namespace and name) only for the reflector's
// keys.
type (
	trackedWorkload   struct{ cluster.Workload }
	unwatchedWorkload struct{ namespace, name string }
)

func (t *trackedWorkload) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: t.Namespace, Name: t.Name}
}

func (u *unwatchedWorkload) GetObjectMeta() metav1.Object {
	return &metav1.ObjectMeta{Namespace: u.namespace, Name: u.name}
}

func newWorkloadStore(kind, annotation string, changed func(string)) *workloadStore {
	return &workloadStore{kind: kind, annotation: annotation, changed: changed, synced: make(chan struct{}), watched: map[string]*watchedWorkload{}}
}

// convert is the kept form of a Deployment, DaemonSet or StatefulSet (or
// of one already converted, or of a deleted one's last state): a
// *trackedWorkload if it is watched, else an *unwatchedWorkload.
func (s *workloadStore) convert(obj any) (any, error) {
	switch o := obj.(type) {
	case *trackedWorkload, *unwatchedWorkload:
		return o, nil
	case cache.DeletedFinalStateUnknown:
		return s.convert(o.Obj)
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", s.kind, err)
	}
	s.mu.RLock()
	_, watched := s.watched[m.GetNamespace()+"/"+m.GetName()]
	s.mu.RUnlock()
	switch obj.(type) {
	case *appsv1.Deployment, *appsv1.DaemonSet, *appsv1.StatefulSet:
	default:
		return nil, fmt.Errorf("watching %s: got a %T", s.kind, obj)
	}
	if !watched {
		return &unwatchedWorkload{namespace: m.GetNamespace(), name: m.GetName()}, nil
	}
	w, _ := cluster.WorkloadFrom(obj, s.annotation) // one of the three kinds
	return &trackedWorkload{liveOnly(*w)}, nil
}

// liveOnly is what --wait reads of a workload's live state: the
// checks.Workload. What it takes to patch a workload or find its pods
// comes from the pass's list.
func liveOnly(w cluster.Workload) cluster.Workload {
	w.UID, w.ResourceVersion, w.Selector = "", "", ""
	return w
}

// keyOf is the namespace/name of a converted workload, and its state if
// it was watched when it arrived.
func keyOf(obj any) (string, *cluster.Workload) {
	switch o := obj.(type) {
	case *trackedWorkload:
		return o.Namespace + "/" + o.Name, &o.Workload
	case *unwatchedWorkload:
		return o.namespace + "/" + o.name, nil
	}
	return "", nil
}

func (s *workloadStore) Transformer() cache.TransformFunc {
	return func(obj any) (any, error) { return s.convert(obj) }
}

func (s *workloadStore) Add(obj any) error { return s.Update(obj) }

func (s *workloadStore) Update(obj any) error {
	c, err := s.convert(obj)
	if err != nil {
		return err
	}
	key, w := keyOf(c)
	s.mu.Lock()
	e := s.watched[key]
	// One that arrived unwatched and was subscribed since: its state is
	// the next event's (the patch after the subscription causes one).
	if e != nil && w != nil {
		e.w, e.gone = w, false
	}
	s.mu.Unlock()
	if e != nil {
		s.changed(s.kind + "/" + key)
	}
	return nil
}

func (s *workloadStore) Delete(obj any) error {
	c, err := s.convert(obj)
	if err != nil {
		return err
	}
	key, _ := keyOf(c)
	s.mu.Lock()
	e := s.watched[key]
	if e != nil {
		e.w, e.gone = nil, true
	}
	s.mu.Unlock()
	if e != nil {
		s.changed(s.kind + "/" + key)
	}
	return nil
}

// Replace takes the reflector's whole state: after the first list, and
// again after a re-list. A watched workload the list lacks is gone.
func (s *workloadStore) Replace(list []any, _ string) error {
	listed := map[string]*cluster.Workload{}
	for _, obj := range list {
		c, err := s.convert(obj)
		if err != nil {
			return err
		}
		if key, w := keyOf(c); w != nil {
			listed[key] = w
		} else if s.isWatched(key) {
			listed[key] = nil // listed, but converted before it was watched
		}
	}
	var keys []string
	s.mu.Lock()
	for key, e := range s.watched {
		w, ok := listed[key]
		switch {
		case !ok:
			e.w, e.gone = nil, true
		case w != nil:
			e.w, e.gone = w, false
		}
		keys = append(keys, key)
	}
	s.mu.Unlock()
	for _, key := range keys {
		s.changed(s.kind + "/" + key)
	}
	s.once.Do(func() { close(s.synced) })
	return nil
}

func (s *workloadStore) Resync() error { return nil }

func (s *workloadStore) isWatched(key string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.watched[key] != nil
}

// watch starts keeping a workload's state; forget undoes one watch.
func (s *workloadStore) watch(namespace, name string) {
	key := namespace + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.watched[key]; e != nil {
		e.refs++
		return
	}
	s.watched[key] = &watchedWorkload{refs: 1}
}

func (s *workloadStore) forget(namespace, name string) {
	key := namespace + "/" + name
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.watched[key]; e != nil {
		if e.refs--; e.refs <= 0 {
			delete(s.watched, key)
		}
	}
}

// seed sets the state of a watched workload the watch has not shown yet.
func (s *workloadStore) seed(w *cluster.Workload) {
	key := w.Namespace + "/" + w.Name
	s.mu.Lock()
	e := s.watched[key]
	seeded := e != nil && e.w == nil && !e.gone
	if seeded {
		c := liveOnly(*w)
		e.w = &c
	}
	s.mu.Unlock()
	if seeded {
		s.changed(s.kind + "/" + key)
	}
}

func (s *workloadStore) get(namespace, name string) (*cluster.Workload, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	e := s.watched[namespace+"/"+name]
	if e == nil || e.gone {
		return nil, false
	}
	if e.w == nil {
		return nil, true
	}
	w := *e.w
	return &w, true
}

// listWatch lists and watches one kind through its typed client, every
// request narrowed by scope.
func listWatch[L runtime.Object](list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error), scope func(metav1.ListOptions) metav1.ListOptions) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, l metav1.ListOptions) (runtime.Object, error) {
			objs, err := list(ctx, scope(l))
			if err != nil {
				return nil, err // not a typed nil in an interface
			}
			return objs, nil
		},
		WatchFuncWithContext: func(ctx context.Context, l metav1.ListOptions) (watch.Interface, error) {
			return watchFn(ctx, scope(l))
		},
	}
}

func (o *Options) workloadTracker(ctx context.Context, watched []*cluster.Workload) (tracker, error) {
	ctx, cancel := context.WithCancel(ctx)
	lo := o.listOptions(o.Selector)
	scoped := func(l metav1.ListOptions) metav1.ListOptions {
		l.LabelSelector, l.FieldSelector = lo.LabelSelector, lo.FieldSelector
		return l
	}
	ns, apps := o.scope.namespace, o.client.AppsV1()
	t := &workloads{stores: map[string]*workloadStore{}, cancel: cancel, subs: map[string][]chan struct{}{}}
	for _, k := range o.kinds {
		var lw *cache.ListWatch
		var example runtime.Object
		switch k.Kind {
		case checks.KindDeployment:
			example, lw = &appsv1.Deployment{}, listWatch(apps.Deployments(ns).List, apps.Deployments(ns).Watch, scoped)
		case checks.KindDaemonSet:
			example, lw = &appsv1.DaemonSet{}, listWatch(apps.DaemonSets(ns).List, apps.DaemonSets(ns).Watch, scoped)
		case checks.KindStatefulSet:
			example, lw = &appsv1.StatefulSet{}, listWatch(apps.StatefulSets(ns).List, apps.StatefulSets(ns).Watch, scoped)
		}
		store := newWorkloadStore(k.Kind, o.Annotation, t.notify)
		t.stores[k.Kind] = store
		for _, w := range watched {
			if w.Kind == k.Kind {
				store.watch(w.Namespace, w.Name)
			}
		}
		// The clientset says whether it can stream the initial state (a
		// fake cannot).
		r := cache.NewReflectorWithOptions(cache.ToListWatcherWithWatchListSemantics(lw, o.client), example, store, cache.ReflectorOptions{Name: "restart-workloads --wait: " + k.Resource})
		t.running.Go(func() { r.RunWithContext(ctx) })
	}
	for _, s := range t.stores {
		select {
		case <-s.synced:
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("watching workloads did not start: %w", context.Cause(ctx))
		}
	}
	return t, nil
}

func (t *workloads) notify(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, ch := range t.subs[key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (t *workloads) Subscribe(kind, namespace, name string) (<-chan struct{}, func()) {
	key := kind + "/" + namespace + "/" + name
	ch := make(chan struct{}, 1)
	store := t.stores[kind]
	if store != nil {
		store.watch(namespace, name)
	}
	t.mu.Lock()
	t.subs[key] = append(t.subs[key], ch)
	t.mu.Unlock()
	return ch, func() {
		if store != nil {
			store.forget(namespace, name)
		}
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

func (t *workloads) Get(kind, namespace, name string) (*cluster.Workload, bool) {
	store := t.stores[kind]
	if store == nil {
		return nil, false
	}
	return store.get(namespace, name)
}

func (t *workloads) Seed(w *cluster.Workload) {
	if store := t.stores[w.Kind]; store != nil {
		store.seed(w)
	}
}

func (t *workloads) Stop() {
	t.cancel()
	t.running.Wait()
}
