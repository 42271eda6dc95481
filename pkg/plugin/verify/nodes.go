package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// nodeResult is what one node's configz said.
type nodeResult struct {
	verdict, detail string
	severity        string
}

// checkNodes is the "nodes" check: whether each kubelet rotates its client
// certificate itself (then step 9.2 needs no re-issue by hand).
func (r *run) checkNodes(ctx context.Context, sec *section) {
	nodes, err := cluster.ListNodes(ctx, r.o.client)
	if err != nil {
		sec.fail("listing nodes: %v", err)
		return
	}
	r.progress.start()
	configs := cluster.KubeletConfigs(ctx, r.o.client, nodes, func(done int) {
		r.progress.tick("nodes: %d/%d configz read", done, len(nodes))
	})

	// Nodes are grouped by what was found: a 5,000-node cluster with
	// rotation on everywhere is one row.
	var found groups[nodeResult]
	counts := map[string]int{}
	for _, n := range nodes {
		res := judgeKubelet(configs[n.Name])
		found.add(res, n.Name)
		counts[res.verdict]++
	}
	for _, res := range found.order {
		g := found.by[res]
		it := item{Severity: res.severity, Kind: "Node", Name: g.members[0], Where: "configz kubeletconfig.rotateCertificates",
			Verdict: res.verdict, Detail: res.detail, Count: g.count, Members: g.members}
		if g.count > 1 {
			it.Name = fmt.Sprintf("%s (%d nodes)", g.members[0], g.count)
		}
		if res.verdict == "rotation-off" {
			it.Action = "kubectl carotate instructions --step 9.2"
			it.Fix = "step 9.2 by hand on these nodes: re-issue kubelet.conf's client certificate (and /var/lib/kubelet/pki) from the new CA, then restart the kubelet"
		}
		sec.add(it)
		sec.take(it)
	}
	var parts []string
	for _, v := range []string{"rotation-on", "rotation-off", "skipped"} {
		if counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
		}
	}
	sec.Summary = cmdutil.Plural(len(nodes), "node")
	if len(parts) > 0 {
		sec.Summary += ": " + strings.Join(parts, ", ")
	}
}

// judgeKubelet is what a kubelet's configz says about step 9.2.
func judgeKubelet(cfg cluster.KubeletConfig) nodeResult {
	switch {
	case cfg.Err != nil:
		return nodeResult{verdict: "skipped", severity: checks.SeverityInfo, detail: "not readable, skipped: " + cfg.Err.Error()}
	case cfg.RotateCertificates:
		return nodeResult{verdict: "rotation-on", severity: checks.SeverityOK,
			detail: "the kubelet renews its client certificate from the cluster (step 9.2 needs no re-issue by hand once the controller-manager signs with the new CA)"}
	}
	return nodeResult{verdict: "rotation-off", severity: checks.SeverityWarning,
		detail: "rotateCertificates is off: the kubelet's client certificate stays issued by the old CA until re-issued by hand"}
}
