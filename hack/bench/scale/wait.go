package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/hack/bench/benchutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// ---- wait: restart-workloads --wait over many workloads ----
//
// The rollouts are simulated: kube-controller-manager is stopped and a
// simulator in this process plays the three workload controllers, writing
// to the status subresource of every workload whose generation is ahead of
// its status.observedGeneration what a finished rollout of one replica
// shows (observedGeneration = generation, every replica updated, ready and
// available; a StatefulSet's currentRevision = updateRevision). Zero
// replicas would not do: restart-workloads --wait takes no slot for a
// workload with none (it has nothing to roll) and waits for nothing, so
// the tracker would watch 50,000 workloads but no rollout would go through
// it. With the simulator every workload is patched, rolled and seen done
// through the tracker's watch, as on a real cluster, only without pods.

// restartAnnotation is restart-workloads' default --annotation.
const restartAnnotation = "ca-rotation"

type waitResult struct {
	Namespaces, Workloads int
	MaxInFlight           string
	Runs                  []timing
	// PeakAnonKiB is the largest RssAnon sampled: heap and stacks.
	PeakAnonKiB  int64
	StatusWrites int64
	Target       string
}

func waitPart(ctx context.Context, c config) (err error) {
	s, err := start(ctx, "scale-wait", c.plugin)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Stop()) }()
	logf("stopping kube-controller-manager: the benchmark plays the workload controllers itself")
	if err := s.Cluster.StopComponent(localcluster.ControllerManager); err != nil {
		return err
	}
	fast, err := fastClient(s.Cluster.Kubeconfig)
	if err != nil {
		return err
	}
	simCtx, stopSim := context.WithCancel(ctx)
	sim := &simulator{client: fast, prefix: "wait-"}
	simDone := make(chan error, 1)
	go func() { simDone <- sim.run(simCtx) }()
	defer func() {
		stopSim()
		if serr := <-simDone; serr != nil && !errors.Is(serr, context.Canceled) {
			err = errors.Join(err, serr)
		}
	}()

	nsName := func(i int) string { return fmt.Sprintf("wait-%05d", i) }
	if err := benchutil.CreateAll(ctx, "namespaces", c.namespaces, 16, func(ctx context.Context, i int) error {
		_, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}}, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	const perNS = 5 // 3 Deployments, a DaemonSet, a StatefulSet, as make bench has them
	total := c.namespaces * perNS
	if err := benchutil.CreateAll(ctx, "workloads", total, 16, func(ctx context.Context, i int) error {
		ns, w := nsName(i/perNS), i%perNS
		name := fmt.Sprintf("w%02d", w)
		sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}}
		tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel.MatchLabels},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}}}
		var err error
		switch w {
		case 3:
			_, err = s.Client.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl, RevisionHistoryLimit: ptr.To[int32](1)}}, metav1.CreateOptions{})
		case 4:
			_, err = s.Client.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: sel, Template: tmpl, RevisionHistoryLimit: ptr.To[int32](1)}}, metav1.CreateOptions{})
		default:
			_, err = s.Client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
				Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: sel, Template: tmpl, RevisionHistoryLimit: ptr.To[int32](1)}}, metav1.CreateOptions{})
		}
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	if err := sim.settled(ctx, total); err != nil {
		return err
	}

	if c.hold {
		fmt.Printf("KUBECONFIG=%s\n", s.Cluster.Kubeconfig)
		logf("holding the cluster (the simulator keeps rolling); Ctrl-C stops it")
		<-ctx.Done()
		return nil
	}
	res := waitResult{Namespaces: c.namespaces, Workloads: total, MaxInFlight: "5 (its default)"}
	args := []string{"restart-workloads", "--wait"}
	if c.maxInFlight > 0 {
		res.MaxInFlight = fmt.Sprint(c.maxInFlight)
		args = append(args, "--max-in-flight", res.MaxInFlight)
	}
	for round := range max(c.repeat, 1) {
		value := fmt.Sprintf("wait-%d-%d", time.Now().Unix(), round)
		writes := sim.writes.Load()
		r, err := benchutil.Measure(ctx, s.Cluster.Kubeconfig, s.Installed, nil, append(args, "--value", value)...)
		if err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
		rolled, err := sim.carrying(ctx, value)
		if err != nil {
			return err
		}
		if rolled != total {
			return fmt.Errorf("round %d: %d of %d workloads carry %s and show it rolled out", round+1, rolled, total, value)
		}
		t := timing{Name: strings.Join(args, " "), Seconds: r.Seconds, MaxRSS: r.MaxRSS}
		res.Runs = append(res.Runs, t)
		res.PeakAnonKiB = max(res.PeakAnonKiB, r.PeakAnon)
		res.StatusWrites += sim.writes.Load() - writes
		logf("round %d: %d workloads patched and rolled out in %.2fs, peak RSS %.1f MiB (heap and stacks %.1f MiB), %d simulated rollouts",
			round+1, total, r.Seconds, float64(r.MaxRSS)/1024, float64(r.PeakAnon)/1024, sim.writes.Load()-writes)
	}
	peak := medianOf(res.Runs).MaxRSS
	var b strings.Builder
	fmt.Fprintf(&b, "\n### restart-workloads --wait over %d workloads in %d namespaces (rollouts simulated through the status subresource)\n\n", total, c.namespaces)
	b.WriteString("| run | time | peak RSS |\n| --- | ---: | ---: |\n")
	for i, t := range res.Runs {
		fmt.Fprintf(&b, "| %s, run %d | %.2fs | %.1f MiB |\n", t.Name, i+1, t.Seconds, float64(t.MaxRSS)/1024)
	}
	b.WriteString("\n| target | measured | |\n| --- | ---: | --- |\n")
	fmt.Fprintf(&b, "| peak RSS at most %d MiB while %d workloads are tracked | %.1f MiB (heap and stacks %.1f MiB) | %s |\n",
		c.maxRSSMiB, total, float64(peak)/1024, float64(res.PeakAnonKiB)/1024, met(peak <= c.maxRSSMiB*1024))
	res.Target = b.String()
	fmt.Print(res.Target)
	return benchutil.WriteJSON(c.out, res)
}

// simulator plays the Deployment, DaemonSet and StatefulSet controllers
// for the workloads in namespaces starting with prefix: whenever one's
// generation is ahead of its observed generation, it writes the status of
// a finished rollout of its one replica.
type simulator struct {
	client kubernetes.Interface
	prefix string
	// writes counts the status writes that completed a rollout.
	writes atomic.Int64
}

type simKind struct {
	resource string
	list     func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error)
	watch    func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error)
	status   func(ctx context.Context, ns, name string, body []byte) error
}

func (sim *simulator) kinds() []simKind {
	apps := sim.client.AppsV1()
	opts := metav1.PatchOptions{}
	return []simKind{
		{"deployments",
			func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
				return apps.Deployments("").List(ctx, lo)
			},
			func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
				return apps.Deployments("").Watch(ctx, lo)
			},
			func(ctx context.Context, ns, name string, body []byte) error {
				_, err := apps.Deployments(ns).Patch(ctx, name, types.MergePatchType, body, opts, "status")
				return err
			}},
		{"daemonsets",
			func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
				return apps.DaemonSets("").List(ctx, lo)
			},
			func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
				return apps.DaemonSets("").Watch(ctx, lo)
			},
			func(ctx context.Context, ns, name string, body []byte) error {
				_, err := apps.DaemonSets(ns).Patch(ctx, name, types.MergePatchType, body, opts, "status")
				return err
			}},
		{"statefulsets",
			func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
				return apps.StatefulSets("").List(ctx, lo)
			},
			func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
				return apps.StatefulSets("").Watch(ctx, lo)
			},
			func(ctx context.Context, ns, name string, body []byte) error {
				_, err := apps.StatefulSets(ns).Patch(ctx, name, types.MergePatchType, body, opts, "status")
				return err
			}},
	}
}

// finishedStatus is the status patch of a rollout of generation gen
// finished with its one replica, or nil when obj needs none.
func finishedStatus(obj runtime.Object) (ns, name string, body []byte) {
	const rs = `"replicas":1,"updatedReplicas":1,"readyReplicas":1,"availableReplicas":1`
	switch o := obj.(type) {
	case *appsv1.Deployment:
		if o.Generation > o.Status.ObservedGeneration {
			body = fmt.Appendf(nil, `{"status":{"observedGeneration":%d,%s}}`, o.Generation, rs)
		}
		return o.Namespace, o.Name, body
	case *appsv1.DaemonSet:
		if o.Generation > o.Status.ObservedGeneration {
			body = fmt.Appendf(nil, `{"status":{"observedGeneration":%d,"desiredNumberScheduled":1,"currentNumberScheduled":1,"updatedNumberScheduled":1,"numberReady":1,"numberAvailable":1,"numberMisscheduled":0}}`, o.Generation)
		}
		return o.Namespace, o.Name, body
	case *appsv1.StatefulSet:
		if o.Generation > o.Status.ObservedGeneration {
			rev := fmt.Sprintf("%s-%d", o.Name, o.Generation)
			body = fmt.Appendf(nil, `{"status":{"observedGeneration":%d,%s,"currentReplicas":1,"currentRevision":%q,"updateRevision":%q}}`, o.Generation, rs, rev, rev)
		}
		return o.Namespace, o.Name, body
	}
	return "", "", nil
}

type statusJob struct {
	kind     simKind
	ns, name string
	body     []byte
}

// run lists each kind, then watches it (from the list's resourceVersion,
// again after a disconnect), and writes statuses with 32 workers until ctx
// ends.
func (sim *simulator) run(ctx context.Context) error {
	jobs := make(chan statusJob, 1024)
	var workers sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range 32 {
		workers.Go(func() {
			for j := range jobs {
				err := cluster.WithRetry(ctx, func() error { return j.kind.status(ctx, j.ns, j.name, j.body) })
				switch {
				case err == nil:
					sim.writes.Add(1)
				case ctx.Err() == nil && !strings.Contains(err.Error(), "not found"):
					mu.Lock()
					first = errors.Join(first, fmt.Errorf("%s %s/%s status: %w", j.kind.resource, j.ns, j.name, err))
					mu.Unlock()
				}
			}
		})
	}
	var watchers sync.WaitGroup
	for _, k := range sim.kinds() {
		watchers.Go(func() {
			enqueue := func(obj runtime.Object) {
				ns, name, body := finishedStatus(obj)
				if body != nil && strings.HasPrefix(ns, sim.prefix) {
					select {
					case jobs <- statusJob{kind: k, ns: ns, name: name, body: body}:
					case <-ctx.Done():
					}
				}
			}
			rv, err := cluster.EachPage(ctx, cluster.PageSize, metav1.ListOptions{}, k.list, func() {}, func(obj runtime.Object) error {
				enqueue(obj)
				return nil
			})
			if err != nil {
				mu.Lock()
				first = errors.Join(first, fmt.Errorf("listing %s: %w", k.resource, err))
				mu.Unlock()
				return
			}
			w, err := watchtools.NewRetryWatcherWithContext(ctx, rv, &cache.ListWatch{WatchFuncWithContext: k.watch})
			if err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
				return
			}
			defer w.Stop()
			for {
				select {
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					if ev.Type == watch.Added || ev.Type == watch.Modified {
						enqueue(ev.Object)
					}
				case <-ctx.Done():
					return
				}
			}
		})
	}
	watchers.Wait()
	close(jobs)
	workers.Wait()
	mu.Lock()
	defer mu.Unlock()
	return errors.Join(first, ctx.Err())
}

// settled waits until every one of the n workloads shows a finished
// rollout of its generation.
func (sim *simulator) settled(ctx context.Context, n int) error {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Minute, true, func(ctx context.Context) (bool, error) {
		done, err := sim.carrying(ctx, "")
		return err == nil && done == n, nil
	})
	logf("every workload shows its rollout finished after %s", time.Since(start).Round(time.Second))
	return err
}

// carrying counts the bench workloads whose template carries value (any,
// when value is "") and whose status shows that generation rolled out.
func (sim *simulator) carrying(ctx context.Context, value string) (int, error) {
	n := 0
	for _, k := range sim.kinds() {
		kn := 0
		_, err := cluster.EachPage(ctx, cluster.PageSize, metav1.ListOptions{}, k.list, func() { kn = 0 }, func(obj runtime.Object) error {
			w, ok := cluster.WorkloadFrom(obj, restartAnnotation)
			if ok && strings.HasPrefix(w.Namespace, sim.prefix) && w.Status.ObservedGeneration == w.Generation && (value == "" || w.Value == value) {
				kn++
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		n += kn
	}
	return n, nil
}
