// Command verify benchmarks "kubectl carotate verify --only pods,sa" on a
// cluster with many pods (20,000 by default): wall time and the peak
// resident memory of the plugin process, which must stay within -max-rss
// (64 MiB), against a baseline measured in the same run on the same data:
// "kubectl get pods -A -o json", which lists the same pods in the same
// 500-pod chunks but keeps them all.
//
// It then measures restart-workloads --dry-run=server on the same pods:
// with no workloads, its pods scan alone, which keeps every pod no patch
// restarts (all of these bare pods) for its report; same memory limit.
//
// With -status it measures "kubectl carotate status" instead, which judges
// Running pods only: every pod is made Running through its status
// subresource, its container started a day ago, and a rotation is
// recorded with start. Before step 3 every pod mounts a CA source without
// the new CA, so status names every pod in its step 4 evidence (and, after
// step 3, every one as started before its source changed): its largest
// evidence, not a sample.
//
// It starts its own local control plane (test/localcluster) and stops it at
// the end. The pods are bare pods with a schedulerName no scheduler serves:
// they stay Pending (verify judges them "not-started") but are real pods
// with the projected ServiceAccount volume the admission plugin adds, in
// every page of the list. Running 20,000 pods on KWOK would make the
// benchmark measure KWOK and the scheduler on 2 cores, not verify; binding
// them to a node nobody runs would have the pod garbage collector delete
// them as orphans mid-run.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/hack/bench/benchutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

type result struct {
	Pods int `json:"pods"`
	benchutil.Comparison
	// RestartScan is restart-workloads --dry-run=server on the same pods
	// (verify only): its pods scan alone, there being no workloads. It
	// keeps every pod no patch restarts (here all: bare pods) for its
	// report, so it grows with them.
	RestartScan *scan `json:"restartScan,omitempty"`
}

type scan struct {
	Seconds float64 `json:"seconds"`
	MaxRSS  int64   `json:"maxRSSKiB"`
	Anon    int64   `json:"peakAnonKiB"`
	Pass    bool    `json:"pass"`
}

func main() {
	pods := flag.Int("pods", 20000, "pods to create")
	namespaces := flag.Int("namespaces", 1, "namespaces the pods are spread over")
	maxRSS := flag.Int64("max-rss-mib", 64, "fail when verify's peak RSS exceeds this many MiB")
	runs := flag.Int("runs", 3, "verify runs; the report takes the slowest time and the largest RSS")
	out := flag.String("json", "", "also write the result as JSON to this file")
	plugin := flag.String("plugin", "", "the kubectl-carotate binary to measure, built as the release builds it (default: the developer build in the bin dir)")
	status := flag.Bool("status", false, "measure status (the pods made Running, a rotation recorded) instead of verify")
	flag.BoolVar(&hold, "hold", false, "after creating the pods, print KUBECONFIG and wait for Ctrl-C instead of measuring (verify only; to profile by hand)")
	flag.Parse()
	run := run
	if *status {
		run = runStatus
	}
	if err := run(*plugin, *pods, *namespaces, *maxRSS, *runs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-verify:", err)
		os.Exit(1)
	}
}

// hold is -hold: keep the cluster for profiling by hand.
var hold bool

func run(plugin string, nPods, nNamespaces int, maxRSSMiB int64, runs int, out string) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Hour)
	defer cancel()
	s, err := benchutil.Start(ctx, "verify", plugin)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Stop()) }()
	cluster, binDir := s.Cluster, s.BinDir
	if err := createPods(ctx, s.Client, "bench", nPods, max(nNamespaces, 1)); err != nil {
		return err
	}
	ca := cluster.PKI.Path("ca.crt")
	if hold {
		fmt.Printf("KUBECONFIG=%s\nCA=%s\n", cluster.Kubeconfig, ca)
		fmt.Fprintln(os.Stderr, "bench-verify: holding the cluster; Ctrl-C stops it")
		<-ctx.Done()
		return nil
	}
	res := result{Pods: nPods}
	p, err := s.MeasurePlugin(ctx, runs, nil, func(stdout string) error {
		if want := fmt.Sprintf("%d pods judged: %d not-started", nPods, nPods); !strings.Contains(stdout, want) {
			return fmt.Errorf("verify did not judge every pod (want %q):\n%s", want, stdout)
		}
		return nil
	}, "verify", "--only", "pods,sa", "--ca", ca)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	kubectl := filepath.Join(binDir, "kubectl")
	r, err := benchutil.Measure(ctx, cluster.Kubeconfig, kubectl, nil, "get", "pods", "-A", "-o", "json")
	if err != nil {
		return fmt.Errorf("kubectl get: %w", err)
	}
	res.Comparison = benchutil.Compare(p, r, maxRSSMiB)

	rs, err := s.MeasurePlugin(ctx, runs, nil, func(stdout string) error {
		if want := fmt.Sprintf("%d pod(s) no patch restarts", nPods); !strings.Contains(stdout, want) {
			return fmt.Errorf("restart-workloads did not report every pod (want %q):\n%s", want, stdout)
		}
		return nil
	}, "restart-workloads", "--dry-run=server")
	if err != nil {
		return fmt.Errorf("restart-workloads --dry-run=server: %w", err)
	}
	res.RestartScan = &scan{Seconds: rs.Seconds, MaxRSS: rs.MaxRSS, Anon: rs.Anon, Pass: rs.MaxRSS <= maxRSSMiB<<10}
	fmt.Printf("bench-verify: restart-workloads --dry-run=server (its pods scan) on the same pods: %.2fs, peak RSS %.1f MiB (limit %d MiB), of which heap and stacks %.1f MiB\n",
		rs.Seconds, float64(rs.MaxRSS)/1024, maxRSSMiB, float64(rs.Anon)/1024)

	err = res.Finish("bench-verify", fmt.Sprintf("verify --only pods,sa on %d pods in %d namespaces", nPods, max(nNamespaces, 1)), "kubectl get pods -A -o json", out, res)
	if err == nil && !res.RestartScan.Pass {
		err = fmt.Errorf("restart-workloads' pods scan: peak RSS %d KiB exceeds %d MiB", rs.MaxRSS, maxRSSMiB)
	}
	return err
}

// runStatus is run for status: the pods Running and started before their
// CA source was written, a rotation recorded.
func runStatus(plugin string, nPods, nNamespaces int, maxRSSMiB int64, runs int, out string) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Hour)
	defer cancel()
	s, err := benchutil.Start(ctx, "status", plugin)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Stop()) }()
	nNamespaces = max(nNamespaces, 1)
	if err := createPods(ctx, s.Client, "bench", nPods, nNamespaces); err != nil {
		return err
	}
	started := metav1.NewTime(time.Now().Add(-24 * time.Hour).Truncate(time.Second))
	if err := benchutil.CreateAll(ctx, "running pods", nPods, 32, func(ctx context.Context, i int) error {
		patch, err := json.Marshal(map[string]any{"status": corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &started,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "registry.invalid/app:1", ImageID: "registry.invalid/app@sha256:00",
				ContainerID: fmt.Sprintf("containerd://%064d", i), State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}},
		}})
		if err != nil {
			return err
		}
		_, err = s.Client.CoreV1().Pods(podNamespace("bench", i, nNamespaces)).Patch(ctx, podName(i), types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		return err
	}); err != nil {
		return err
	}
	newCA, err := localcluster.NewCA("bench-new-ca", 24*time.Hour)
	if err != nil {
		return err
	}
	if err := newCA.Write(s.Dir, "new-ca"); err != nil {
		return err
	}
	if _, err := benchutil.Measure(ctx, s.Cluster.Kubeconfig, s.Installed, nil, "start", "--new-ca", filepath.Join(s.Dir, "new-ca.crt")); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	res := result{Pods: nPods}
	want := fmt.Sprintf("%d pods mount a CA source without the new CA", nPods)
	// status exits 1: steps are not done.
	p, err := s.MeasurePlugin(ctx, runs, []int{0, 1}, func(stdout string) error {
		if !strings.Contains(stdout, want) {
			return fmt.Errorf("status did not judge every pod (want %q):\n%s", want, stdout)
		}
		return nil
	}, "status")
	if err != nil {
		return fmt.Errorf("status: %w", err)
	}
	r, err := benchutil.Measure(ctx, s.Cluster.Kubeconfig, filepath.Join(s.BinDir, "kubectl"), nil, "get", "pods", "-A", "-o", "json")
	if err != nil {
		return fmt.Errorf("kubectl get: %w", err)
	}
	res.Comparison = benchutil.Compare(p, r, maxRSSMiB)
	return res.Finish("bench-status", fmt.Sprintf("status on %d running pods in %d namespaces", nPods, nNamespaces), "kubectl get pods -A -o json", out, res)
}

func podName(i int) string { return fmt.Sprintf("p-%06d", i+1) }

// podNamespace is the namespace of pod i: ns, or ns-00001 ... when there
// are several.
func podNamespace(ns string, i, namespaces int) string {
	if namespaces == 1 {
		return ns
	}
	return fmt.Sprintf("%s-%05d", ns, i%namespaces)
}

// createPods creates n bare pods spread over namespaces namespaces (ns,
// or ns-00001 ... when more than one), 32 at a time.
func createPods(ctx context.Context, client kubernetes.Interface, ns string, n, namespaces int) error {
	name := func(i int) string { return podNamespace(ns, i, namespaces) }
	if err := benchutil.CreateAll(ctx, "namespaces", namespaces, 16, func(ctx context.Context, i int) error {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name(i)}}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	}); err != nil {
		return err
	}
	// The ServiceAccount admission plugin refuses pods until the
	// namespace's default ServiceAccount exists: one list of the default
	// ServiceAccounts a poll until every namespace of ours has its own (a
	// GET per namespace, one after another, took about 7 minutes at
	// 10,000 namespaces, twice a full make bench-scale).
	want := make(map[string]bool, namespaces)
	for i := range namespaces {
		want[name(i)] = true
	}
	missing, lastErr := namespaces, error(nil)
	if err := wait.PollUntilContextTimeout(ctx, time.Second, 10*time.Minute, true, func(ctx context.Context) (bool, error) {
		sas, err := client.CoreV1().ServiceAccounts("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=default"})
		if err != nil {
			lastErr = err
			return false, nil
		}
		found := 0
		for _, sa := range sas.Items {
			if want[sa.Namespace] {
				found++
			}
		}
		missing = namespaces - found
		return missing == 0, nil
	}); err != nil {
		return fmt.Errorf("%d of %d namespaces have no default ServiceAccount (the last failed list: %v): %w", missing, namespaces, lastErr, err)
	}
	return benchutil.CreateAll(ctx, "pods", n, 32, func(ctx context.Context, i int) error {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: podName(i), Labels: map[string]string{"bench": "verify"}},
			Spec: corev1.PodSpec{
				SchedulerName: "bench-nobody",
				Containers:    []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
			},
		}
		_, err := client.CoreV1().Pods(name(i)).Create(ctx, pod, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		return err
	})
}
