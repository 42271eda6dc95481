package checks

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files under testdata/instructions")

// Placeholder PEMs: rendering never parses them, and short bodies keep the
// golden files readable.
const (
	testNewPEM = "-----BEGIN CERTIFICATE-----\nTkVXLUNBLUZPUi1HT0xERU4tRklMRVM=\n-----END CERTIFICATE-----\n"
	testOldPEM = "-----BEGIN CERTIFICATE-----\nT0xELUNBLUZPUi1HT0xERU4tRklMRVM=\n-----END CERTIFICATE-----\n"
	testNewFP  = "-----BEGIN CERTIFICATE-----\nTkVXLUZST05ULVBST1hZLUNB\n-----END CERTIFICATE-----\n"
	testOldFP  = "-----BEGIN CERTIFICATE-----\nT0xELUZST05ULVBST1hZLUNB\n-----END CERTIFICATE-----\n"
)

func testContents(frontProxy bool) map[string]string {
	c := map[string]string{ContentNewCA: testNewPEM, ContentOldCA: testOldPEM, ContentBundle: testNewPEM + testOldPEM}
	if frontProxy {
		c[ContentNewFrontProxyCA], c[ContentOldFrontProxyCA], c[ContentFrontProxyBundle] = testNewFP, testOldFP, testNewFP+testOldFP
	}
	return c
}

func kubeadmHost(node string) ControlPlaneHost {
	cl := func(argv ...string) CommandLine { return ParseCommandLine(argv, nil) }
	return ControlPlaneHost{Node: node, Components: map[string]CommandLine{
		ComponentAPIServer: cl("kube-apiserver", "--advertise-address=10.0.0.10", "--allow-privileged=true", "--authorization-mode=Node,RBAC",
			"--client-ca-file=/etc/kubernetes/pki/ca.crt", "--enable-bootstrap-token-auth=true",
			"--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt", "--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
			"--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt", "--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
			"--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
			"--tls-cert-file=/etc/kubernetes/pki/apiserver.crt", "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key"),
		ComponentControllerManager: cl("kube-controller-manager", "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf",
			"--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf", "--client-ca-file=/etc/kubernetes/pki/ca.crt",
			"--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt", "--cluster-signing-key-file=/etc/kubernetes/pki/ca.key",
			"--kubeconfig=/etc/kubernetes/controller-manager.conf", "--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
			"--root-ca-file=/etc/kubernetes/pki/ca.crt", "--use-service-account-credentials=true"),
		ComponentScheduler: cl("kube-scheduler", "--authentication-kubeconfig=/etc/kubernetes/scheduler.conf",
			"--authorization-kubeconfig=/etc/kubernetes/scheduler.conf", "--kubeconfig=/etc/kubernetes/scheduler.conf"),
	}}
}

func boolp(b bool) *bool { return &b }

// goldenCases are the clusters the golden files render.
func goldenCases() map[string]ClusterDescription {
	files := LocalFiles{OldCA: "old-ca.crt", NewCA: "new-ca.crt", Bundle: "ca-bundle.crt"}

	// kubeadm: one control-plane node, the shared-file caveat, a kubelet of
	// each kind (rotation unknown, on, off), cluster-info, a webhook.
	kubeadm := ClusterDescription{
		RotationID: "20260101-abcdef", Source: SourceMirrorPods,
		ControlPlane: []ControlPlaneHost{kubeadmHost("cp-1")},
		Nodes: []KubeletNode{
			{Name: "cp-1", ControlPlane: true},
			{Name: "worker-a", ClientCAFile: "/etc/kubernetes/pki/ca.crt", RotateCertificates: boolp(true)},
			{Name: "worker-b", ClientCAFile: "/etc/kubernetes/pki/ca.crt", RotateCertificates: boolp(false)},
		},
		Webhooks:       []ServiceRef{{Name: "ValidatingWebhookConfiguration policy/check.example.com", Namespace: "policy", Service: "policy-webhook"}},
		ClusterInfo:    true,
		UserKubeconfig: UserKubeconfig{Cluster: "kubernetes"},
		Files:          files, Contents: testContents(false),
	}

	// Separate files: the controller-manager's root CA file is its own, the
	// API server verifies kubelets, the scheduler has a client CA, a static
	// cloud-controller-manager, and the front-proxy CA rotates too.
	sep := kubeadmHost("master-0")
	cl := func(argv ...string) CommandLine { return ParseCommandLine(argv, nil) }
	sep.Components[ComponentControllerManager] = cl("kube-controller-manager", "--kubeconfig", "/srv/k8s/kcm.kubeconfig",
		"--root-ca-file", "/srv/k8s/pki/sa-root-ca.crt", "--client-ca-file", "/srv/k8s/pki/ca.crt",
		"--cluster-signing-cert-file", "/srv/k8s/pki/ca.crt", "--cluster-signing-key-file", "/srv/k8s/pki/ca.key",
		"--requestheader-client-ca-file", "/srv/k8s/pki/front-proxy-ca.crt")
	sep.Components[ComponentAPIServer] = cl("kube-apiserver", "--client-ca-file=/srv/k8s/pki/ca.crt",
		"--kubelet-certificate-authority=/srv/k8s/pki/kubelet-ca.crt",
		"--tls-cert-file=/srv/k8s/pki/apiserver.crt", "--tls-private-key-file=/srv/k8s/pki/apiserver.key",
		"--proxy-client-cert-file=/srv/k8s/pki/front-proxy-client.crt", "--proxy-client-key-file=/srv/k8s/pki/front-proxy-client.key",
		"--requestheader-client-ca-file=/srv/k8s/pki/front-proxy-ca.crt")
	sep.Components[ComponentScheduler] = cl("kube-scheduler", "--kubeconfig=/srv/k8s/scheduler.kubeconfig", "--client-ca-file=/srv/k8s/pki/ca.crt")
	sep.Components[ComponentCloudController] = cl("cloud-controller-manager", "--root-ca-file=/srv/k8s/pki/sa-root-ca.crt", "--kubeconfig=/srv/k8s/ccm.kubeconfig")
	separate := ClusterDescription{
		RotationID: "20260102-123456", Source: SourceMirrorPods, ControlPlane: []ControlPlaneHost{sep},
		Nodes:          []KubeletNode{{Name: "master-0", ControlPlane: true, ClientCAFile: "/srv/k8s/pki/kubelet-client-ca.crt", RotateCertificates: boolp(true)}},
		AggregatedAPIs: []ServiceRef{{Name: "v1beta1.metrics.k8s.io", Namespace: "kube-system", Service: "metrics-server"}},
		Webhooks:       []ServiceRef{{Name: "MutatingWebhookConfiguration ext/inject", URL: "https://hooks.example.com/inject"}},
		FrontProxy:     true, Files: files, Contents: testContents(true),
	}

	// Managed or hand-rolled: nothing visible, kubeadm's defaults.
	defaults := ClusterDescription{
		RotationID: "ca-0011aabb", Source: SourceDefaults,
		ControlPlane: []ControlPlaneHost{{Node: "*", Components: map[string]CommandLine{
			ComponentAPIServer: KubeadmDefaults(ComponentAPIServer), ComponentControllerManager: KubeadmDefaults(ComponentControllerManager),
			ComponentScheduler: KubeadmDefaults(ComponentScheduler)}}},
		Nodes:                   []KubeletNode{{Name: "node-1"}},
		CloudControllerManagers: []string{"Deployment kube-system/aws-cloud-controller-manager"},
		UserKubeconfig:          UserKubeconfig{File: "/home/admin/.kube/config", Cluster: "prod"},
		Files:                   files, Contents: testContents(false),
	}
	return map[string]ClusterDescription{"kubeadm": kubeadm, "separate-files": separate, "defaults": defaults}
}

func TestRenderGolden(t *testing.T) {
	for name, d := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			steps := Render(d)
			notes := []string{"Golden note: paths for " + name + "."}
			text := RenderText(d, steps, notes)
			js, err := json.MarshalIndent(InstructionsDoc{Rotation: d.RotationID, Source: d.Source, Notes: notes, Contents: d.Contents, Steps: steps}, "", "    ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata", "instructions", name+".txt"), []byte(text))
			golden(t, filepath.Join("testdata", "instructions", name+".json"), append(js, '\n'))
		})
	}
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *updateGolden {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/checks -run TestRenderGolden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the rendering (go test ./pkg/checks -run TestRenderGolden -update rewrites it):\n%s", path, firstDiff(string(want), string(got)))
	}
}

func firstDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return "line " + strconv.Itoa(i+1) + ":\n- " + a + "\n+ " + b
		}
	}
	return "(no line differs)"
}

// TestRenderInvariants checks what every rendering must hold, whatever the
// cluster: backups before edits, known steps and actions, no key material,
// no unfilled values.
func TestRenderInvariants(t *testing.T) {
	actions := map[string]bool{ActionBackup: true, ActionWriteFile: true, ActionCopyFile: true, ActionIssueCert: true, ActionSetFlag: true,
		ActionSetKubeconfigCA: true, ActionReissueKubeconfig: true, ActionSetKubeletConfig: true,
		ActionRequestCert: true, ActionApproveCSR: true, ActionInstallCert: true,
		ActionRemoveFile: true, ActionRestart: true, ActionInCluster: true, ActionSkip: true}
	for name, d := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			steps := Render(d)
			backedUp := map[string][]string{} // node -> paths backed up so far
			covered := func(node, p string) bool {
				for _, b := range backedUp[node] {
					if p == b || strings.HasPrefix(p, strings.TrimSuffix(b, "/")+"/") {
						return true
					}
				}
				return false
			}
			order := map[string]int{}
			for i, s := range UpstreamSteps {
				order[s.Step] = i
			}
			last := -1
			for i, s := range steps {
				u, ok := LookupStep(s.Step)
				if !ok {
					t.Fatalf("step %d has unknown step number %q", i, s.Step)
				}
				if s.Phase != u.Phase {
					t.Errorf("step %d (%s) has phase %q, want %q", i, s.Step, s.Phase, u.Phase)
				}
				if order[s.Step] < last {
					t.Errorf("step %d (%s) comes after a later upstream step", i, s.Step)
				}
				last = order[s.Step]
				if !actions[s.Action] {
					t.Errorf("step %d: unknown action %q", i, s.Action)
				}
				if s.Action != ActionSkip && (s.Command == "" || s.Check == "") {
					t.Errorf("step %d (%s %s): empty command or check", i, s.Step, s.Action)
				}
				if s.Action == ActionSkip && s.Note == "" {
					t.Errorf("step %d (%s): a skip must say why", i, s.Step)
				}
				for _, bad := range []string{"PRIVATE KEY", "<", "TODO", "PLACEHOLDER"} {
					if bad == "<" && s.Action == ActionWriteFile {
						continue // heredocs use <<'EOF'
					}
					if strings.Contains(s.Command, bad) && !strings.Contains(s.Command, "<(printf") && !strings.Contains(s.Command, "<<'EOF'") {
						t.Errorf("step %d (%s %s): command contains %q: %s", i, s.Step, s.Action, bad, s.Command)
					}
				}
				if s.Action == ActionSetFlag && (!strings.HasPrefix(s.Flag, "--") || s.Manifest == "" || s.File == "" || s.Component == "") {
					t.Errorf("step %d: set-flag lacks flag, manifest, file or component: %+v", i, s)
				}
				if s.Action == ActionRestart && s.Restart == "" {
					t.Errorf("step %d: restart names no component", i)
				}
				var edits []string
				switch s.Action {
				case ActionBackup:
					backedUp[s.Node] = append(backedUp[s.Node], s.File)
				case ActionSetFlag:
					edits = []string{s.Manifest}
				case ActionSetKubeconfigCA, ActionReissueKubeconfig:
					if s.Node != "" {
						edits = []string{s.Kubeconfig}
					}
				case ActionInstallCert:
					edits = []string{s.Kubeconfig, s.File}
				case ActionSetKubeletConfig:
					edits = []string{s.Config}
				case ActionCopyFile:
					if !strings.HasPrefix(s.File, KubeletPKIDir) {
						edits = []string{s.File}
					}
				case ActionWriteFile:
					if OriginalPath(s.File) == s.File {
						edits = []string{s.File}
					}
				case ActionRemoveFile:
					// Only a copy step 1 wrote (no backup needed: its
					// content is in the document).
					if j := stepIndex(steps[:i], func(w Step) bool {
						return w.Step == "1" && w.Node == s.Node && w.Action == ActionWriteFile && w.File == s.File
					}); j < 0 {
						t.Errorf("step %s removes %s, which step 1 did not write", s.Step, s.File)
					}
				}
				for _, e := range edits {
					if !covered(s.Node, e) {
						t.Errorf("step %d (%s %s on %s) changes %s, which no earlier step backed up", i, s.Step, s.Action, s.Node, e)
					}
				}
			}
			for k, v := range d.Contents {
				if ContainsPrivateKey([]byte(v)) {
					t.Errorf("contents %s holds a key", k)
				}
			}
		})
	}
}

func TestSharedFileCaveat(t *testing.T) {
	d := goldenCases()["kubeadm"]
	steps := Render(d)
	flags := map[string]string{}
	var caveat string
	for _, s := range FilterSteps(steps, "2", "", "") {
		if s.Action == ActionSetFlag {
			flags[s.Flag] = s.File
			if strings.Contains(s.Note, "caveat") {
				caveat = s.Note
			}
		}
	}
	want := map[string]string{
		"--root-ca-file":              "/etc/kubernetes/pki/ca-bundle.crt",
		"--client-ca-file":            "/etc/kubernetes/pki/ca-new.crt",
		"--cluster-signing-cert-file": "/etc/kubernetes/pki/ca-new.crt",
		"--cluster-signing-key-file":  "/etc/kubernetes/pki/ca-new.key",
	}
	for f, v := range want {
		if flags[f] != v {
			t.Errorf("step 2 sets %s=%q, want %q", f, flags[f], v)
		}
	}
	if !strings.Contains(caveat, "/etc/kubernetes/pki/ca.crt") || !strings.Contains(caveat, "--cluster-signing-cert-file") || !strings.Contains(caveat, "12.1") {
		t.Errorf("step 2 does not explain the shared-file caveat: %q", caveat)
	}
	back := map[string]string{}
	for _, s := range FilterSteps(steps, "12.1", "", "cp-1") {
		if s.Action == ActionSetFlag {
			back[s.Flag] = s.File
		}
	}
	for f, v := range map[string]string{"--root-ca-file": "/etc/kubernetes/pki/ca.crt", "--client-ca-file": "/etc/kubernetes/pki/ca.crt",
		"--cluster-signing-cert-file": "/etc/kubernetes/pki/ca.crt", "--cluster-signing-key-file": "/etc/kubernetes/pki/ca.key"} {
		if back[f] != v {
			t.Errorf("step 12.1 points %s at %q, want back at %q", f, back[f], v)
		}
	}

	// With its own root CA file, the controller-manager's client CA file is
	// left alone and no caveat is printed.
	for _, s := range FilterSteps(Render(goldenCases()["separate-files"]), "2", "", "") {
		if s.Flag == "--client-ca-file" {
			t.Errorf("separate files: step 2 moves --client-ca-file: %+v", s)
		}
		if strings.Contains(s.Note, "caveat") {
			t.Errorf("separate files: step 2 prints the caveat: %s", s.Note)
		}
	}
}

func TestFilterSteps(t *testing.T) {
	all := Render(goldenCases()["kubeadm"])
	for _, phase := range []string{PhaseBundle, PhaseServe, PhaseFinish} {
		got := FilterSteps(all, "", phase, "")
		if len(got) == 0 {
			t.Errorf("phase %s: no steps", phase)
		}
		for _, s := range got {
			if s.Phase != phase {
				t.Errorf("phase %s: got step %s of phase %s", phase, s.Step, s.Phase)
			}
		}
	}
	for _, s := range FilterSteps(all, "", "", "worker-a") {
		if s.Node != "worker-a" && s.Node != "" {
			t.Errorf("node filter kept a step of %s", s.Node)
		}
	}
	if n := len(FilterSteps(all, "9.3", "", "worker-a")); n != 0 {
		t.Errorf("worker-a has no step 9.3, got %d", n)
	}
}
