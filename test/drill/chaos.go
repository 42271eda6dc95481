package drill

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// The chaos variant kills kube-apiserver with SIGKILL under a command at a
// moment it observes through a watch (a write of that command), never
// after a delay: a kill then lands while the command works, by
// construction, and a kill that did not is reported as such.

// Kill points.
const (
	PointFirstWrite = "after the first write"
	PointMidPass    = "mid-pass"
	PointWait       = "during --wait"
	// PointOutage is a kill during --wait, early in a rollout the command
	// started, with the API server kept away longer than the pass's
	// --timeout: that rollout cannot finish, so the first attempt fails
	// for certain and is run again. (Killed right after its write, a
	// command learns of the write only once the API server is back, and
	// its --timeout starts then.)
	PointOutage = "long outage"
)

// Outage is how long a PointOutage keeps the API server away; the chaos
// run of that command gets --timeout OutageTimeout, shorter.
const (
	Outage        = 15 * time.Second
	OutageTimeout = "10s"
)

// Kill says when the chaos variant kills the API server under a command.
type Kill struct {
	Point string
	// Event says what the watch waits for, in words for the report.
	Event string
	// Trigger starts watching (its list is the baseline: it must run
	// before the command starts) and returns a channel closed on the event.
	Trigger func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error)
	// Outage keeps the API server away that long before it starts again.
	Outage time.Duration
	// Settle, when set, puts the kill that long after the event: for a
	// command to have had the answer to the write the event saw.
	Settle time.Duration
	// Args are added to the first attempt only (a rate limit that spreads
	// a pass over seconds, a short --timeout for an outage); the re-run is
	// the command the admin would type again.
	Args []string
}

// Disruption is one API server kill of the chaos variant.
type Disruption struct {
	Command string
	Point   string
	Event   string
	// Fired: the event was seen while the command ran and the API server
	// was killed (SIGKILL, pid KilledPid). Landed: the command had not
	// exited at the kill.
	Fired, Landed bool
	KilledPid     int
	// KilledAfter is the kill's moment from the command's start; Took how
	// long the first attempt ran.
	KilledAfter, Took time.Duration
	// Seen by the relay in front of the API server: Cut, the first
	// attempt's connections open at the kill (what was on them failed);
	// Reopened, the connections it opened after the kill until it exited
	// (it carried on); Refused, those of them that found no API server.
	Cut, Reopened, Refused int
	// First is the disrupted attempt; Rerun the attempt after it, when the
	// first failed, and RerunArgs what it ran.
	First, Rerun *Result
	RerunArgs    []string
}

// chaosRun is the chaos variant's state during a drill.
type chaosRun struct {
	relay *apiProxy
	// mu serialises restarts of the harness's components between the
	// kill and tend; apiDown is set from the kill to the API server's start.
	mu      sync.Mutex
	apiDown bool
}

func (d *Drill) startChaos() error {
	p, err := newAPIProxy(d.Cluster.Server)
	if err != nil {
		return err
	}
	d.chaos = &chaosRun{relay: p}
	return nil
}

func (d *Drill) stopChaos() {
	if d.chaos != nil {
		d.chaos.relay.close()
	}
}

// withoutValue drops --value and its argument: inside a recorded rotation
// a re-run takes the pass value from the record, which resumes an
// unfinished pass.
func withoutValue(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if args[i] == "--value" {
			i++
			continue
		}
		if strings.HasPrefix(args[i], "--value=") {
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// disrupt runs one command through the relay, kills the API server when
// k's event is seen, starts it again (and the controller-manager,
// scheduler and KWOK, which may not recover from it), and runs the command
// again, without --value, if the first attempt failed.
func (d *Drill) disrupt(ctx context.Context, k Kill, args []string) (Result, error) {
	c := d.Cluster
	client, err := d.client()
	if err != nil {
		return Result{}, err
	}
	dis := Disruption{Command: shellJoin(args), Point: k.Point, Event: k.Event}
	defer func() { d.Disruptions = append(d.Disruptions, dis) }()

	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	fired, err := k.Trigger(wctx, client)
	if err != nil {
		return Result{}, fmt.Errorf("chaos: watching for %s: %w", k.Event, err)
	}
	kc, err := d.chaos.relay.kubeconfig(c.Kubeconfig, d.Dir)
	if err != nil {
		return Result{}, err
	}
	op := *d.op
	op.Kubeconfig = kc
	first := append(slices.Clone(args), k.Args...)
	type attempt struct {
		r   Result
		err error
		at  time.Time
	}
	if err := d.tend(ctx); err != nil {
		return Result{}, err
	}
	done := make(chan attempt, 1)
	ended := make(chan struct{})
	go func() {
		for {
			select {
			case <-ended:
				return
			case <-time.After(time.Second):
				if err := d.tend(ctx); err != nil {
					d.logf("  chaos: %v", err)
				}
			}
		}
	}()
	began := time.Now()
	go func() {
		r, err := op.Carotate(ctx, first...)
		close(ended)
		done <- attempt{r, err, time.Now()}
	}()
	var a *attempt
	var killedAt time.Time
	select {
	case <-fired:
		stopWatch()
		if k.Settle > 0 {
			select {
			case <-time.After(k.Settle):
			case <-ended:
			}
		}
		select {
		case x := <-done:
			a = &x
		default:
			dis.Landed = true
		}
		dis.Cut = d.chaos.relay.open()
		killedAt = time.Now()
		dis.Fired, dis.KilledAfter = true, killedAt.Sub(began)
		d.logf("  chaos: %s (%s): SIGKILL kube-apiserver %s into %q", k.Point, k.Event, dis.KilledAfter.Round(time.Millisecond), args[0])
		d.chaos.mu.Lock()
		d.chaos.apiDown = true
		d.chaos.mu.Unlock()
		if dis.KilledPid, err = c.Kill(localcluster.APIServer); err != nil {
			return Result{}, fmt.Errorf("chaos: %w", err)
		}
		if k.Outage > 0 {
			d.logf("  chaos: kube-apiserver stays away for %s", k.Outage)
			time.Sleep(k.Outage)
		}
		if err := d.restartAfterKill(ctx); err != nil {
			return Result{}, err
		}
		// A command still at work long after the restart: say what the
		// cluster looks like (for the log, not a verdict).
		go func() {
			select {
			case <-time.After(45 * time.Second):
				d.logf("  chaos: %q still runs 45 s after the restart; pods now:\n%s", args[0], podsNow(ctx, client))
			case <-ended:
			}
		}()
	case x := <-done:
		a = &x
	}
	if a == nil {
		x := <-done
		a = &x
	}
	stopWatch()
	if a.err != nil {
		return a.r, a.err
	}
	dis.Took = a.at.Sub(began)
	if dis.Fired {
		dis.Reopened, dis.Refused = d.chaos.relay.between(killedAt, a.at)
	}
	r := a.r
	dis.First = &r
	if !dis.Fired {
		d.logf("  chaos: %q ended (exit %d) before %s was seen: nothing was killed", args[0], r.Code, k.Event)
	}
	if r.Code == 0 {
		return r, nil
	}
	if r.Code < 0 {
		// Killed by the operator's own deadline: it hung, and left no pass
		// in the record for a re-run to resume.
		return r, fmt.Errorf("chaos: %s did not end within the operator's deadline after the kill:\n%s", args[0], r.Stderr)
	}
	dis.RerunArgs = withoutValue(args)
	d.logf("  chaos: %s failed (exit %d); running it again without --value", args[0], r.Code)
	again, err := op.MustCarotate(ctx, dis.RerunArgs...)
	dis.Rerun = &again
	return again, err
}

// The harness's controller-manager, scheduler and KWOK (no leader
// election) do not always recover from a SIGKILLed API server: observed,
// informers stay behind ("read version ... is not as new as written
// version"), the scheduler finds its cache corrupted and exits, a
// controller-manager exits, and a replacement pod stays Pending until the
// plugin's five-minute --timeout. Chaos here tests the plugin, not them:
// they are restarted after every kill, and started again whenever one has
// exited on its own while a disrupted command runs.
var tended = []string{localcluster.ControllerManager, localcluster.Scheduler}

// tendedComponents are tended and the nodes' kubelets (KWOK).
func (d *Drill) tendedComponents() []string {
	return append(append([]string{}, tended...), d.Cluster.KubeletComponents()...)
}

// restartAfterKill starts the API server again, then restarts the tended
// components that the caller has not stopped on purpose (no pid).
func (d *Drill) restartAfterKill(ctx context.Context) error {
	d.chaos.mu.Lock()
	defer d.chaos.mu.Unlock()
	d.chaos.apiDown = false
	if err := d.Cluster.StartComponent(ctx, localcluster.APIServer); err != nil {
		return fmt.Errorf("chaos: starting kube-apiserver again: %w", err)
	}
	for _, name := range d.tendedComponents() {
		comp := d.Cluster.Component(name)
		if comp.Pid() == 0 {
			continue
		}
		if !comp.Running() {
			d.logf("  chaos: %s had exited on its own; starting it again", name)
		}
		if err := d.Cluster.Restart(ctx, name, nil); err != nil {
			return fmt.Errorf("chaos: restarting %s: %w", name, err)
		}
	}
	return nil
}

// tend starts again every tended component that has exited on its own,
// unless the API server is down (killed and not started yet: the
// components restart after it).
func (d *Drill) tend(ctx context.Context) error {
	d.chaos.mu.Lock()
	defer d.chaos.mu.Unlock()
	if d.chaos.apiDown {
		return nil
	}
	for _, name := range d.tendedComponents() {
		comp := d.Cluster.Component(name)
		if comp.Pid() == 0 || comp.Running() {
			continue
		}
		d.logf("  chaos: %s has exited on its own; starting it again", name)
		if err := d.Cluster.Restart(ctx, name, nil); err != nil {
			return fmt.Errorf("chaos: restarting %s: %w", name, err)
		}
	}
	return nil
}

// An observer lists objects (the baseline, before the command starts),
// then watches from the list's resourceVersion and hands every object it
// sees to a predicate; the trigger fires the first time one returns true.
type source struct {
	list  func(ctx context.Context) ([]runtime.Object, string, error)
	watch func(ctx context.Context, rv string) (watch.Interface, error)
}

// listWatcher is what every typed client of client-go has: List and Watch.
type listWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// sourceOf lists c with opts, and watches it with opts from the list's
// resourceVersion.
func sourceOf[L runtime.Object](c listWatcher[L], opts metav1.ListOptions) source {
	return source{func(ctx context.Context) ([]runtime.Object, string, error) {
		l, err := c.List(ctx, opts)
		if err != nil {
			return nil, "", err
		}
		objs, err := meta.ExtractList(l)
		if err != nil {
			return nil, "", err
		}
		acc, err := meta.ListAccessor(l)
		if err != nil {
			return nil, "", err
		}
		return objs, acc.GetResourceVersion(), nil
	}, func(ctx context.Context, rv string) (watch.Interface, error) {
		o := opts
		o.ResourceVersion = rv
		return c.Watch(ctx, o)
	}}
}

func trigger(ctx context.Context, sources []source, seen func(obj runtime.Object, listed bool) bool) (<-chan struct{}, error) {
	fired := make(chan struct{})
	var mu sync.Mutex
	var once sync.Once
	handle := func(obj runtime.Object, listed bool) {
		mu.Lock()
		defer mu.Unlock()
		if seen(obj, listed) && !listed {
			once.Do(func() { close(fired) })
		}
	}
	var ws []watch.Interface
	for _, s := range sources {
		items, rv, err := s.list(ctx)
		if err != nil {
			return nil, err
		}
		for _, o := range items {
			handle(o, true)
		}
		w, err := s.watch(ctx, rv)
		if err != nil {
			for _, w := range ws {
				w.Stop()
			}
			return nil, err
		}
		ws = append(ws, w)
	}
	for _, w := range ws {
		go func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok {
						return
					}
					if ev.Type == watch.Error {
						continue
					}
					if ev.Type == watch.Deleted {
						if a, err := meta.Accessor(ev.Object); err == nil {
							now := metav1.Now()
							a.SetDeletionTimestamp(&now) // a deletion is a deletion, however it is seen
						}
					}
					handle(ev.Object, false)
				}
			}
		}()
	}
	return fired, nil
}

func workloadSources(client kubernetes.Interface, namespaces []string) []source {
	var out []source
	for _, ns := range namespaces {
		apps := client.AppsV1()
		out = append(out,
			sourceOf[*appsv1.DeploymentList](apps.Deployments(ns), metav1.ListOptions{}),
			sourceOf[*appsv1.DaemonSetList](apps.DaemonSets(ns), metav1.ListOptions{}),
			sourceOf[*appsv1.StatefulSetList](apps.StatefulSets(ns), metav1.ListOptions{}),
		)
	}
	return out
}

// templateValue is a workload's pod-template annotation and its key.
func templateValue(obj runtime.Object, annotation string) (key, value string, paused bool) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return "Deployment/" + o.Namespace + "/" + o.Name, o.Spec.Template.Annotations[annotation], o.Spec.Paused
	case *appsv1.DaemonSet:
		return "DaemonSet/" + o.Namespace + "/" + o.Name, o.Spec.Template.Annotations[annotation], false
	case *appsv1.StatefulSet:
		return "StatefulSet/" + o.Namespace + "/" + o.Name, o.Spec.Template.Annotations[annotation], false
	}
	return "", "", false
}

// KillAfterPatches kills after n workloads in namespaces newly carry the
// pass value (the first write, or mid-pass); value "" is no annotation
// (undo of a pass that added it).
func KillAfterPatches(point, value string, namespaces []string, n int) Kill {
	ev := fmt.Sprintf("%d workload(s) patched with %s", n, value)
	if value == "" {
		ev = fmt.Sprintf("%d workload(s) patched to carry no ca-rotation annotation", n)
	}
	return Kill{Point: point, Event: ev, Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
		before := map[string]bool{}
		patched := map[string]bool{}
		return trigger(ctx, workloadSources(client, namespaces), func(obj runtime.Object, listed bool) bool {
			key, v, _ := templateValue(obj, "ca-rotation")
			if listed {
				before[key] = v == value
				return false
			}
			if v != value || before[key] {
				return false
			}
			patched[key] = true
			return len(patched) >= n
		})
	}}
}

// KillDuringRollout kills 2 s after the Deployment ns/name is seen patched
// with value. The command has had its answer long before (the relay's
// delay is 100 ms), so its --timeout for that rollout runs; and web's
// rollout cannot be over (2 replicas, no pod unavailable, minReadySeconds
// 2: at least 4 s), so the command is waiting for it, whatever the speed
// of the machine or of KWOK.
func KillDuringRollout(point, value, ns, name string) Kill {
	return Kill{Point: point, Event: "Deployment " + ns + "/" + name + " patched with " + value + ", then 2 s", Settle: 2 * time.Second,
		Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
			return trigger(ctx, workloadSources(client, []string{ns}), func(obj runtime.Object, listed bool) bool {
				d, ok := obj.(*appsv1.Deployment)
				return ok && !listed && d.Name == name && d.Spec.Template.Annotations["ca-rotation"] == value
			})
		}}
}

// KillAfterPodDeletion kills once a pod of ns matching selector is deleted
// (its deletion begins).
func KillAfterPodDeletion(point, ns, selector string) Kill {
	return Kill{Point: point, Event: "a pod " + selector + " in " + ns + " deleted", Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
		pods := client.CoreV1().Pods(ns)
		src := sourceOf[*corev1.PodList](pods, metav1.ListOptions{LabelSelector: selector})
		return trigger(ctx, []source{src}, func(obj runtime.Object, _ bool) bool {
			p, ok := obj.(*corev1.Pod)
			return ok && p.DeletionTimestamp != nil
		})
	}}
}

// KillAfterConfigMapChange kills once data[key] of ConfigMap ns/name
// differs from what it held when the watch began.
func KillAfterConfigMapChange(point, ns, name, key string) Kill {
	return Kill{Point: point, Event: "ConfigMap " + ns + "/" + name + " " + key + " rewritten",
		Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
			cms := client.CoreV1().ConfigMaps(ns)
			sel := "metadata.name=" + name
			src := sourceOf[*corev1.ConfigMapList](cms, metav1.ListOptions{FieldSelector: sel})
			var before *string
			return trigger(ctx, []source{src}, func(obj runtime.Object, listed bool) bool {
				cm, ok := obj.(*corev1.ConfigMap)
				if !ok {
					return false
				}
				v := cm.Data[key]
				if listed {
					before = &v
					return false
				}
				return before != nil && v != *before
			})
		}}
}

// KillAfterRootCAWrites kills once n kube-root-ca.crt ConfigMaps hold
// something else than when the watch began, or are deleted (undo deletes
// those bundle --create-missing created).
func KillAfterRootCAWrites(point string, n int, args ...string) Kill {
	return Kill{Point: point, Event: fmt.Sprintf("%d kube-root-ca.crt rewritten or deleted", n), Args: args,
		Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
			cms := client.CoreV1().ConfigMaps("")
			sel := "metadata.name=kube-root-ca.crt"
			src := sourceOf[*corev1.ConfigMapList](cms, metav1.ListOptions{FieldSelector: sel})
			before := map[string]string{}
			changed := map[string]bool{}
			return trigger(ctx, []source{src}, func(obj runtime.Object, listed bool) bool {
				cm, ok := obj.(*corev1.ConfigMap)
				if !ok {
					return false
				}
				if listed {
					before[cm.Namespace] = cm.Data["ca.crt"]
					return false
				}
				if cm.Data["ca.crt"] != before[cm.Namespace] || cm.DeletionTimestamp != nil {
					changed[cm.Namespace] = true
				}
				return len(changed) >= n
			})
		}}
}

// KillAfterTokensCleared kills once n legacy token Secrets of namespace ns
// have had their token cleared (resign-tokens) since the watch began.
func KillAfterTokensCleared(point, ns string, n int, args ...string) Kill {
	return Kill{Point: point, Event: fmt.Sprintf("%d legacy token Secrets in %s cleared", n, ns), Args: args,
		Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
			secrets := client.CoreV1().Secrets(ns)
			sel := "type=" + string(corev1.SecretTypeServiceAccountToken)
			src := sourceOf[*corev1.SecretList](secrets, metav1.ListOptions{FieldSelector: sel})
			cleared := map[string]bool{}
			return trigger(ctx, []source{src}, func(obj runtime.Object, listed bool) bool {
				s, ok := obj.(*corev1.Secret)
				if !ok || listed {
					return false
				}
				if len(s.Data[corev1.ServiceAccountTokenKey]) == 0 {
					cleared[s.Name] = true
				}
				return len(cleared) >= n
			})
		}}
}

// Disrupt runs one command with the chaos machinery outside a drill (the
// chaos package's own passes): it kills the API server on k's event and
// re-runs a failed first attempt without --value. With no Trigger it only
// runs the command, through the same relay (an undo file names the server
// its command talked to).
func (d *Drill) Disrupt(ctx context.Context, k Kill, args ...string) (Result, error) {
	if d.op == nil {
		d.op = &Operator{Cluster: d.Cluster, BinDir: d.BinDir, Dir: d.Dir, Narrator: d.Narrator}
	}
	if d.chaos == nil {
		if err := d.startChaos(); err != nil {
			return Result{}, err
		}
	}
	if k.Trigger == nil {
		kc, err := d.chaos.relay.kubeconfig(d.Cluster.Kubeconfig, d.Dir)
		if err != nil {
			return Result{}, err
		}
		op := *d.op
		op.Kubeconfig = kc
		return op.MustCarotate(ctx, args...)
	}
	return d.disrupt(ctx, k, args)
}

// Close releases what the chaos variant holds (the relay).
func (d *Drill) Close() { d.stopChaos() }

// chaosPlan gives every restart-workloads and update-cluster-info of the
// rotation a kill. Every point comes once per run; the seed decides which
// main pass gets the mid-pass kill and which the long outage, after how
// many of its writes the mid-pass kill comes, and which follow-up (-n
// drill-edge) is killed after its first write and which while --wait
// replaces OnDelete pods.
func (d *Drill) chaosPlan(id string, w *Workloads) map[string]Kill {
	rng := d.Chaos
	phases := []string{checks.PhaseBundle, checks.PhaseFinish}
	if rng.Intn(2) == 1 {
		phases[0], phases[1] = phases[1], phases[0]
	}
	// The pass patches 9 workloads; with --wait at most 5 roll at once, so
	// it is still waiting for rollouts after any of them: n in [2, 8].
	n := 2 + rng.Intn(7)
	plan := map[string]Kill{}
	v := func(phase string) string { return checks.RestartValue(id, phase) }
	plan["restart "+phases[0]] = KillAfterPatches(fmt.Sprintf("%s (after %d of 9 writes)", PointMidPass, n), v(phases[0]), w.Namespaces, n)
	out := KillDuringRollout(PointOutage+" (during --wait)", v(phases[1]), nsApps, "web")
	out.Outage, out.Args = Outage, []string{"--timeout", OutageTimeout}
	plan["restart "+phases[1]] = out

	edge := []string{checks.PhaseBundle, checks.PhaseFinish}
	if rng.Intn(2) == 1 {
		edge[0], edge[1] = edge[1], edge[0]
	}
	plan["restart "+edge[0]+" edge"] = KillAfterEdgeWrite(w)
	plan["restart "+edge[1]+" edge"] = KillAfterPodDeletion(PointWait+" (OnDelete pods replaced one at a time)", w.OnDelete.Namespace, "app="+w.OnDelete.Name)

	// One write each: the CA (the signatures are the bootstrap signer's).
	for _, name := range []string{"cluster-info bundle", "cluster-info new"} {
		plan[name] = KillAfterConfigMapChange(PointFirstWrite, "kube-public", "cluster-info", "kubeconfig")
	}
	return plan
}

// KillAfterEdgeWrite kills after the first write of the follow-up pass in
// the edge namespace: the paused Deployment resumed or an OnDelete pod
// deleted, whichever comes first.
func KillAfterEdgeWrite(w *Workloads) Kill {
	ns := w.Paused.Namespace
	return Kill{Point: PointFirstWrite, Event: "Deployment " + ns + "/" + w.Paused.Name + " resumed or a pod of " + w.OnDelete.Name + " deleted",
		Trigger: func(ctx context.Context, client kubernetes.Interface) (<-chan struct{}, error) {
			pods := client.CoreV1().Pods(w.OnDelete.Namespace)
			sel := "app=" + w.OnDelete.Name
			src := append(workloadSources(client, []string{ns}), sourceOf[*corev1.PodList](pods, metav1.ListOptions{LabelSelector: sel}))
			return trigger(ctx, src, func(obj runtime.Object, _ bool) bool {
				switch o := obj.(type) {
				case *appsv1.Deployment:
					return o.Name == w.Paused.Name && !o.Spec.Paused
				case *corev1.Pod:
					return o.DeletionTimestamp != nil
				}
				return false
			})
		}}
}

// generations reads metadata.generation of every Deployment, DaemonSet and
// StatefulSet in namespaces, retrying while the API server settles after a
// kill.
func generations(ctx context.Context, client kubernetes.Interface, namespaces []string) (map[string]int64, error) {
	var out map[string]int64
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		out = map[string]int64{}
		for _, s := range workloadSources(client, namespaces) {
			items, _, err := s.list(ctx)
			if err != nil {
				return false, nil
			}
			for _, o := range items {
				key, _, _ := templateValue(o, "")
				a, _ := meta.Accessor(o)
				out[key] = a.GetGeneration()
			}
		}
		return true, nil
	})
	return out, err
}

// PodSeen is one pod (one uid) of a workload as a watch saw it.
type PodSeen struct {
	Name     string
	UID      types.UID
	Revision string // its controller-revision-hash
	// Deleted: seen with a deletionTimestamp and a grace period, as a
	// client's delete leaves a pod a kubelet runs; Gone: seen deleted, or
	// missing from a list after being seen.
	Deleted, Gone bool
}

// recordPods records every pod of ns matching selector, through a list and
// a watch that lists again whenever the watch ends (the API server may be
// killed meanwhile); the returned function stops it and returns the pods
// seen, by uid.
func recordPods(ctx context.Context, client kubernetes.Interface, ns, selector string) func() map[types.UID]*PodSeen {
	ctx, cancel := context.WithCancel(ctx)
	var mu sync.Mutex
	seen := map[types.UID]*PodSeen{}
	note := func(p *corev1.Pod, gone bool) {
		mu.Lock()
		defer mu.Unlock()
		s := seen[p.UID]
		if s == nil {
			s = &PodSeen{Name: p.Name, UID: p.UID, Revision: p.Labels["controller-revision-hash"]}
			seen[p.UID] = s
		}
		if p.DeletionTimestamp != nil && p.DeletionGracePeriodSeconds != nil && *p.DeletionGracePeriodSeconds > 0 {
			s.Deleted = true
		}
		s.Gone = s.Gone || gone
	}
	listed := func(l *corev1.PodList) {
		mu.Lock()
		present := map[types.UID]bool{}
		for i := range l.Items {
			present[l.Items[i].UID] = true
		}
		for uid, s := range seen {
			if !present[uid] {
				s.Gone = true
			}
		}
		mu.Unlock()
		for i := range l.Items {
			note(&l.Items[i], false)
		}
	}
	pods := client.CoreV1().Pods(ns)
	first := make(chan struct{})
	var once sync.Once
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			l, err := pods.List(ctx, metav1.ListOptions{LabelSelector: selector})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			listed(l)
			once.Do(func() { close(first) })
			w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: selector, ResourceVersion: l.ResourceVersion})
			if err != nil {
				continue
			}
			for ev := range w.ResultChan() {
				if p, ok := ev.Object.(*corev1.Pod); ok {
					note(p, ev.Type == watch.Deleted)
				}
			}
			w.Stop()
		}
	})
	select {
	case <-first:
	case <-ctx.Done():
	}
	return func() map[types.UID]*PodSeen {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// podsNow lists the pods of every namespace with their uid, phase,
// readiness, node and deletion, one line each, for the log.
func podsNow(ctx context.Context, client kubernetes.Interface) string {
	pods, err := client.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods.Items {
		if strings.HasPrefix(p.Namespace, "kube-") {
			continue
		}
		ready := "not ready"
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = "ready"
			}
		}
		del := ""
		if p.DeletionTimestamp != nil {
			del = fmt.Sprintf(", deleting since %s (grace %v, finalizers %v)", p.DeletionTimestamp.Format(time.RFC3339), ptrString(p.DeletionGracePeriodSeconds), p.Finalizers)
		}
		fmt.Fprintf(&b, "    %s/%s uid %s rev %s: %s, %s, node %q%s\n", p.Namespace, p.Name, p.UID, p.Labels["controller-revision-hash"], p.Status.Phase, ready, p.Spec.NodeName, del)
	}
	if deps, err := client.AppsV1().Deployments("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range deps.Items {
			s := d.Status
			fmt.Fprintf(&b, "    deployment %s/%s: generation %d observed %d, replicas %d updated %d ready %d available %d, paused %v\n",
				d.Namespace, d.Name, d.Generation, s.ObservedGeneration, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas, d.Spec.Paused)
		}
	}
	if stss, err := client.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, s := range stss.Items {
			st := s.Status
			fmt.Fprintf(&b, "    statefulset %s/%s: generation %d observed %d, ready %d updated %d, revisions %s -> %s\n",
				s.Namespace, s.Name, s.Generation, st.ObservedGeneration, st.ReadyReplicas, st.UpdatedReplicas, st.CurrentRevision, st.UpdateRevision)
		}
	}
	if dss, err := client.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{}); err == nil {
		for _, d := range dss.Items {
			st := d.Status
			fmt.Fprintf(&b, "    daemonset %s/%s: generation %d observed %d, desired %d updated %d ready %d\n",
				d.Namespace, d.Name, d.Generation, st.ObservedGeneration, st.DesiredNumberScheduled, st.UpdatedNumberScheduled, st.NumberReady)
		}
	}
	return b.String()
}

func ptrString(p *int64) string {
	if p == nil {
		return "-"
	}
	return fmt.Sprint(*p)
}
