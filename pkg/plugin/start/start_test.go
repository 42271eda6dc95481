package start

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

func testCA(t *testing.T, cn string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	cert, _, certPEM, keyPEM, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

func testRecord(t *testing.T) *rotation.Record {
	t.Helper()
	oldCert, oldPEM, _ := testCA(t, "old")
	newCert, newPEM, _ := testCA(t, "new")
	return &rotation.Record{Lifecycle: rotation.Lifecycle{ID: "20260101-abcdef", State: rotation.StateActive, StartedBy: "alice", StartedAt: time.Unix(1767225600, 0).UTC(),
		OldCASource: "--old-ca old.crt"},
		OldCAPEM: oldPEM, NewCAPEM: newPEM, OldCAs: []*x509.Certificate{oldCert}, NewCAs: []*x509.Certificate{newCert}}
}

func TestStartRefuseKeys(t *testing.T) {
	dir := t.TempDir()
	_, certPEM, keyPEM := testCA(t, "x")
	cert := filepath.Join(dir, "ca.crt")
	both := filepath.Join(dir, "both.pem")
	if err := os.WriteFile(cert, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(both, append(append([]byte{}, certPEM...), keyPEM...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := refuseKeys(map[string]string{"--new-ca": cert}); err != nil {
		t.Errorf("a certificate alone: %v", err)
	}
	err := refuseKeys(map[string]string{"--new-ca": cert, "--old-ca": both})
	if err == nil || !strings.Contains(err.Error(), "--old-ca "+both+" contains a private key") || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("a key in --old-ca: %v", err)
	}
}
