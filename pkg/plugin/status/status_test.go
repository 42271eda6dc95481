package status

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/shelltest"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// checkRunnable checks that line is a command a shell runs as printed:
// status's own calls against its command, the others by flag name.
func checkRunnable(t *testing.T, line string) {
	t.Helper()
	shelltest.Check(t, line, NewCmdStatus(&cmdutil.Env{}))
}

func testCA(t *testing.T, cn string) (*x509.Certificate, crypto.Signer) {
	t.Helper()
	c, k, _, _, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

// testLeaf issues a serving certificate from ca, valid now.
func testLeaf(t *testing.T, ca *x509.Certificate, caKey crypto.Signer) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "kube-apiserver"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestStatusNextLinesRunnable judges a rotation at each of its stages and
// checks every next command status would print.
func TestStatusNextLinesRunnable(t *testing.T) {
	oldCA, oldKey := testCA(t, "old")
	newCA, newKey := testCA(t, "new")
	rec := &rotation.Record{Lifecycle: rotation.Lifecycle{ID: "20260101-abcdef", State: rotation.StateActive},
		OldCAs: []*x509.Certificate{oldCA}, NewCAs: []*x509.Certificate{newCA}}
	servesOld := []*x509.Certificate{testLeaf(t, oldCA, oldKey)}
	servesNew := []*x509.Certificate{testLeaf(t, newCA, newKey)}
	changed := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	kcm := checks.ControlPlanePod{Node: "cp-1", Component: checks.ComponentControllerManager, Name: "kube-controller-manager-cp-1", Mirror: true,
		Command: checks.ParseCommandLine([]string{"kube-controller-manager", "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt"}, nil)}
	apis := checks.ControlPlanePod{Node: "cp-1", Component: checks.ComponentAPIServer, Name: "kube-apiserver-cp-1", Mirror: true, Created: changed.Add(time.Hour),
		Command: checks.ParseCommandLine([]string{"kube-apiserver", "--client-ca-file=/etc/kubernetes/pki/ca-bundle.crt"}, nil)}
	stage := func(st checks.BundleState, writer string, passes []rotation.Pass) (checks.Evidence, bool) {
		chain := servesOld
		if st == checks.BundleOnlyNew {
			chain = servesNew
		}
		r := *rec
		r.Passes = passes
		rot := &rotation.CAs{ID: r.ID, Record: &r, Old: r.OldCAs, New: r.NewCAs, OldFile: "old-ca.crt", NewFile: "new-ca.crt", ExportOld: true, ExportNew: true}
		// The root CA evidence as cluster.ReadEvidence sums it up.
		root := &cluster.RootCAState{CMs: map[checks.BundleState]int{st: 3}, CMTotal: 3, Secrets: map[checks.BundleState]int{},
			KubeSystemCM: st, KubeSystemCMWriter: writer, LastChange: changed}
		return checks.Evidence{Rotation: rot.Facts(), ControlPlane: []checks.ControlPlanePod{kcm, apis},
			RootCA: checks.RootCAEvidence{Summary: root.Line(), Bundled: root.Bundled(), Unbundled: root.Unbundled(),
				KubeSystem: st, KubeSystemWriter: writer, LastChange: changed},
			Pods:        checks.PodEvidence{Restart: []string{"app/web-1"}},
			Serving:     checks.ServingEvidence{Chain: chain},
			ClusterInfo: checks.ClusterInfoEvidence{Present: true},
			Kubeconfig:  checks.KubeconfigEvidence{CA: checks.BundleOnlyOld},
			Nodes:       checks.NodeEvidence{Leases: map[string]time.Time{}}}, r.Active()
	}
	early := []rotation.Pass{{Kind: "restart-workloads", Value: rec.ID + "/bundle", Started: changed.Add(-time.Minute), Result: "ok"}}
	kcmWriter := cluster.ControllerManagerFieldManager
	for _, c := range []struct {
		name   string
		st     checks.BundleState
		writer string
		passes []rotation.Pass
		// step4 is the pass value step 4 recommends, "" when unchecked.
		step4 string
	}{
		{"nothing done", checks.BundleOnlyOld, kcmWriter, nil, ""},
		{"bundled", checks.BundleHasBoth, kcmWriter, nil, rec.ID + "/bundle"},
		{"bundled after an early pass", checks.BundleHasBoth, kcmWriter, early, rec.ID + "/bundle-2"},
		{"unbundled", checks.BundleOnlyNew, kcmWriter, nil, ""},
		{"written by someone else", checks.BundleHasBoth, cmdutil.FieldManager, nil, ""},
	} {
		ev, active := stage(c.st, c.writer, c.passes)
		steps := checks.JudgeSteps(ev)
		for _, s := range steps {
			checkRunnable(t, s.Next)
		}
		_, next, _ := checks.PickNext(steps, active)
		checkRunnable(t, next)
		if c.step4 == "" {
			continue
		}
		for _, s := range steps {
			if s.Step == "4" && !strings.Contains(s.Next, "--value "+c.step4+" ") {
				t.Errorf("%s: step 4 recommends %q, want the pass value %s", c.name, s.Next, c.step4)
			}
		}
	}
	checkRunnable(t, noRotation().Next)
}

// TestNoRotationReadsRight: status without a rotation says so in words,
// and points at start.
func TestNoRotationReadsRight(t *testing.T) {
	var b bytes.Buffer
	if err := printTable(&b, noRotation()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, bad := range []string{"CAs from none", "Next (step start)"} {
		if strings.Contains(out, bad) {
			t.Errorf("status without a rotation says %q:\n%s", bad, out)
		}
	}
	if !strings.HasPrefix(out, "No rotation recorded\n") || !strings.Contains(out, "\nNext: kubectl carotate start --new-ca new-ca.crt\n") {
		t.Errorf("status without a rotation:\n%s", out)
	}
}
