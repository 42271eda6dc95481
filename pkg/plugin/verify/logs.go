package verify

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// logLimit is the most read of one container's log: the API server
// stops there (LimitBytes), so a chatty pod costs bounded time and memory.
const logLimit = 8 << 20

// The pods whose logs tell whether the rotation hurt: the control plane (as
// kubeadm's static-pod mirrors label them), kube-proxy and CoreDNS.
var logSelectors = []struct{ what, selector string }{
	{"control plane", "component in (etcd,kube-apiserver,kube-controller-manager,kube-scheduler,cloud-controller-manager)"},
	{"kube-proxy", "k8s-app=kube-proxy"},
	{"CoreDNS", "k8s-app=kube-dns"},
}

// workloadRef is one --logs-for value.
type workloadRef struct {
	Namespace, Kind, Name string
}

func (r workloadRef) String() string {
	s := strings.ToLower(r.Kind) + "/" + r.Name
	if r.Namespace != "" {
		s = r.Namespace + "/" + s
	}
	return s
}

// parseWorkloadRef parses [NAMESPACE/]KIND/NAME.
func parseWorkloadRef(s string) (workloadRef, error) {
	parts := strings.Split(s, "/")
	var ref workloadRef
	switch len(parts) {
	case 2:
		ref.Kind, ref.Name = parts[0], parts[1]
	case 3:
		ref.Namespace, ref.Kind, ref.Name = parts[0], parts[1], parts[2]
	default:
		return ref, fmt.Errorf("--logs-for %q: want [NAMESPACE/]KIND/NAME, e.g. kube-system/deployment/coredns", s)
	}
	switch strings.ToLower(ref.Kind) {
	case "deployment", "deployments", "deploy":
		ref.Kind = checks.KindDeployment
	case "daemonset", "daemonsets", "ds":
		ref.Kind = checks.KindDaemonSet
	case "statefulset", "statefulsets", "sts":
		ref.Kind = checks.KindStatefulSet
	case "pod", "pods", "po":
		ref.Kind = "Pod"
	default:
		return ref, fmt.Errorf("--logs-for %q: kind %q is not one of deployment, daemonset, statefulset, pod", s, ref.Kind)
	}
	if ref.Name == "" || (len(parts) == 3 && ref.Namespace == "") {
		return ref, fmt.Errorf("--logs-for %q: empty namespace or name", s)
	}
	return ref, nil
}

// logTarget is one container whose log is scanned.
type logTarget struct {
	ns, pod, container, why string
}

// checkLogs is the "logs" check.
func (r *run) checkLogs(ctx context.Context, sec *section) {
	o := r.o
	var targets []logTarget
	seen := map[string]bool{}
	addPod := func(p *corev1.Pod, why string) {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			return
		}
		for _, c := range logContainers(p) {
			key := p.Namespace + "/" + p.Name + "/" + c
			if !seen[key] {
				seen[key] = true
				targets = append(targets, logTarget{ns: p.Namespace, pod: p.Name, container: c, why: why})
			}
		}
	}
	var found []string
	if o.namespace == "" || o.namespace == metav1.NamespaceSystem {
		for _, s := range logSelectors {
			n := len(targets)
			err := r.listPods(ctx, metav1.NamespaceSystem, s.selector, func(p *corev1.Pod) { addPod(p, s.what) })
			if err != nil {
				sec.fail("listing %s pods in kube-system: %v", s.what, err)
				continue
			}
			if len(targets) > n {
				found = append(found, s.what)
			}
		}
		if !slices.Contains(found, "control plane") {
			sec.notef("no control-plane mirror pods (label component) in kube-system: the control plane does not run as static pods of a node this cluster lists, so its logs are on its hosts (e.g. journalctl -u kube-apiserver)")
		}
	}
	for _, ref := range o.logsFor {
		ns := ref.Namespace
		if ns == "" {
			if ns = o.namespace; ns == "" {
				ns, _, _ = o.RawKubeConfigLoader().Namespace()
			}
		}
		if err := r.workloadPods(ctx, ns, ref, func(p *corev1.Pod) { addPod(p, "--logs-for "+ref.String()) }); err != nil {
			sec.fail("--logs-for %s: %v", ref, err)
		}
	}
	if len(targets) == 0 {
		sec.Summary = "no running pod to read logs from"
		return
	}

	scans := make([]logResult, len(targets))
	for i := range scans {
		scans[i].err = context.Canceled // unless it runs
	}
	r.fanout(ctx, "logs: %d/%d containers read", len(targets), func(i int) { scans[i] = r.scanLog(ctx, targets[i]) })

	var skipped groups[string]
	var bad, clean int
	since := o.Since.String()
	for i, res := range scans {
		t := targets[i]
		if res.err != nil {
			skipped.add(groupReason("no logs available through the API: "+cluster.ShortError(res.err), t.ns, t.pod, t.container), t.ns+"/"+t.pod+"/"+t.container)
			continue
		}
		it := item{Severity: checks.SeverityOK, Kind: "Pod", Namespace: t.ns, Name: t.pod, Where: "container " + t.container + " (" + t.why + ")",
			Verdict: "clean", Detail: fmt.Sprintf("no TLS errors in %d lines of the last %s", res.scan.Lines, since)}
		if res.truncated {
			it.Detail += fmt.Sprintf(" (only the first %d MiB of that window were read)", logLimit>>20)
		}
		if len(res.scan.Matches) == 0 {
			clean++
			sec.add(it)
			continue
		}
		bad++
		var counts []string
		for _, m := range res.scan.Matches {
			counts = append(counts, fmt.Sprintf("%q %d", m.Match, m.Lines))
		}
		it.Severity, it.Verdict, it.Matches = checks.SeverityError, "tls-errors", res.scan.Matches
		it.Detail = fmt.Sprintf("%d of %d lines in the last %s: %s; latest: %s", res.scan.MatchedLines, res.scan.Lines, since,
			strings.Join(counts, ", "), res.scan.Matches[0].Sample)
		it.Action = fmt.Sprintf("kubectl logs -n %s %s -c %s --since=%s | grep -E 'x509|tls: |remote error|crypto/rsa'",
			checks.ShellQuote(t.ns), checks.ShellQuote(t.pod), checks.ShellQuote(t.container), since)
		it.Fix = "restart what trusts only the old CA (restart-workloads) or fix the certificate it is shown, then re-run verify with a shorter --since"
		sec.add(it)
	}
	for _, it := range reasonRows(&skipped, "logs", "unavailable", "no-logs") {
		sec.add(it)
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s asked for (last %s): %d with TLS errors, %d clean, %d without logs", cmdutil.Plural(len(targets), "container log"), since, bad, clean, len(targets)-bad-clean)
}

type logResult struct {
	scan      checks.LogScan
	truncated bool
	err       error
}

func (r *run) scanLog(ctx context.Context, t logTarget) logResult {
	since := int64(r.o.Since.Seconds())
	limit := int64(logLimit)
	req := r.o.client.CoreV1().Pods(t.ns).GetLogs(t.pod, &corev1.PodLogOptions{Container: t.container, SinceSeconds: &since, LimitBytes: &limit})
	var stream io.ReadCloser
	err := cluster.WithRetry(ctx, func() (err error) {
		stream, err = req.Stream(ctx)
		return err
	})
	if err != nil {
		return logResult{err: err}
	}
	defer stream.Close()
	cr := &countingReader{r: stream}
	scan, err := checks.ScanLog(cr, checks.TLSErrorPatterns)
	if err != nil {
		return logResult{err: err}
	}
	return logResult{scan: scan, truncated: cr.n >= limit}
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// logContainers are the containers that run: regular ones and
// sidecars.
func logContainers(p *corev1.Pod) []string {
	var out []string
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			out = append(out, c.Name)
		}
	}
	for _, c := range p.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

// listPods calls each once for every pod of namespace ns that selector
// selects.
func (r *run) listPods(ctx context.Context, ns, selector string, each func(*corev1.Pod)) error {
	pods := r.o.client.CoreV1().Pods(ns)
	seen := map[string]bool{}
	_, err := cluster.Each(ctx, cluster.PageSize, metav1.ListOptions{LabelSelector: selector},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, lo) },
		func() {},
		func(p *corev1.Pod) {
			if !seen[p.Name] {
				seen[p.Name] = true
				each(p)
			}
		})
	return err
}

// workloadPods calls each for the pods of one --logs-for workload.
func (r *run) workloadPods(ctx context.Context, ns string, ref workloadRef, each func(*corev1.Pod)) error {
	var selector string
	err := cluster.WithRetry(ctx, func() error {
		if ref.Kind != "Pod" {
			w, err := cluster.GetWorkload(ctx, r.o.client, ref.Kind, ns, ref.Name, "")
			if err == nil {
				selector = w.Selector
			}
			return err
		}
		p, err := r.o.client.CoreV1().Pods(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			each(p)
		}
		return err
	})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%s %s not found in namespace %s", ref.Kind, ref.Name, ns)
	}
	// apps/v1 refuses an empty selector: "" is one that selects nothing.
	if err != nil || selector == "" {
		return err
	}
	return r.listPods(ctx, ns, selector, each)
}
