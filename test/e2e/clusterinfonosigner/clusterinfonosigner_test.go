//go:build e2e

// Package clusterinfonosigner tests update-cluster-info on a cluster whose
// controller-manager does not run the bootstrap signer (nor the token
// cleaner, so an expired token stays until someone acts): nobody re-signs
// cluster-info but the command.
package clusterinfonosigner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
	"github.com/carotate/kubectl-carotate/test/e2e/clusterinfo/citest"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// "*" alone leaves bootstrapsigner and tokencleaner off.
func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{Controllers: "*"})) }

func edit(t *testing.T, client kubernetes.Interface, fn func(data map[string]string)) {
	t.Helper()
	cm := citest.Get(t, client)
	fn(cm.Data)
	_, err := client.CoreV1().ConfigMaps("kube-public").Update(context.Background(), cm, metav1.UpdateOptions{})
	Must(t, err)
}

func dropSignatures(data map[string]string) {
	for k := range data {
		if strings.HasPrefix(k, "jws-kubeconfig-") {
			delete(data, k)
		}
	}
}

// writeCurrentCA saves the CA cluster-info carries now, for runs that must
// not change it.
func writeCurrentCA(t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "current.crt")
	Must(t, os.WriteFile(p, citest.CAData(t, citest.Get(t, client)), 0o600))
	return p
}

func restoreOldCA(t *testing.T, rot citest.Rotation) {
	t.Cleanup(func() {
		if r := Carotate(t, "update-cluster-info", "--ca", rot.Old, "--sign", "--undo-dir", rot.UndoDir); r.Code != 0 {
			t.Errorf("restoring the old CA: exit %d", r.Code)
		}
	})
}

func TestCheckReportsUnsignedAndStaleThenSigns(t *testing.T) {
	client := Client(t)
	ids := citest.TokenIDs()
	edit(t, client, dropSignatures)
	r := Carotate(t, "update-cluster-info", "--check", "-o", "json")
	if r.Code != 1 {
		t.Fatalf("--check with no signatures: exit %d, want 1", r.Code)
	}
	state, _ := citest.ParseReport(t, r.Stdout).States()
	for _, id := range ids {
		if state[id] != "unsigned" {
			t.Errorf("token %s: %s, want unsigned", id, state[id])
		}
	}

	// A signature over other content is stale: kubeadm join would refuse it.
	tok0 := strings.SplitN(Cluster.BootstrapTokens[0], ".", 2)
	edit(t, client, func(d map[string]string) {
		d["jws-kubeconfig-"+tok0[0]] = citest.Sign(d["kubeconfig"]+"# edited\n", tok0[0], tok0[1])
	})
	r = Carotate(t, "update-cluster-info", "--check")
	if r.Code != 1 || !strings.Contains(r.Stdout, "stale") || !strings.Contains(r.Stderr, "token "+tok0[0]+": signature stale") {
		t.Errorf("--check with a stale signature: exit %d", r.Code)
	}

	// With the CA already in place there is nothing for a signer to react
	// to: the command signs right away.
	r = Carotate(t, "update-cluster-info", "--ca", writeCurrentCA(t, client), "--undo-dir", t.TempDir())
	if r.Code != 0 || !strings.Contains(r.Stdout, "already carries this CA") || strings.Contains(r.Stderr, "Waiting") {
		t.Fatalf("signing without a CA change: exit %d", r.Code)
	}
	citest.VerifyTokens(t, citest.Get(t, client), Cluster.BootstrapTokens)
	if r := Carotate(t, "update-cluster-info", "--check"); r.Code != 0 {
		t.Errorf("--check after signing: exit %d", r.Code)
	}
}

func createToken(t *testing.T, client kubernetes.Interface, id, secret string, expiration time.Time) {
	t.Helper()
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id": id, "token-secret": secret, "expiration": expiration.UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true", "usage-bootstrap-signing": "true",
		},
	}
	_, err := client.CoreV1().Secrets("kube-system").Create(context.Background(), s, metav1.CreateOptions{})
	Must(t, err)
	t.Cleanup(func() {
		_ = client.CoreV1().Secrets("kube-system").Delete(context.Background(), s.Name, metav1.DeleteOptions{})
	})
}

func TestUpdateSignsWhenSignerIsOff(t *testing.T) {
	client := Client(t)
	rot := citest.NewRotation(t)
	restoreOldCA(t, rot)
	const expiredID, expiredSecret = "exp0a1", "0123456789abcdef"
	createToken(t, client, expiredID, expiredSecret, time.Now().Add(-time.Hour))
	// Signatures as a signer would have left them before the token
	// expired, plus one for a token deleted since.
	edit(t, client, func(d map[string]string) {
		dropSignatures(d)
		for _, tok := range Cluster.BootstrapTokens {
			id, secret, _ := strings.Cut(tok, ".")
			d["jws-kubeconfig-"+id] = citest.Sign(d["kubeconfig"], id, secret)
		}
		d["jws-kubeconfig-"+expiredID] = citest.Sign(d["kubeconfig"], expiredID, expiredSecret)
		d["jws-kubeconfig-gone00"] = citest.Sign(d["kubeconfig"], "gone00", "gone00gone00gone")
	})
	before := citest.Get(t, client)
	if r := Carotate(t, "update-cluster-info", "--check"); r.Code != 0 {
		t.Fatalf("left-over signatures of expired or deleted tokens break no join: --check exit %d, want 0", r.Code)
	}

	r := Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--signer-wait=2s", "--undo-dir", rot.UndoDir, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("update-cluster-info: exit %d", r.Code)
	}
	if !strings.Contains(r.Stderr, "The bootstrap signer did not re-sign cluster-info within 2s") {
		t.Errorf("stderr does not say why the command signs")
	}
	rep := citest.ParseReport(t, r.Stdout)
	state, detail := rep.States()
	for _, id := range citest.TokenIDs() {
		if state[id] != "re-signed" || detail[id] != "signed by kubectl carotate" {
			t.Errorf("token %s: %s (%s)", id, state[id], detail[id])
		}
	}
	if state[expiredID] != "expired" || !strings.Contains(detail[expiredID], "signature removed by kubectl carotate") {
		t.Errorf("expired token: %s (%s)", state[expiredID], detail[expiredID])
	}
	if state["gone00"] != "no-token" || !strings.Contains(detail["gone00"], "signature removed by kubectl carotate") {
		t.Errorf("deleted token: %s (%s)", state["gone00"], detail["gone00"])
	}

	after := citest.Get(t, client)
	if string(citest.CAData(t, after)) != string(rot.BundlePEM) {
		t.Errorf("CA is not the bundle")
	}
	citest.VerifyTokens(t, after, Cluster.BootstrapTokens)
	for _, id := range []string{expiredID, "gone00"} {
		if _, ok := after.Data["jws-kubeconfig-"+id]; ok {
			t.Errorf("signature of %s was not removed", id)
		}
	}

	// Two writes: the CA, then the signatures; each key's previous value is
	// in the undo file.
	_, changes, err := undofile.Read(rep.UndoFile)
	Must(t, err)
	prev := map[string]undofile.Change{}
	for _, c := range changes {
		prev[c.Key] = c
	}
	if prev["kubeconfig"].Previous != before.Data["kubeconfig"] || prev["jws-kubeconfig-"+expiredID].Previous != before.Data["jws-kubeconfig-"+expiredID] ||
		prev["jws-kubeconfig-gone00"].Previous == "" || len(changes) != 2+len(Cluster.BootstrapTokens)+1 {
		t.Errorf("undo records: %+v", changes)
	}
	if prev["kubeconfig"].ResourceVersion == prev["jws-kubeconfig-gone00"].ResourceVersion || prev["jws-kubeconfig-gone00"].ResourceVersion != after.ResourceVersion {
		t.Errorf("undo resourceVersions: %+v (final %s)", changes, after.ResourceVersion)
	}

	if r := Carotate(t, "update-cluster-info", "--check", "--ca", rot.Bundle); r.Code != 0 {
		t.Errorf("--check --ca bundle: exit %d", r.Code)
	}
	if r := Carotate(t, "update-cluster-info", "--check", "--ca", rot.New); r.Code != 1 {
		t.Errorf("--check --ca new: exit %d, want 1", r.Code)
	}
}

func TestSignFlagSignsInTheSameWrite(t *testing.T) {
	client := Client(t)
	rot := citest.NewRotation(t)
	restoreOldCA(t, rot)
	// --force: this harness still serves from the old CA (see TestUpdateToBundleSignerResigns).
	r := Carotate(t, "update-cluster-info", "--ca", rot.New, "--sign", "--force", "--undo-dir", rot.UndoDir, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("--sign: exit %d", r.Code)
	}
	if strings.Contains(r.Stderr, "Waiting") {
		t.Errorf("--sign waited for the signer")
	}
	after := citest.Get(t, client)
	if string(citest.CAData(t, after)) != string(rot.NewPEM) {
		t.Errorf("CA is not the new CA")
	}
	citest.VerifyTokens(t, after, Cluster.BootstrapTokens)
	// One write: every record carries the final resourceVersion, so there
	// was never a stored version with the new CA and stale signatures.
	_, changes, err := undofile.Read(citest.ParseReport(t, r.Stdout).UndoFile)
	Must(t, err)
	keys := map[string]bool{}
	for _, c := range changes {
		keys[c.Key] = true
		if c.ResourceVersion != after.ResourceVersion {
			t.Errorf("record %s has resourceVersion %s, final is %s", c.Key, c.ResourceVersion, after.ResourceVersion)
		}
	}
	if !keys["kubeconfig"] || !keys["jws-kubeconfig-"+citest.TokenIDs()[0]] {
		t.Errorf("undo records: %+v", changes)
	}
}

func TestMissingClusterInfo(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	rot := citest.NewRotation(t)
	saved := citest.Get(t, client)
	Must(t, client.CoreV1().ConfigMaps("kube-public").Delete(ctx, "cluster-info", metav1.DeleteOptions{}))
	t.Cleanup(func() {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: saved.Name, Namespace: saved.Namespace}, Data: saved.Data}
		Must(t, Create(client.CoreV1().ConfigMaps("kube-public").Create(ctx, cm, metav1.CreateOptions{})))
	})

	r := Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--undo-dir", rot.UndoDir)
	if r.Code != 0 || !strings.Contains(r.Stderr, "step 10 does not apply") {
		t.Errorf("missing cluster-info: exit %d", r.Code)
	}
	if r := Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--require", "--undo-dir", rot.UndoDir); r.Code != 1 || !strings.Contains(r.Stderr, "--require") {
		t.Errorf("--require: exit %d, want 1", r.Code)
	}
	r = Carotate(t, "update-cluster-info", "--check", "-o", "json")
	if rep := citest.ParseReport(t, r.Stdout); r.Code != 0 || rep.Present {
		t.Errorf("--check: exit %d, present %v", r.Code, rep.Present)
	}
	if r := Carotate(t, "update-cluster-info", "--check", "--require"); r.Code != 1 {
		t.Errorf("--check --require: exit %d, want 1", r.Code)
	}
	if _, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{}); err == nil {
		t.Errorf("cluster-info was created by a command that should not apply")
	}
	if files := citest.UndoFiles(t, rot.UndoDir); len(files) != 0 {
		t.Errorf("undo files written: %v", files)
	}
}
