package plugin

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// An endpoint address of default/kubernetes is often a node or pod network
// address this machine cannot reach: one quick try, no retries.
const verifyEndpointTimeout = 5 * time.Second

const (
	verifyServingAction = "kubectl carotate instructions --step 9.3"
	verifyServingFix    = "re-issue the API server's serving certificate (apiserver.crt) from the new CA and restart each kube-apiserver in turn (step 9.3)"
)

// checkServing is the "serving" check: which CA each API server endpoint's
// serving chain verifies against.
func (r *verifyRun) checkServing(ctx context.Context, sec *verifySection) {
	o := r.o
	addr, serverName, err := servingChainAddress(o.cfg)
	if err != nil {
		sec.fail("%v", err)
		return
	}
	chain, err := fetchServingChain(ctx, o.cfg)
	if err != nil {
		sec.fail("%v", err)
	} else {
		sec.add(r.verifyChainItem("kubeconfig server", o.cfg.Host, chain))
	}

	eps, err := r.verifyAPIEndpoints(ctx)
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
		chain, err := verifyDialChain(ctx, ep, serverName)
		if err != nil {
			sec.add(verifyItem{Severity: checks.SeverityInfo, Kind: "endpoint", Name: ep, Where: "default/kubernetes", Verdict: "not-reachable",
				Detail: fmt.Sprintf("not reachable from here (%v): check it from inside the cluster", err)})
			continue
		}
		sec.add(r.verifyChainItem("endpoint", ep, chain))
	}
	for _, it := range sec.Items {
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s checked", plural(1+checked, "API server address"))
}

// verifyChainItem judges one serving chain against the new and the old CA
// separately, and against --ca as a whole.
func (r *verifyRun) verifyChainItem(kind, name string, chain []*x509.Certificate) verifyItem {
	rule := r.o.rule
	leaf := chain[0]
	var against []string
	for _, c := range rootCAUniq(append(append([]*x509.Certificate{}, rule.Want...), rule.Old...)) {
		if chainVerifies(chain, []*x509.Certificate{c}) || verifySignedBy(chain, c) {
			against = append(against, rule.Describe([]*x509.Certificate{c}))
		}
	}
	it := verifyItem{Severity: checks.SeverityOK, Kind: kind, Name: name, Where: "serving chain", Verdict: "verifies",
		Holds:  "leaf " + leaf.Subject.String() + ", issued by " + leaf.Issuer.String(),
		Detail: "verifies against " + strings.Join(against, ", ")}
	if len(against) == 0 {
		it.Detail = "verifies against none of --ca" + map[bool]string{true: " or --old-ca", false: ""}[len(rule.Old) > 0]
	}
	now := r.o.now()
	newCAs := rule.New()
	verifiesNew := len(newCAs) > 0 && chainVerifies(chain, newCAs)
	verifiesOld := len(rule.Old) > 0 && chainVerifies(chain, rule.Old)
	switch {
	case now.After(leaf.NotAfter):
		it.Severity, it.Verdict = checks.SeverityError, "expired"
		it.Detail = fmt.Sprintf("the serving certificate expired on %s; %s", leaf.NotAfter.UTC().Format(time.RFC3339), it.Detail)
		it.Action, it.Fix = verifyServingAction, verifyServingFix
	case !chainVerifies(chain, rule.Want):
		it.Severity, it.Verdict, it.Action, it.Fix = checks.SeverityError, "untrusted", verifyServingAction, verifyServingFix
		if verifiesOld {
			it.Verdict = "old-ca"
			it.Detail = "still served by the old CA, which clients trusting only --ca reject; " + it.Detail
		}
	case rule.Expect == checks.ExpectBundle && len(newCAs) > 0 && !verifiesNew:
		// Normal until step 9.3; unbundle refuses until it is done.
		it.Severity, it.Verdict, it.Action, it.Fix = checks.SeverityWarning, "old-ca", verifyServingAction, verifyServingFix
		it.Detail = "still served by the old CA: step 9.3 is not done yet, and unbundle refuses until it is; " + it.Detail
	}
	return it
}

// verifySignedBy tells which CA issued a chain that does not verify (an
// expired one): by signature, the leaf or the last certificate sent.
func verifySignedBy(chain []*x509.Certificate, ca *x509.Certificate) bool {
	for _, c := range []*x509.Certificate{chain[0], chain[len(chain)-1]} {
		if bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// verifyAPIEndpoints lists the addresses of default/kubernetes, where every
// API server of the cluster registers itself.
func (r *verifyRun) verifyAPIEndpoints(ctx context.Context) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	slices := r.o.client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	err := restartPages(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"},
		func(ctx context.Context, lo metav1.ListOptions) ([]discoveryv1.EndpointSlice, string, error) {
			l, err := slices.List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []discoveryv1.EndpointSlice) {
			for _, s := range items {
				for _, p := range s.Ports {
					if p.Port == nil {
						continue
					}
					for _, ep := range s.Endpoints {
						if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
							continue
						}
						for _, a := range ep.Addresses {
							hp := net.JoinHostPort(a, strconv.Itoa(int(*p.Port)))
							if !seen[hp] {
								seen[hp] = true
								out = append(out, hp)
							}
						}
					}
				}
			}
		}, func() { out, seen = nil, map[string]bool{} })
	return out, err
}

// verifyDialChain is one handshake with one address, presenting the
// kubeconfig's server name, without verifying: what is served is the
// question.
func verifyDialChain(ctx context.Context, addr, serverName string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyEndpointTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, //nolint:gosec // inspection only, no data is exchanged
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return chain, nil
}
