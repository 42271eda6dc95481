//go:build e2e

// Package rootca tests bundle, unbundle, inspect and undo against the local
// control plane: the ServiceAccount root CA (kube-root-ca.crt in every
// namespace, ca.crt of legacy token Secrets), upstream steps 2, 3 and 12.1.
package rootca

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

// rotationFiles are the CA files of a rotation from the cluster's CA (old)
// to a fresh one (new).
type rotationFiles struct {
	dir              string
	old, new         string
	oldPEM, newPEM   []byte
	oldCert, newCert *x509.Certificate
	bundle           []byte // what bundle writes: new, then old
	undoDir          string
}

func newRotation(t *testing.T) rotationFiles {
	t.Helper()
	dir := t.TempDir()
	oldPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
	Must(t, err)
	newCA, err := localcluster.NewCA("kubernetes-new", 48*time.Hour)
	Must(t, err)
	r := rotationFiles{
		dir: dir, old: filepath.Join(dir, "old-ca.crt"), new: filepath.Join(dir, "new-ca.crt"),
		oldPEM: oldPEM, newPEM: newCA.CertPEM, oldCert: Cluster.PKI.CA.Cert, newCert: newCA.Cert,
		bundle:  checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{Cluster.PKI.CA.Cert}),
		undoDir: filepath.Join(dir, "undo"),
	}
	Must(t, os.WriteFile(r.old, oldPEM, 0o644))
	Must(t, os.WriteFile(r.new, newCA.CertPEM, 0o644))
	return r
}

// undoFiles lists the undo files written under dir.
func undoFiles(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.undo.jsonl"))
	Must(t, err)
	return files
}

// snapshot is the resourceVersion of every ConfigMap and Secret.
type snapshot map[string]string

func takeSnapshot(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	client := Client(t)
	s := snapshot{}
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range cms.Items {
		// The namespace controller marks the objects of a terminating
		// namespace deleted when it gets to them (late under load): that
		// write is its, and a deleted object is left out.
		if o.DeletionTimestamp == nil {
			s["configmap/"+o.Namespace+"/"+o.Name] = o.ResourceVersion
		}
	}
	secs, err := client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range secs.Items {
		if o.DeletionTimestamp == nil {
			s["secret/"+o.Namespace+"/"+o.Name] = o.ResourceVersion
		}
	}
	return s
}

// assertNoWrites fails if any ConfigMap or Secret changed or appeared since
// before. Objects that disappeared or are being deleted are ignored:
// namespaces of earlier tests are still being deleted in the background.
func assertNoWrites(t *testing.T, before snapshot) {
	t.Helper()
	after := takeSnapshot(t)
	var changed []string
	for k, rv := range after {
		if old, ok := before[k]; !ok || old != rv {
			changed = append(changed, k)
		}
	}
	if len(changed) > 0 {
		t.Fatalf("objects written although nothing should have been: %v", changed)
	}
}

// rootCAHolds returns the namespaces (not terminating) whose kube-root-ca.crt
// does not hold want byte for byte.
func rootCANotHolding(t *testing.T, want []byte) []string {
	t.Helper()
	ctx := context.Background()
	client := Client(t)
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	Must(t, err)
	var bad []string
	for _, ns := range nss.Items {
		if ns.Status.Phase == corev1.NamespaceTerminating {
			continue
		}
		cm, err := client.CoreV1().ConfigMaps(ns.Name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil || !bytes.Equal([]byte(cm.Data["ca.crt"]), want) {
			bad = append(bad, ns.Name)
		}
	}
	return bad
}

// createLegacyToken creates a legacy ServiceAccount token Secret and waits
// until the tokens controller filled in token and ca.crt.
func createLegacyToken(t *testing.T, ns string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}
	client := Client(t)
	WaitDefaultServiceAccount(t, client, ns)
	Must(t, Create(client.CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{})))
	var got *corev1.Secret
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		got, err = client.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
		return err == nil && len(got.Data["token"]) > 0 && len(got.Data["ca.crt"]) > 0, nil
	})
	Must(t, err)
	return got
}

func waitSecretCA(t *testing.T, ns, name string, want []byte) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := Client(t).CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && bytes.Equal(s.Data["ca.crt"], want), nil
	})
	if err != nil {
		t.Fatalf("secret %s/%s does not hold the expected ca.crt", ns, name)
	}
}

func secretCA(t *testing.T, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := Client(t).CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	Must(t, err)
	return s
}

// restartControllerManager restarts kube-controller-manager with flags and
// restores the original flags (and waits for the old CA everywhere) when
// the test ends.
func restartControllerManager(t *testing.T, set map[string]string) {
	t.Helper()
	ctx := context.Background()
	kcm := Cluster.Component(localcluster.ControllerManager)
	orig := map[string]string{}
	for k := range set {
		orig[k] = kcm.Get(k)
	}
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, orig))
		caPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
		Must(t, err)
		WaitRootCA(t, Client(t), caPEM)
	})
	Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, set))
}

func mustContain(t *testing.T, what, got string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// bundleReport is the part of bundle's -o json the tests read.
type bundleReport struct {
	DryRun     string `json:"dryRun"`
	UndoFile   string `json:"undoFile"`
	Namespaces struct {
		Total, Already, Updated, Created, Reverted, Skipped, Failed int
	} `json:"namespaces"`
	Secrets struct {
		Total, Already, Updated, Created, Reverted, Skipped, Failed int
	} `json:"secrets"`
	Objects []struct {
		Kind, Namespace, Name, Found, Result, Reason string
	} `json:"objects"`
}

func parseReport(t *testing.T, out string) bundleReport {
	t.Helper()
	var r bundleReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("not a JSON report: %v\n%s", err, out)
	}
	return r
}

func (r bundleReport) object(kind, ns, name string) (found, result, reason string) {
	for _, o := range r.Objects {
		if o.Kind == kind && o.Namespace == ns && o.Name == name {
			return o.Found, o.Result, o.Reason
		}
	}
	return "", "", ""
}

// TestBundleDetectsControllerManagerRevert: the controller-manager still
// runs with the old CA as --root-ca-file, so it puts the old CA back into
// everything bundle writes; bundle must notice, say which node step fixes
// it, and fail.
func TestBundleDetectsControllerManagerRevert(t *testing.T) {
	client := Client(t)
	r := newRotation(t)
	ns := CreateNamespace(t, client, "revert")
	legacy := createLegacyToken(t, ns)
	out := filepath.Join(r.dir, "ca-bundle.crt")

	res := Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--out", out, "--undo-dir", r.undoDir)
	if res.Code != 1 {
		t.Fatalf("want exit 1 when the controller-manager reverts, got %d", res.Code)
	}
	mustContain(t, "stderr", res.Stderr,
		"its --root-ca-file is not yet\nthe bundle",
		"Point kube-controller-manager's --root-ca-file at it and restart kube-controller-manager",
		"--cluster-signing-cert-file or --client-ca-file",
		"changed back within 10s by kube-controller-manager",
		"Copy the bundle "+out)
	mustContain(t, "stdout", res.Stdout, "kube-controller-manager put back old")

	// The bundle file is what the controller-manager must be pointed at.
	got, err := os.ReadFile(out)
	Must(t, err)
	if !bytes.Equal(got, r.bundle) {
		t.Fatalf("bundle file holds %q, want new then old", got)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Fatalf("bundle file mode %v, want 0644", fi.Mode().Perm())
	}
	// The controller-manager really did put the old CA back everywhere.
	WaitRootCA(t, client, r.oldPEM)
	waitSecretCA(t, ns, legacy.Name, r.oldPEM)

	// The writes were recorded, and the Secret's token is not in the file.
	files := undoFiles(t, r.undoDir)
	if len(files) != 1 {
		t.Fatalf("want one undo file, have %v", files)
	}
	data, err := os.ReadFile(files[0])
	Must(t, err)
	if bytes.Contains(data, legacy.Data["token"]) || !bytes.Contains(data, []byte(`"kind":"Secret","namespace":"`+ns+`"`)) {
		t.Fatalf("undo file must record the Secret's ca.crt and never its token:\n%s", data)
	}
	// Undo finds every object put back by the controller-manager, nothing
	// to undo there, and leaves it alone.
	before := takeSnapshot(t)
	res = Carotate(t, "undo", files[0])
	if res.Code != 0 || !strings.Contains(res.Stdout, "0 restored, 0 deleted, ") ||
		!strings.Contains(res.Stdout, "nothing to undo: it holds its value from before the command again (last written by kube-controller-manager)") ||
		strings.Contains(res.Stdout, "changed since") || !strings.Contains(res.Stderr, "already hold their values from before bundle") {
		t.Fatalf("undo after a revert must skip everything, as nothing to undo: exit %d\n%s\n%s", res.Code, res.Stdout, res.Stderr)
	}
	assertNoWrites(t, before)
}

// TestBundleFindsControllerManagerBundle: once the controller-manager runs
// with the bundle as --root-ca-file, it has published it everywhere and
// bundle writes nothing. unbundle refuses both while the controller-manager
// publishes the bundle and while the API server serves from the old CA.
func TestBundleFindsControllerManagerBundle(t *testing.T) {
	client := Client(t)
	r := newRotation(t)
	ns := CreateNamespace(t, client, "kcmbundle")
	legacy := createLegacyToken(t, ns)
	path, err := Cluster.PKI.WriteFile(fmt.Sprintf("ca-bundle-%d.crt", time.Now().UnixNano()), r.bundle)
	Must(t, err)
	restartControllerManager(t, map[string]string{"root-ca-file": path})
	WaitRootCA(t, client, r.bundle)
	waitSecretCA(t, ns, legacy.Name, r.bundle)

	before := takeSnapshot(t)
	res := Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--undo-dir", r.undoDir, "-o", "json")
	if res.Code != 0 {
		t.Fatalf("bundle with the controller-manager on the bundle: exit %d", res.Code)
	}
	mustContain(t, "stderr", res.Stderr, "already holds the bundle", "nothing was written")
	rep := parseReport(t, res.Stdout)
	// Earlier tests' namespaces may still be terminating: skipped, and
	// nothing else is.
	for _, o := range rep.Objects {
		if o.Result != "already" && (o.Result != "skipped" || o.Reason != "namespace is terminating") {
			t.Errorf("%s %s/%s: %s (%s), want already bundled", o.Kind, o.Namespace, o.Name, o.Result, o.Reason)
		}
	}
	if rep.Namespaces.Already < 5 || rep.Secrets.Already < 1 {
		t.Fatalf("want every namespace and the legacy Secret already bundled: %+v %+v", rep.Namespaces, rep.Secrets)
	}
	if found, result, _ := rep.object("Secret", ns, legacy.Name); found != "new+old" || result != "already" {
		t.Fatalf("legacy Secret: found %q result %q", found, result)
	}
	assertNoWrites(t, before)
	if files := undoFiles(t, r.undoDir); len(files) != 0 {
		t.Fatalf("nothing written, yet undo files %v", files)
	}

	// Keeping the old CA is safe for the serving chain (the API server still
	// serves from it), but the controller-manager would put the bundle back.
	res = Carotate(t, "unbundle", "--keep", r.old, "--undo-dir", r.undoDir)
	if res.Code != 1 {
		t.Fatalf("unbundle while the controller-manager publishes the bundle: exit %d", res.Code)
	}
	mustContain(t, "stderr", res.Stderr, "refusing to unbundle, nothing was changed: kube-system/kube-root-ca.crt holds",
		"last written by kube-controller-manager", "step 12.1")
	// Keeping the new CA: the serving chain is the old CA's, pods would be cut off.
	res = Carotate(t, "unbundle", "--keep", r.new, "--undo-dir", r.undoDir)
	if res.Code != 1 {
		t.Fatalf("unbundle while the API server serves from the old CA: exit %d", res.Code)
	}
	mustContain(t, "stderr", res.Stderr, "refusing to unbundle, nothing was changed: the API server's serving certificate",
		"(CN=kube-apiserver, issued by CN=kubernetes) does not verify against the kept CA", "step 9.3")
	assertNoWrites(t, before)
	if files := undoFiles(t, r.undoDir); len(files) != 0 {
		t.Fatalf("nothing written, yet undo files %v", files)
	}
}

// TestBundleWithoutPublisher: with the root CA publisher and the tokens
// controller off, nothing reverts bundle's writes: it bundles every
// namespace and the legacy Secret, skips a terminating namespace and one
// without the ConfigMap (created with --create-missing), and undo restores
// it all. unbundle then takes the bundle off again.
func TestBundleWithoutPublisher(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	r := newRotation(t)
	nsA := CreateNamespace(t, client, "nopub")
	legacy := createLegacyToken(t, nsA)
	nsT := terminatingNamespace(t, client)
	// The tokens controller cannot be turned off with --controllers (it is
	// started before the others); without a signing key it does not start.
	restartControllerManager(t, map[string]string{
		"controllers":                      "*,bootstrapsigner,tokencleaner,-root-ca-certificate-publisher-controller",
		"service-account-private-key-file": "",
	})
	// Created after the restart: the publisher gives it no kube-root-ca.crt.
	nsB := CreateNamespace(t, client, "nopub-missing")

	res := Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--undo-dir", r.undoDir, "--settle", "3s", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("bundle without the publisher: exit %d", res.Code)
	}
	rep := parseReport(t, res.Stdout)
	if rep.Namespaces.Updated == 0 || rep.Namespaces.Failed != 0 || rep.Namespaces.Reverted != 0 || rep.Secrets.Updated != 1 {
		t.Fatalf("counts: %+v %+v", rep.Namespaces, rep.Secrets)
	}
	if _, result, reason := rep.object("ConfigMap", nsT, "kube-root-ca.crt"); result != "skipped" || reason != "namespace is terminating" {
		t.Errorf("terminating namespace: %q %q", result, reason)
	}
	if found, result, reason := rep.object("ConfigMap", nsB, "kube-root-ca.crt"); found != "no ConfigMap" || result != "skipped" || !strings.Contains(reason, "--create-missing") {
		t.Errorf("namespace without the ConfigMap: %q %q %q", found, result, reason)
	}
	if found, result, _ := rep.object("Secret", nsA, legacy.Name); found != "old" || result != "updated" {
		t.Errorf("legacy Secret: %q %q", found, result)
	}
	if bad := rootCANotHolding(t, r.bundle); len(bad) != 1 || bad[0] != nsB {
		t.Fatalf("namespaces without the bundle: %v, want only %s", bad, nsB)
	}
	sec := secretCA(t, nsA, legacy.Name)
	if !bytes.Equal(sec.Data["ca.crt"], r.bundle) || !bytes.Equal(sec.Data["token"], legacy.Data["token"]) {
		t.Fatalf("legacy Secret: ca.crt must be the bundle and the token untouched")
	}
	firstUndo, firstWrites := rep.UndoFile, rep.Namespaces.Updated+rep.Secrets.Updated
	if fi, err := os.Stat(firstUndo); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("undo file %s: %v %v", firstUndo, fi, err)
	}

	// Re-run with --create-missing: only nsB is written, everything else is
	// already bundled.
	res = Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--undo-dir", r.undoDir, "--settle", "3s", "--create-missing", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("bundle --create-missing: exit %d", res.Code)
	}
	rep = parseReport(t, res.Stdout)
	if rep.Namespaces.Created != 1 || rep.Namespaces.Updated != 0 || rep.Secrets.Already != 1 {
		t.Fatalf("counts: %+v %+v", rep.Namespaces, rep.Secrets)
	}
	if bad := rootCANotHolding(t, r.bundle); len(bad) != 0 {
		t.Fatalf("namespaces without the bundle: %v", bad)
	}
	secondUndo := rep.UndoFile

	// Undo both runs, newest first: nsB's ConfigMap goes, the rest gets the
	// old CA back.
	res = Carotate(t, "undo", secondUndo)
	if res.Code != 0 || !strings.Contains(res.Stdout, "0 restored, 1 deleted, 0 skipped, 0 failed") {
		t.Fatalf("undo of --create-missing: exit %d", res.Code)
	}
	if _, err := client.CoreV1().ConfigMaps(nsB).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); err == nil {
		t.Fatalf("undo must delete the ConfigMap bundle created")
	}
	before := takeSnapshot(t)
	res = Carotate(t, "undo", "--dry-run=server", firstUndo)
	if res.Code != 0 || !strings.Contains(res.Stdout, fmt.Sprintf("%d restored, 0 deleted, 0 skipped, 0 failed (server dry run)", firstWrites)) {
		t.Fatalf("undo --dry-run=server: exit %d", res.Code)
	}
	assertNoWrites(t, before)
	// -v=6: client-go logs every request. Bundle's file says what bundle
	// wrote, so undo reads no object before writing it.
	res = Carotate(t, "undo", "-o", "json", "-v=6", firstUndo)
	if res.Code != 0 {
		t.Fatalf("undo: exit %d", res.Code)
	}
	if gets := rootCAGets(res.Stderr); len(gets) != 0 || !strings.Contains(res.Stderr, `verb="PATCH"`) {
		t.Errorf("undo of bundle's file read %d root CA objects one by one (want none; and its writes logged):\n%s", len(gets), strings.Join(gets, "\n"))
	}
	var undone struct{ Restored, Skipped, Failed int }
	Must(t, json.Unmarshal([]byte(res.Stdout), &undone))
	if undone.Restored != firstWrites || undone.Skipped != 0 || undone.Failed != 0 {
		t.Fatalf("undo: %+v, want %d restored", undone, firstWrites)
	}
	if bad := rootCANotHolding(t, r.oldPEM); len(bad) != 1 || bad[0] != nsB {
		t.Fatalf("after undo, namespaces without the old CA: %v, want only %s", bad, nsB)
	}
	sec = secretCA(t, nsA, legacy.Name)
	if !bytes.Equal(sec.Data["ca.crt"], r.oldPEM) || !bytes.Equal(sec.Data["token"], legacy.Data["token"]) {
		t.Fatalf("undo must restore the Secret's ca.crt and leave its token")
	}
	// A second undo of the same file finds every object as it was before
	// bundle, put back by the first undo: nothing to undo (its writes
	// refused by their precondition, then each object read to say so).
	before = takeSnapshot(t)
	res = Carotate(t, "undo", firstUndo)
	if res.Code != 0 || !strings.Contains(res.Stdout, "0 restored, 0 deleted, ") {
		t.Fatalf("second undo: exit %d", res.Code)
	}
	if n := strings.Count(res.Stdout, "nothing to undo: it holds its value from before the command again (last written by kubectl-carotate)"); n != firstWrites ||
		strings.Contains(res.Stdout, "changed since") || !strings.Contains(res.Stderr, fmt.Sprintf("undo: %d objects already hold their values from before bundle", firstWrites)) {
		t.Errorf("second undo: %d objects say there is nothing to undo, want all %d (none changed since):\n%s\n%s", n, firstWrites, res.Stdout, res.Stderr)
	}
	assertNoWrites(t, before)

	// Bundle again, then unbundle keeping the CA the API server serves
	// from (here the old one: this cluster's serving certificate is the
	// old CA's). Nothing reverts, so unbundle proceeds.
	res = Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--undo-dir", r.undoDir, "--settle", "3s")
	if res.Code != 0 {
		t.Fatalf("bundle: exit %d", res.Code)
	}
	res = Carotate(t, "unbundle", "--keep", r.old, "--undo-dir", r.undoDir, "--settle", "3s", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("unbundle: exit %d", res.Code)
	}
	rep = parseReport(t, res.Stdout)
	if rep.Namespaces.Updated == 0 || rep.Secrets.Updated != 1 || rep.Namespaces.Failed != 0 {
		t.Fatalf("unbundle counts: %+v %+v", rep.Namespaces, rep.Secrets)
	}
	newShort := fmt.Sprintf("CN=kubernetes-new (%s)", checks.Fingerprint(r.newCert)[:16])
	if found, result, reason := rep.object("Secret", nsA, legacy.Name); found != newShort+"+kept" || result != "updated" || reason != "removes "+newShort {
		t.Errorf("legacy Secret: %q %q %q", found, result, reason)
	}
	if bad := rootCANotHolding(t, r.oldPEM); len(bad) != 1 || bad[0] != nsB {
		t.Fatalf("after unbundle, namespaces without the old CA alone: %v", bad)
	}
	waitSecretCA(t, nsA, legacy.Name, r.oldPEM)
}

// terminatingNamespace makes a namespace that stays Terminating: its
// kube-root-ca.crt carries a finalizer that only the test removes.
func terminatingNamespace(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ctx := context.Background()
	ns := CreateNamespace(t, client, "dying")
	WaitRootCAPublished(t, client, ns)
	_, err := client.CoreV1().ConfigMaps(ns).Patch(ctx, "kube-root-ca.crt", types.MergePatchType,
		[]byte(`{"metadata":{"finalizers":["carotate.test/hold"]}}`), metav1.PatchOptions{})
	Must(t, err)
	t.Cleanup(func() {
		_, _ = client.CoreV1().ConfigMaps(ns).Patch(context.Background(), "kube-root-ca.crt", types.MergePatchType,
			[]byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	Must(t, client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err == nil && n.Status.Phase == corev1.NamespaceTerminating, nil
	})
	Must(t, err)
	return ns
}

// TestBundleDryRun: neither dry-run mode writes anything, and the server
// mode reports what the API server accepted.
func TestBundleDryRun(t *testing.T) {
	r := newRotation(t)
	out := filepath.Join(r.dir, "ca-bundle.crt")
	for _, mode := range []string{"server", "client"} {
		t.Run(mode, func(t *testing.T) {
			before := takeSnapshot(t)
			res := Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--out", out, "--undo-dir", r.undoDir, "--dry-run="+mode)
			if res.Code != 0 {
				t.Fatalf("exit %d", res.Code)
			}
			suffix := map[string]string{"server": "(server dry run)", "client": "(dry run)"}[mode]
			mustContain(t, "stdout", res.Stdout, "updated "+suffix)
			mustContain(t, "stderr", res.Stderr, "would be written "+suffix, "would write the bundle to "+out)
			assertNoWrites(t, before)
			if _, err := os.Stat(out); err == nil {
				t.Fatalf("a dry run wrote the bundle file")
			}
			if files := undoFiles(t, r.undoDir); len(files) != 0 {
				t.Fatalf("a dry run wrote undo files %v", files)
			}
		})
	}
}

// TestBundleBadInput: every kind of wrong CA file gets its own error, no key
// material in the output, and no write of any kind.
func TestBundleBadInput(t *testing.T) {
	r := newRotation(t)
	newCA, err := localcluster.NewCA("kubernetes-new", 24*time.Hour)
	Must(t, err)
	leaf, err := newCA.Issue(localcluster.CertSpec{CommonName: "not-a-ca", Client: true})
	Must(t, err)
	_, _, expiredPEM, _, err := checks.GenerateCA("expired-ca", 30*time.Minute) // ended 30 minutes ago
	Must(t, err)
	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr"}}, newCA.Key)
	Must(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(r.dir, name)
		Must(t, os.WriteFile(p, data, 0o644))
		return p
	}
	keyLines := strings.Split(strings.TrimSpace(string(newCA.KeyPEM)), "\n")
	cases := []struct {
		name, file, want string
	}{
		{"not PEM", write("notpem.crt", []byte("this is not a certificate\n")), "not PEM: no -----BEGIN line found"},
		{"DER", write("der.crt", newCA.Cert.Raw), "not PEM (looks like DER; convert with openssl x509 -inform der -outform pem)"},
		{"private key", write("key.pem", newCA.KeyPEM), "block 1 is a private key (PRIVATE KEY); pass the certificate, never the key"},
		{"CSR", write("req.csr", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})), "block 1 is a certificate request, not a certificate"},
		{"not a CA", write("leaf.crt", leaf.CertPEM), "is not a CA: missing basicConstraints CA:true and keyUsage certSign"},
		{"expired CA", write("expired.crt", expiredPEM), "new CA (CN=expired-ca) expired on"},
		{"old == new", r.old, "old CA and new CA are the same certificate"},
		{"missing file", filepath.Join(r.dir, "nope.crt"), "no such file or directory"},
	}
	out := filepath.Join(r.dir, "ca-bundle.crt")
	before := takeSnapshot(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", c.file, "--out", out, "--undo-dir", r.undoDir)
			if res.Code != 1 {
				t.Fatalf("exit %d, want 1", res.Code)
			}
			mustContain(t, "stderr", res.Stderr, c.want, "nothing was changed")
			for _, l := range keyLines[1 : len(keyLines)-1] {
				if strings.Contains(res.Stdout+res.Stderr, l) {
					t.Fatalf("output repeats private key material")
				}
			}
		})
	}
	// inspect refuses the key file the same way.
	res := Carotate(t, "inspect", filepath.Join(r.dir, "key.pem"))
	if res.Code != 1 || !strings.Contains(res.Stderr, "block 1 is a private key") || strings.Contains(res.Stdout+res.Stderr, keyLines[1]) {
		t.Fatalf("inspect of a key: exit %d", res.Code)
	}
	assertNoWrites(t, before)
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("bad input, yet the bundle file was written")
	}
	if files := undoFiles(t, r.undoDir); len(files) != 0 {
		t.Fatalf("bad input, yet undo files %v", files)
	}
}

// TestBundleOutRefusesOtherFile: --out never overwrites a different file
// without --force, and accepts an identical one.
func TestBundleOutRefusesOtherFile(t *testing.T) {
	r := newRotation(t)
	out := filepath.Join(r.dir, "ca-bundle.crt")
	Must(t, os.WriteFile(out, []byte("something else\n"), 0o644))
	before := takeSnapshot(t)
	res := Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--out", out, "--dry-run=client")
	if res.Code != 1 || !strings.Contains(res.Stderr, "exists and holds something else; pass --force to overwrite it") {
		t.Fatalf("exit %d", res.Code)
	}
	assertNoWrites(t, before)
	Must(t, os.WriteFile(out, r.bundle, 0o644))
	res = Carotate(t, "bundle", "--old-ca", r.old, "--new-ca", r.new, "--out", out, "--dry-run=client")
	if res.Code != 0 || !strings.Contains(res.Stderr, out+" already holds this bundle") {
		t.Fatalf("identical --out file: exit %d", res.Code)
	}
}

// TestBundleReadOnlyUser: a user bound to the view ClusterRole is stopped
// by the preflight with the list of missing rights, before any write.
func TestBundleReadOnlyUser(t *testing.T) {
	client := Client(t)
	r := newRotation(t)
	user, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "readonly", Client: true})
	Must(t, err)
	kubeconfig := filepath.Join(r.dir, "readonly.conf")
	Must(t, localcluster.WriteKubeconfig(kubeconfig, Cluster.Server, r.oldPEM, user))
	BindClusterRole(t, client, "readonly", "view", "list", "", "configmaps")

	out := filepath.Join(r.dir, "ca-bundle.crt")
	before := takeSnapshot(t)
	for _, args := range [][]string{
		{"bundle", "--old-ca", r.old, "--new-ca", r.new, "--out", out, "--undo-dir", r.undoDir},
		{"unbundle", "--keep", r.old, "--undo-dir", r.undoDir},
	} {
		res := Cmd{Kubeconfig: kubeconfig}.Run(t, "kubectl-carotate", args...)
		if res.Code != 1 {
			t.Fatalf("%s as a read-only user: exit %d", args[0], res.Code)
		}
		mustContain(t, args[0]+" stderr", res.Stderr, "missing RBAC permissions, nothing was changed",
			"list secrets in all namespaces", "patch configmaps in all namespaces", "patch secrets in all namespaces")
		if strings.Contains(res.Stderr, "list configmaps in all namespaces") {
			t.Errorf("view allows listing ConfigMaps; the preflight must not list it as missing")
		}
	}
	assertNoWrites(t, before)
	if _, err := os.Stat(out); err == nil {
		t.Fatalf("preflight failed, yet the bundle file was written")
	}
}

// TestInspect: files, objects and the cluster's three places.
func TestInspect(t *testing.T) {
	client := Client(t)
	r := newRotation(t)
	ns := CreateNamespace(t, client, "inspect")
	legacy := createLegacyToken(t, ns)
	bundleFile := filepath.Join(r.dir, "bundle.crt")
	Must(t, os.WriteFile(bundleFile, r.bundle, 0o644))
	oldFP := checks.Fingerprint(r.oldCert)

	res := Carotate(t, "inspect", bundleFile, "configmap/kube-system/kube-root-ca.crt", "secret/"+ns+"/"+legacy.Name)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "SOURCE ") || !strings.Contains(lines[0], "DAYS LEFT") {
		t.Fatalf("want a header and 4 certificates:\n%s", res.Stdout)
	}
	mustContain(t, "stdout", res.Stdout, "CN=kubernetes-new", "configmap/kube-system/kube-root-ca.crt[ca.crt]",
		"secret/"+ns+"/"+legacy.Name+"[ca.crt]", oldFP[:16]+"\n")
	if strings.Contains(res.Stdout, oldFP) {
		t.Errorf("the table must shorten fingerprints")
	}

	res = Carotate(t, "inspect", "--live", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("inspect --live: exit %d", res.Code)
	}
	var rep struct {
		Sources []struct {
			Source       string
			Certificates []struct {
				Subject, Issuer, Fingerprint string
				IsCA                         bool
				DaysLeft                     int
			}
			Error string
		}
		Verification []struct {
			Against  string
			Verifies bool
		}
	}
	Must(t, json.Unmarshal([]byte(res.Stdout), &rep))
	if len(rep.Sources) != 3 {
		t.Fatalf("want 3 sources, got %d", len(rep.Sources))
	}
	for i, want := range []string{"kubeconfig CA", "configmap/kube-system/kube-root-ca.crt[ca.crt]", "serving chain of " + Cluster.Server} {
		s := rep.Sources[i]
		if s.Source != want || s.Error != "" || len(s.Certificates) == 0 {
			t.Fatalf("source %d: %+v, want %q", i, s, want)
		}
	}
	if c := rep.Sources[0].Certificates[0]; c.Fingerprint != oldFP || !c.IsCA || c.DaysLeft < 3000 {
		t.Errorf("kubeconfig CA: %+v", c)
	}
	if c := rep.Sources[2].Certificates[0]; c.Subject != "CN=kube-apiserver" || c.Issuer != "CN=kubernetes" || c.IsCA {
		t.Errorf("serving leaf: %+v", c)
	}
	if len(rep.Verification) != 2 || !rep.Verification[0].Verifies || !rep.Verification[1].Verifies {
		t.Errorf("the serving chain must verify against both: %+v", rep.Verification)
	}

	res = Carotate(t, "inspect", "--live")
	mustContain(t, "inspect --live", res.Stdout, "serving chain of "+Cluster.Server+" verifies against kubeconfig CA: yes")

	// Unparsable and missing inputs: exit 1, the rest still shown.
	res = Carotate(t, "inspect", r.old, filepath.Join(r.dir, "missing.crt"), "configmap/kube-system/no-such-configmap")
	if res.Code != 1 || !strings.Contains(res.Stdout, "CN=kubernetes") || !strings.Contains(res.Stderr, "2 of 3 sources could not be read") {
		t.Fatalf("exit %d", res.Code)
	}
}

// rootCAGets are the GETs of one root CA object (a kube-root-ca.crt
// ConfigMap or a Secret, by name) in a -v=6 log.
func rootCAGets(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, `verb="GET"`) && (strings.Contains(l, "/configmaps/") || strings.Contains(l, "/secrets/")) {
			out = append(out, l)
		}
	}
	return out
}

// TestUndoOfADeletedObject: undo writes bundle's objects without reading
// them first, so an object deleted since bundle is found by its write
// (404) and reported as a read would have: skipped, "no longer exists".
func TestUndoOfADeletedObject(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	r := newRotation(t)
	ns := CreateNamespace(t, client, "undo-gone")
	t.Cleanup(func() { deleteNamespaces(t, []string{ns}) })
	legacy := createLegacyToken(t, ns)
	res := Carotate(t, "bundle", "-n", ns, "--old-ca", r.old, "--new-ca", r.new, "--undo-dir", r.undoDir, "--settle", "0", "-o", "json")
	rep := parseReport(t, res.Stdout)
	if _, result, _ := rep.object("Secret", ns, legacy.Name); res.Code != 0 || result != "updated" {
		t.Fatalf("bundle -n %s: exit %d, the legacy Secret %q", ns, res.Code, result)
	}
	Must(t, client.CoreV1().Secrets(ns).Delete(ctx, legacy.Name, metav1.DeleteOptions{}))

	res = Carotate(t, "undo", "-o", "json", rep.UndoFile)
	var undone struct {
		Objects []struct{ Kind, Namespace, Name, Result, Reason string }
	}
	Must(t, json.Unmarshal([]byte(res.Stdout), &undone))
	found := false
	for _, o := range undone.Objects {
		if o.Kind == "Secret" && o.Namespace == ns && o.Name == legacy.Name {
			found = true
			if o.Result != "skipped" || o.Reason != "no longer exists" {
				t.Errorf("undo of the deleted Secret: %s %q, want skipped %q", o.Result, o.Reason, "no longer exists")
			}
		}
	}
	if res.Code != 0 || !found {
		t.Fatalf("undo: exit %d, the deleted Secret reported: %v\n%s", res.Code, found, res.Stdout)
	}
}
