package plugin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/shelltest"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// verifyTestCA is a CA made in memory and written to a file in dir.
type verifyTestCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	file string
}

func newVerifyTestCA(t *testing.T, dir, cn string) verifyTestCA {
	t.Helper()
	c, k, p, _, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, cn+".crt")
	if err := os.WriteFile(file, p, 0o600); err != nil {
		t.Fatal(err)
	}
	return verifyTestCA{cert: c, key: k.(*ecdsa.PrivateKey), pem: p, file: file}
}

// verifyTestLeaf issues a serving certificate from ca, valid from
// notBefore to notAfter.
func verifyTestLeaf(t *testing.T, ca verifyTestCA, notBefore, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testCommands are the root's subcommands, for shelltest.Check.
func testCommands() []*cobra.Command {
	return NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{}).Commands()
}

// checkRunnable checks that line is a command a shell runs as printed,
// against the real command tree.
func checkRunnable(t *testing.T, line string) {
	t.Helper()
	shelltest.Check(t, line, testCommands()...)
}

// TestShelltestKnowsEveryCommand: the subcommands shelltest accepts by name
// are the root's, aliases included.
func TestShelltestKnowsEveryCommand(t *testing.T) {
	var names []string
	for _, c := range testCommands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	sort.Strings(names)
	if got := shelltest.KnownSubcommands(); !reflect.DeepEqual(got, names) {
		t.Fatalf("shelltest knows %v, the root has %v", got, names)
	}
}
