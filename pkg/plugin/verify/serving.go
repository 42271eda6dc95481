package verify

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

const (
	servingAction = "kubectl carotate instructions --step 9.3"
	servingFix    = "re-issue the API server's serving certificate (apiserver.crt) from the new CA and restart each kube-apiserver in turn (step 9.3)"
)

// checkServing is the "serving" check: which CA each API server endpoint's
// serving chain verifies against.
func (r *run) checkServing(ctx context.Context, sec *section) {
	o := r.o
	addr, serverName, err := cluster.ServingChainAddress(o.cfg)
	if err != nil {
		sec.fail("%v", err)
		return
	}
	chain, err := cluster.FetchServingChain(ctx, o.cfg)
	if err != nil {
		sec.fail("%v", err)
	} else {
		sec.add(r.chainItem("kubeconfig server", o.cfg.Host, chain))
	}

	eps, err := cluster.APIEndpoints(ctx, r.o.client)
	switch {
	case err != nil:
		sec.notef("the default/kubernetes EndpointSlices could not be read (%v): only the kubeconfig's server was checked", err)
	case len(eps) == 0:
		sec.notef("default/kubernetes has no endpoint addresses (an API server with --endpoint-reconciler-type=none, or none ready): only the kubeconfig's server was checked")
	}
	checked := 0
	for _, ep := range eps {
		if ep == addr {
			continue
		}
		checked++
		chain, err := cluster.DialChain(ctx, ep, serverName)
		if err != nil {
			sec.add(item{Severity: checks.SeverityInfo, Kind: "endpoint", Name: ep, Where: "default/kubernetes", Verdict: "not-reachable",
				Detail: fmt.Sprintf("not reachable from here (%v): check it from inside the cluster", err)})
			continue
		}
		sec.add(r.chainItem("endpoint", ep, chain))
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s checked", cmdutil.Plural(1+checked, "API server address"))
}

// chainItem judges one serving chain against the new and the old CA
// separately, and against --ca as a whole.
func (r *run) chainItem(kind, name string, chain []*x509.Certificate) item {
	rule := r.o.rule
	leaf := chain[0]
	var against []string
	for _, c := range checks.Unique(append(append([]*x509.Certificate{}, rule.Want...), rule.Old...)) {
		if checks.ChainVerifies(chain, []*x509.Certificate{c}) || checks.ChainSignedBy(chain, c) {
			against = append(against, rule.Describe([]*x509.Certificate{c}))
		}
	}
	it := item{Severity: checks.SeverityOK, Kind: kind, Name: name, Where: "serving chain", Verdict: "verifies",
		Holds:  "leaf " + leaf.Subject.String() + ", issued by " + leaf.Issuer.String(),
		Detail: "verifies against " + strings.Join(against, ", ")}
	if len(against) == 0 {
		it.Detail = "verifies against none of --ca" + map[bool]string{true: " or --old-ca", false: ""}[len(rule.Old) > 0]
	}
	now := r.o.now()
	newCAs := rule.New()
	verifiesNew := len(newCAs) > 0 && checks.ChainVerifies(chain, newCAs)
	verifiesOld := len(rule.Old) > 0 && checks.ChainVerifies(chain, rule.Old)
	switch {
	case now.After(leaf.NotAfter):
		it.Severity, it.Verdict = checks.SeverityError, "expired"
		it.Detail = fmt.Sprintf("the serving certificate expired on %s; %s", leaf.NotAfter.UTC().Format(time.RFC3339), it.Detail)
		it.Action, it.Fix = servingAction, servingFix
	case !checks.ChainVerifies(chain, rule.Want):
		it.Severity, it.Verdict, it.Action, it.Fix = checks.SeverityError, "untrusted", servingAction, servingFix
		if verifiesOld {
			it.Verdict = "old-ca"
			it.Detail = "still served by the old CA, which clients trusting only --ca reject; " + it.Detail
		}
	case rule.Expect == checks.ExpectBundle && len(newCAs) > 0 && !verifiesNew:
		// Normal until step 9.3; unbundle refuses until it is done.
		it.Severity, it.Verdict, it.Action, it.Fix = checks.SeverityWarning, "old-ca", servingAction, servingFix
		it.Detail = "still served by the old CA: step 9.3 is not done yet, and unbundle refuses until it is; " + it.Detail
	}
	return it
}
