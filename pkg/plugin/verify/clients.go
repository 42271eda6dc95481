package verify

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// checkClients is the "clients" check: the CA of the kubeconfig in use, and
// kube-public/cluster-info (through update-cluster-info --check's logic).
func (r *run) checkClients(ctx context.Context, sec *section) {
	o := r.o
	sec.add(r.kubeconfigItem())

	st, err := cluster.CheckClusterInfo(ctx, o.client, o.rule.Want, o.now())
	if err != nil {
		sec.fail("reading kube-public/cluster-info and the bootstrap tokens: %v", err)
	} else {
		sec.add(r.clusterInfoItem(st))
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = "the current kubeconfig and kube-public/cluster-info"
}

func (r *run) kubeconfigItem() item {
	o := r.o
	name, clusterName := o.cfg.Host, ""
	if ctxName, c, _ := o.KubeconfigNames(); ctxName != "" {
		name, clusterName = fmt.Sprintf("context %s, cluster %s", ctxName, c), c
	}
	it := item{Severity: checks.SeverityOK, Kind: "kubeconfig", Name: name, Where: "certificate-authority-data"}
	tlsc := o.cfg.TLSClientConfig
	data := tlsc.CAData
	source := "certificate-authority-data"
	if len(data) == 0 && tlsc.CAFile != "" {
		it.Where = "certificate-authority " + tlsc.CAFile
		source = tlsc.CAFile
		var err error
		if data, err = os.ReadFile(tlsc.CAFile); err != nil {
			it.Severity, it.Verdict, it.Detail = checks.SeverityError, "unreadable", err.Error()
			return it
		}
	}
	switch {
	case o.cfg.Insecure:
		it.Severity, it.Verdict = checks.SeverityWarning, "insecure"
		it.Detail = "insecure-skip-tls-verify: this kubeconfig trusts any server, so it proves nothing about the CA"
		it.Fix = "make this kubeconfig trust the expected CA and check the server's certificate (step 7)"
		it.Action = r.setClusterCommand(clusterName, " --insecure-skip-tls-verify=false")
		return it
	case len(data) == 0:
		it.Severity, it.Verdict = checks.SeverityInfo, "system-roots"
		it.Detail = "no CA in the kubeconfig: the system's trusted roots are used"
		return it
	}
	v := o.rule.Judge("kubeconfig "+source, data)
	it.Holds, it.Verdict, it.Detail = v.Holds, v.Reason, v.Note
	if !v.OK {
		it.Detail = v.Problem
		it.Action = r.setClusterCommand(clusterName, "")
		it.Fix = "step 7: every kubeconfig handed out needs the same certificate-authority-data"
		it.Severity = checks.SeverityError
		if v.Reason == checks.CAStillOld || v.Reason == checks.CAOutside {
			// An extra trusted CA in one user's kubeconfig breaks nothing;
			// it is cleanup of step 12.2.
			it.Severity = checks.SeverityWarning
		}
	}
	return it
}

func (r *run) clusterInfoItem(st cluster.ClusterInfoStatus) item {
	o := r.o
	it := item{Severity: checks.SeverityOK, Kind: "ConfigMap", Namespace: st.Namespace, Name: st.Name, Where: "kubeconfig certificate-authority-data"}
	if !st.Present {
		it.Severity, it.Verdict = checks.SeverityInfo, "absent"
		it.Detail = "not found: this cluster does not publish cluster-info for bootstrap-token joins, so step 10 does not apply"
		return it
	}
	var names []string
	for _, c := range st.CAs {
		if l := o.rule.Labels[c.Fingerprint]; l != "" {
			names = append(names, l)
		} else {
			names = append(names, fmt.Sprintf("%s (%s)", c.Subject, checks.ShortFingerprint(c.Fingerprint)))
		}
	}
	it.Holds = strings.Join(names, "+")
	var sigs []string
	for _, s := range st.Signatures {
		sigs = append(sigs, s.TokenID+" "+string(s.State))
	}
	if len(sigs) > 0 {
		it.Detail = "signatures: " + strings.Join(sigs, ", ")
	}
	if st.Consistent {
		it.Verdict = "consistent"
		return it
	}
	it.Severity, it.Verdict = checks.SeverityError, "inconsistent"
	it.Detail = strings.Join(st.Problems, "; ")
	it.Action = "kubectl carotate update-cluster-info"
	if o.CAFile != "" {
		it.Action += " --ca " + checks.ShellQuote(o.CAFile)
	}
	return it
}

// setClusterCommand embeds the expected CA in this kubeconfig's cluster;
// "" when the kubeconfig names no cluster to set.
func (r *run) setClusterCommand(clusterName, extra string) string {
	if clusterName == "" {
		return ""
	}
	prep, file := r.o.caFile()
	return prep + "kubectl config set-cluster " + checks.ShellQuote(clusterName) + " --embed-certs --certificate-authority=" + file + extra
}
