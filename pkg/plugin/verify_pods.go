package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// verifyPodKey groups pods that share a namespace, an owning workload, a
// verdict and a trust source: a 5,000-replica Deployment is one row.
type verifyPodKey struct {
	ns, ownerKind, ownerName, verdict, source string
}

type verifyPodGroup struct {
	verifyPodKey
	count   int
	members []string
	detail  string
	holds   string
	mirror  bool
}

// verifyExecTask is one ca.crt to read inside a container (--exec).
type verifyExecTask struct {
	ns, pod, container, file, source string
}

// verifyPodPass is the state of the one pass over the pods.
type verifyPodPass struct {
	groups  map[verifyPodKey]*verifyPodGroup
	counts  map[string]int
	skipped int // Succeeded, Failed, terminating
	total   int
	exec    []verifyExecTask
	// noFile counts mounts --exec cannot read: subPathExpr.
	noFile int
}

func (p *verifyPodPass) reset() {
	p.groups = map[verifyPodKey]*verifyPodGroup{}
	p.counts = map[string]int{}
	p.skipped, p.total, p.noFile = 0, 0, 0
	p.exec = nil
}

// checkPods is the "pods" check: one paginated list of every pod, judged
// against the root CA objects read before.
func (r *verifyRun) checkPods(ctx context.Context, sec *verifySection, src *verifySources) {
	o := r.o
	if src.cmErr != nil {
		sec.fail("cannot judge pods without the kube-root-ca.crt ConfigMaps: %v", src.cmErr)
	}
	if src.secretErr != nil {
		sec.fail("pods that mount legacy token Secrets could not be judged (listing them failed: %v)", src.secretErr)
	}
	pass := &verifyPodPass{}
	pass.reset()
	pods := o.client.CoreV1().Pods(o.namespace)
	r.progress.start()
	err := restartPages(ctx, metav1.ListOptions{ResourceVersion: ""}, func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Pod, string, error) {
		l, err := pods.List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []corev1.Pod) {
		for i := range items {
			pass.judge(&items[i], src, o.Exec)
		}
		r.progress.tick("pods: %d read", pass.total+pass.skipped)
	}, pass.reset)
	if err != nil {
		sec.fail("listing pods: %v", err)
		return
	}
	if err := r.verifyResolveDeployments(ctx, pass); err != nil {
		sec.notef("ReplicaSets could not be listed (%v): pods are named by their ReplicaSet, not their Deployment", err)
	}

	restartKindsByNS := map[string]map[string]bool{}
	for _, g := range pass.groups {
		sev := checks.PodVerdictSeverity(g.verdict)
		if g.mirror && g.verdict == checks.PodNoAPICA {
			// Static pods trust files on their node, which the node steps
			// and the logs check cover: one info row each is noise.
			sev = checks.SeverityOK
		}
		it := verifyItem{Severity: sev, Kind: g.ownerKind, Namespace: g.ns, Name: g.ownerName, Where: g.source, Holds: g.holds,
			Verdict: g.verdict, Detail: g.detail, Count: g.count, Members: g.members}
		if g.ownerName == "" {
			it.Name = "(pods without a controller)"
		}
		if sev == checks.SeverityError || sev == checks.SeverityWarning {
			it.Action, it.Fix = verifyPodAction(g)
			if kind := verifyRestartKind(g.ownerKind); kind != "" && (g.verdict == checks.PodRestartNeeded || g.verdict == checks.PodRestartMaybe || g.verdict == checks.PodSubPath) {
				if restartKindsByNS[g.ns] == nil {
					restartKindsByNS[g.ns] = map[string]bool{}
				}
				restartKindsByNS[g.ns][kind] = true
			} else {
				sec.take(it)
			}
		}
		sec.add(it)
	}
	for _, a := range verifyRestartActions(restartKindsByNS) {
		sec.action(a)
	}
	sort.Strings(sec.Actions)

	if o.Exec {
		r.verifyExecAll(ctx, sec, pass)
	}

	var parts []string
	for _, v := range []string{checks.PodOK, checks.PodNotStarted, checks.PodRestartNeeded, checks.PodRestartMaybe, checks.PodSubPath, checks.PodSourceLacksCA, checks.PodSourceMissing, checks.PodNoAPICA} {
		if n := pass.counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	sec.Summary = plural(pass.total, "pod") + " judged"
	if len(parts) > 0 {
		sec.Summary += ": " + strings.Join(parts, ", ")
	}
	if pass.skipped > 0 {
		sec.Summary += fmt.Sprintf(" (%d finished or terminating pods skipped)", pass.skipped)
	}
	sec.notef("a pod is \"restart-needed\" when a container that mounts ca.crt started (kubelet's clock) before the second its source's ca.crt last changed (API server's clock, from managedFields), or in that second when the write is known to have changed the content; \"restart-maybe\" when it started in that second and the write's effect is not known; a write that created the object is not a change")
}

// judge classifies one pod into its group. Nothing of the pod is kept but
// its name in the first members of a group.
func (p *verifyPodPass) judge(pod *corev1.Pod, src *verifySources, exec bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		p.skipped++
		return
	}
	p.total++
	in := verifyPodInput(pod)
	t := checks.JudgePod(in, src.lookup(pod.Namespace))
	p.counts[t.Verdict]++

	key := verifyPodKey{ns: pod.Namespace, verdict: t.Verdict, source: t.Source}
	mirror := in.Mirror
	switch ref := metav1.GetControllerOf(pod); {
	case mirror || ref == nil:
		key.ownerKind, key.ownerName = "Pod", pod.Name
		if !mirror && checks.PodVerdictSeverity(t.Verdict) == checks.SeverityOK {
			// Fine bare pods are counted together, so 20,000 of them do
			// not make 20,000 rows.
			key.ownerName = ""
		}
	default:
		key.ownerKind, key.ownerName = ref.Kind, ref.Name
	}
	g := p.groups[key]
	if g == nil {
		g = &verifyPodGroup{verifyPodKey: key, holds: t.Holds, mirror: mirror, detail: t.Detail}
		p.groups[key] = g
	}
	g.count++
	if len(g.members) < verifyListCap {
		g.members = append(g.members, pod.Name)
	}
	if g.count == 2 && g.detail != "" {
		g.detail = "pod " + g.members[0] + ": " + g.detail
	}

	if exec && pod.Status.Phase == corev1.PodRunning {
		for _, m := range t.Mounts {
			if _, running := in.Started[m.Container]; !running {
				continue
			}
			if m.File == "" {
				p.noFile++
				continue
			}
			p.exec = append(p.exec, verifyExecTask{ns: pod.Namespace, pod: pod.Name, container: m.Container, file: m.File, source: m.Kind + " " + m.Object})
		}
	}
}

// verifyResolveDeployments names a Deployment instead of its ReplicaSet,
// with one list of ReplicaSet metadata (no templates), and merges the
// groups that then share a key.
func (r *verifyRun) verifyResolveDeployments(ctx context.Context, pass *verifyPodPass) error {
	need := map[string]bool{}
	for k := range pass.groups {
		if k.ownerKind == "ReplicaSet" {
			need[k.ns+"/"+k.ownerName] = true
		}
	}
	if len(need) == 0 {
		return nil
	}
	owner := map[string]string{}
	gvr := schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	rs := r.o.meta.Resource(gvr).Namespace(r.o.namespace)
	err := restartPages(ctx, metav1.ListOptions{}, func(ctx context.Context, lo metav1.ListOptions) ([]metav1.PartialObjectMetadata, string, error) {
		l, err := rs.List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []metav1.PartialObjectMetadata) {
		for i := range items {
			key := items[i].Namespace + "/" + items[i].Name
			if !need[key] {
				continue
			}
			if ref := metav1.GetControllerOfNoCopy(&items[i]); ref != nil && ref.Kind == "Deployment" {
				owner[key] = ref.Name
			}
		}
	}, func() {})
	if err != nil {
		return err
	}
	merged := map[verifyPodKey]*verifyPodGroup{}
	for k, g := range pass.groups {
		if d, ok := owner[k.ns+"/"+k.ownerName]; ok && k.ownerKind == "ReplicaSet" {
			k.ownerKind, k.ownerName = "Deployment", d
		}
		if m := merged[k]; m != nil {
			if m.count == 1 && m.detail != "" {
				m.detail = "pod " + m.members[0] + ": " + m.detail
			}
			m.count += g.count
			for _, n := range g.members {
				if len(m.members) < verifyListCap {
					m.members = append(m.members, n)
				}
			}
			continue
		}
		g.verifyPodKey = k
		merged[k] = g
	}
	pass.groups = merged
	return nil
}

// verifyRestartKind is restart-workloads' --kinds word for a workload kind,
// "" for kinds it does not restart.
func verifyRestartKind(kind string) string {
	switch kind {
	case checks.KindDeployment:
		return "deployments"
	case checks.KindDaemonSet:
		return "daemonsets"
	case checks.KindStatefulSet:
		return "statefulsets"
	}
	return ""
}

// verifyRestartActions merges restart-workloads calls: one per namespace,
// or one for the cluster when many namespaces need it.
func verifyRestartActions(byNS map[string]map[string]bool) []string {
	if len(byNS) == 0 {
		return nil
	}
	kindsOf := func(set map[string]bool) string {
		var ks []string
		for _, k := range []string{"deployments", "daemonsets", "statefulsets"} {
			if set[k] {
				ks = append(ks, k)
			}
		}
		return strings.Join(ks, ",")
	}
	if len(byNS) > 3 {
		all := map[string]bool{}
		for _, set := range byNS {
			for k := range set {
				all[k] = true
			}
		}
		return []string{fmt.Sprintf("kubectl carotate restart-workloads --kinds %s --wait", kindsOf(all))}
	}
	var out []string
	for ns, set := range byNS {
		out = append(out, fmt.Sprintf("kubectl carotate restart-workloads -n %s --kinds %s --wait", ns, kindsOf(set)))
	}
	sort.Strings(out)
	return out
}

// verifyPodAction is the next step for a group of pods: a command where
// one does it, and what to do in words.
func verifyPodAction(g *verifyPodGroup) (action, fix string) {
	ns := checks.ShellQuote(g.ns)
	pods := func() string {
		q := make([]string, len(g.members))
		for i, m := range g.members {
			q[i] = checks.ShellQuote(m)
		}
		return strings.Join(q, " ")
	}
	switch g.verdict {
	case checks.PodSourceLacksCA, checks.PodSourceMissing:
		return "", "fix " + g.source + " first (see the sa check), then restart these pods"
	}
	if kind := verifyRestartKind(g.ownerKind); kind != "" {
		return fmt.Sprintf("kubectl carotate restart-workloads -n %s --kinds %s --wait", ns, kind), ""
	}
	switch {
	case g.mirror:
		return "", fmt.Sprintf("restart static pod %s on its node: move its manifest out of the static pod directory and back", g.ownerName)
	case g.ownerKind == "Pod":
		return fmt.Sprintf("kubectl get pod -n %s %s -o yaml > pod.yaml && kubectl replace --force -f pod.yaml", ns, checks.ShellQuote(g.ownerName)),
			"no controller recreates pod " + g.ownerName + ": replace it with itself"
	case g.ownerKind == "Job":
		return fmt.Sprintf("kubectl delete pod -n %s %s", ns, pods()),
			fmt.Sprintf("let Job %s finish (its next pods read the current CA), or delete its running pods", g.ownerName)
	case g.ownerKind == "ReplicaSet":
		return fmt.Sprintf("kubectl delete pod -n %s %s", ns, pods()),
			fmt.Sprintf("ReplicaSet %s has no Deployment: delete its pods (one at a time where availability matters), it recreates them", g.ownerName)
	}
	return "", fmt.Sprintf("restart the pods through their controller %s %s", g.ownerKind, g.ownerName)
}

// verifyExecAll reads each mounted ca.crt inside its container and
// compares it with the rule. Failures (exec forbidden, no cat in the image,
// no such file) are notes, grouped by reason: the check is optional and a
// pod that cannot be exec'ed into is not wrong for it.
func (r *verifyRun) verifyExecAll(ctx context.Context, sec *verifySection, pass *verifyPodPass) {
	o := r.o
	if pass.noFile > 0 {
		sec.notef("--exec: %d mount(s) use subPathExpr: the file path is only known inside the pod, not read", pass.noFile)
	}
	if len(pass.exec) == 0 {
		sec.notef("--exec: no running container mounts a ca.crt to read")
		return
	}
	type outcome struct {
		task verifyExecTask
		data []byte
		err  error
	}
	results := make([]outcome, len(pass.exec))
	var wg sync.WaitGroup
	sem := make(chan struct{}, verifyWorkers)
	var mu sync.Mutex
	done := 0
	r.progress.start()
	for i, t := range pass.exec {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, t verifyExecTask) {
			defer wg.Done()
			defer func() { <-sem }()
			data, err := o.ExecCat(ctx, t.ns, t.pod, t.container, t.file)
			results[i] = outcome{task: t, data: data, err: err}
			mu.Lock()
			done++
			r.progress.tick("exec: %d/%d containers read", done, len(pass.exec))
			mu.Unlock()
		}(i, t)
	}
	wg.Wait()

	type skip struct {
		count   int
		members []string
	}
	skips := map[string]*skip{}
	var reasons []string
	ok := 0
	for _, res := range results {
		t := res.task
		where := t.ns + "/" + t.pod + "/" + t.container
		if res.err != nil {
			reason := verifyGroupReason(verifyExecReason(res.err), t.ns, t.pod, t.container)
			s := skips[reason]
			if s == nil {
				s = &skip{}
				skips[reason] = s
				reasons = append(reasons, reason)
			}
			s.count++
			if len(s.members) < verifyListCap {
				s.members = append(s.members, where)
			}
			continue
		}
		v := o.rule.Judge(where+":"+t.file, res.data)
		if v.OK {
			ok++
			continue
		}
		sec.add(verifyItem{Severity: checks.SeverityError, Kind: "Pod", Namespace: t.ns, Name: t.pod, Where: "container " + t.container + ": " + t.file,
			Holds: v.Holds, Verdict: "exec-" + v.Reason,
			Detail: "the mounted file " + v.Problem + " (its source is " + t.source + ")",
			Fix:    "restart the pod so the file is mounted afresh; a subPath mount must be replaced by a directory mount to ever update"})
	}
	skipped := 0
	for _, s := range skips {
		skipped += s.count
	}
	sec.notef("--exec: read ca.crt in %d of %d container(s): %d hold the expected CA", len(pass.exec)-skipped, len(pass.exec), ok)
	for _, reason := range reasons {
		s := skips[reason]
		sec.add(verifyItem{Severity: checks.SeverityInfo, Kind: "exec", Name: "skipped", Verdict: "exec-skipped", Count: s.count, Members: s.members,
			Detail: reason})
	}
}

// verifyGroupReason takes the pod's and container's names out of a
// message: without them, the same failure on 5,000 pods is one row (the
// row lists the pods).
func verifyGroupReason(msg, ns, pod, container string) string {
	msg = strings.ReplaceAll(msg, ns+"/"+pod, "NAMESPACE/POD")
	msg = strings.ReplaceAll(msg, `"`+pod+`"`, `"POD"`)
	return strings.ReplaceAll(msg, `"`+container+`"`, `"CONTAINER"`)
}

// verifyExecReason is a short, groupable reason an exec failed.
func verifyExecReason(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return "pods/exec is forbidden for this user: the mounted files were not read"
	case apierrors.IsNotFound(err):
		return "the pod or container is gone"
	}
	msg := verifyShortError(err)
	// The API server wraps the kubelet's internal error in its own.
	for strings.HasPrefix(msg, "Internal error occurred: Internal error occurred: ") {
		msg = strings.TrimPrefix(msg, "Internal error occurred: ")
	}
	return "exec failed: " + msg
}
