package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

const verifyConfigzTimeout = 10 * time.Second

// verifyKWOKAnnotation marks nodes that KWOK simulates: no kubelet runs, so
// there is no configz to read.
const verifyKWOKAnnotation = "kwok.x-k8s.io/node"

// verifyNodeResult is what one node's configz said.
type verifyNodeResult struct {
	verdict, detail string
	severity        string
}

// checkNodes is the "nodes" check: whether each kubelet rotates its client
// certificate itself (then step 9.2 needs no re-issue by hand).
func (r *verifyRun) checkNodes(ctx context.Context, sec *verifySection) {
	o := r.o
	type node struct {
		name string
		kwok bool
	}
	var nodes []node
	seen := map[string]bool{}
	err := verifyPages(ctx, verifyPageSize, metav1.ListOptions{}, func(ctx context.Context, lo metav1.ListOptions) ([]metav1.PartialObjectMetadata, string, error) {
		l, err := o.meta.Resource(schema.GroupVersionResource{Version: "v1", Resource: "nodes"}).List(ctx, lo)
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []metav1.PartialObjectMetadata) {
		for _, n := range items {
			if !seen[n.Name] {
				seen[n.Name] = true
				_, kwok := n.Annotations[verifyKWOKAnnotation]
				nodes = append(nodes, node{name: n.Name, kwok: kwok})
			}
		}
	})
	if err != nil {
		sec.fail("listing nodes: %v", err)
		return
	}
	results := make([]verifyNodeResult, len(nodes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, verifyWorkers)
	var mu sync.Mutex
	done := 0
	r.progress.start()
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, n node) {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = r.verifyNodeConfigz(ctx, n.name, n.kwok)
			mu.Lock()
			done++
			r.progress.tick("nodes: %d/%d configz read", done, len(nodes))
			mu.Unlock()
		}(i, n)
	}
	wg.Wait()

	// Nodes are grouped by what was found: a 5,000-node cluster with
	// rotation on everywhere is one row.
	type group struct {
		res     verifyNodeResult
		count   int
		members []string
	}
	groups := map[verifyNodeResult]*group{}
	var order []verifyNodeResult
	counts := map[string]int{}
	for i, res := range results {
		g := groups[res]
		if g == nil {
			g = &group{res: res}
			groups[res] = g
			order = append(order, res)
		}
		g.count++
		counts[res.verdict]++
		if len(g.members) < verifyListCap {
			g.members = append(g.members, nodes[i].name)
		}
	}
	for _, k := range order {
		g := groups[k]
		it := verifyItem{Severity: g.res.severity, Kind: "Node", Name: g.members[0], Where: "configz kubeletconfig.rotateCertificates",
			Verdict: g.res.verdict, Detail: g.res.detail, Count: g.count, Members: g.members}
		if g.count > 1 {
			it.Name = fmt.Sprintf("%s (%d nodes)", g.members[0], g.count)
		}
		if g.res.verdict == "rotation-off" {
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
	sec.Summary = plural(len(nodes), "node")
	if len(parts) > 0 {
		sec.Summary += ": " + strings.Join(parts, ", ")
	}
}

// verifyNodeConfigz reads /api/v1/nodes/NAME/proxy/configz: the kubelet's
// running configuration, through the API server (nodes/proxy).
func (r *verifyRun) verifyNodeConfigz(ctx context.Context, name string, kwok bool) verifyNodeResult {
	ctx, cancel := context.WithTimeout(ctx, verifyConfigzTimeout)
	defer cancel()
	body, err := r.o.client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", name, "proxy", "configz").DoRaw(ctx)
	skipped := func(why string) verifyNodeResult {
		if kwok {
			why = "KWOK node (a simulated kubelet, no configz): " + why
		}
		return verifyNodeResult{verdict: "skipped", severity: checks.SeverityInfo, detail: "not readable, skipped: " + why}
	}
	switch {
	case apierrors.IsForbidden(err):
		return skipped("nodes/proxy is forbidden for this user")
	case err != nil:
		return skipped(verifyShortError(err))
	}
	var cfg struct {
		KubeletConfig *struct {
			RotateCertificates *bool `json:"rotateCertificates"`
		} `json:"kubeletconfig"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil || cfg.KubeletConfig == nil {
		return skipped("the configz answer is not a kubelet configuration")
	}
	if cfg.KubeletConfig.RotateCertificates != nil && *cfg.KubeletConfig.RotateCertificates {
		return verifyNodeResult{verdict: "rotation-on", severity: checks.SeverityOK,
			detail: "the kubelet renews its client certificate from the cluster (step 9.2 needs no re-issue by hand once the controller-manager signs with the new CA)"}
	}
	return verifyNodeResult{verdict: "rotation-off", severity: checks.SeverityWarning,
		detail: "rotateCertificates is off: the kubelet's client certificate stays issued by the old CA until re-issued by hand"}
}
