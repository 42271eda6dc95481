package verify

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
)

// TestJudgeClientCert: a kubelet's newest client certificate against the
// rule: from the new CA is fine, from the old one blocks the end of the
// rotation (and is a warning before it), and a node without a request
// left is not visible, said with the command that shows it on the node.
func TestJudgeClientCert(t *testing.T) {
	oldCA, newCA, other := testca.New(t, "old"), testca.New(t, "new"), testca.New(t, "other")
	cert := func(ca testca.CA, node string) checks.KubeletCert {
		certs, err := checks.ParseCertificates("test", testca.Client(t, ca, "system:node:"+node, "system:nodes"))
		if err != nil {
			t.Fatal(err)
		}
		return checks.KubeletCert{CSR: "csr-" + node, Cert: certs[0]}
	}
	ev := checks.KubeletCertEvidence{Newest: map[string]checks.KubeletCert{
		"renewed": cert(newCA, "renewed"), "stale": cert(oldCA, "stale"), "odd": cert(other, "odd")}}
	bundle := []*x509.Certificate{newCA.Cert, oldCA.Cert}
	mid := checks.NewCARule(checks.ExpectBundle, bundle, []*x509.Certificate{oldCA.Cert})
	end := checks.NewCARule(checks.ExpectNew, []*x509.Certificate{newCA.Cert}, []*x509.Certificate{oldCA.Cert})
	noOld := checks.NewCARule(checks.ExpectBundle, bundle, nil)
	for _, c := range []struct {
		name                        string
		rule                        checks.CARule
		node, verdict, severity, in string
	}{
		{"renewed, mid-rotation", mid, "renewed", "client-cert-new", checks.SeverityOK, "issued by the new CA"},
		{"renewed, at the end", end, "renewed", "client-cert-new", checks.SeverityOK, "issued by the new CA"},
		{"old, mid-rotation", mid, "stale", "client-cert-old", checks.SeverityWarning, "gets 401 once the API server stops accepting the old CA (step 12.2)"},
		{"old, at the end", end, "stale", "client-cert-old", checks.SeverityError, "issued by the old CA"},
		{"neither", end, "odd", "client-cert-other", checks.SeverityError, "issued by CN=other, neither the new CA nor the old"},
		{"no request left", end, "gone", "client-cert-unknown", checks.SeverityWarning, "not visible through the API"},
		{"without --old-ca", noOld, "stale", "client-cert-trusted", checks.SeverityInfo, "--old-ca tells whether that is the new one"},
		{"without --old-ca, outside --ca", noOld, "odd", "client-cert-other", checks.SeverityWarning, "not by a CA of --ca"},
	} {
		got := judgeClientCert(c.rule, ev, c.node)
		if got.verdict != c.verdict || got.severity != c.severity || !strings.Contains(got.detail, c.in) {
			t.Errorf("%s: got %s/%s %q, want %s/%s containing %q", c.name, got.verdict, got.severity, got.detail, c.verdict, c.severity, c.in)
		}
		if got.severity != checks.SeverityOK && got.severity != checks.SeverityInfo && got.action != "kubectl carotate instructions --step 9.2" {
			t.Errorf("%s: no next step: %+v", c.name, got)
		}
	}
	if got := judgeClientCert(end, ev, "gone"); !strings.Contains(got.fix, "openssl x509 -issuer -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem") {
		t.Errorf("no request left: the fix does not show the command for the node: %q", got.fix)
	}
}

// TestJudgeKubelet: configz as the kubelet answers it; rotation never
// excuses a kubelet from step 9.2.
func TestJudgeKubelet(t *testing.T) {
	on := judgeKubelet(cluster.KubeletConfig{RotateCertificates: true, ClientCAFile: "/etc/kubernetes/pki/ca-bundle.crt"})
	if on.verdict != "rotation-on" || on.severity != checks.SeverityInfo || !strings.Contains(on.detail, "at 70-90% of its lifetime") ||
		!strings.HasSuffix(on.detail, "; clientCAFile /etc/kubernetes/pki/ca-bundle.crt") {
		t.Errorf("rotation on: %+v", on)
	}
	off := judgeKubelet(cluster.KubeletConfig{})
	if off.verdict != "rotation-off" || off.severity != checks.SeverityInfo || !strings.HasSuffix(off.detail, "; no clientCAFile") {
		t.Errorf("rotation off: %+v", off)
	}
	skip := judgeKubelet(cluster.KubeletConfig{Err: errors.New("nodes/proxy is forbidden for this user")})
	if skip.verdict != "skipped" || skip.detail != "not readable, skipped: nodes/proxy is forbidden for this user" {
		t.Errorf("not readable: %+v", skip)
	}
}
