package plugin

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

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
		oldCAs: []*x509.Certificate{oldCert}, newCAs: []*x509.Certificate{newCert}}
}

func TestRotationRecordRoundTrip(t *testing.T) {
	rec := rotationTestRecord(t)
	rec.Passes = []rotationPass{{Kind: "bundle", At: time.Unix(1767225700, 0).UTC(), By: "alice", Result: "ok", UndoFile: "/home/alice/.kube/carotate/x/bundle.undo.jsonl"}}
	cm, err := rec.configMap()
	if err != nil {
		t.Fatal(err)
	}
	if cm.Namespace != "kube-system" || cm.Name != "carotate-state" {
		t.Errorf("record written to %s/%s", cm.Namespace, cm.Name)
	}
	if cm.Data[rotationKeyBundle] != string(checks.BuildBundle(rec.newCAs, rec.oldCAs)) {
		t.Error("the record's bundle is not new then old")
	}
	got, err := rotationFromConfigMap(cm)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != rec.ID || got.State != rotationActive || got.StartedBy != "alice" || !got.StartedAt.Equal(rec.StartedAt) ||
		len(got.Passes) != 1 || got.Passes[0].UndoFile != rec.Passes[0].UndoFile ||
		!checks.SameCertificates(got.oldCAs, rec.oldCAs) || !checks.SameCertificates(got.newCAs, rec.newCAs) {
		t.Errorf("round trip: got %+v", got)
	}
	if got.frontProxy() {
		t.Error("a record without front-proxy CAs says it rotates the front-proxy CA")
	}
	if v := got.restartValue("bundle"); v != "20260101-abcdef/bundle" {
		t.Errorf("restart value %q", v)
	}
}

func TestRotationRecordRefusesKeys(t *testing.T) {
	rec := rotationTestRecord(t)
	_, _, keyPEM := rotationTestCA(t, "leaked")
	rec.NewCAPEM = append(append([]byte{}, rec.NewCAPEM...), keyPEM...)
	if _, err := rec.configMap(); err == nil || !strings.Contains(err.Error(), "private-key material") {
		t.Errorf("configMap with a key in the new CA: %v", err)
	}

	// A record someone edited by hand to hold a key is refused on read,
	// naming the key, never echoing it.
	cm, err := rotationTestRecord(t).configMap()
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[rotationKeyOldCA] += string(keyPEM)
	_, err = rotationFromConfigMap(cm)
	if err == nil || !strings.Contains(err.Error(), "private-key material in old-ca.crt") {
		t.Fatalf("reading a record with a key: %v", err)
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
			t.Fatal("the error echoes key material")
		}
	}
}

func TestRotationRecordDamaged(t *testing.T) {
	cm, err := rotationTestRecord(t).configMap()
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*corev1.ConfigMap){
		"bad json":        func(cm *corev1.ConfigMap) { cm.Data[rotationKeyRecord] = "{" },
		"no new CA":       func(cm *corev1.ConfigMap) { delete(cm.Data, rotationKeyNewCA) },
		"garbage old CA":  func(cm *corev1.ConfigMap) { cm.Data[rotationKeyOldCA] = "not a certificate" },
		"no id and state": func(cm *corev1.ConfigMap) { cm.Data[rotationKeyRecord] = "{}" },
	} {
		c := cm.DeepCopy()
		mutate(c)
		if _, err := rotationFromConfigMap(c); err == nil || !strings.Contains(err.Error(), "fix or delete it") && !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAppendPassConflict: two admins log passes at once; the write that
// loses the race re-reads and appends to the winner's record.
func TestAppendPassConflict(t *testing.T) {
	rec := rotationTestRecord(t)
	cm, err := rec.configMap()
	if err != nil {
		t.Fatal(err)
	}
	cm.ResourceVersion = "1"
	client := fake.NewClientset(cm)
	conflicts := 0
	client.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		// Another admin's pass lands first.
		other := rotationTestRecord(t)
		other.Passes = []rotationPass{{Kind: "update-cluster-info", Result: "ok", By: "bob"}}
		ocm, err := other.configMap()
		if err != nil {
			t.Fatal(err)
		}
		ocm.ResourceVersion = "2"
		if err := client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, ocm, "kube-system"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "carotate-state", errors.New("changed"))
	})
	if err := appendPass(context.Background(), client, rotationPass{Kind: "bundle", Result: "ok", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	got, err := loadRotation(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if conflicts != 1 || len(got.Passes) != 2 || got.Passes[0].By != "bob" || got.Passes[1].Kind != "bundle" || got.Passes[1].At.IsZero() {
		t.Errorf("after a conflict: %d conflicts, passes %+v", conflicts, got.Passes)
	}
}

func TestAppendPassWithoutActiveRotation(t *testing.T) {
	ctx := context.Background()
	if err := appendPass(ctx, fake.NewClientset(), rotationPass{Kind: "bundle", By: "x"}); !errors.Is(err, errNoActiveRotation) {
		t.Errorf("no record: %v, want errNoActiveRotation", err)
	}
	rec := rotationTestRecord(t)
	rec.State = rotationFinished
	cm, err := rec.configMap()
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(cm)
	if err := appendPass(ctx, client, rotationPass{Kind: "bundle", By: "x"}); !errors.Is(err, errNoActiveRotation) {
		t.Errorf("finished record: %v, want errNoActiveRotation", err)
	}
	after, _ := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state", metav1.GetOptions{})
	if after.Data[rotationKeyRecord] != cm.Data[rotationKeyRecord] {
		t.Error("a pass was logged into a finished rotation")
	}
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
