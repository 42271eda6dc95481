package checks

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// etcdHost is kubeadm's control-plane node with its stacked etcd member.
func etcdHost(node string) ControlPlaneHost {
	h := kubeadmHost(node)
	api := h.Components[ComponentAPIServer]
	api.Flags = append(api.Flags, Flag{Name: "etcd-cafile", Value: "/etc/kubernetes/pki/etcd/ca.crt"},
		Flag{Name: "etcd-certfile", Value: "/etc/kubernetes/pki/apiserver-etcd-client.crt"},
		Flag{Name: "etcd-keyfile", Value: "/etc/kubernetes/pki/apiserver-etcd-client.key"},
		Flag{Name: "etcd-servers", Value: "https://127.0.0.1:2379"})
	h.Components[ComponentAPIServer] = api
	h.Components[ComponentEtcd] = ParseCommandLine([]string{"etcd", "--advertise-client-urls=https://10.0.0.10:2379",
		"--cert-file=/etc/kubernetes/pki/etcd/server.crt", "--client-cert-auth=true", "--data-dir=/var/lib/etcd",
		"--initial-advertise-peer-urls=https://10.0.0.10:2380", "--initial-cluster=" + node + "=https://10.0.0.10:2380",
		"--key-file=/etc/kubernetes/pki/etcd/server.key", "--listen-client-urls=https://127.0.0.1:2379,https://10.0.0.10:2379",
		"--listen-metrics-urls=http://127.0.0.1:2381", "--listen-peer-urls=https://10.0.0.10:2380", "--name=" + node,
		"--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt", "--peer-client-cert-auth=true", "--peer-key-file=/etc/kubernetes/pki/etcd/peer.key",
		"--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt", "--snapshot-count=10000", "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt"}, nil)
	return h
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "script", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// etcdCACluster is kubeadm's control plane and the golden etcd CAs.
func etcdCACluster(t *testing.T) ClusterDescription {
	t.Helper()
	oldCA, newCA := readTestdata(t, "old-etcd-ca.pem"), readTestdata(t, "new-etcd-ca.pem")
	return ClusterDescription{RotationID: "20261203-e7cd01", Target: TargetEtcdCA, Source: SourceMirrorPods, ControlPlane: []ControlPlaneHost{etcdHost("cp-1")},
		Contents: map[string]string{ContentOldEtcdCA: oldCA, ContentNewEtcdCA: newCA, ContentEtcdBundle: newCA + oldCA}}
}

func TestRenderEtcdCAGolden(t *testing.T) {
	d := etcdCACluster(t)
	targetGoldens(t, d, RenderEtcdCA(d), EtcdCANotes(d.RotationID))
}

func TestEtcdCAScriptsPassShellCheck(t *testing.T) {
	d := etcdCACluster(t)
	targetScriptsPassShellCheck(t, d, RenderEtcdCA(d))
}

// TestRenderEtcdCA checks what the steps must do, whatever their wording.
func TestRenderEtcdCA(t *testing.T) {
	d := etcdCACluster(t)
	d.ControlPlane = append(d.ControlPlane, etcdHost("cp-2"))
	steps := RenderEtcdCA(d)
	var flags, issued, order []string
	written := map[string]string{}
	for _, s := range steps {
		if s.Phase == "" || TargetPhaseOf(TargetEtcdCA, s.Step) != s.Phase {
			t.Errorf("step %s %s: phase %q", s.Step, s.Description, s.Phase)
		}
		if strings.Contains(s.Command, "PRIVATE KEY") {
			t.Errorf("step %s holds key material", s.Step)
		}
		if s.Node == "cp-1" && (s.Action == ActionRestart || s.Action == ActionMark) {
			order = append(order, s.Step+" "+s.Action+" "+s.Restart)
		}
		switch s.Action {
		case ActionSetFlag:
			if s.Node == "cp-1" {
				flags = append(flags, s.Step+" "+s.Component+" "+s.Flag+"="+s.File)
			}
		case ActionIssueCert:
			if s.Node == "cp-1" {
				issued = append(issued, s.File+" from "+s.CA+" "+s.CAKey+" key "+s.Key)
			}
		case ActionWriteFile:
			if s.Node == "cp-1" {
				written[s.Step+" "+s.File] = s.Content
			}
		}
	}
	want := []string{
		"1 etcd --trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt",
		"1 etcd --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt",
		"1 kube-apiserver --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt",
		"2 etcd --cert-file=/etc/kubernetes/pki/etcd/server-new.crt",
		"2 etcd --peer-cert-file=/etc/kubernetes/pki/etcd/peer-new.crt",
		"2 kube-apiserver --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client-new.crt",
		"3 etcd --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
		"3 etcd --peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt",
		"3 etcd --cert-file=/etc/kubernetes/pki/etcd/server.crt",
		"3 etcd --peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt",
		"3 kube-apiserver --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
		"3 kube-apiserver --etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
	}
	if strings.Join(flags, "\n") != strings.Join(want, "\n") {
		t.Errorf("flags:\n%s\nwant:\n%s", strings.Join(flags, "\n"), strings.Join(want, "\n"))
	}
	const ca, key = "/etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/ca-new.key", " key /etc/kubernetes/pki/"
	wantIssued := []string{
		"/etc/kubernetes/pki/etcd/server-new.crt from " + ca + key + "etcd/server.key",
		"/etc/kubernetes/pki/etcd/peer-new.crt from " + ca + key + "etcd/peer.key",
		"/etc/kubernetes/pki/etcd/healthcheck-client-new.crt from " + ca + key + "etcd/healthcheck-client.key",
		"/etc/kubernetes/pki/apiserver-etcd-client-new.crt from " + ca + key + "apiserver-etcd-client.key",
	}
	if strings.Join(issued, "\n") != strings.Join(wantIssued, "\n") {
		t.Errorf("issued:\n%s\nwant:\n%s", strings.Join(issued, "\n"), strings.Join(wantIssued, "\n"))
	}
	// The trap: etcd/ca.crt (whose key kubeadm signs with) is never the
	// bundle; it gets the new CA alone in step 3, and its key the new key.
	for k, c := range written {
		if strings.HasSuffix(k, "/etcd/ca.crt") && c != ContentNewEtcdCA {
			t.Errorf("%s gets %s", k, c)
		}
	}
	if written["3 /etc/kubernetes/pki/etcd/ca.crt"] != ContentNewEtcdCA || written["3 /etc/kubernetes/pki/etcd/ca.key"] != ContentNewEtcdCAKey ||
		written["1 /etc/kubernetes/pki/etcd/ca-bundle.crt"] != ContentEtcdBundle {
		t.Errorf("written: %v", written)
	}
	// etcd before the API server, node by node, every node's step done
	// before the next step begins, each node step ending with its mark.
	wantOrder := "1 restart etcd,1 restart kube-apiserver,1 mark ,2 restart etcd,2 restart kube-apiserver,2 mark ,3 restart etcd,3 restart kube-apiserver,3 mark "
	if strings.Join(order, ",") != wantOrder {
		t.Errorf("order on cp-1: %s", strings.Join(order, ","))
	}
	var nodes []string
	for _, s := range steps {
		if n := len(nodes); s.Action == ActionMark && (n == 0 || nodes[n-1] != s.Step+s.Node) {
			nodes = append(nodes, s.Step+s.Node)
		}
	}
	if strings.Join(nodes, ",") != "1cp-1,1cp-2,2cp-1,2cp-2,3cp-1,3cp-2" {
		t.Errorf("node order: %v", nodes)
	}

	// With two nodes, each node's script does its own steps and records
	// them; the workstation's waits for the other node's before step 3
	// goes on, so one member changes at a time.
	ws, err := RenderScript(d, FilterSteps(steps, "", PhaseFinish, ""), ScriptOptions{Node: "cp-1", Workstation: true})
	if err != nil {
		t.Fatal(err)
	}
	other, err := RenderScript(d, FilterSteps(steps, "", PhaseFinish, "cp-2"), ScriptOptions{Node: "cp-2"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(ws, "carotate_node_did cp-2 3 1") || !strings.Contains(other, "carotate_mark cp-2 3 1") || strings.Contains(other, "kubectl carotate verify") {
		t.Errorf("the two nodes' finish scripts do not hand over:\n%s\n----\n%s", ws, other)
	}

	// The key comes from the operator in the serve script; every phase's
	// script ends each node step with the loud checks.
	one := etcdCACluster(t)
	oneSteps := RenderEtcdCA(one)
	scripts := map[string]string{}
	for _, phase := range TargetPhases(TargetEtcdCA) {
		s, err := RenderScript(one, FilterSteps(oneSteps, "", phase, ""), ScriptOptions{Node: "cp-1", Workstation: true})
		if err != nil {
			t.Fatal(err)
		}
		scripts[phase] = s
	}
	for phase, w := range map[string][]string{
		PhaseBundle: {"--cacert /etc/kubernetes/pki/etcd/ca-bundle.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt", "carotate_static_pod etcd http://127.0.0.1:2381/health"},
		PhaseServe: {`install -m 0600 "${NEW_ETCD_CA_KEY}" /etc/kubernetes/pki/etcd/ca-new.key`, `carotate_key_given NEW_ETCD_CA_KEY "${NEW_ETCD_CA_KEY}"`,
			"carotate_issued /etc/kubernetes/pki/etcd/server-new.crt /etc/kubernetes/pki/etcd/ca-new.crt /etc/kubernetes/pki/etcd/server.key",
			"--cacert /etc/kubernetes/pki/etcd/ca-new.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client-new.crt"},
		PhaseFinish: {"kubectl carotate verify --target etcd-ca", "--cacert /etc/kubernetes/pki/etcd/ca.crt --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt"},
	} {
		for _, x := range append(w, "grep -F '[+]etcd ok'", EtcdCAMarkPrefix) {
			if !strings.Contains(scripts[phase], x) {
				t.Errorf("the %s script lacks %q", phase, x)
			}
		}
	}
	if strings.Contains(scripts[PhaseBundle], "NEW_ETCD_CA_KEY") {
		t.Error("the bundle script asks for the CA key")
	}
}

func TestJudgeEtcdCA(t *testing.T) {
	const id, pki = "20261203-e7cd01", "/etc/kubernetes/pki/"
	t0 := time.Date(2026, 12, 3, 7, 0, 0, 0, time.UTC)
	pods := func(node string, created time.Time, trust, serverCert, apiCA, apiCert string) []ControlPlanePod {
		return []ControlPlanePod{
			{Node: node, Component: ComponentEtcd, Mirror: true, Created: created, Command: CommandLine{Flags: []Flag{
				{Name: "trusted-ca-file", Value: pki + "etcd/" + trust}, {Name: "peer-trusted-ca-file", Value: pki + "etcd/" + trust},
				{Name: "cert-file", Value: pki + "etcd/" + serverCert}, {Name: "peer-cert-file", Value: pki + "etcd/" + strings.Replace(serverCert, "server", "peer", 1)}}}},
			{Node: node, Component: ComponentAPIServer, Mirror: true, Created: created, Command: CommandLine{Flags: []Flag{
				{Name: "etcd-cafile", Value: pki + "etcd/" + apiCA}, {Name: "etcd-certfile", Value: pki + apiCert}}}},
		}
	}
	before := pods("cp-1", t0, "ca.crt", "server.crt", "ca.crt", "apiserver-etcd-client.crt")
	bundled := pods("cp-1", t0.Add(time.Minute), "ca-bundle.crt", "server.crt", "ca-bundle.crt", "apiserver-etcd-client.crt")
	served := pods("cp-1", t0.Add(2*time.Minute), "ca-bundle.crt", "server-new.crt", "ca-bundle.crt", "apiserver-etcd-client-new.crt")
	after := pods("cp-1", t0.Add(3*time.Minute), "ca.crt", "server.crt", "ca.crt", "apiserver-etcd-client.crt")
	mark := func(min int) string {
		return id + "/" + t0.Add(time.Duration(min)*time.Minute+30*time.Second).Format(time.RFC3339)
	}
	marks := func(kv ...string) map[string]map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return map[string]map[string]string{"cp-1": m}
	}
	ev := func(cp []ControlPlanePod, m map[string]map[string]string) EtcdCAEvidence {
		return EtcdCAEvidence{RotationID: id, ControlPlane: cp, Marks: m}
	}
	type want struct{ state, evidence string }
	cases := []struct {
		name string
		ev   EtcdCAEvidence
		want map[string]want
	}{
		{"before the rotation", ev(before, nil), map[string]want{
			"1": {StateNotDone, "etcd on cp-1: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (not step 1's bundle)"},
			"2": {StateNotDone, "etcd on cp-1: --cert-file=/etc/kubernetes/pki/etcd/server.crt (not step 2's certificate from the new CA)"},
			"3": {StateNotDone, "no check of step 2 passed there in this rotation, so they hold the old CA"},
		}},
		{"step 1's flags, its checks not run", ev(bundled, nil), map[string]want{
			"1": {StateUnknown, "cp-1: the flags name step 1's files (etcd and kube-apiserver restarted by 2026-12-03T07:01:00Z); the API cannot show what the files hold, and step 1's checks have not recorded a pass on cp-1: run them there (kubectl carotate instructions --target etcd-ca --step 1 --node cp-1"},
			"2": {StateNotDone, "not step 2's certificate"},
		}},
		{"step 1 checked on the node", ev(bundled, marks("1", mark(1))), map[string]want{
			"1": {StateDone, "step 1's checks (new certificates against the CA, etcd /health, /readyz) passed there at 2026-12-03T07:01:30Z; kube-apiserver's /readyz/etcd: ok"},
			"2": {StateNotDone, "--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt (not step 2's certificate from the new CA)"},
			"3": {StateNotDone, "--trusted-ca-file=/etc/kubernetes/pki/etcd/ca-bundle.crt (not the original file"},
		}},
		{"a mark of another rotation", ev(bundled, marks("1", "20250101-000000/"+t0.Add(90*time.Second).Format(time.RFC3339))), map[string]want{
			"1": {StateUnknown, "have not recorded a pass on cp-1"},
		}},
		{"restarted after the checks passed", ev(bundled, marks("1", id+"/"+t0.Add(-30*time.Second).Format(time.RFC3339))), map[string]want{
			"1": {StateUnknown, "but etcd or kube-apiserver restarted after step 1's checks passed there at 2026-12-03T06:59:30Z: run them again"},
		}},
		{"the mirror pods re-created just after the checks passed", ev(bundled, marks("1", id+"/"+t0.Add(30*time.Second).Format(time.RFC3339))), map[string]want{
			"1": {StateDone, "step 1's checks"},
		}},
		{"step 2 checked", ev(served, marks("1", mark(1), "2", mark(2))), map[string]want{
			"1": {StateDone, "step 2's checks"},
			"2": {StateDone, "cp-1: the flags name step 2's files"},
			"3": {StateNotDone, "not the original file"},
		}},
		{"step 2's flags, its checks not run", ev(served, marks("1", id+"/"+t0.Format(time.RFC3339))), map[string]want{
			"1": {StateUnknown, "restarted after step 1's checks passed"},
			"2": {StateUnknown, "step 2's checks have not recorded a pass on cp-1"},
		}},
		{"step 3's flags, its checks not run", ev(after, marks("1", mark(1), "2", mark(2))), map[string]want{
			"1": {StateDone, "step 3 has moved the flags back to kubeadm's names, and step 2's checks passed there at 2026-12-03T07:02:30Z"},
			"2": {StateDone, "step 3 has moved the flags back"},
			"3": {StateUnknown, "cp-1: the flags name kubeadm's files again (etcd and kube-apiserver restarted by 2026-12-03T07:03:00Z); the API cannot show what the files hold"},
		}},
		{"finished", ev(after, marks("1", mark(1), "2", mark(2), "3", mark(3))), map[string]want{
			"1": {StateDone, "step 3's checks passed there"},
			"2": {StateDone, "step 3's checks passed there"},
			"3": {StateDone, "cp-1: the flags name kubeadm's files again (etcd and kube-apiserver restarted by 2026-12-03T07:03:00Z); step 3's checks (new certificates against the CA, etcd /health, /readyz) passed there at 2026-12-03T07:03:30Z; kube-apiserver's /readyz/etcd: ok"},
		}},
		{"finished, but the API server cannot reach etcd", func() EtcdCAEvidence {
			e := ev(after, marks("1", mark(1), "2", mark(2), "3", mark(3)))
			e.ReadyzErr = errors.New("[-]etcd failed: reason withheld")
			return e
		}(), map[string]want{
			"3": {StateNotDone, "kube-apiserver's /readyz/etcd fails: [-]etcd failed: reason withheld"},
		}},
		{"step 3 under way: etcd moved back, the API server not yet", ev(append(pods("cp-1", t0.Add(3*time.Minute), "ca.crt", "server.crt", "", "")[:1],
			served[1]), marks("1", mark(1), "2", mark(2))), map[string]want{
			"1": {StateDone, "cp-1: step 3 has moved the flags back to kubeadm's names, and step 2's checks passed there"},
			"3": {StateNotDone, "kube-apiserver on cp-1: --etcd-cafile=/etc/kubernetes/pki/etcd/ca-bundle.crt (not the original file: step 3 has not moved it back)"},
		}},
		{"a second member not on the bundle", func() EtcdCAEvidence {
			e := ev(append(append([]ControlPlanePod{}, bundled...), before[0].withNode("cp-2")), marks("1", mark(1)))
			return e
		}(), map[string]want{
			"1": {StateNotDone, "etcd on cp-2: --trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt (not step 1's bundle)"},
		}},
		{"no etcd mirror pod (external etcd)", ev(before[1:], nil), map[string]want{
			"1": {StateUnknown, "no etcd mirror pod in kube-system: etcd does not run as a kubeadm static pod here (external etcd?)"},
			"3": {StateUnknown, "external etcd?"},
		}},
		{"mirror pods cannot be listed", func() EtcdCAEvidence {
			e := ev(nil, nil)
			e.ControlPlaneErr = errors.New("timeout")
			return e
		}(), map[string]want{
			"2": {StateUnknown, "the static pods' flags cannot be read (mirror pods in kube-system: timeout)"},
		}},
		{"nodes cannot be read", func() EtcdCAEvidence {
			e := ev(bundled, nil)
			e.MarksErr = errors.New("forbidden")
			return e
		}(), map[string]want{
			"1": {StateUnknown, "the control-plane Node objects cannot be read: forbidden"},
		}},
	}
	for _, c := range cases {
		got := map[string]StepState{}
		for _, s := range JudgeEtcdCA(c.ev) {
			got[s.Step] = s
		}
		for step, w := range c.want {
			s := got[step]
			if s.State != w.state || !strings.Contains(s.Evidence, w.evidence) {
				t.Errorf("%s: step %s: %s %q; want %s containing %q", c.name, step, s.State, s.Evidence, w.state, w.evidence)
			}
			if s.State != StateDone && s.Next != "kubectl carotate instructions --target etcd-ca --step "+step {
				t.Errorf("%s: step %s: next %q", c.name, step, s.Next)
			}
		}
	}
}

func (p ControlPlanePod) withNode(n string) ControlPlanePod {
	p.Node = n
	return p
}

// TestRenderEtcdCASeparateFiles: where etcd's peer CA and the API
// server's etcd CA are files of their own, each gets the bundle beside it,
// its backup and the new CA alone in step 3.
func TestRenderEtcdCASeparateFiles(t *testing.T) {
	d := etcdCACluster(t)
	h := d.ControlPlane[0]
	set := func(c, name, value string) {
		cl := h.Components[c]
		for i, f := range cl.Flags {
			if f.Name == name {
				cl.Flags[i].Value = value
			}
		}
		h.Components[c] = cl
	}
	set(ComponentEtcd, "peer-trusted-ca-file", "/etc/etcd/peer-ca.crt")
	set(ComponentAPIServer, "etcd-cafile", "/etc/kubernetes/pki/etcd-ca.crt")
	var got []string
	for _, s := range RenderEtcdCA(d) {
		if s.Action == ActionWriteFile || s.Action == ActionBackup || s.Action == ActionSetFlag {
			if strings.Contains(s.File, "peer-ca") || strings.Contains(s.File, "etcd-ca") {
				got = append(got, s.Step+" "+s.Action+" "+s.File+" "+s.Content)
			}
		}
	}
	want := []string{
		"1 write-file /etc/etcd/peer-ca-bundle.crt etcd-bundle",
		"1 write-file /etc/kubernetes/pki/etcd-ca-bundle.crt etcd-bundle",
		"1 set-flag /etc/etcd/peer-ca-bundle.crt etcd-bundle",
		"1 set-flag /etc/kubernetes/pki/etcd-ca-bundle.crt etcd-bundle",
		"3 backup /etc/etcd/peer-ca.crt ",
		"3 backup /etc/kubernetes/pki/etcd-ca.crt ",
		"3 write-file /etc/etcd/peer-ca.crt new-etcd-ca",
		"3 write-file /etc/kubernetes/pki/etcd-ca.crt new-etcd-ca",
		"3 set-flag /etc/etcd/peer-ca.crt new-etcd-ca",
		"3 set-flag /etc/kubernetes/pki/etcd-ca.crt new-etcd-ca",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
