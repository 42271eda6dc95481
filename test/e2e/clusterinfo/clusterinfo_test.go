//go:build e2e

// Package clusterinfo tests update-cluster-info (upstream step 10) on a
// cluster whose controller-manager runs the bootstrap signer, as kubeadm
// clusters do: the signer re-signs cluster-info after our write, and the
// command confirms it.
package clusterinfo

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
	"github.com/carotate/kubectl-carotate/test/e2e/clusterinfo/citest"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

// restoreOldCA puts the cluster's own CA back after a test, through the
// command itself, so the next test starts from the kubeadm state.
func restoreOldCA(t *testing.T, rot citest.Rotation) {
	t.Cleanup(func() {
		if r := Carotate(t, "update-cluster-info", "--ca", rot.Old, "--undo-dir", rot.UndoDir); r.Code != 0 {
			t.Errorf("restoring the old CA: exit %d", r.Code)
		}
	})
}

func TestUpdateToBundleSignerResigns(t *testing.T) {
	client := Client(t)
	rot := citest.NewRotation(t)
	before := citest.Get(t, client)
	// The starting point is what kubeadm and the signer leave.
	citest.VerifyTokens(t, before, Cluster.BootstrapTokens)
	if !citest.SameCerts(t, citest.CAData(t, before), rot.OldPEM) {
		t.Fatalf("cluster-info does not start with the cluster CA")
	}
	restoreOldCA(t, rot)

	r := Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--undo-dir", rot.UndoDir, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("update-cluster-info: exit %d", r.Code)
	}
	rep := citest.ParseReport(t, r.Stdout)
	state, detail := rep.States()
	for _, id := range citest.TokenIDs() {
		if state[id] != "re-signed" || detail[id] != "signed by the bootstrap signer" {
			t.Errorf("token %s: %s (%s), want re-signed by the bootstrap signer", id, state[id], detail[id])
		}
	}
	if !rep.Changed || rep.SignedBy != "the bootstrap signer" || len(rep.CAsAfter) != 2 {
		t.Errorf("report: %s", r.Stdout)
	}
	if strings.Contains(r.Stderr, "did not re-sign") {
		t.Errorf("the signer runs, yet the command signed itself")
	}

	after := citest.Get(t, client)
	if string(citest.CAData(t, after)) != string(rot.BundlePEM) {
		t.Errorf("certificate-authority-data is not the bundle:\n%s", citest.CAData(t, after))
	}
	if citest.Server(t, after) != citest.Server(t, before) {
		t.Errorf("server changed: %s -> %s", citest.Server(t, before), citest.Server(t, after))
	}
	citest.VerifyTokens(t, after, Cluster.BootstrapTokens)

	// The undo file has the kubeconfig as it was; the signatures were the
	// signer's to write, not ours.
	_, changes, err := undofile.Read(rep.UndoFile)
	Must(t, err)
	if len(changes) != 1 || changes[0].Key != "kubeconfig" || changes[0].Previous != before.Data["kubeconfig"] || changes[0].Namespace != "kube-public" {
		t.Errorf("undo records: %+v", changes)
	}

	// --check: 0 when it matches, 1 when not.
	if r := Carotate(t, "update-cluster-info", "--check", "--ca", rot.Bundle); r.Code != 0 || !strings.Contains(r.Stdout, "Consistent: yes") {
		t.Errorf("--check --ca bundle: exit %d", r.Code)
	}
	if r := Carotate(t, "update-cluster-info", "--check"); r.Code != 0 {
		t.Errorf("--check: exit %d", r.Code)
	}
	r = Carotate(t, "update-cluster-info", "--check", "--ca", rot.New, "-o", "json")
	if r.Code != 1 || !strings.Contains(r.Stderr, "does not carry exactly the CA given") {
		t.Errorf("--check --ca new while cluster-info has the bundle: exit %d", r.Code)
	}
	if rep := citest.ParseReport(t, r.Stdout); rep.MatchesCA == nil || *rep.MatchesCA || rep.Consistent == nil || *rep.Consistent {
		t.Errorf("--check report: %s", r.Stdout)
	}

	// A re-run writes nothing.
	rv := citest.Get(t, client).ResourceVersion
	r = Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--undo-dir", rot.UndoDir, "-o", "json")
	if r.Code != 0 || citest.ParseReport(t, r.Stdout).Changed || citest.Get(t, client).ResourceVersion != rv {
		t.Errorf("re-run: exit %d, wrote something", r.Code)
	}

	// The new CA alone while the API server still serves from the old CA
	// would break every join: refused, nothing written.
	r = Carotate(t, "update-cluster-info", "--ca", rot.New, "--undo-dir", rot.UndoDir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "does not verify the API server's serving certificate") {
		t.Fatalf("new CA alone before step 9.3: exit %d, %q", r.Code, r.Stderr)
	}
	if citest.Get(t, client).ResourceVersion != rv {
		t.Fatalf("a refused update wrote cluster-info")
	}

	// The end of the rotation: the new CA alone (this harness's serving
	// certificate stays on the old CA, hence --force).
	r = Carotate(t, "update-cluster-info", "--ca", rot.New, "--undo-dir", rot.UndoDir, "--force")
	if r.Code != 0 || !strings.Contains(r.Stdout, "certificate-authority-data replaced") {
		t.Fatalf("update to the new CA: exit %d", r.Code)
	}
	final := citest.Get(t, client)
	if string(citest.CAData(t, final)) != string(rot.NewPEM) {
		t.Errorf("CA after the final update:\n%s", citest.CAData(t, final))
	}
	citest.VerifyTokens(t, final, Cluster.BootstrapTokens)
	if r := Carotate(t, "update-cluster-info", "--check", "--ca", rot.New); r.Code != 0 {
		t.Errorf("--check --ca new at the end: exit %d", r.Code)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	client := Client(t)
	rot := citest.NewRotation(t)
	before := citest.Get(t, client)

	r := Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--dry-run=server", "--undo-dir", rot.UndoDir)
	if r.Code != 0 || !strings.Contains(r.Stdout, "certificate-authority-data replaced (server dry run)") {
		t.Fatalf("--dry-run=server: exit %d", r.Code)
	}
	after := citest.Get(t, client)
	if after.ResourceVersion != before.ResourceVersion || after.Data["kubeconfig"] != before.Data["kubeconfig"] {
		t.Errorf("--dry-run=server changed cluster-info (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}

	r = Carotate(t, "update-cluster-info", "--ca", rot.Bundle, "--dry-run=client", "--undo-dir", rot.UndoDir)
	if r.Code != 0 {
		t.Fatalf("--dry-run=client: exit %d", r.Code)
	}
	for _, want := range []string{"--- kube-public/cluster-info kubeconfig (current)", "\n-    certificate-authority-data: ", "\n+    certificate-authority-data: ", "(dry run)"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("--dry-run=client output lacks %q", want)
		}
	}
	removed, added := 0, 0
	for _, line := range strings.Split(r.Stdout, "\n") {
		switch {
		case strings.HasPrefix(line, "---"), strings.HasPrefix(line, "+++"):
		case strings.HasPrefix(line, "-"):
			removed++
		case strings.HasPrefix(line, "+"):
			added++
		}
	}
	if removed != 1 || added != 1 {
		t.Errorf("the diff should change exactly the CA line:\n%s", r.Stdout)
	}
	after = citest.Get(t, client)
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("--dry-run=client changed cluster-info")
	}
	if files := citest.UndoFiles(t, rot.UndoDir); len(files) != 0 {
		t.Errorf("dry runs left undo files %v", files)
	}
}

func TestBadCAInputWritesNothing(t *testing.T) {
	client := Client(t)
	rot := citest.NewRotation(t)
	leaf, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "not-a-ca", Server: true, DNSNames: []string{"x"}})
	Must(t, err)
	_, _, expiredPEM, _, err := checks.GenerateCA("expired-ca", 30*time.Minute) // backdated an hour: expired
	Must(t, err)
	write := func(name string, data []byte) string {
		p := filepath.Join(rot.Dir, name)
		Must(t, os.WriteFile(p, data, 0o600))
		return p
	}
	keyLines := strings.Split(strings.TrimSpace(string(rot.NewKeyPEM)), "\n")
	cases := []struct {
		name, file, want string
	}{
		{"text", write("text.crt", []byte("hello, not a certificate\n")), "not PEM"},
		{"empty", write("empty.crt", nil), "empty input"},
		{"private key", write("key.pem", rot.NewKeyPEM), "private key"},
		{"cert then key", write("certkey.pem", append(append([]byte{}, rot.NewPEM...), rot.NewKeyPEM...)), "block 2 is a private key"},
		{"leaf certificate", write("leaf.crt", leaf.CertPEM), "is not a CA"},
		{"expired CA", write("expired.crt", expiredPEM), "expired on"},
		{"missing file", filepath.Join(rot.Dir, "nonexistent.crt"), "no such file"},
	}
	before := citest.Get(t, client)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Carotate(t, "update-cluster-info", "--ca", c.file, "--undo-dir", rot.UndoDir)
			if r.Code != 1 || !strings.Contains(r.Stderr, c.want) {
				t.Errorf("exit %d, want 1 and stderr mentioning %q", r.Code, c.want)
			}
			// The same input makes --check unable to run: exit 2.
			rc := Carotate(t, "update-cluster-info", "--check", "--ca", c.file)
			if rc.Code != 2 {
				t.Errorf("--check: exit %d, want 2", rc.Code)
			}
			for _, line := range keyLines[1 : len(keyLines)-1] {
				if strings.Contains(r.Stdout+r.Stderr+rc.Stdout+rc.Stderr, line) {
					t.Fatalf("private key material echoed")
				}
			}
		})
	}
	after := citest.Get(t, client)
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("bad input changed cluster-info (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
	if files := citest.UndoFiles(t, rot.UndoDir); len(files) != 0 {
		t.Errorf("bad input left undo files %v", files)
	}
}

func TestReadOnlyUserIsStoppedByPreflight(t *testing.T) {
	client := Client(t)
	rot := citest.NewRotation(t)
	user, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "readonly", Client: true})
	Must(t, err)
	kubeconfig := filepath.Join(rot.Dir, "readonly.conf")
	Must(t, localcluster.WriteKubeconfig(kubeconfig, Cluster.Server, rot.OldPEM, user))
	BindClusterRole(t, client, "readonly", "view", "list", "", "configmaps")

	before := citest.Get(t, client)
	r := Cmd{Kubeconfig: kubeconfig}.Run(t, "kubectl-carotate", "update-cluster-info", "--ca", rot.Bundle, "--undo-dir", rot.UndoDir)
	for _, want := range []string{"missing RBAC permissions, nothing was changed", "list secrets in namespace kube-system", "update configmaps in namespace kube-public"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
	if r.Code != 1 || strings.Contains(r.Stderr, "get configmaps") {
		t.Errorf("exit %d; view may get ConfigMaps, so that right is not missing", r.Code)
	}
	if r := (Cmd{Kubeconfig: kubeconfig}).Run(t, "kubectl-carotate", "update-cluster-info", "--check"); r.Code != 2 || !strings.Contains(r.Stderr, "list secrets in namespace kube-system") {
		t.Errorf("--check as a read-only user: exit %d, want 2", r.Code)
	}
	if after := citest.Get(t, client); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("cluster-info changed")
	}
}

func TestHelpDocumentsExitCodes(t *testing.T) {
	r := Carotate(t, "update-cluster-info", "--help")
	for _, want := range []string{"Exit codes:", "0  done; with --check: cluster-info is consistent", "2  with --check: the check could not run", "kubectl carotate update-cluster-info --ca bundle.crt", "--signer-wait"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if r := Carotate(t, "update-cluster-info"); r.Code != 1 || !strings.Contains(r.Stderr, "--ca FILE is required") {
		t.Errorf("no --ca: exit %d", r.Code)
	}
}
