package start

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

func TestStartFrontProxyFlags(t *testing.T) {
	for _, c := range []struct {
		o    StartOptions
		want string
	}{
		{StartOptions{NewCA: "n.crt", NewFrontProxyCA: "fp.crt"}, "with --target front-proxy-ca, --new-ca and --old-ca name the front-proxy CAs"},
		{StartOptions{NewCA: "n.crt", NewPublicKey: "new.pub"}, "are for --target sa-key"},
		{StartOptions{}, "--target front-proxy-ca needs --new-ca"},
	} {
		c.o.recordCommand = recordCommand{Target: checks.TargetFrontProxyCA, DryRunFlag: "none"}
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	ok := StartOptions{NewCA: "n.crt", OldCA: "o.crt", recordCommand: recordCommand{Target: checks.TargetFrontProxyCA, DryRunFlag: "none"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("--new-ca and --old-ca: %v", err)
	}
}

func TestAbortFrontProxyPlan(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("..", "..", "checks", "testdata", "script", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oldPEM, newPEM := read("old-front-proxy-ca.pem"), read("new-front-proxy-ca.pem")
	oldCAs, _ := checks.ParseCertificates("old", oldPEM)
	newCAs, _ := checks.ParseCertificates("new", newPEM)
	api := func(rh, pc string) []checks.ControlPlanePod {
		return []checks.ControlPlanePod{{Node: "cp-1", Component: checks.ComponentAPIServer, Mirror: true, Command: checks.CommandLine{Flags: []checks.Flag{
			{Name: "requestheader-client-ca-file", Value: "/etc/kubernetes/pki/" + rh}, {Name: "proxy-client-cert-file", Value: "/etc/kubernetes/pki/" + pc}}}}}
	}
	ev := func(published []byte, cp []checks.ControlPlanePod) checks.FrontProxyEvidence {
		return checks.FrontProxyEvidence{OldCAs: oldCAs, NewCAs: newCAs, RequestHeaderCA: published, ControlPlane: cp}
	}
	both := append(append([]byte{}, newPEM...), oldPEM...)
	rec := &rotation.Record{Lifecycle: rotation.Lifecycle{ID: "r1"}}
	for name, c := range map[string]struct {
		ev        checks.FrontProxyEvidence
		want, not string
	}{
		"after serve":  {ev(both, api("front-proxy-ca-bundle.crt", "front-proxy-client-new.crt")), "First, on every control-plane node: point kube-apiserver's --proxy-client-cert-file back", "going back is a rotation of its own"},
		"after bundle": {ev(both, api("front-proxy-ca-bundle.crt", "front-proxy-client.crt")), "Then point --requestheader-client-ca-file of kube-apiserver and kube-controller-manager back", "--proxy-client-cert-file back"},
		"finished":     {ev(newPEM, api("front-proxy-ca.crt", "front-proxy-client.crt")), "going back is a rotation of its own", "--proxy-client-cert-file back"},
	} {
		plan := abortFrontProxyPlan(rec, c.ev)
		if !strings.Contains(plan, c.want) || (c.not != "" && strings.Contains(plan, c.not)) {
			t.Errorf("%s:\n%s\nwant %q, not %q", name, plan, c.want, c.not)
		}
	}
}
