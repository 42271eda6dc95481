//go:build e2e

// Package status tests start, status, instructions, finish and abort
// against the local control plane with kubeadm-like mirror pods: the
// rotation record, the node steps printed with the harness's real paths, and
// status following a rotation step by step as the test performs it.
package status

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{MirrorPods: true})) }

const recordName = "carotate-state"

// statusDoc is status -o json, as far as the tests read it.
type statusDoc struct {
	Rotation *struct {
		ID        string `json:"id"`
		State     string `json:"state"`
		StartedBy string `json:"startedBy"`
		EndedBy   string `json:"endedBy"`
	} `json:"rotation"`
	Steps []struct {
		Step     string `json:"step"`
		State    string `json:"state"`
		Evidence string `json:"evidence"`
		Next     string `json:"next"`
	} `json:"steps"`
	NextStep string   `json:"nextStep"`
	Next     string   `json:"next"`
	Notes    []string `json:"notes"`
}

func (d statusDoc) next(step string) string {
	for _, s := range d.Steps {
		if s.Step == step {
			return s.Next
		}
	}
	return ""
}

func (d statusDoc) state(step string) (state, evidence string) {
	for _, s := range d.Steps {
		if s.Step == step {
			return s.State, s.Evidence
		}
	}
	return "", ""
}

func status(t *testing.T, cmd Cmd, args ...string) statusDoc {
	t.Helper()
	r := cmd.Run(t, "kubectl-carotate", append([]string{"status", "-o", "json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("status: exit %d: %s", r.Code, r.Stderr)
	}
	var d statusDoc
	Must(t, json.Unmarshal([]byte(r.Stdout), &d))
	return d
}

// wantStates fails unless each step shows the wanted state.
func wantStates(t *testing.T, d statusDoc, want map[string]string) {
	t.Helper()
	for step, st := range want {
		if got, ev := d.state(step); got != st {
			t.Errorf("status: step %s is %q (%s), want %q", step, got, ev, st)
		}
	}
}

// waitStates re-runs status until the steps show the wanted states: the
// controllers react to a restart within moments, not instantly.
func waitStates(t *testing.T, cmd Cmd, want map[string]string) statusDoc {
	t.Helper()
	var d statusDoc
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, true, func(context.Context) (bool, error) {
		r := cmd.Run(t, "kubectl-carotate", "status", "-o", "json")
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &d) != nil {
			return false, nil
		}
		for step, st := range want {
			if got, _ := d.state(step); got != st {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		wantStates(t, d, want)
		t.FailNow()
	}
	return d
}

func instructionsDoc(t *testing.T, cmd Cmd, args ...string) checks.InstructionsDoc {
	t.Helper()
	r := cmd.Run(t, "kubectl-carotate", append([]string{"instructions", "-o", "json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("instructions: exit %d: %s", r.Code, r.Stderr)
	}
	var d checks.InstructionsDoc
	Must(t, json.Unmarshal([]byte(r.Stdout), &d))
	return d
}

func recordConfigMap(t *testing.T) (*corev1.ConfigMap, bool) {
	t.Helper()
	cm, err := Client(t).CoreV1().ConfigMaps("kube-system").Get(context.Background(), recordName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false
	}
	Must(t, err)
	return cm, true
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	Must(t, os.WriteFile(path, data, 0o600))
	return path
}

// TestNoRecord: without a record, status says so and points at start;
// instructions needs the CAs and says how to give them.
func TestNoRecord(t *testing.T) {
	if _, ok := recordConfigMap(t); ok {
		t.Fatal("a rotation record exists before any test started one")
	}
	d := status(t, Cmd{})
	if d.Rotation != nil || d.NextStep != "start" || !strings.Contains(d.Next, "kubectl carotate start --new-ca") {
		t.Errorf("status without a record: next %q %q, want start", d.NextStep, d.Next)
	}
	for _, s := range d.Steps {
		if s.State != "unknown" {
			t.Errorf("status without a record: step %s is %q, want unknown", s.Step, s.State)
		}
	}
	r := Carotate(t, "instructions")
	if r.Code == 0 || !strings.Contains(r.Stderr, "no rotation is recorded") || !strings.Contains(r.Stderr, "--old-ca and --new-ca") {
		t.Errorf("instructions without a record: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// TestStartRefusesPrivateKey: a key given to start is refused, named by
// flag and file, never echoed, and nothing is written.
func TestStartRefusesPrivateKey(t *testing.T) {
	dir := t.TempDir()
	newCA, err := localcluster.NewCA("refused-ca", 24*time.Hour)
	Must(t, err)
	certAndKey := writeFile(t, filepath.Join(dir, "new-ca-with-key.pem"), append(append([]byte{}, newCA.CertPEM...), newCA.KeyPEM...))
	keyOnly := writeFile(t, filepath.Join(dir, "old-ca.key"), Cluster.PKI.CA.KeyPEM)
	certOnly := writeFile(t, filepath.Join(dir, "new-ca.crt"), newCA.CertPEM)
	keyLines := strings.Split(strings.TrimSpace(string(newCA.KeyPEM)+string(Cluster.PKI.CA.KeyPEM)), "\n")

	for _, tc := range []struct {
		name string
		args []string
		flag string
	}{
		{"certificate and key in --new-ca", []string{"start", "--new-ca", certAndKey}, "--new-ca " + certAndKey},
		{"a key as --old-ca", []string{"start", "--new-ca", certOnly, "--old-ca", keyOnly}, "--old-ca " + keyOnly},
		{"a key as --new-front-proxy-ca", []string{"start", "--new-ca", certOnly, "--new-front-proxy-ca", keyOnly}, "--new-front-proxy-ca " + keyOnly},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Carotate(t, tc.args...)
			if r.Code == 0 {
				t.Fatal("start accepted a private key")
			}
			if !strings.Contains(r.Stderr, tc.flag+" contains a private key") || !strings.Contains(r.Stderr, "nothing was written") {
				t.Errorf("stderr %q does not name %q and say nothing was written", r.Stderr, tc.flag)
			}
			for _, line := range keyLines {
				if strings.HasPrefix(line, "-----") {
					continue
				}
				if strings.Contains(r.Stdout+r.Stderr, line) {
					t.Fatalf("the output echoes key material")
				}
			}
			if _, ok := recordConfigMap(t); ok {
				t.Fatal("a rotation record was written although start failed")
			}
		})
	}
}

// TestInstructionsHarnessPaths: without a record, with --old-ca/--new-ca,
// instructions prints the harness's real paths as the mirror pods show
// them, including the controller-manager's shared-file caveat.
func TestInstructionsHarnessPaths(t *testing.T) {
	dir := t.TempDir()
	newCA, err := localcluster.NewCA("kubernetes-next", 48*time.Hour)
	Must(t, err)
	oldFile := writeFile(t, filepath.Join(dir, "old-ca.crt"), Cluster.PKI.CA.CertPEM)
	newFile := writeFile(t, filepath.Join(dir, "new-ca.crt"), newCA.CertPEM)
	kcm := Cluster.Component(localcluster.ControllerManager)
	apiserver := Cluster.Component(localcluster.APIServer)
	root := kcm.Get("root-ca-file")
	// The harness, like kubeadm, gives the three flags one file.
	if root != kcm.Get("client-ca-file") || root != kcm.Get("cluster-signing-cert-file") {
		t.Fatalf("the harness no longer shares %s between the controller-manager's CA flags", root)
	}
	pki := filepath.Dir(root)

	r := Carotate(t, "instructions", "--old-ca", oldFile, "--new-ca", newFile)
	if r.Code != 0 {
		t.Fatalf("instructions: exit %d: %s", r.Code, r.Stderr)
	}
	text := r.Stdout
	for _, want := range []string{
		"# Paths are read from the static pods' mirror pods in kube-system on",
		"## Step 2 on " + localcluster.ControlPlaneNode,
		"- --root-ca-file=" + filepath.Join(pki, "ca-bundle.crt") + "|",
		"- --client-ca-file=" + filepath.Join(pki, "ca-new.crt") + "|' /etc/kubernetes/manifests/kube-controller-manager.yaml",
		"- --cluster-signing-cert-file=" + filepath.Join(pki, "ca-new.crt") + "|",
		"- --cluster-signing-key-file=" + filepath.Join(pki, "ca-new.key") + "|",
		"#   caveat: --root-ca-file shares " + root + " with",
		"- --client-ca-file=" + filepath.Join(pki, "ca-bundle.crt") + "|' /etc/kubernetes/manifests/kube-apiserver.yaml",
		"mkdir -p /var/backups/carotate-",
		"(cd / && cp -a --parents " + pki + " ",
		kcm.Get("kubeconfig"),
		"--tls-cert-file=" + filepath.Join(pki, "apiserver-new.crt"),
		"openssl x509 -x509toreq -in " + apiserver.Get("tls-cert-file") + " -signkey " + apiserver.Get("tls-private-key-file"),
		"kubectl carotate bundle --old-ca " + oldFile + " --new-ca " + newFile,
		"kubectl carotate update-cluster-info --ca ca-bundle.crt",
		"kubectl carotate status --step 2",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("instructions lack %q", want)
		}
	}
	if strings.Contains(text, "kubeadm's default (/etc/kubernetes/pki") || strings.Contains(text, "No control-plane mirror pods") {
		t.Error("instructions fall back to kubeadm's defaults although the mirror pods are visible")
	}
	// Backups come before the first change of each step and node.
	if i, j := strings.Index(text, "--parents /etc/kubernetes/manifests/kube-controller-manager.yaml"), strings.Index(text, "- --root-ca-file="); i < 0 || j < 0 || i > j {
		t.Error("step 2's backup of the manifest does not come before its first edit")
	}

	d := instructionsDoc(t, Cmd{}, "--old-ca", oldFile, "--new-ca", newFile)
	if d.Source != checks.SourceMirrorPods || len(d.Notes) == 0 ||
		!strings.HasPrefix(d.Notes[0], "Paths are read from the static pods' mirror pods in kube-system on "+localcluster.ControlPlaneNode+".") {
		t.Errorf("source %q, notes %q: want the paths read from %s's mirror pods", d.Source, d.Notes, localcluster.ControlPlaneNode)
	}
	caveat := ""
	for _, s := range d.Steps {
		if s.Step == "2" && s.Flag == "--root-ca-file" {
			caveat = s.Note
		}
	}
	if want := "caveat: --root-ca-file shares " + root + " with --client-ca-file and --cluster-signing-cert-file"; !strings.HasPrefix(caveat, want) ||
		!strings.Contains(caveat, filepath.Join(pki, "ca-new.crt")) || !strings.Contains(caveat, "step 12.1") {
		t.Errorf("step 2's --root-ca-file note %q does not explain the shared-file caveat", caveat)
	}
	if d.Contents[checks.ContentNewCA] != string(newCA.CertPEM) || !strings.HasPrefix(d.Contents[checks.ContentBundle], string(newCA.CertPEM)) {
		t.Error("contents do not carry the new CA and the bundle (new first)")
	}
	for k, v := range d.Contents {
		if checks.ContainsPrivateKey([]byte(v)) {
			t.Errorf("contents %s hold a private key", k)
		}
	}
	nodes := map[string]bool{"": true}
	nodeList, err := Client(t).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	Must(t, err)
	for _, n := range nodeList.Items {
		nodes[n.Name] = true
	}
	kubeletNodes := map[string]bool{}
	for i, s := range d.Steps {
		if !nodes[s.Node] {
			t.Errorf("step %d names node %q, which does not exist", i, s.Node)
		}
		if s.Action == checks.ActionRestart && s.Restart == checks.ComponentKubelet {
			kubeletNodes[s.Node] = true
		}
		// Every path the cluster shows is real: the backed-up files exist.
		if s.Action == checks.ActionBackup && len(s.Defaults) == 0 {
			if _, err := os.Stat(s.File); err != nil {
				t.Errorf("step %s backs up %s, which does not exist: %v", s.Step, s.File, err)
			}
		}
		if s.Action == checks.ActionSetFlag && s.Component == checks.ComponentControllerManager && s.Step == "2" && filepath.Dir(s.File) != pki {
			t.Errorf("step 2 points %s at %s, outside the harness's PKI directory %s", s.Flag, s.File, pki)
		}
	}
	if len(kubeletNodes) != len(nodeList.Items) {
		t.Errorf("kubelet restarts for %d nodes, want one per node (%d)", len(kubeletNodes), len(nodeList.Items))
	}
	for _, phase := range []string{checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish} {
		for _, s := range instructionsDoc(t, Cmd{}, "--old-ca", oldFile, "--new-ca", newFile, "--phase", phase).Steps {
			if s.Phase != phase {
				t.Errorf("--phase %s printed step %s of phase %s", phase, s.Step, s.Phase)
			}
		}
	}
	if r := Carotate(t, "instructions", "--old-ca", oldFile, "--new-ca", newFile, "--step", "13"); r.Code == 0 || !strings.Contains(r.Stderr, "unknown --step") {
		t.Errorf("--step 13: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

// walk is one rotation performed by the test, as an operator would.
type walk struct {
	t          *testing.T
	dir        string
	newCA      *localcluster.CertKey
	oldFile    string
	newFile    string
	bundleFile string
	bundle     []byte
	id         string
	op         *drill.Operator
}

// apply follows the node steps of instructions -o json for one step, as
// the operator (test/drill): it writes the files they name into the
// harness's PKI directory, sets the flags and restarts the components they
// name, and fails on a plan that rewrites a file a component reads.
func (w *walk) apply(step string) {
	w.t.Helper()
	if w.op == nil {
		w.op = &drill.Operator{Cluster: Cluster, BinDir: BinDir, Dir: w.dir, NewCA: w.newCA, Narrator: drill.LogfNarrator(w.t.Logf)}
	}
	_, err := w.op.Apply(context.Background(), step)
	Must(w.t, err)
}

// afterRootCAChange waits until the wall clock has left the second in which
// any kube-root-ca.crt last changed (see drill.AfterRootCAChange).
func afterRootCAChange(t *testing.T) {
	t.Helper()
	Must(t, drill.AfterRootCAChange(context.Background(), Client(t)))
}

// TestRotationWalkthrough performs a rotation step by step, following the
// printed instructions on the harness's files, and checks after each step
// that status reports it done, and not before. It also covers the record:
// a re-run of start, a second admin resuming with no flags, finish refusing
// while steps are not done.
func TestRotationWalkthrough(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	newCA, err := localcluster.NewCA("kubernetes-new", 7*24*time.Hour)
	Must(t, err)
	w := &walk{t: t, dir: dir, newCA: newCA}
	w.oldFile = writeFile(t, filepath.Join(dir, "old-ca.crt"), Cluster.PKI.CA.CertPEM)
	w.newFile = writeFile(t, filepath.Join(dir, "new-ca.crt"), newCA.CertPEM)
	w.bundle = checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{Cluster.PKI.CA.Cert})
	w.bundleFile = filepath.Join(dir, "ca-bundle.crt")

	// A workload running before the rotation: it holds the old CA.
	ns := CreateNamespace(t, client, "status-app")
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app"}},
			Template: PodTemplate(map[string]string{"app": "app"})},
	}
	WaitDefaultServiceAccount(t, client, ns)
	Must(t, Create(client.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{})))
	WaitRolledOut(t, client, ns)

	// start: the old CA is what the API server serves.
	r := Carotate(t, "start", "--new-ca", w.newFile, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("start: exit %d: %s", r.Code, r.Stderr)
	}
	var started struct {
		ID          string `json:"id"`
		StartedBy   string `json:"startedBy"`
		OldCASource string `json:"oldCASource"`
		OldCA       []checks.CertInfo
		NewCA       []checks.CertInfo
	}
	Must(t, json.Unmarshal([]byte(r.Stdout), &started))
	w.id = started.ID
	if started.StartedBy != "kubernetes-admin" || !strings.Contains(started.OldCASource, "serving chain") ||
		len(started.OldCA) != 1 || started.OldCA[0].Fingerprint != checks.Fingerprint(Cluster.PKI.CA.Cert) ||
		len(started.NewCA) != 1 || started.NewCA[0].Fingerprint != checks.Fingerprint(newCA.Cert) {
		t.Fatalf("start recorded %+v", started)
	}
	cm, ok := recordConfigMap(t)
	if !ok {
		t.Fatal("start wrote no record")
	}
	for k, v := range cm.Data {
		if checks.ContainsPrivateKey([]byte(v)) {
			t.Fatalf("record key %s holds a private key", k)
		}
	}
	if cm.Data["new-ca.crt"] != string(newCA.CertPEM) || cm.Data["old-ca.crt"] != string(Cluster.PKI.CA.CertPEM) || cm.Data["ca-bundle.crt"] != string(w.bundle) {
		t.Error("the record's certificates are not the old CA, the new CA and their bundle")
	}

	// The record survives a re-run: same CAs, nothing written.
	r = Carotate(t, "start", "--new-ca", w.newFile)
	if r.Code != 0 || !strings.Contains(r.Stderr, "already recorded") {
		t.Errorf("second start: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if again, _ := recordConfigMap(t); again.ResourceVersion != cm.ResourceVersion {
		t.Error("a second start with the same CAs rewrote the record")
	}
	other, err := localcluster.NewCA("another-ca", 24*time.Hour)
	Must(t, err)
	r = Carotate(t, "start", "--new-ca", writeFile(t, filepath.Join(dir, "other.crt"), other.CertPEM))
	if r.Code == 0 || !strings.Contains(r.Stderr, "is active") {
		t.Errorf("start of another rotation while one is active: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// A second admin resumes with no flags.
	second, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "second-admin", Organizations: []string{"system:masters"}, Client: true})
	Must(t, err)
	secondKC := filepath.Join(dir, "second-admin.conf")
	Must(t, localcluster.WriteKubeconfig(secondKC, Cluster.Server, Cluster.PKI.CA.CertPEM, second))
	admin2 := Cmd{Kubeconfig: secondKC}
	d := status(t, admin2)
	if d.Rotation == nil || d.Rotation.ID != w.id || d.Rotation.StartedBy != "kubernetes-admin" {
		t.Fatalf("the second admin's status does not show rotation %s started by kubernetes-admin: %+v", w.id, d.Rotation)
	}
	wantStates(t, d, map[string]string{"1": "unknown", "2": "not done", "3": "not done", "4": "not done", "5": "not done",
		"6": "not applicable", "8": "not applicable", "9.1": "not applicable", "9.3": "not done", "10": "not done", "12.1": "not done"})
	if d.NextStep != "2" || d.Next != "kubectl carotate instructions --step 2" {
		t.Errorf("next: step %q %q, want step 2's instructions", d.NextStep, d.Next)
	}
	if r := admin2.Run(t, "kubectl-carotate", "instructions", "--step", "2"); r.Code != 0 || !strings.Contains(r.Stdout, "rotation "+w.id) {
		t.Errorf("the second admin's instructions: exit %d, %s", r.Code, r.Stderr)
	}
	// One node's steps: its kubelet, and the in-cluster commands.
	for _, s := range instructionsDoc(t, admin2, "--node", "kwok-node-1", "--phase", "serve").Steps {
		if s.Node != "kwok-node-1" && s.Node != "" {
			t.Errorf("--node kwok-node-1 printed a step of %q", s.Node)
		}
	}
	if r := admin2.Run(t, "kubectl-carotate", "instructions", "--node", "no-such-node"); r.Code == 0 || !strings.Contains(r.Stderr, "no step for node") {
		t.Errorf("--node no-such-node: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// A bundle pass run too early (forced: it is refused otherwise) rolls
	// the pods onto the old CA alone and leaves its value on every
	// template. status must not send the admin back to that value later.
	r = Carotate(t, "restart-workloads", "--force", "--wait")
	if r.Code != 0 || !strings.Contains(r.Stderr, "--force: running the bundle pass") {
		t.Fatalf("an early bundle pass with --force: exit %d: %s", r.Code, r.Stderr)
	}

	// Steps 1 and 2 on the node: the bundle as --root-ca-file, the
	// signing and client CA flags on the separate new-CA copy.
	w.apply("1")
	w.apply("2")
	kcm := Cluster.Component(localcluster.ControllerManager)
	pki := Cluster.PKI.Dir
	if kcm.Get("root-ca-file") != filepath.Join(pki, "ca-bundle.crt") || kcm.Get("cluster-signing-cert-file") != filepath.Join(pki, "ca-new.crt") ||
		kcm.Get("client-ca-file") != filepath.Join(pki, "ca-new.crt") || kcm.Get("cluster-signing-key-file") != filepath.Join(pki, "ca-new.key") {
		t.Fatalf("after step 2 the controller-manager runs with %v", kcm.Flags)
	}
	d = waitStates(t, Cmd{}, map[string]string{"1": "done", "2": "done", "3": "done"})
	wantStates(t, d, map[string]string{"4": "not done", "9.3": "not done", "12.1": "not done"})
	if _, ev := d.state("4"); !strings.Contains(ev, ns+"/app-") {
		t.Errorf("step 4 does not name the pod that started before the bundle: %s", ev)
	}
	if _, ev := d.state("3"); !strings.Contains(ev, "namespaces hold the bundle") {
		t.Errorf("step 3 evidence: %s", ev)
	}
	// The early pass ran before the bundle was published: step 4 asks for
	// a value it has not used, or the pass would patch nothing.
	if next := d.next("4"); next != "kubectl carotate restart-workloads --value "+checks.RestartValue(w.id, "bundle")+"-2 --wait" {
		t.Errorf("step 4 after an early bundle pass recommends %q, want a fresh value", next)
	}

	// abort, now, must start with the controller-manager: it publishes the
	// bundle and would put it back over anything an undo file restores.
	r = Carotate(t, "abort", "--dry-run=client")
	kcmLine := "kube-controller-manager on " + localcluster.ControlPlaneNode + ": --root-ca-file=" + filepath.Join(pki, "ca-bundle.crt") +
		"  ->  --root-ca-file=" + filepath.Join(pki, "ca.crt")
	if r.Code != 0 || !strings.Contains(r.Stderr, "\n1. kube-controller-manager publishes old+new (the bundle)") || !strings.Contains(r.Stderr, kcmLine) {
		t.Errorf("abort --dry-run=client while the controller-manager publishes the bundle: exit %d, plan:\n%s", r.Code, r.Stderr)
	}
	if d := status(t, Cmd{}); d.Rotation == nil || d.Rotation.State != "active" {
		t.Fatal("abort --dry-run=client changed the record")
	}

	// Step 3: bundle finds the controller-manager's work done.
	if r := Carotate(t, "bundle", "--old-ca", w.oldFile, "--new-ca", w.newFile, "--out", w.bundleFile, "--settle", "2s"); r.Code != 0 {
		t.Fatalf("bundle: exit %d: %s", r.Code, r.Stderr)
	}
	// Step 4: roll the workloads with the command status prints, as
	// printed; then no pod predates the bundle.
	afterRootCAChange(t)
	next4 := status(t, Cmd{}).next("4")
	args := strings.Fields(strings.TrimPrefix(next4, "kubectl carotate "))
	if r := Carotate(t, args...); r.Code != 0 || strings.Contains(r.Stdout, " 0 patched") {
		t.Fatalf("status's next command for step 4 (%s): exit %d: %s\n%s", next4, r.Code, r.Stderr, r.Stdout)
	}
	d = waitStates(t, Cmd{}, map[string]string{"4": "done"})
	wantStates(t, d, map[string]string{"5": "not done"})

	// Step 5: the API server's client CA becomes the bundle.
	w.apply("5")
	d = status(t, Cmd{})
	wantStates(t, d, map[string]string{"5": "done", "7": "not done", "9.3": "not done"})
	// 12.1 starts on the node: unbundle would be reverted before that.
	if got := d.next("12.1"); got != "kubectl carotate instructions --step 12.1" {
		t.Errorf("step 12.1's next while the controller-manager publishes the bundle: %q", got)
	}

	// The table a human reads, mid-rotation.
	r = Carotate(t, "status")
	for _, want := range []string{"Rotation " + w.id + " (active), started ", " by kubernetes-admin", "STEP        STATE", "\n5           done ",
		"\n9.3         not done ", "\n11-copies   unknown          kubectl carotate verify --only copies ", "kube-apiserver's --client-ca-file holds old+new (the bundle)", "Next (step 7): kubectl carotate instructions --step 7"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("status table lacks %q", want)
		}
	}
	// A user with the view role only: status needs no write and no Secret.
	viewer := viewOnlyUser(t, dir)
	d = status(t, viewer)
	if d.Rotation == nil || d.Rotation.ID != w.id {
		t.Errorf("the view-only user does not see rotation %s", w.id)
	}
	wantStates(t, d, map[string]string{"3": "done", "5": "done", "9.3": "not done"})
	if _, ev := d.state("3"); !strings.Contains(ev, "legacy token Secrets: not readable (forbidden)") {
		t.Errorf("step 3 for a user who may not read Secrets: %s", ev)
	}

	// Step 7: component kubeconfigs (bundle, client certificates from the
	// new CA), and the operator's own kubeconfig.
	w.apply("7")
	adminNew, err := newCA.Issue(localcluster.CertSpec{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true})
	Must(t, err)
	_, err = Cluster.UseAdminKubeconfig(w.bundle, adminNew)
	Must(t, err)
	// Step 9.2 for the KWOK "kubelets": a kubeconfig that trusts the bundle.
	kwokConf := filepath.Join(dir, "kwok-bundle.conf")
	kwokCert, err := newCA.Issue(localcluster.CertSpec{CommonName: "kwok", Organizations: []string{"system:masters"}, Client: true})
	Must(t, err)
	Must(t, localcluster.WriteKubeconfig(kwokConf, Cluster.Server, w.bundle, kwokCert))
	Must(t, Cluster.Restart(ctx, localcluster.KWOK, map[string]string{"kubeconfig": kwokConf}))
	d = status(t, Cmd{})
	wantStates(t, d, map[string]string{"7": "done", "9.3": "not done"})
	if _, ev := d.state("7"); !strings.Contains(ev, "client certificate is issued by the new CA") {
		t.Errorf("step 7 evidence: %s", ev)
	}

	// Step 9.3: serving certificates from the new CA.
	w.apply("9.3")
	d = status(t, Cmd{})
	wantStates(t, d, map[string]string{"9.3": "done", "10": "not done"})
	if _, ev := d.state("9.3"); !strings.Contains(ev, "verifies against the new CA") {
		t.Errorf("step 9.3 evidence: %s", ev)
	}

	// Step 10: cluster-info carries the bundle, signed again.
	if r := Carotate(t, "update-cluster-info", "--ca", w.bundleFile); r.Code != 0 {
		t.Fatalf("update-cluster-info: exit %d: %s", r.Code, r.Stderr)
	}
	d = waitStates(t, Cmd{}, map[string]string{"10": "done"})
	if _, ev := d.state("10"); !strings.Contains(ev, "signed for 2/2 tokens") || !strings.Contains(ev, "old+new") {
		t.Errorf("step 10 evidence: %s", ev)
	}
	wantStates(t, d, map[string]string{"12.1": "not done"})

	// Step 12.1: the controller-manager on the new CA alone, written into
	// the original ca.crt (nothing reads it any more), then unbundle and a
	// last restart pass.
	w.apply("12.1")
	if kcm.Get("root-ca-file") != Cluster.PKI.Path("ca.crt") || kcm.Get("cluster-signing-cert-file") != Cluster.PKI.Path("ca.crt") {
		t.Fatalf("after step 12.1 the controller-manager runs with %v", kcm.Flags)
	}
	// The client made at the start trusts the old CA alone: the API server
	// serves from the new one now.
	WaitRootCA(t, Client(t), newCA.CertPEM)
	d = status(t, Cmd{})
	if st, _ := d.state("12.1"); st != "not done" || d.next("12.1") != "kubectl carotate restart-workloads --value "+checks.RestartValue(w.id, "finish")+" --wait" {
		t.Errorf("step 12.1 before the workloads restarted: %q, next %q", st, d.next("12.1"))
	}
	if r := Carotate(t, "unbundle", "--keep", w.newFile, "--settle", "2s"); r.Code != 0 {
		t.Fatalf("unbundle: exit %d: %s", r.Code, r.Stderr)
	}
	afterRootCAChange(t)
	// A re-run before the pods restart refuses for none of them: they
	// started after the bundle pass (step 4) and hold the new CA, although
	// every one started before the controller-manager and the first run
	// wrote the new CA alone.
	if r := Carotate(t, "unbundle", "--keep", w.newFile, "--settle", "0s"); r.Code != 0 || strings.Contains(r.Stderr, "refusing") {
		t.Fatalf("unbundle again, before the finish pass: exit %d: %s", r.Code, r.Stderr)
	}
	if r := Carotate(t, "restart-workloads", "--value", checks.RestartValue(w.id, "finish"), "--wait"); r.Code != 0 {
		t.Fatalf("restart-workloads: exit %d: %s", r.Code, r.Stderr)
	}
	d = waitStates(t, Cmd{}, map[string]string{"12.1": "done", "3": "done", "4": "done", "9.4": "done", "2": "done"})
	wantStates(t, d, map[string]string{"12.2": "not done"})
	if _, ev := d.state("12.2"); !strings.Contains(ev, "client-ca-file holds old+new") {
		t.Errorf("step 12.2 evidence: %s", ev)
	}

	// finish refuses while steps are not done, and writes nothing.
	before, _ := recordConfigMap(t)
	r = Carotate(t, "finish")
	if r.Code == 0 || !strings.Contains(r.Stderr, "step 12.2") || !strings.Contains(r.Stderr, "nothing was written") {
		t.Errorf("finish with step 12.2 not done: exit %d, stderr %q", r.Code, r.Stderr)
	}
	if after, _ := recordConfigMap(t); after.ResourceVersion != before.ResourceVersion {
		t.Error("a refused finish wrote the record")
	}
	// The second admin (its old-CA certificate still accepted: the client
	// CA is the bundle) finishes with --force, no other flag.
	Must(t, localcluster.WriteKubeconfig(secondKC, Cluster.Server, w.bundle, second))
	r = admin2.Run(t, "kubectl-carotate", "finish", "--force", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("finish --force: exit %d: %s", r.Code, r.Stderr)
	}
	d = status(t, admin2)
	if d.Rotation == nil || d.Rotation.State != "finished" || d.Rotation.EndedBy != "second-admin" {
		t.Errorf("after finish the record shows %+v, want finished by second-admin", d.Rotation)
	}
	if r := Carotate(t, "abort"); r.Code == 0 || !strings.Contains(r.Stderr, "already finished") {
		t.Errorf("abort of a finished rotation: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// A new rotation may replace a finished record; abort marks it
	// abandoned and says what to put back: the API server's flags still
	// name transition files (step 12.2 was not done).
	r = Carotate(t, "start", "--new-ca", writeFile(t, filepath.Join(dir, "third.crt"), other.CertPEM))
	if r.Code != 0 || !strings.Contains(r.Stderr, "replacing the record of rotation "+w.id) {
		t.Fatalf("start after finish: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = Carotate(t, "abort", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("abort: exit %d: %s", r.Code, r.Stderr)
	}
	for _, want := range []string{"marked aborted", "Point these control-plane flags back at the original files",
		"kube-apiserver on " + localcluster.ControlPlaneNode + ": --client-ca-file=" + filepath.Join(pki, "ca-bundle.crt") + "  ->  --client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--tls-cert-file=" + filepath.Join(pki, "apiserver-new.crt") + "  ->  --tls-cert-file=" + filepath.Join(pki, "apiserver.crt")} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("abort's plan lacks %q", want)
		}
	}
	var aborted struct {
		ID, State, EndedBy string
	}
	Must(t, json.Unmarshal([]byte(r.Stdout), &aborted))
	if aborted.State != "aborted" || aborted.ID == w.id || aborted.EndedBy != "kubernetes-admin" {
		t.Errorf("abort recorded %+v", aborted)
	}
}

// viewOnlyUser is a kubeconfig for a user bound to the view ClusterRole:
// it may read ConfigMaps and pods but not Secrets or nodes.
func viewOnlyUser(t *testing.T, dir string) Cmd {
	t.Helper()
	ck, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "readonly", Client: true})
	Must(t, err)
	path := filepath.Join(dir, "readonly.conf")
	caPEM, err := os.ReadFile(Cluster.Kubeconfig)
	Must(t, err)
	cfg, err := clientcmd.Load(caPEM)
	Must(t, err)
	var trust []byte
	for _, c := range cfg.Clusters {
		trust = c.CertificateAuthorityData
	}
	Must(t, localcluster.WriteKubeconfig(path, Cluster.Server, trust, ck))
	BindClusterRole(t, Client(t), "readonly", "view", "list", "", "configmaps")
	return Cmd{Kubeconfig: path}
}
