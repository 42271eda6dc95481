package checks

import (
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// frontProxyCluster is kubeadm's control plane and the golden front-proxy
// CAs.
func frontProxyCluster(t *testing.T) ClusterDescription {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "script", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	oldCA, newCA := read("old-front-proxy-ca.pem"), read("new-front-proxy-ca.pem")
	return ClusterDescription{RotationID: "20261203-f00d01", Target: TargetFrontProxyCA, Source: SourceMirrorPods, ControlPlane: []ControlPlaneHost{kubeadmHost("cp-1")},
		Contents: map[string]string{ContentOldFrontProxyCA: oldCA, ContentNewFrontProxyCA: newCA, ContentFrontProxyBundle: newCA + oldCA}}
}

func TestRenderFrontProxyGolden(t *testing.T) {
	d := frontProxyCluster(t)
	targetGoldens(t, d, RenderFrontProxy(d), FrontProxyNotes(d.RotationID))
}

func TestFrontProxyScriptsPassShellCheck(t *testing.T) {
	d := frontProxyCluster(t)
	targetScriptsPassShellCheck(t, d, RenderFrontProxy(d))
}

// TestRenderFrontProxy checks what the steps must do, whatever their
// wording.
func TestRenderFrontProxy(t *testing.T) {
	d := frontProxyCluster(t)
	steps := RenderFrontProxy(d)
	var flags, removed []string
	for _, s := range steps {
		if s.Phase == "" || TargetPhaseOf(TargetFrontProxyCA, s.Step) != s.Phase {
			t.Errorf("step %s %s: phase %q", s.Step, s.Description, s.Phase)
		}
		if s.Check != "kubectl carotate status --target front-proxy-ca --step "+s.Step {
			t.Errorf("step %s: check %q", s.Step, s.Check)
		}
		if strings.Contains(s.Command, "PRIVATE KEY") {
			t.Errorf("step %s holds key material", s.Step)
		}
		switch s.Action {
		case ActionSetFlag:
			flags = append(flags, s.Step+" "+s.Component+" "+s.Flag+"="+s.File)
		case ActionRemoveFile:
			removed = append(removed, s.File)
		case ActionIssueCert:
			if s.Step != "2" || s.CA != "/etc/kubernetes/pki/front-proxy-ca-new.crt" || s.CAKey != "/etc/kubernetes/pki/front-proxy-ca-new.key" ||
				s.Key != "/etc/kubernetes/pki/front-proxy-client.key" || s.File != "/etc/kubernetes/pki/front-proxy-client-new.crt" {
				t.Errorf("issue-cert: %+v", s)
			}
		}
	}
	want := []string{
		"1 kube-apiserver --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt",
		"1 kube-controller-manager --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt",
		"2 kube-apiserver --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client-new.crt",
		"3 kube-apiserver --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
		"3 kube-apiserver --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
		"3 kube-controller-manager --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
	}
	if strings.Join(flags, "\n") != strings.Join(want, "\n") {
		t.Errorf("flags:\n%s\nwant:\n%s", strings.Join(flags, "\n"), strings.Join(want, "\n"))
	}
	wantRemoved := "/etc/kubernetes/pki/front-proxy-ca-bundle.crt /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-ca-new.key"
	if strings.Join(removed, " ") != wantRemoved {
		t.Errorf("removed %v", removed)
	}
	// The key comes from the operator in the serve script, which checks
	// it before any step; the bundle script needs no key.
	serve, err := RenderScript(d, FilterSteps(steps, "", PhaseServe, ""), ScriptOptions{Node: "cp-1", Workstation: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`install -m 0600 "${NEW_FRONT_PROXY_CA_KEY}" /etc/kubernetes/pki/front-proxy-ca-new.key`, `carotate_key_given NEW_FRONT_PROXY_CA_KEY "${NEW_FRONT_PROXY_CA_KEY}"`,
		"carotate_issued /etc/kubernetes/pki/front-proxy-client-new.crt /etc/kubernetes/pki/front-proxy-ca-new.crt /etc/kubernetes/pki/front-proxy-client.key"} {
		if !strings.Contains(serve, w) {
			t.Errorf("the serve script lacks %q", w)
		}
	}
	bundle, err := RenderScript(d, FilterSteps(steps, "", PhaseBundle, ""), ScriptOptions{Node: "cp-1", Workstation: true})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bundle, "NEW_FRONT_PROXY_CA_KEY") {
		t.Error("the bundle script asks for the CA key")
	}
	// The finish phase checks with verify before it changes anything, and
	// republishes extension-apiserver-authentication last.
	fin := FilterSteps(steps, "", PhaseFinish, "")
	if fin[0].Command != "kubectl carotate verify --target front-proxy-ca" {
		t.Errorf("the finish phase does not start with verify: %+v", fin[0])
	}
	if last := fin[len(fin)-1]; !strings.Contains(last.Command, "delete configmap/extension-apiserver-authentication") {
		t.Errorf("the finish phase does not end by republishing extension-apiserver-authentication: %+v", last)
	}
}

func TestJudgeFrontProxy(t *testing.T) {
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join("testdata", "script", name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	oldPEM, newPEM := read("old-front-proxy-ca.pem"), read("new-front-proxy-ca.pem")
	parse := func(b []byte) []*x509.Certificate {
		c, err := ParseCertificates("test", b)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const pki = "/etc/kubernetes/pki/"
	api := func(requestheader, proxyClient string) []ControlPlanePod {
		return []ControlPlanePod{{Node: "cp-1", Component: ComponentAPIServer, Mirror: true, Command: CommandLine{Flags: []Flag{
			{Name: "requestheader-client-ca-file", Value: pki + requestheader}, {Name: "proxy-client-cert-file", Value: pki + proxyClient}}}}}
	}
	available := []AggregatedAPI{{Name: "v1.test.carotate.io", Service: "fp/agg", Available: true}}
	failing := []AggregatedAPI{{Name: "v1.test.carotate.io", Service: "fp/agg", Reason: "FailedDiscoveryCheck", Message: "failing or missing response from https://10.200.0.10:8443: 401"}}
	base := func(published []byte, cp []ControlPlanePod, apis []AggregatedAPI) FrontProxyEvidence {
		return FrontProxyEvidence{OldCAs: parse(oldPEM), NewCAs: parse(newPEM), RequestHeaderCA: published, ControlPlane: cp, APIServices: apis}
	}
	both := append(append([]byte{}, newPEM...), oldPEM...)
	type want struct{ state, evidence string }
	cases := []struct {
		name string
		ev   FrontProxyEvidence
		want map[string]want
	}{
		{"before the rotation", base(oldPEM, api("front-proxy-ca.crt", "front-proxy-client.crt"), available), map[string]want{
			"1": {StateNotDone, "publishes the old front-proxy CA alone"},
			"2": {StateNotDone, "--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt (not step 2's certificate"},
			"3": {StateNotDone, "the old front-proxy CA alone"},
		}},
		{"after the bundle", base(both, api("front-proxy-ca-bundle.crt", "front-proxy-client.crt"), available), map[string]want{
			"1": {StateDone, "the old and new front-proxy CAs as requestheader-client-ca-file; kube-apiserver on cp-1: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt"},
			"2": {StateNotDone, "not step 2's certificate"},
			"3": {StateNotDone, "the old and new front-proxy CAs"},
		}},
		{"after serve", base(both, api("front-proxy-ca-bundle.crt", "front-proxy-client-new.crt"), available), map[string]want{
			"1": {StateDone, ""},
			"2": {StateDone, "front-proxy-client-new.crt (step 2's certificate; the script checked on the node that the new CA issued it); every APIService served from the cluster (1) is Available"},
			"3": {StateNotDone, "the old and new front-proxy CAs"},
		}},
		{"after serve, an aggregated API refuses", base(both, api("front-proxy-ca-bundle.crt", "front-proxy-client-new.crt"), failing), map[string]want{
			"2": {StateNotDone, "1 APIService not Available: v1.test.carotate.io (fp/agg, FailedDiscoveryCheck: failing or missing response"},
		}},
		{"step 3 under way: the flags moved back, the ConfigMap not republished", base(both, api("front-proxy-ca.crt", "front-proxy-client.crt"), available), map[string]want{
			"1": {StateDone, "off step 1's bundle again: step 3 is under way"},
			"2": {StateDone, "step 3 has moved the API servers back to kubeadm's file names and every APIService"},
			"3": {StateNotDone, "the old and new front-proxy CAs"},
		}},
		{"finished", base(newPEM, api("front-proxy-ca.crt", "front-proxy-client.crt"), available), map[string]want{
			"1": {StateDone, "the new front-proxy CA alone"},
			"2": {StateDone, "the old front-proxy CA is dropped (step 3) and every APIService"},
			"3": {StateDone, "publishes the new front-proxy CA alone as requestheader-client-ca-file; every APIService served from the cluster (1) is Available"},
		}},
		{"republished while an API server still runs with the bundle", base(newPEM, api("front-proxy-ca-bundle.crt", "front-proxy-client-new.crt"), available), map[string]want{
			"3": {StateNotDone, "but kube-apiserver on cp-1: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca-bundle.crt (still the bundle)"},
		}},
		{"finished, but the aggregated API refuses", base(newPEM, api("front-proxy-ca.crt", "front-proxy-client.crt"), failing), map[string]want{
			"2": {StateNotDone, "the proxy client certificate may not be from the new CA"},
			"3": {StateNotDone, "not Available"},
		}},
		{"a second API server not on the bundle", func() FrontProxyEvidence {
			ev := base(both, api("front-proxy-ca-bundle.crt", "front-proxy-client.crt"), available)
			ev.ControlPlane = append(ev.ControlPlane, ControlPlanePod{Node: "cp-2", Component: ComponentAPIServer, Mirror: true,
				Command: CommandLine{Flags: []Flag{{Name: "requestheader-client-ca-file", Value: pki + "front-proxy-ca.crt"}}}})
			return ev
		}(), map[string]want{
			"1": {StateNotDone, "kube-apiserver on cp-2: --requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt (not step 1's bundle"},
		}},
		{"the ConfigMap cannot be read", func() FrontProxyEvidence {
			ev := base(nil, api("front-proxy-ca-bundle.crt", "front-proxy-client.crt"), available)
			ev.ExtErr = errors.New("forbidden")
			return ev
		}(), map[string]want{
			"1": {StateUnknown, "cannot read kube-system/extension-apiserver-authentication: forbidden"},
			"3": {StateUnknown, "forbidden"},
		}},
		{"no mirror pods", base(both, nil, available), map[string]want{
			"1": {StateDone, "no kube-apiserver mirror pod in kube-system shows the API servers' flags: which API server runs with the bundle is not known"},
			"2": {StateUnknown, "the API does not show which CA issued the proxy client certificate"},
		}},
		{"mirror pods cannot be listed", func() FrontProxyEvidence {
			ev := base(newPEM, nil, available)
			ev.ControlPlaneErr = errors.New("timeout")
			return ev
		}(), map[string]want{
			"2": {StateUnknown, "the API servers' flags cannot be read (mirror pods in kube-system: timeout)"},
			"3": {StateUnknown, "timeout"},
		}},
		{"APIServices cannot be listed", func() FrontProxyEvidence {
			ev := base(newPEM, api("front-proxy-ca.crt", "front-proxy-client.crt"), nil)
			ev.APIServicesErr = errors.New("forbidden")
			return ev
		}(), map[string]want{
			"3": {StateNotDone, "the APIServices cannot be read: forbidden"},
		}},
		{"no aggregated API", base(both, api("front-proxy-ca-bundle.crt", "front-proxy-client-new.crt"), nil), map[string]want{
			"2": {StateDone, "no APIService is served from the cluster"},
		}},
	}
	for _, c := range cases {
		got := map[string]StepState{}
		for _, s := range JudgeFrontProxy(c.ev) {
			got[s.Step] = s
		}
		for step, w := range c.want {
			s := got[step]
			if s.State != w.state || !strings.Contains(s.Evidence, w.evidence) {
				t.Errorf("%s: step %s: %s %q; want %s containing %q", c.name, step, s.State, s.Evidence, w.state, w.evidence)
			}
			if s.State != StateDone && s.Next != "kubectl carotate instructions --target front-proxy-ca --step "+step {
				t.Errorf("%s: step %s: next %q", c.name, step, s.Next)
			}
		}
	}
}

func TestFrontProxyLeftovers(t *testing.T) {
	steps := []StepState{{UpstreamStep: UpstreamStep{Step: "1"}, State: StateDone}, {UpstreamStep: UpstreamStep{Step: "2"}, State: StateUnknown}, {UpstreamStep: UpstreamStep{Step: "3"}, State: StateNotDone}}
	got := FrontProxyLeftovers(steps)
	if len(got) != 1 || got[0].Step != "2" {
		t.Errorf("got %+v", got)
	}
	if s, c := TargetNext(TargetFrontProxyCA, steps[:1], true); s != "finish" || c != "kubectl carotate finish --target front-proxy-ca" {
		t.Errorf("next: %s %s", s, c)
	}
}
