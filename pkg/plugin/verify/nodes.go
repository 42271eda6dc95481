package verify

import (
	"context"
	"fmt"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// nodeResult is what was found of one node: one row per kind of finding,
// nodes with the same finding grouped.
type nodeResult struct {
	where, verdict, detail string
	severity, action, fix  string
}

// Where a node's finding comes from.
const (
	whereClientCert = "client certificate (its newest CSR)"
	whereConfigz    = "configz kubeletconfig.rotateCertificates"
)

// checkNodes is the "nodes" check: which CA issued each kubelet's newest
// client certificate (step 9.2: at step 12.2 an old-CA one gets 401), and
// whether each kubelet rotates its certificate itself (its configz).
func (r *run) checkNodes(ctx context.Context, sec *section) {
	nodes, err := cluster.ListNodes(ctx, r.o.client)
	if err != nil {
		sec.fail("listing nodes: %v", err)
		return
	}
	certs := cluster.KubeletClientCerts(ctx, r.o.client)
	if certs.Err != nil {
		sec.fail("listing CertificateSigningRequests of signer %s: %v", checks.KubeletClientSigner, certs.Err)
	}
	r.progress.start()
	configs := cluster.KubeletConfigs(ctx, r.o.client, nodes, func(done int) {
		r.progress.tick("nodes: %d/%d configz read", done, len(nodes))
	})

	// Nodes are grouped by what was found: a 5,000-node cluster renewed
	// everywhere is one row.
	var found groups[nodeResult]
	counts := map[string]int{}
	for _, n := range nodes {
		if certs.Err == nil {
			res := judgeClientCert(r.o.rule, certs, n.Name)
			found.add(res, n.Name)
			counts[res.verdict]++
		}
		res := judgeKubelet(configs[n.Name])
		found.add(res, n.Name)
		counts[res.verdict]++
	}
	for _, res := range found.order {
		g := found.by[res]
		it := item{Severity: res.severity, Kind: "Node", Name: g.members[0], Where: res.where,
			Verdict: res.verdict, Detail: res.detail, Action: res.action, Fix: res.fix, Count: g.count, Members: g.members}
		if g.count > 1 {
			it.Name = fmt.Sprintf("%s (%d nodes)", g.members[0], g.count)
		}
		sec.add(it)
		sec.take(it)
	}
	sec.Summary = cmdutil.Plural(len(nodes), "node")
	var parts []string
	for _, kind := range []struct{ what, verdicts string }{
		{"client certificates", "client-cert-new client-cert-old client-cert-other client-cert-trusted client-cert-unknown"},
		{"configz", "rotation-on rotation-off skipped"},
	} {
		var in []string
		for _, v := range strings.Fields(kind.verdicts) {
			if counts[v] > 0 {
				in = append(in, fmt.Sprintf("%d %s", counts[v], v))
			}
		}
		if len(in) > 0 {
			parts = append(parts, kind.what+" "+strings.Join(in, ", "))
		}
	}
	if len(parts) > 0 {
		sec.Summary += ": " + strings.Join(parts, "; ")
	}
}

// judgeClientCert is which CA issued node's newest kubelet client
// certificate, against the rule's new CA. An old one blocks the end of
// the rotation (--expect new) and must be renewed before step 12.2
// otherwise; a node without a request left cannot be told.
func judgeClientCert(rule checks.CARule, certs checks.KubeletCertEvidence, node string) nodeResult {
	next := "kubectl carotate instructions --step 9.2"
	blocking := checks.SeverityWarning
	if rule.Expect == checks.ExpectNew {
		blocking = checks.SeverityError
	}
	c, ok := certs.Newest[node]
	if !ok {
		return nodeResult{where: whereClientCert, verdict: "client-cert-unknown", severity: checks.SeverityWarning,
			detail: "no issued request left (kube-controller-manager deletes them an hour after they are issued): which CA issued the client certificate its kubelet presents is not visible through the API",
			action: next,
			fix: "on each node: " + checks.KubeletIssuerCommand + "; a kubelet that presents an old-CA certificate gets 401 once the API server stops accepting the old CA (step 12.2): " +
				"renew it (step 9.2)"}
	}
	if rule.New() == nil {
		if checks.SignedBy(c.Cert, rule.Want) {
			return nodeResult{where: whereClientCert, verdict: "client-cert-trusted", severity: checks.SeverityInfo,
				detail: "its newest client certificate is issued by a CA of --ca (" + c.Cert.Issuer.String() + "); --old-ca tells whether that is the new one"}
		}
		return nodeResult{where: whereClientCert, verdict: "client-cert-other", severity: blocking, action: next,
			detail: "its newest client certificate is issued by " + c.Cert.Issuer.String() + ", not by a CA of --ca"}
	}
	switch checks.IssuerOf(c.Cert, rule.Old, rule.New()) {
	case checks.IssuedByNew:
		return nodeResult{where: whereClientCert, verdict: "client-cert-new", severity: checks.SeverityOK,
			detail: "its newest client certificate is issued by the new CA"}
	case checks.IssuedByOld:
		return nodeResult{where: whereClientCert, verdict: "client-cert-old", severity: blocking, action: next,
			detail: "its newest client certificate is issued by the old CA: the kubelet gets 401 once the API server stops accepting the old CA (step 12.2)"}
	}
	return nodeResult{where: whereClientCert, verdict: "client-cert-other", severity: blocking, action: next,
		detail: "its newest client certificate is issued by " + c.Cert.Issuer.String() + ", neither the new CA nor the old"}
}

// judgeKubelet is what a kubelet's configz says: whether it rotates its
// client certificate itself. Either way step 9.2 renews it: a rotating
// kubelet renews only at 70-90% of the certificate's lifetime.
func judgeKubelet(cfg cluster.KubeletConfig) nodeResult {
	switch {
	case cfg.Err != nil:
		return nodeResult{where: whereConfigz, verdict: "skipped", severity: checks.SeverityInfo, detail: "not readable, skipped: " + cfg.Err.Error()}
	case cfg.RotateCertificates:
		return nodeResult{where: whereConfigz, verdict: "rotation-on", severity: checks.SeverityInfo,
			detail: "the kubelet renews its client certificate itself, at 70-90% of its lifetime: step 9.2 renews it from the new CA before step 12.2 all the same" +
				clientCAWords(cfg)}
	}
	return nodeResult{where: whereConfigz, verdict: "rotation-off", severity: checks.SeverityInfo,
		detail: "rotateCertificates is off: the kubelet's client certificate changes only when renewed by hand (step 9.2)" + clientCAWords(cfg)}
}

func clientCAWords(cfg cluster.KubeletConfig) string {
	if cfg.ClientCAFile == "" {
		return "; no clientCAFile"
	}
	return "; clientCAFile " + cfg.ClientCAFile
}
