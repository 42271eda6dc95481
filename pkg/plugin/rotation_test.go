package plugin

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

func rotationTestCA(t *testing.T, cn string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	cert, _, certPEM, keyPEM, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

func rotationTestRecord(t *testing.T) *rotationRecord {
	t.Helper()
	oldCert, oldPEM, _ := rotationTestCA(t, "old")
	newCert, newPEM, _ := rotationTestCA(t, "new")
	return &rotationRecord{ID: "20260101-abcdef", State: rotationActive, StartedBy: "alice", StartedAt: time.Unix(1767225600, 0).UTC(),
		OldCASource: "--old-ca old.crt", OldCAPEM: oldPEM, NewCAPEM: newPEM,
		OldCAs: []*x509.Certificate{oldCert}, NewCAs: []*x509.Certificate{newCert}}
}

func TestStartRefuseKeys(t *testing.T) {
	dir := t.TempDir()
	_, certPEM, keyPEM := rotationTestCA(t, "x")
	cert := filepath.Join(dir, "ca.crt")
	both := filepath.Join(dir, "both.pem")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(both, append(append([]byte{}, certPEM...), keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := startRefuseKeys(map[string]string{"--new-ca": cert}); err != nil {
		t.Errorf("a certificate alone: %v", err)
	}
	err := startRefuseKeys(map[string]string{"--new-ca": cert, "--old-ca": both})
	if err == nil || !strings.Contains(err.Error(), "--old-ca "+both+" contains a private key") || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("a key in --old-ca: %v", err)
	}
}

func TestStatusPickNext(t *testing.T) {
	active := &rotationRecord{State: rotationActive}
	r := &statusReport{Steps: []statusRow{
		{Step: "1", State: statusUnknown},
		{Step: "2", State: statusNotDone, Next: "kubectl carotate instructions --step 2"},
		{Step: "3", State: statusNotDone, Next: "kubectl carotate bundle"},
	}}
	statusPickNext(r, active)
	if r.NextStep != "2" || r.Next != "kubectl carotate instructions --step 2" || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "step(s) 1") {
		t.Errorf("next %q %q notes %q", r.NextStep, r.Next, r.Notes)
	}
	r = &statusReport{Steps: []statusRow{{Step: "1", State: statusDone}, {Step: "12.3", State: statusUnknown}}}
	statusPickNext(r, active)
	if r.NextStep != "finish" || r.Next != "kubectl carotate finish" || len(r.Notes) != 1 || !strings.Contains(r.Notes[0], "12.3") {
		t.Errorf("all done: next %q %q notes %q", r.NextStep, r.Next, r.Notes)
	}
	r = &statusReport{Steps: []statusRow{{Step: "1", State: statusDone}}}
	statusPickNext(r, &rotationRecord{State: rotationFinished})
	if r.Next != "" {
		t.Errorf("a finished rotation has no next step, got %q", r.Next)
	}
}

func TestAbortPlan(t *testing.T) {
	rec := rotationTestRecord(t)
	rec.Passes = []rotationPass{
		{Kind: "bundle", At: time.Unix(1, 0), By: "alice", UndoFile: "/a/bundle.undo.jsonl"},
		{Kind: "restart-workloads", At: time.Unix(2, 0), By: "alice", UndoFile: "/a/restart.undo.jsonl"},
		{Kind: "update-cluster-info", At: time.Unix(3, 0), By: "bob", UndoFile: "/b/ci.undo.jsonl"},
	}
	kcm := func(rootCA string) []instructionsMirrorPod {
		return []instructionsMirrorPod{{Node: "cp-1", Component: "kube-controller-manager", Mirror: true,
			Command: checks.ParseCommandLine([]string{"kube-controller-manager", "--root-ca-file=" + rootCA, "--v=2"}, nil)}}
	}
	publishesBundle := abortPublished{state: checks.BundleHasBoth, writer: controllerManagerFieldManager}

	// The controller-manager publishes the bundle from a transition file:
	// its flag is the first thing to put back, before any undo file.
	plan := abortPlan(rec, kcm("/etc/kubernetes/pki/ca-bundle.crt"), publishesBundle)
	for _, want := range []string{
		"1. kube-controller-manager publishes old+new (the bundle)",
		"kube-controller-manager on cp-1: --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt  ->  --root-ca-file=/etc/kubernetes/pki/ca.crt",
		"/var/backups/carotate-20260101-abcdef/step-*",
		"restart-workloads --value 20260101-abcdef/abort",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if i, j := strings.Index(plan, "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt"), strings.Index(plan, "kubectl carotate undo"); i < 0 || j < 0 || i > j {
		t.Errorf("the controller-manager's flag does not come before the undo files:\n%s", plan)
	}
	if strings.Count(plan, "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt") != 1 {
		t.Errorf("the controller-manager's flag is listed twice:\n%s", plan)
	}
	if i, j := strings.Index(plan, "/b/ci.undo.jsonl"), strings.Index(plan, "/a/bundle.undo.jsonl"); i < 0 || j < 0 || i > j {
		t.Errorf("undo files not listed newest first:\n%s", plan)
	}
	if strings.Contains(plan, "restart.undo.jsonl") {
		t.Errorf("a restart pass's undo file is listed (the abort pass rolls the workloads):\n%s", plan)
	}
	if strings.Contains(plan, "--v=2  ->") {
		t.Error("a flag that names no transition file is listed")
	}

	// The bundle written into the original file in place: no transition
	// path to point back at, so the file's content is what to restore.
	plan = abortPlan(rec, kcm("/etc/kubernetes/pki/ca.crt"), publishesBundle)
	if !strings.Contains(plan, "1. kube-controller-manager publishes") || !strings.Contains(plan, "--root-ca-file=/etc/kubernetes/pki/ca.crt holds old+new (the bundle): put the old CA alone back into it") {
		t.Errorf("in-place bundle: plan does not start with the controller-manager's file:\n%s", plan)
	}

	// The controller-manager still publishes the old CA: nothing of it to revert.
	plan = abortPlan(rec, kcm("/etc/kubernetes/pki/ca.crt"), abortPublished{state: checks.BundleOnlyOld, writer: controllerManagerFieldManager})
	if strings.Contains(plan, "kube-controller-manager publishes") {
		t.Errorf("the plan reverts a controller-manager that publishes the old CA:\n%s", plan)
	}
}
