package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// verifyLogLimit is the most read of one container's log: the API server
// stops there (LimitBytes), so a chatty pod costs bounded time and memory.
const verifyLogLimit = 8 << 20

// The pods whose logs tell whether the rotation hurt: the control plane (as
// kubeadm's static-pod mirrors label them), kube-proxy and CoreDNS.
var verifyLogSelectors = []struct{ what, selector string }{
	{"control plane", "component in (etcd,kube-apiserver,kube-controller-manager,kube-scheduler,cloud-controller-manager)"},
	{"kube-proxy", "k8s-app=kube-proxy"},
	{"CoreDNS", "k8s-app=kube-dns"},
}

// verifyWorkloadRef is one --logs-for value.
type verifyWorkloadRef struct {
	Namespace, Kind, Name string
}

func (r verifyWorkloadRef) String() string {
	s := strings.ToLower(r.Kind) + "/" + r.Name
	if r.Namespace != "" {
		s = r.Namespace + "/" + s
	}
	return s
}

// parseVerifyWorkloadRef parses [NAMESPACE/]KIND/NAME.
func parseVerifyWorkloadRef(s string) (verifyWorkloadRef, error) {
	parts := strings.Split(s, "/")
	var ref verifyWorkloadRef
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

// verifyLogTarget is one container whose log is scanned.
type verifyLogTarget struct {
	ns, pod, container, why string
}

// checkLogs is the "logs" check.
func (r *verifyRun) checkLogs(ctx context.Context, sec *verifySection) {
	o := r.o
	var targets []verifyLogTarget
	seen := map[string]bool{}
	addPod := func(p *corev1.Pod, why string) {
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			return
		}
		for _, c := range verifyLogContainers(p) {
			key := p.Namespace + "/" + p.Name + "/" + c
			if !seen[key] {
				seen[key] = true
				targets = append(targets, verifyLogTarget{ns: p.Namespace, pod: p.Name, container: c, why: why})
			}
		}
	}
	var found []string
	if o.namespace == "" || o.namespace == metav1.NamespaceSystem {
		for _, s := range verifyLogSelectors {
			n := len(targets)
			err := r.verifyListPods(ctx, metav1.NamespaceSystem, s.selector, func(p *corev1.Pod) { addPod(p, s.what) })
			if err != nil {
				sec.fail("listing %s pods in kube-system: %v", s.what, err)
				continue
			}
			if len(targets) > n {
				found = append(found, s.what)
			}
		}
		if !containsName(found, "control plane") {
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
		if err := r.verifyWorkloadPods(ctx, ns, ref, func(p *corev1.Pod) { addPod(p, "--logs-for "+ref.String()) }); err != nil {
			sec.fail("--logs-for %s: %v", ref, err)
		}
	}
	if len(targets) == 0 {
		sec.Summary = "no running pod to read logs from"
		return
	}

	scans := make([]verifyLogResult, len(targets))
	var wg sync.WaitGroup
	sem := make(chan struct{}, verifyWorkers)
	var mu sync.Mutex
	done := 0
	r.progress.start()
	for i, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, t verifyLogTarget) {
			defer wg.Done()
			defer func() { <-sem }()
			scans[i] = r.verifyScanLog(ctx, t)
			mu.Lock()
			done++
			r.progress.tick("logs: %d/%d containers read", done, len(targets))
			mu.Unlock()
		}(i, t)
	}
	wg.Wait()

	type noLogs struct {
		count   int
		members []string
	}
	var reasons []string
	skipped := map[string]*noLogs{}
	var bad, clean int
	since := o.Since.String()
	for i, res := range scans {
		t := targets[i]
		if res.err != nil {
			reason := verifyGroupReason("no logs available through the API: "+verifyShortError(res.err), t.ns, t.pod, t.container)
			s := skipped[reason]
			if s == nil {
				s = &noLogs{}
				skipped[reason] = s
				reasons = append(reasons, reason)
			}
			s.count++
			if len(s.members) < verifyListCap {
				s.members = append(s.members, t.ns+"/"+t.pod+"/"+t.container)
			}
			continue
		}
		it := verifyItem{Severity: checks.SeverityOK, Kind: "Pod", Namespace: t.ns, Name: t.pod, Where: "container " + t.container + " (" + t.why + ")",
			Verdict: "clean", Detail: fmt.Sprintf("no TLS errors in %d lines of the last %s", res.scan.Lines, since)}
		if res.truncated {
			it.Detail += fmt.Sprintf(" (only the first %d MiB of that window were read)", verifyLogLimit>>20)
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
	for _, reason := range reasons {
		s := skipped[reason]
		sec.add(verifyItem{Severity: checks.SeverityInfo, Kind: "logs", Name: "unavailable", Verdict: "no-logs", Count: s.count, Members: s.members, Detail: reason})
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s asked for (last %s): %d with TLS errors, %d clean, %d without logs", plural(len(targets), "container log"), since, bad, clean, len(targets)-bad-clean)
}

type verifyLogResult struct {
	scan      checks.LogScan
	truncated bool
	err       error
}

func (r *verifyRun) verifyScanLog(ctx context.Context, t verifyLogTarget) verifyLogResult {
	since := int64(r.o.Since.Seconds())
	limit := int64(verifyLogLimit)
	req := r.o.client.CoreV1().Pods(t.ns).GetLogs(t.pod, &corev1.PodLogOptions{Container: t.container, SinceSeconds: &since, LimitBytes: &limit})
	var stream io.ReadCloser
	err := WithRetry(ctx, func() (err error) {
		stream, err = req.Stream(ctx)
		return err
	})
	if err != nil {
		return verifyLogResult{err: err}
	}
	defer stream.Close()
	cr := &verifyCountingReader{r: stream}
	scan, err := checks.ScanLog(cr, checks.TLSErrorPatterns)
	if err != nil {
		return verifyLogResult{err: err}
	}
	return verifyLogResult{scan: scan, truncated: cr.n >= limit}
}

type verifyCountingReader struct {
	r io.Reader
	n int64
}

func (c *verifyCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// verifyLogContainers are the containers that run: regular ones and
// sidecars.
func verifyLogContainers(p *corev1.Pod) []string {
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

func (r *verifyRun) verifyListPods(ctx context.Context, ns, selector string, each func(*corev1.Pod)) error {
	pods := r.o.client.CoreV1().Pods(ns)
	seen := map[string]bool{}
	return verifyPages(ctx, verifyPageSize, metav1.ListOptions{LabelSelector: selector}, func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Pod, string, error) {
		l, err := pods.List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []corev1.Pod) {
		for i := range items {
			if !seen[items[i].Name] {
				seen[items[i].Name] = true
				each(&items[i])
			}
		}
	})
}

// verifyWorkloadPods calls each for the pods of one --logs-for workload.
func (r *verifyRun) verifyWorkloadPods(ctx context.Context, ns string, ref verifyWorkloadRef, each func(*corev1.Pod)) error {
	apps := r.o.client.AppsV1()
	var sel *metav1.LabelSelector
	err := WithRetry(ctx, func() error {
		switch ref.Kind {
		case checks.KindDeployment:
			d, err := apps.Deployments(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil {
				sel = d.Spec.Selector
			}
			return err
		case checks.KindDaemonSet:
			d, err := apps.DaemonSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil {
				sel = d.Spec.Selector
			}
			return err
		case checks.KindStatefulSet:
			d, err := apps.StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err == nil {
				sel = d.Spec.Selector
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
	if err != nil || sel == nil {
		return err
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return err
	}
	return r.verifyListPods(ctx, ns, s.String(), each)
}
