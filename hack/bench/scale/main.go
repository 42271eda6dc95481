// Command scale is the part of "make bench-scale" that make bench has no
// contender for:
//
//   - -mode remote (issue 21 item 5): restart-workloads with its default
//     flags against "kubectl rollout restart deployments -n NS" per
//     namespace and against the best unthrottled client-go loop over
//     concurrencies 10, 32, 64, 128 and 256 (carotate-bench clientgo-loop),
//     all through a proxy on 127.0.0.1 that delays every byte -delay each
//     way; then ours and the loop again on loopback. kube-controller-manager
//     runs, and every contender starts only once it has observed every
//     Deployment (status.observedGeneration) and the rolled resources have
//     seen no request for a while (old ReplicaSets deleted), so none pays
//     for the previous one's aftermath. Each contender's requests by verb
//     are printed, the controller-manager's answer to them included.
//   - -mode bundle (item 3): bundle (its defaults, --settle 0) over
//     kube-root-ca.crt in every namespace and a legacy token Secret in one
//     namespace in -secrets-every, against an unthrottled client-go loop
//     writing the same key, the same value (the old+new bundle, after the
//     old CA is put back) and the same precondition, at the best of
//     concurrencies 10, 32, 64, 128 and 256; the CPU each took, and the API
//     server's and etcd's, beside. kube-controller-manager is stopped
//     (its root CA publisher would put its CA back): the benchmark creates
//     the objects the publisher and the token controller would.
//   - -mode wait (item 2): restart-workloads --wait over -namespaces x 5
//     workloads, its peak RSS against -max-rss-mib, with the rollouts
//     simulated (see wait.go).
//
// Each starts its own local control plane and stops it at the end.
package main

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	apiruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/hack/bench/benchutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// concurrencies are the loop's: the 10-128, and 256, the adaptive
// pace's ceiling (on 2026-12-03 the loop at 256 was faster than at 128 on
// both remote and loopback: the practical limit is the best of all five).
var concurrencies = []int{10, 32, 64, 128, 256}

// bundleRounds is how many counted rounds the bundle part runs (each
// contender once a round, after a warm-up round).
const bundleRounds = 5

type config struct {
	mode, plugin, loopBin, out string
	namespaces, perNS, repeat  int
	secretsEvery               int
	delay                      time.Duration
	maxRSSMiB                  int64
	maxInFlight                int
	hold                       bool
	// pinned adds restart-workloads --concurrency pinned to the remote
	// contenders: at the same requests in flight as a loop, what is left
	// of the gap is per request, not the pace's.
	pinned int
	// rollout: measure kubectl rollout restart per namespace (minutes at
	// full size; off for a by-hand run about the fast contenders only).
	rollout bool
}

func main() {
	var c config
	flag.StringVar(&c.mode, "mode", "remote", "remote (restart-workloads through a delaying proxy), bundle, or wait (restart-workloads --wait)")
	flag.StringVar(&c.plugin, "plugin", "", "the kubectl-carotate binary to measure (default: the developer build)")
	flag.StringVar(&c.loopBin, "loop-bin", "", "carotate-bench, whose clientgo-loop is the unthrottled client (remote mode)")
	flag.StringVar(&c.out, "json", "", "also write the results as JSON here")
	flag.IntVar(&c.namespaces, "namespaces", 100, "namespaces")
	flag.IntVar(&c.perNS, "per-namespace", 10, "Deployments per namespace (remote mode)")
	flag.IntVar(&c.repeat, "repeat", 3, "rounds of the fast contenders (the median is reported, with the spread)")
	flag.IntVar(&c.secretsEvery, "secrets-every", 10, "a legacy token Secret in one namespace in this many (bundle mode)")
	flag.DurationVar(&c.delay, "delay", 20*time.Millisecond, "delay of every byte, each way (remote mode)")
	flag.Int64Var(&c.maxRSSMiB, "max-rss-mib", 64, "peak RSS target (bundle and wait modes)")
	flag.BoolVar(&c.hold, "hold", false, "after the setup, print KUBECONFIG and wait for Ctrl-C instead of measuring (wait and bundle modes; to profile by hand)")
	flag.IntVar(&c.maxInFlight, "max-in-flight", 0, "restart-workloads --max-in-flight (wait mode; 0: its default)")
	flag.BoolVar(&c.rollout, "rollout", true, "measure kubectl rollout restart per namespace (remote mode)")
	flag.IntVar(&c.pinned, "pinned", 0, "also run restart-workloads --concurrency N (remote mode; 0: not)")
	flag.Func("limits", "the loop's concurrencies, comma-separated (remote and bundle modes; default 10,32,64,128,256)", func(v string) error {
		concurrencies = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 1 {
				return fmt.Errorf("not a concurrency: %q", f)
			}
			concurrencies = append(concurrencies, n)
		}
		return nil
	})
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Hour)
	defer cancel()
	var err error
	switch c.mode {
	case "remote":
		err = remote(ctx, c)
	case "bundle":
		err = bundle(ctx, c)
	case "wait":
		err = waitPart(ctx, c)
	default:
		err = fmt.Errorf("unknown -mode %q: remote, bundle or wait", c.mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench-scale:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05 ")+format+"\n", args...)
}

// start is benchutil.Start with HOME in the temporary directory: the
// plugin's undo files and kubectl's caches stay out of the user's.
func start(ctx context.Context, name, plugin string) (*benchutil.Setup, error) {
	s, err := benchutil.Start(ctx, name, plugin)
	if err != nil {
		return nil, err
	}
	home := filepath.Join(s.Dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, os.Setenv("HOME", home)
}

// fastClient is an unthrottled protobuf client, as the practical limit
// has it.
func fastClient(kubeconfig string) (kubernetes.Interface, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS = -1
	cfg.ContentType = apiruntime.ContentTypeProtobuf
	cfg.AcceptContentTypes = apiruntime.ContentTypeProtobuf + "," + apiruntime.ContentTypeJSON
	return kubernetes.NewForConfig(cfg)
}

// timing is one contender's figure.
type timing struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
	// Concurrency is the requests in flight it was pinned to (0: adaptive).
	Concurrency int `json:"concurrency,omitempty"`
	// Runs are every run's seconds when the figure is a median.
	Runs   []float64 `json:"runs,omitempty"`
	MaxRSS int64     `json:"maxRSSKiB,omitempty"`
	// CPU is the contender's own CPU time, ServerCPU the API server's and
	// etcd's during its run (seconds): on this machine's two
	// cores, what one takes the others wait for.
	CPU       float64 `json:"cpuSeconds,omitempty"`
	ServerCPU float64 `json:"serverCPUSeconds,omitempty"`
	// Requests is what the API server counted during the run, by verb,
	// resource and code (the controller-manager's included).
	Requests string `json:"requests,omitempty"`
	// Pacing is restart-workloads' own account of its requests in flight.
	Pacing json.RawMessage `json:"pacing,omitempty"`
}

func best(ts []timing) timing {
	return slices.MinFunc(ts, func(a, b timing) int {
		switch {
		case a.Seconds < b.Seconds:
			return -1
		case a.Seconds > b.Seconds:
			return 1
		}
		return 0
	})
}

// medianOf is the median run, with every run's time.
func medianOf(ts []timing) timing {
	sorted := slices.Clone(ts)
	slices.SortFunc(sorted, func(a, b timing) int { return cmp.Compare(a.Seconds, b.Seconds) })
	m := sorted[len(sorted)/2]
	m.Runs = nil
	for _, t := range ts {
		m.Runs = append(m.Runs, t.Seconds)
		m.MaxRSS = max(m.MaxRSS, t.MaxRSS)
	}
	return m
}

// spread is a median's runs, "" for one run.
func spread(t timing) string {
	if len(t.Runs) < 2 {
		return ""
	}
	return fmt.Sprintf(" (median of %d: %.2f-%.2fs)", len(t.Runs), slices.Min(t.Runs), slices.Max(t.Runs))
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT MET"
}

// ---- remote: restart-workloads through a delaying proxy ----

type remoteResult struct {
	Namespaces, Deployments int
	DelayEachWay            string
	Rollout                 timing
	Limits                  []timing
	Ours                    timing
	LoopbackLimits          []timing
	LoopbackOurs            timing
	// Pinned and LoopbackPinned: ours with --concurrency -pinned, when set.
	Pinned, LoopbackPinned *timing `json:",omitempty"`
}

func remote(ctx context.Context, c config) (err error) {
	if c.loopBin == "" {
		return errors.New("-loop-bin is required: the carotate-bench binary (make bench-scale builds it)")
	}
	s, err := start(ctx, "scale-remote", c.plugin)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Stop()) }()
	// Each contender waits for the controller-manager to observe every
	// Deployment; at its default 20 QPS and 5 workers that wait is minutes
	// per 1,000. Raised, it only shortens the waits between measurements.
	if err := s.Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{
		"kube-api-qps": "1000", "kube-api-burst": "2000", "concurrent-deployment-syncs": "50", "concurrent-replicaset-syncs": "50"}); err != nil {
		return err
	}
	nsName := func(i int) string { return fmt.Sprintf("remote-%05d", i) }
	if err := benchutil.CreateAll(ctx, "namespaces", c.namespaces, 16, func(ctx context.Context, i int) error {
		_, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsName(i)}}, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	total := c.namespaces * c.perNS
	if err := benchutil.CreateAll(ctx, "Deployments", total, 16, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("d%03d", i%c.perNS)
		labels := map[string]string{"app": name}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels}, RevisionHistoryLimit: ptr.To[int32](1),
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}}}}}
		_, err := s.Client.AppsV1().Deployments(nsName(i/c.perNS)).Create(ctx, d, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	proxy, err := startDelayProxy(strings.TrimPrefix(s.Cluster.Server, "https://"), c.delay)
	if err != nil {
		return err
	}
	defer proxy.Close()
	far := filepath.Join(s.Dir, "remote.conf")
	if err := localcluster.WriteKubeconfig(far, "https://"+proxy.Addr(), s.Cluster.PKI.CA.CertPEM, s.Cluster.PKI.Admin); err != nil {
		return err
	}
	near := s.Cluster.Kubeconfig
	kubectl := filepath.Join(s.BinDir, "kubectl")
	b := &rollBench{client: s.Client, total: total, setup: s}
	res := remoteResult{Namespaces: c.namespaces, Deployments: total, DelayEachWay: c.delay.String()}

	if err := b.settled(ctx); err != nil {
		return err
	}
	// Unmeasured: every field manager's first patch adds its managedFields
	// entry, which later patches only update.
	for _, warm := range [][]string{{"restart-workloads", "--value", "warm-up-1"}} {
		if _, err := benchutil.Measure(ctx, near, s.Installed, nil, warm...); err != nil {
			return err
		}
	}
	if _, err := benchutil.Measure(ctx, near, c.loopBin, nil, "clientgo-loop", "-kubeconfig", near, "-value", "warm-up-2", "-concurrency", "32"); err != nil {
		return err
	}
	if _, err := benchutil.Measure(ctx, near, kubectl, nil, "rollout", "restart", "deployments", "-n", nsName(0)); err != nil {
		return err
	}
	if err := b.settled(ctx); err != nil {
		return err
	}

	ours := func(kubeconfig, name string, pin int) (timing, error) {
		return b.run(ctx, name, func(v string) (timing, error) {
			args := []string{"restart-workloads", "--value", v, "-o", "json"}
			if pin > 0 {
				args = append(args, "--concurrency", fmt.Sprint(pin))
			}
			r, err := benchutil.Measure(ctx, kubeconfig, s.Installed, nil, args...)
			var rep struct {
				Pacing json.RawMessage `json:"pacing"`
			}
			if err == nil && json.Unmarshal([]byte(r.Stdout), &rep) == nil {
				logf("  pacing: %s", strings.Join(strings.Fields(string(rep.Pacing)), " "))
			}
			return timing{Seconds: r.Seconds, MaxRSS: r.MaxRSS, CPU: r.CPU, Pacing: rep.Pacing, Concurrency: pin}, err
		})
	}
	limit := func(kubeconfig, name string, n int) (timing, error) {
		return b.run(ctx, name, func(v string) (timing, error) {
			r, err := benchutil.Measure(ctx, kubeconfig, c.loopBin, nil, "clientgo-loop", "-kubeconfig", kubeconfig, "-value", v, "-concurrency", fmt.Sprint(n))
			return timing{Seconds: r.Seconds, MaxRSS: r.MaxRSS, CPU: r.CPU, Concurrency: n}, err
		})
	}
	if !c.rollout {
		logf("not measuring kubectl rollout restart (-rollout=false)")
	} else if res.Rollout, err = b.run(ctx, "kubectl rollout restart deployments -n NS, per namespace (remote)", func(string) (timing, error) {
		var t timing
		for i := range c.namespaces {
			r, err := benchutil.Measure(ctx, far, kubectl, nil, "rollout", "restart", "deployments", "-n", nsName(i))
			if err != nil {
				return t, err
			}
			t.Seconds += r.Seconds
			t.CPU += r.CPU
			t.MaxRSS = max(t.MaxRSS, r.MaxRSS)
		}
		return t, nil
	}); err != nil {
		return err
	}
	// The fast contenders run -repeat rounds, in the same order each
	// round; each reports its median, with every run kept.
	type contender struct {
		kubeconfig string
		conc       int // 0: ours
		pin        int // ours' --concurrency; 0: its default
		into       *timing
	}
	res.Limits = make([]timing, len(concurrencies))
	res.LoopbackLimits = make([]timing, len(concurrencies))
	var cs []contender
	for i, n := range concurrencies {
		cs = append(cs, contender{far, n, 0, &res.Limits[i]})
	}
	cs = append(cs, contender{far, 0, 0, &res.Ours})
	if c.pinned > 0 {
		res.Pinned = &timing{}
		cs = append(cs, contender{far, 0, c.pinned, res.Pinned})
	}
	for i, n := range concurrencies {
		cs = append(cs, contender{near, n, 0, &res.LoopbackLimits[i]})
	}
	cs = append(cs, contender{near, 0, 0, &res.LoopbackOurs})
	if c.pinned > 0 {
		res.LoopbackPinned = &timing{}
		cs = append(cs, contender{near, 0, c.pinned, res.LoopbackPinned})
	}
	runs := make([][]timing, len(cs))
	for round := range max(c.repeat, 1) {
		for i, ct := range cs {
			where := "remote"
			if ct.kubeconfig == near {
				where = "loopback"
			}
			var t timing
			var err error
			switch {
			case ct.pin > 0:
				t, err = ours(ct.kubeconfig, fmt.Sprintf("restart-workloads --concurrency %d (%s)", ct.pin, where), ct.pin)
			case ct.conc == 0:
				t, err = ours(ct.kubeconfig, "restart-workloads, default flags ("+where+")", 0)
			default:
				t, err = limit(ct.kubeconfig, fmt.Sprintf("client-go loop, unthrottled, concurrency %d (%s)", ct.conc, where), ct.conc)
			}
			if err != nil {
				return fmt.Errorf("round %d: %w", round+1, err)
			}
			runs[i] = append(runs[i], t)
		}
	}
	for i, ct := range cs {
		*ct.into = medianOf(runs[i])
	}
	fmt.Print(res.markdown())
	return benchutil.WriteJSON(c.out, res)
}

func (r remoteResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n### Remote API server: %d Deployments in %d namespaces, every byte delayed %s each way\n\n", r.Deployments, r.Namespaces, r.DelayEachWay)
	b.WriteString("| contender | time | vs the best limit |\n| --- | ---: | ---: |\n")
	lim, llim := best(r.Limits), best(r.LoopbackLimits)
	far := append(slices.Clone(r.Limits), r.Ours)
	if r.Rollout.Seconds > 0 {
		far = append([]timing{r.Rollout}, far...)
	}
	near := append(slices.Clone(r.LoopbackLimits), r.LoopbackOurs)
	if r.Pinned != nil {
		far, near = append(far, *r.Pinned), append(near, *r.LoopbackPinned)
	}
	for _, t := range far {
		fmt.Fprintf(&b, "| %s%s | %.2fs | %.2fx |\n", t.Name, spread(t), t.Seconds, t.Seconds/lim.Seconds)
	}
	for _, t := range near {
		fmt.Fprintf(&b, "| %s%s | %.2fs | %.2fx of the loopback limit |\n", t.Name, spread(t), t.Seconds, t.Seconds/llim.Seconds)
	}
	b.WriteString("\n| target | ours | | the best limit, on the same terms |\n| --- | ---: | --- | ---: |\n")
	fmt.Fprintf(&b, "| remote: within 1.25x of the best limit (%s) | %.2fx | %s | 1.00x |\n", lim.Name, r.Ours.Seconds/lim.Seconds, met(r.Ours.Seconds <= 1.25*lim.Seconds))
	if r.Rollout.Seconds > 0 {
		fmt.Fprintf(&b, "| remote: faster than rollout restart per namespace | %.1fx | | %.1fx |\n", r.Rollout.Seconds/r.Ours.Seconds, r.Rollout.Seconds/lim.Seconds)
	}
	fmt.Fprintf(&b, "| loopback: within 1.25x of the best limit (%s) | %.2fx | %s | 1.00x |\n", llim.Name, r.LoopbackOurs.Seconds/llim.Seconds, met(r.LoopbackOurs.Seconds <= 1.25*llim.Seconds))
	if r.Pinned != nil {
		for _, p := range []struct {
			where  string
			pinned timing
			limits []timing
		}{{"remote", *r.Pinned, r.Limits}, {"loopback", *r.LoopbackPinned, r.LoopbackLimits}} {
			for _, l := range p.limits {
				if l.Concurrency == p.pinned.Concurrency {
					fmt.Fprintf(&b, "| %s, at equal requests in flight (%d): ours pinned vs the loop | %.2fx | | 1.00x |\n", p.where, l.Concurrency, p.pinned.Seconds/l.Seconds)
				}
			}
		}
	}
	return b.String()
}

// rolledResources are the resources whose requests a rollBench run
// counts: what the contenders read and write, and what the
// controller-manager does in answer.
var rolledResources = []string{"deployments", "replicasets", "pods", "daemonsets", "statefulsets"}

// rollBench runs contenders that each roll every bench Deployment once.
type rollBench struct {
	client kubernetes.Interface
	total  int
	runs   int
	setup  *benchutil.Setup
}

// generations is namespace/name -> generation, and how many the
// controller-manager has not observed yet.
func (b *rollBench) generations(ctx context.Context) (map[string]int64, int, error) {
	out := map[string]int64{}
	pending := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := b.client.AppsV1().Deployments("").List(ctx, opts)
		if err != nil {
			return nil, 0, err
		}
		for _, d := range l.Items {
			if strings.HasPrefix(d.Namespace, "remote-") {
				out[d.Namespace+"/"+d.Name] = d.Generation
				if d.Status.ObservedGeneration < d.Generation {
					pending++
				}
			}
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			return out, pending, nil
		}
	}
}

// settled waits until the controller-manager observed every Deployment
// and then until its aftermath is over: no request on the rolled
// resources for quietFor. Observed is not over: old ReplicaSets are
// deleted, and new ones' status written, seconds later (counted in the
// next contender's window: 140-370 ReplicaSet deletions of 1,000 in a
// loop's run that made 1,000 rollouts itself on 2026-12-03), so the
// contender after the fastest paid for its leftovers.
func (b *rollBench) settled(ctx context.Context) error {
	start := time.Now()
	err := wait.PollUntilContextTimeout(ctx, time.Second, 30*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, pending, err := b.generations(ctx)
		return err == nil && pending == 0, nil
	})
	if err != nil {
		return err
	}
	observed := time.Since(start)
	var last benchutil.Requests
	quiet := time.Time{}
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		now, err := benchutil.CountRequests(ctx, b.client, rolledResources...)
		if err != nil {
			return false, nil
		}
		if last == nil || !maps.Equal(now, last) {
			last, quiet = now, time.Now()
			return false, nil
		}
		return time.Since(quiet) >= quietFor, nil
	})
	if wait.Interrupted(err) && ctx.Err() == nil {
		// Never quiet: the next contender pays for what is left, as
		// before this wait; the run goes on.
		logf("  not quiet after %s; going on", time.Since(start).Round(time.Second))
		return nil
	}
	logf("  controller-manager observed every Deployment after %s, quiet after %s", observed.Round(time.Second), time.Since(start).Round(time.Second))
	return err
}

// quietFor is how long the rolled resources must see no request before
// the next contender starts.
const quietFor = 2 * time.Second

// run measures one contender and checks it rolled every Deployment.
func (b *rollBench) run(ctx context.Context, name string, fn func(value string) (timing, error)) (timing, error) {
	before, _, err := b.generations(ctx)
	if err != nil {
		return timing{}, err
	}
	b.runs++
	logf("running %s", name)
	cpu0, err := serverCPU(b.setup)
	if err != nil {
		return timing{}, err
	}
	req0, err := benchutil.CountRequests(ctx, b.client, rolledResources...)
	if err != nil {
		return timing{}, err
	}
	t, err := fn(fmt.Sprintf("scale-%d-%d", time.Now().Unix(), b.runs))
	if err != nil {
		return t, fmt.Errorf("%s: %w", name, err)
	}
	cpu1, err := serverCPU(b.setup)
	if err != nil {
		return t, err
	}
	req1, err := benchutil.CountRequests(ctx, b.client, rolledResources...)
	if err != nil {
		return t, err
	}
	t.Name, t.ServerCPU, t.Requests = name, cpu1-cpu0, req1.Since(req0)
	after, _, err := b.generations(ctx)
	if err != nil {
		return t, err
	}
	moved := 0
	for k, g := range before {
		if after[k] > g {
			moved++
		}
	}
	if moved != b.total || len(before) != b.total {
		return t, fmt.Errorf("%s rolled %d of %d Deployments", name, moved, b.total)
	}
	logf("  %.2fs, peak RSS %.1f MiB, CPU %.1fs, API server and etcd CPU %.1fs", t.Seconds, float64(t.MaxRSS)/1024, t.CPU, t.ServerCPU)
	logf("  requests: %s", t.Requests)
	return t, b.settled(ctx)
}

// serverCPU is the CPU time the API server and etcd of s have taken, in
// seconds.
func serverCPU(s *benchutil.Setup) (float64, error) {
	var sum float64
	for _, name := range []string{localcluster.APIServer, localcluster.Etcd} {
		cpu, err := benchutil.ProcCPU(s.Cluster.Component(name).Pid())
		if err != nil {
			return 0, err
		}
		sum += cpu
	}
	return sum, nil
}

func ignoreExists(err error) error {
	if err != nil && strings.Contains(err.Error(), "already exists") {
		return nil
	}
	return err
}

// ---- bundle: the root CA pass over many namespaces ----

// bundleResources are the resources whose requests a bundle round counts:
// what bundle and the loop read and write, and what bundle alone asks
// (its rights, the namespaces).
var bundleResources = []string{"configmaps", "secrets", "namespaces", "selfsubjectaccessreviews"}

type bundleResult struct {
	Namespaces, Secrets int
	Objects             int
	Ours                []timing
	Limits              []timing
	RootDefault         timing
	Target              string
}

func bundle(ctx context.Context, c config) (err error) {
	s, err := start(ctx, "scale-bundle", c.plugin)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Stop()) }()
	logf("stopping kube-controller-manager: its root CA publisher would put its CA back")
	if err := s.Cluster.StopComponent(localcluster.ControllerManager); err != nil {
		return err
	}
	oldPEM, err := os.ReadFile(s.Cluster.PKI.Path("ca.crt"))
	if err != nil {
		return err
	}
	newCA, err := localcluster.NewCA("kubernetes-new", 48*time.Hour)
	if err != nil {
		return err
	}
	oldFile, newFile := filepath.Join(s.Dir, "old-ca.crt"), filepath.Join(s.Dir, "new-ca.crt")
	if err := errors.Join(os.WriteFile(oldFile, oldPEM, 0o644), os.WriteFile(newFile, newCA.CertPEM, 0o644)); err != nil {
		return err
	}
	nsName := func(i int) string { return fmt.Sprintf("scale-%05d", i) }
	secrets := 0
	if c.secretsEvery > 0 {
		secrets = (c.namespaces + c.secretsEvery - 1) / c.secretsEvery
	}
	if err := benchutil.CreateAll(ctx, "namespaces with kube-root-ca.crt", c.namespaces, 16, func(ctx context.Context, i int) error {
		ns := nsName(i)
		_, err := s.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err := ignoreExists(err); err != nil {
			return err
		}
		_, err = s.Client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt"},
			Data: map[string]string{"ca.crt": string(oldPEM)}}, metav1.CreateOptions{})
		if err := ignoreExists(err); err != nil || c.secretsEvery <= 0 || i%c.secretsEvery != 0 {
			return err
		}
		_, err = s.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "legacy-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type:       corev1.SecretTypeServiceAccountToken,
			Data:       map[string][]byte{"token": []byte("bench"), "ca.crt": oldPEM}}, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	if c.hold {
		fmt.Printf("KUBECONFIG=%s\n# kubectl carotate bundle --old-ca %s --new-ca %s --settle 0\n", s.Cluster.Kubeconfig, oldFile, newFile)
		logf("holding the cluster; Ctrl-C stops it")
		<-ctx.Done()
		return nil
	}
	loop, err := fastClient(s.Cluster.Kubeconfig)
	if err != nil {
		return err
	}
	res := bundleResult{Namespaces: c.namespaces, Secrets: secrets}
	undoDir := filepath.Join(s.Dir, "undo")
	// Each round runs every contender once, in an order turned by one
	// each round (etcd's history grows within a round until the API
	// server compacts it, so no contender always runs first or last):
	// bundle writes old+new everywhere, or the loop at one concurrency
	// writes the same old+new bundle, the same change bundle made; after
	// each the old CA is put back (not timed). Round 0 is a warm-up
	// (bundle and the loop at 64; managedFields entries), not counted.
	// Until 2026-12-05 each round ran bundle and the loop at one
	// concurrency, so the best loop was the fastest of five single runs
	// against bundle's median of five: each loop is now a median too.
	var bundlePEM []byte
	runOurs := func() (timing, int, error) {
		cpu0, err := serverCPU(s)
		if err != nil {
			return timing{}, 0, err
		}
		req0, err := benchutil.CountRequests(ctx, s.Client, bundleResources...)
		if err != nil {
			return timing{}, 0, err
		}
		r, err := benchutil.Measure(ctx, s.Cluster.Kubeconfig, s.Installed, nil,
			"bundle", "--old-ca", oldFile, "--new-ca", newFile, "--undo-dir", undoDir, "--settle", "0", "-o", "json")
		if err != nil {
			return timing{}, 0, err
		}
		cpu1, err := serverCPU(s)
		if err != nil {
			return timing{}, 0, err
		}
		req1, err := benchutil.CountRequests(ctx, s.Client, bundleResources...)
		if err != nil {
			return timing{}, 0, err
		}
		oursRequests := req1.Since(req0)
		var rep struct {
			Namespaces, Secrets struct{ Updated, Failed int }
			Pacing              json.RawMessage `json:"pacing"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
			return timing{}, 0, fmt.Errorf("bundle -o json: %w", err)
		}
		written := rep.Namespaces.Updated + rep.Secrets.Updated
		if rep.Namespaces.Failed+rep.Secrets.Failed != 0 || rep.Namespaces.Updated < c.namespaces || rep.Secrets.Updated < secrets {
			return timing{}, 0, fmt.Errorf("bundle wrote %+v, want %d namespaces and %d Secrets", rep, c.namespaces, secrets)
		}
		logf("bundle: %d objects in %.2fs, peak RSS %.1f MiB, CPU %.1fs, API server and etcd CPU %.1fs", written, r.Seconds, float64(r.MaxRSS)/1024, r.CPU, cpu1-cpu0)
		logf("  requests: %s", oursRequests)
		logf("  pacing: %s", strings.Join(strings.Fields(string(rep.Pacing)), " "))
		if bundlePEM == nil {
			cm, err := s.Client.CoreV1().ConfigMaps(nsName(0)).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil {
				return timing{}, 0, err
			}
			bundlePEM = []byte(cm.Data["ca.crt"])
		}
		return timing{Name: "bundle (its defaults, --settle 0)", Seconds: r.Seconds, MaxRSS: r.MaxRSS, CPU: r.CPU, ServerCPU: cpu1 - cpu0, Requests: oursRequests, Pacing: rep.Pacing}, written, nil
	}
	runLoop := func(conc int) (timing, int, error) {
		self0, err := benchutil.SelfCPU()
		if err != nil {
			return timing{}, 0, err
		}
		cpu0, err := serverCPU(s)
		if err != nil {
			return timing{}, 0, err
		}
		req0, err := benchutil.CountRequests(ctx, s.Client, bundleResources...)
		if err != nil {
			return timing{}, 0, err
		}
		started := time.Now()
		count, err := writeBack(ctx, loop, bundlePEM, conc)
		if err != nil {
			return timing{}, 0, err
		}
		t := timing{Name: fmt.Sprintf("client-go loop, unthrottled, concurrency %d", conc), Concurrency: conc, Seconds: time.Since(started).Seconds()}
		req1, err := benchutil.CountRequests(ctx, s.Client, bundleResources...)
		if err != nil {
			return timing{}, 0, err
		}
		t.Requests = req1.Since(req0)
		self1, err := benchutil.SelfCPU()
		if err != nil {
			return timing{}, 0, err
		}
		cpu1, err := serverCPU(s)
		if err != nil {
			return timing{}, 0, err
		}
		t.CPU, t.ServerCPU = self1-self0, cpu1-cpu0
		logf("%s: %d objects in %.2fs, CPU %.1fs, API server and etcd CPU %.1fs", t.Name, count, t.Seconds, t.CPU, t.ServerCPU)
		logf("  requests: %s", t.Requests)
		return t, count, nil
	}
	loopRuns := map[int][]timing{}
	warm := slices.Index(concurrencies, 64)
	if warm < 0 {
		warm = len(concurrencies) - 1
	}
	for round := range bundleRounds + 1 {
		// 0 is bundle, i > 0 the loop at concurrencies[i-1].
		order := []int{0, 1 + warm}
		if round > 0 {
			order = order[:0]
			for i := range len(concurrencies) + 1 {
				order = append(order, (i+round-1)%(len(concurrencies)+1))
			}
		}
		for _, k := range order {
			if k == 0 {
				t, written, err := runOurs()
				if err != nil {
					return err
				}
				res.Objects = written
				if round > 0 {
					res.Ours = append(res.Ours, t)
				}
			} else {
				if bundlePEM == nil {
					continue // bundle runs first in round 0: its bundle is the loop's value
				}
				t, count, err := runLoop(concurrencies[k-1])
				if err != nil {
					return err
				}
				if count != res.Objects {
					return fmt.Errorf("the loop wrote %d objects, bundle %d", count, res.Objects)
				}
				if round > 0 {
					loopRuns[t.Concurrency] = append(loopRuns[t.Concurrency], t)
				}
			}
			if _, err := writeBack(ctx, loop, oldPEM, 64); err != nil {
				return err
			}
		}
	}
	for _, n := range concurrencies {
		res.Limits = append(res.Limits, medianOf(loopRuns[n]))
	}
	// What bundle ran at before it shared restart-workloads' pacing: the
	// root's 50 QPS (and 8 workers, about what the adaptive pace holds
	// at that rate).
	r, err := benchutil.Measure(ctx, s.Cluster.Kubeconfig, s.Installed, nil,
		"bundle", "--old-ca", oldFile, "--new-ca", newFile, "--undo-dir", undoDir, "--settle", "0", "--qps", "50", "--burst", "100", "--concurrency", "8")
	if err != nil {
		return err
	}
	res.RootDefault = timing{Name: "bundle --qps 50 --burst 100 --concurrency 8 (the root's rate limit: how bundle ran before)", Seconds: r.Seconds, MaxRSS: r.MaxRSS, CPU: r.CPU}
	logf("%s: %.2fs", res.RootDefault.Name, r.Seconds)
	ours := slices.Clone(res.Ours)
	slices.SortFunc(ours, func(a, b timing) int { return int((a.Seconds - b.Seconds) * 1e6) })
	median := ours[len(ours)/2]
	peak := slices.MaxFunc(res.Ours, func(a, b timing) int { return int(a.MaxRSS - b.MaxRSS) })
	lim := best(res.Limits)
	var b strings.Builder
	fmt.Fprintf(&b, "\n### bundle over %d namespaces (kube-root-ca.crt in each, legacy token Secrets in %d): %d objects\n\n", c.namespaces, secrets, res.Objects)
	b.WriteString("| contender | time | vs the best limit | peak RSS | its CPU | API server + etcd CPU |\n| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, t := range res.Ours {
		fmt.Fprintf(&b, "| %s | %.2fs | %.2fx | %.1f MiB | %.1fs | %.1fs |\n", t.Name, t.Seconds, t.Seconds/lim.Seconds, float64(t.MaxRSS)/1024, t.CPU, t.ServerCPU)
	}
	for _, t := range res.Limits {
		fmt.Fprintf(&b, "| %s (in-process)%s | %.2fs | %.2fx | - | %.1fs | %.1fs |\n", t.Name, spread(t), t.Seconds, t.Seconds/lim.Seconds, t.CPU, t.ServerCPU)
	}
	fmt.Fprintf(&b, "| %s | %.2fs | %.2fx | %.1f MiB | %.1fs | - |\n", res.RootDefault.Name, res.RootDefault.Seconds, res.RootDefault.Seconds/lim.Seconds, float64(res.RootDefault.MaxRSS)/1024, res.RootDefault.CPU)
	b.WriteString("\n| target | measured | |\n| --- | ---: | --- |\n")
	fmt.Fprintf(&b, "| time within 1.25x of the best unthrottled loop (medians of %d) | %.2fx | %s |\n", len(ours), median.Seconds/lim.Seconds, met(median.Seconds <= 1.25*lim.Seconds))
	var fastest float64
	for _, t := range res.Limits {
		if m := slices.Min(t.Runs); fastest == 0 || m < fastest {
			fastest = m
		}
	}
	fmt.Fprintf(&b, "| (the same against the loop's fastest single run, %.2fs, as this part judged before 2026-12-05) | %.2fx | |\n", fastest, median.Seconds/fastest)
	fmt.Fprintf(&b, "| peak RSS at most %d MiB | %.1f MiB | %s |\n", c.maxRSSMiB, float64(peak.MaxRSS)/1024, met(peak.MaxRSS <= c.maxRSSMiB*1024))
	res.Target = b.String()
	fmt.Print(res.Target)
	return benchutil.WriteJSON(c.out, res)
}

// writeBack is the practical limit of the bundle pass: list each kind of
// root CA object in pages, then write ca.crt with the resourceVersion read
// as precondition (a merge patch, as bundle sends), n in flight, no rate
// limit, no retries.
func writeBack(ctx context.Context, client kubernetes.Interface, value []byte, n int) (int, error) {
	type obj struct {
		secret       bool
		ns, name, rv string
	}
	var objs []obj
	opts := metav1.ListOptions{Limit: 500, FieldSelector: "metadata.name=kube-root-ca.crt"}
	for {
		l, err := client.CoreV1().ConfigMaps("").List(ctx, opts)
		if err != nil {
			return 0, err
		}
		for _, cm := range l.Items {
			objs = append(objs, obj{false, cm.Namespace, cm.Name, cm.ResourceVersion})
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	opts = metav1.ListOptions{Limit: 500, FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)}
	for {
		l, err := client.CoreV1().Secrets("").List(ctx, opts)
		if err != nil {
			return 0, err
		}
		for _, s := range l.Items {
			if _, ok := s.Data["ca.crt"]; ok {
				objs = append(objs, obj{true, s.Namespace, s.Name, s.ResourceVersion})
			}
		}
		if opts.Continue = l.Continue; opts.Continue == "" {
			break
		}
	}
	work := make(chan obj)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for o := range work {
				var err error
				if o.secret {
					body := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"data":{"ca.crt":%q}}`, o.rv, base64.StdEncoding.EncodeToString(value))
					_, err = client.CoreV1().Secrets(o.ns).Patch(ctx, o.name, types.MergePatchType, []byte(body), metav1.PatchOptions{})
				} else {
					body, _ := json.Marshal(map[string]any{"metadata": map[string]string{"resourceVersion": o.rv}, "data": map[string]string{"ca.crt": string(value)}})
					_, err = client.CoreV1().ConfigMaps(o.ns).Patch(ctx, o.name, types.MergePatchType, body, metav1.PatchOptions{})
				}
				if err != nil {
					mu.Lock()
					first = cmp.Or(first, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, o := range objs {
		work <- o
	}
	close(work)
	wg.Wait()
	return len(objs), first
}
