// Command verify benchmarks "kubectl carotate verify --only pods,sa" on a
// cluster with many pods (20,000 by default): wall time and the peak
// resident memory of the plugin process, which must stay within -max-rss
// (64 MiB), against a baseline measured in the same run on the same data:
// "kubectl get pods -A -o json", which lists the same pods in the same
// 500-pod chunks but keeps them all.
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
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/hack/bench/benchutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

type result struct {
	Pods          int     `json:"pods"`
	VerifySeconds float64 `json:"verifySeconds"`
	VerifyMaxRSS  int64   `json:"verifyMaxRSSKiB"`
	VerifyAnon    int64   `json:"verifyPeakAnonKiB"`
	AsBuiltMaxRSS int64   `json:"asBuiltMaxRSSKiB"`
	KubectlSecs   float64 `json:"kubectlGetSeconds"`
	KubectlMaxRSS int64   `json:"kubectlGetMaxRSSKiB"`
	TimeRatio     float64 `json:"timeRatio"`
	RSSRatio      float64 `json:"rssRatio"`
	MaxRSSLimit   int64   `json:"maxRSSLimitKiB"`
	Pass          bool    `json:"pass"`
}

func main() {
	pods := flag.Int("pods", 20000, "pods to create")
	maxRSS := flag.Int64("max-rss-mib", 64, "fail when verify's peak RSS exceeds this many MiB")
	runs := flag.Int("runs", 3, "verify runs; the report takes the slowest time and the largest RSS")
	out := flag.String("json", "", "also write the result as JSON to this file")
	plugin := flag.String("plugin", "", "the kubectl-carotate binary to measure, built as the release builds it (default: the developer build in the bin dir)")
	flag.Parse()
	if err := run(*plugin, *pods, *maxRSS, *runs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-verify:", err)
		os.Exit(1)
	}
}

func run(plugin string, nPods int, maxRSSMiB int64, runs int, out string) (err error) {
	binDir, err := localcluster.DefaultBinDir()
	if err != nil {
		return err
	}
	if plugin == "" {
		plugin = filepath.Join(binDir, "kubectl-carotate")
	}
	if _, err := os.Stat(plugin); err != nil {
		return fmt.Errorf("%s not built: run make build first", plugin)
	}
	dir, err := os.MkdirTemp("", "carotate-bench-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	start := time.Now()
	cluster, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Nodes: 1, Logf: func(f string, a ...any) {
		fmt.Fprintf(os.Stderr, "cluster: "+f+"\n", a...)
	}})
	if err != nil {
		return err
	}
	defer func() {
		if stopErr := cluster.Stop(); err == nil {
			err = stopErr
		}
	}()
	fmt.Fprintf(os.Stderr, "control plane up in %s\n", time.Since(start).Round(time.Second))

	cfg, err := cluster.RESTConfig()
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 2000
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := createPods(ctx, client, "bench", nPods); err != nil {
		return err
	}

	// The plugin is measured as users install it (make bench passes the
	// release build): unpacked with write(), see benchutil.Install. The
	// figure for the file as the linker left it is printed for reference.
	installed := filepath.Join(dir, "kubectl-carotate")
	if err := benchutil.Install(plugin, installed); err != nil {
		return err
	}
	ca := cluster.PKI.Path("ca.crt")
	res := result{Pods: nPods, MaxRSSLimit: maxRSSMiB << 10}
	if _, _, rss, err := measure(ctx, cluster.Kubeconfig, plugin, "verify", "--only", "pods,sa", "--ca", ca); err == nil {
		fmt.Fprintf(os.Stderr, "as built (linker output, not the installed copy): max RSS %d KiB (anonymous %d KiB)\n", rss, lastAnon)
		res.AsBuiltMaxRSS = rss
	}
	for i := 0; i < runs; i++ {
		stdout, secs, rss, err := measure(ctx, cluster.Kubeconfig, installed, "verify", "--only", "pods,sa", "--ca", ca)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if want := fmt.Sprintf("%d pods judged: %d not-started", nPods, nPods); !strings.Contains(stdout, want) {
			return fmt.Errorf("verify did not judge every pod (want %q):\n%s", want, stdout)
		}
		fmt.Fprintf(os.Stderr, "verify run %d: %.2fs, max RSS %d KiB (anonymous %d KiB)\n", i+1, secs, rss, lastAnon)
		res.VerifySeconds = max(res.VerifySeconds, secs)
		res.VerifyMaxRSS = max(res.VerifyMaxRSS, rss)
		res.VerifyAnon = max(res.VerifyAnon, lastAnon)
	}
	kubectl := filepath.Join(binDir, "kubectl")
	_, secs, rss, err := measure(ctx, cluster.Kubeconfig, kubectl, "get", "pods", "-A", "-o", "json")
	if err != nil {
		return fmt.Errorf("kubectl get: %w", err)
	}
	res.KubectlSecs, res.KubectlMaxRSS = secs, rss
	res.TimeRatio = res.VerifySeconds / res.KubectlSecs
	res.RSSRatio = float64(res.VerifyMaxRSS) / float64(res.KubectlMaxRSS)
	res.Pass = res.VerifyMaxRSS <= res.MaxRSSLimit

	fmt.Printf("bench-verify: verify --only pods,sa on %d pods: %.2fs, peak RSS %.1f MiB (limit %d MiB), of which heap and stacks %.1f MiB\n",
		nPods, res.VerifySeconds, float64(res.VerifyMaxRSS)/1024, maxRSSMiB, float64(res.VerifyAnon)/1024)
	fmt.Printf("bench-verify: baseline kubectl get pods -A -o json: %.2fs, peak RSS %.1f MiB; ratio verify/baseline: time %.2f, RSS %.2f\n",
		res.KubectlSecs, float64(res.KubectlMaxRSS)/1024, res.TimeRatio, res.RSSRatio)
	if out != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if !res.Pass {
		return fmt.Errorf("peak RSS %d KiB exceeds %d MiB", res.VerifyMaxRSS, maxRSSMiB)
	}
	return nil
}

// createPods creates n bare pods in ns, 32 at a time.
func createPods(ctx context.Context, client kubernetes.Interface, ns string, n int) error {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// The ServiceAccount admission plugin refuses pods until the
	// namespace's default ServiceAccount exists.
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		return fmt.Errorf("no default ServiceAccount in %s: %w", ns, err)
	}
	start := time.Now()
	var next, done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) {
					return
				}
				pod := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p-%05d", i), Labels: map[string]string{"bench": "verify"}},
					Spec: corev1.PodSpec{
						SchedulerName: "bench-nobody",
						Containers:    []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}},
					},
				}
				err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 6}, func(ctx context.Context) (bool, error) {
					_, err := client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
					return err == nil, nil
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating pod %s: %w", pod.Name, err)
					}
					mu.Unlock()
					return
				}
				if d := done.Add(1); d%2000 == 0 {
					fmt.Fprintf(os.Stderr, "created %d/%d pods (%s)\n", d, n, time.Since(start).Round(time.Second))
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(os.Stderr, "created %d pods in %s\n", n, time.Since(start).Round(time.Second))
	return nil
}

// lastAnon is the peak anonymous RSS (KiB) the last measure sampled.
var lastAnon int64

// sampleAnon polls /proc/PID/status for RssAnon until stop: the heap and
// stacks, without the file-backed pages of the binary, whose share of RSS
// depends on how the kernel mapped the page cache (with transparent huge
// pages, touching one byte of text can map 2 MiB).
func sampleAnon(pid int, stop <-chan struct{}) int64 {
	var peak int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				var kib int64
				if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &kib); err == nil && kib > peak {
					peak = kib
				}
			}
		}
		select {
		case <-stop:
			return peak
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// measure runs a command to the end and returns its stdout, wall time and
// peak resident set size (KiB, from the kernel's rusage).
func measure(ctx context.Context, kubeconfig, bin string, args ...string) (string, float64, int64, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return "", 0, 0, err
	}
	stop := make(chan struct{})
	sampled := make(chan int64, 1)
	go func() { sampled <- sampleAnon(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	secs := time.Since(start).Seconds()
	close(stop)
	lastAnon = <-sampled
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		return "", 0, 0, err
	}
	if err != nil {
		return "", 0, 0, fmt.Errorf("%s exited %d: %s", filepath.Base(bin), exitErr.ExitCode(), stderr.String())
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return "", 0, 0, errors.New("no rusage on this platform")
	}
	return stdout.String(), secs, ru.Maxrss, nil
}
