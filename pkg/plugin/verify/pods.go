package verify

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// podKey groups pods that share a namespace, an owning workload, a
// verdict and a trust source: a 5,000-replica Deployment is one row.
type podKey struct {
	ns, ownerKind, ownerName, verdict, source string
}

type podGroup struct {
	podKey
	count   int
	members []string
	detail  string
	holds   string
	mirror  bool
}

// podPass is the state of the one pass over the pods.
type podPass struct {
	groups  map[podKey]*podGroup
	counts  map[string]int
	skipped int // Succeeded, Failed, terminating
	total   int
	exec    []execTask
	// noFile counts mounts --exec cannot read: subPathExpr.
	noFile int
}

func (p *podPass) reset() {
	p.groups = map[podKey]*podGroup{}
	p.counts = map[string]int{}
	p.skipped, p.total, p.noFile = 0, 0, 0
	p.exec = nil
}

// checkPods is the "pods" check: one paginated list of every pod, judged
// against the root CA objects read before.
func (r *run) checkPods(ctx context.Context, sec *section, src *sources) {
	o := r.o
	if src.cmErr != nil {
		sec.fail("cannot judge pods without the kube-root-ca.crt ConfigMaps: %v", src.cmErr)
	}
	if src.secretErr != nil {
		sec.fail("pods that mount legacy token Secrets could not be judged (listing them failed: %v)", src.secretErr)
	}
	pass := &podPass{}
	pass.reset()
	pods := o.client.CoreV1().Pods(o.namespace)
	r.progress.start()
	_, err := cluster.Each(ctx, cluster.PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, lo) },
		pass.reset,
		func(pod *corev1.Pod) {
			src.trustBundleSources(pod, o.rule)
			pass.judge(pod, src, o.Exec)
			r.progress.tick("pods: %d read", pass.total+pass.skipped)
		})
	if err != nil {
		sec.fail("listing pods: %v", err)
		return
	}
	if err := r.resolveDeployments(ctx, pass); err != nil {
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
		it := item{Severity: sev, Kind: g.ownerKind, Namespace: g.ns, Name: g.ownerName, Where: g.source, Holds: g.holds,
			Verdict: g.verdict, Detail: g.detail, Count: g.count, Members: g.members}
		if g.ownerName == "" {
			it.Name = "(pods without a controller)"
		}
		if sev == checks.SeverityError || sev == checks.SeverityWarning {
			it.Action, it.Fix = podAction(g)
			if kind := restartKind(g.ownerKind); kind != "" && (g.verdict == checks.PodRestartNeeded || g.verdict == checks.PodRestartMaybe || g.verdict == checks.PodSubPath) {
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
	for _, a := range restartActions(restartKindsByNS) {
		sec.action(a)
	}
	sort.Strings(sec.Actions)

	if o.Exec {
		r.execAll(ctx, sec, pass)
	}

	var parts []string
	for _, v := range []string{checks.PodOK, checks.PodNotStarted, checks.PodRestartNeeded, checks.PodRestartMaybe, checks.PodSubPath, checks.PodSourceLacksCA, checks.PodSourceMissing, checks.PodNoAPICA} {
		if n := pass.counts[v]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, v))
		}
	}
	sec.Summary = cmdutil.Plural(pass.total, "pod") + " judged"
	if len(parts) > 0 {
		sec.Summary += ": " + strings.Join(parts, ", ")
	}
	if pass.skipped > 0 {
		sec.Summary += fmt.Sprintf(" (%d finished or terminating pods skipped)", pass.skipped)
	}
	if len(src.bundleSrc) > 0 {
		if tb := src.trustBundles; tb != nil && tb.Err != nil {
			sec.fail("pods that project ClusterTrustBundles could not be judged (listing them failed: %v)", tb.Err)
		}
		sec.notef("pods that project ClusterTrustBundles (%s) read what the kubelet last wrote: it rewrites the file within its sync period (about a minute) of a bundle change, so a pod that starts right after a change may still get the previous content",
			strings.Join(slices.Sorted(maps.Keys(src.bundleSrc)), "; "))
	}
	sec.notef("a pod is \"restart-needed\" when a container that mounts ca.crt started (kubelet's clock) before the second its source's ca.crt last changed (API server's clock, from managedFields), or in that second when the write is known to have changed the content; \"restart-maybe\" when it started in that second and the write's effect is not known; a write that created the object is not a change")
}

// judge classifies one pod into its group. Nothing of the pod is kept but
// its name in the first members of a group.
func (p *podPass) judge(pod *corev1.Pod, src *sources, exec bool) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		p.skipped++
		return
	}
	p.total++
	in := cluster.PodInput(pod)
	t := checks.JudgePod(in, src.lookup(pod.Namespace))
	p.counts[t.Verdict]++

	key := podKey{ns: pod.Namespace, verdict: t.Verdict, source: t.Source}
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
		g = &podGroup{podKey: key, holds: t.Holds, mirror: mirror, detail: t.Detail}
		p.groups[key] = g
	}
	g.count++
	if len(g.members) < listCap {
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
			p.exec = append(p.exec, execTask{ns: pod.Namespace, pod: pod.Name, container: m.Container, file: m.File, source: m.Kind + " " + m.Object})
		}
	}
}

// resolveDeployments names a Deployment instead of its ReplicaSet,
// with one list of ReplicaSet metadata (no templates), and merges the
// groups that then share a key.
func (r *run) resolveDeployments(ctx context.Context, pass *podPass) error {
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
	_, err := cluster.Each(ctx, cluster.PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return rs.List(ctx, lo) },
		func() {},
		func(m *metav1.PartialObjectMetadata) {
			key := m.Namespace + "/" + m.Name
			if !need[key] {
				return
			}
			if ref := metav1.GetControllerOfNoCopy(m); ref != nil && ref.Kind == "Deployment" {
				owner[key] = ref.Name
			}
		})
	if err != nil {
		return err
	}
	merged := map[podKey]*podGroup{}
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
				if len(m.members) < listCap {
					m.members = append(m.members, n)
				}
			}
			continue
		}
		g.podKey = k
		merged[k] = g
	}
	pass.groups = merged
	return nil
}

// restartKind is restart-workloads' --kinds word for a workload kind,
// "" for kinds it does not restart.
func restartKind(kind string) string {
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

// restartActions merges restart-workloads calls: one per namespace,
// or one for the cluster when many namespaces need it.
func restartActions(byNS map[string]map[string]bool) []string {
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

// podAction is the next step for a group of pods: a command where
// one does it, and what to do in words.
func podAction(g *podGroup) (action, fix string) {
	ns := checks.ShellQuote(g.ns)
	pods := func() string {
		q := make([]string, len(g.members))
		for i, m := range g.members {
			q[i] = checks.ShellQuote(m)
		}
		return strings.Join(q, " ")
	}
	switch {
	case (g.verdict == checks.PodSourceLacksCA || g.verdict == checks.PodSourceMissing) && strings.Contains(g.source, checks.SourceTrustBundle):
		return "", "fix " + g.source + " first (see the trustbundles and copies checks; kubectl carotate bundle --trust-bundles adds the new CA to a user-made bundle), then restart these pods"
	case g.verdict == checks.PodSourceLacksCA || g.verdict == checks.PodSourceMissing:
		return "", "fix " + g.source + " first (see the sa check), then restart these pods"
	}
	if kind := restartKind(g.ownerKind); kind != "" {
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
