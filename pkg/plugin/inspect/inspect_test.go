package inspect

import (
	"bytes"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
)

func TestParseObject(t *testing.T) {
	dir := t.TempDir()
	// A file whose path looks like an object reference is read as a file.
	weird := filepath.Join(dir, "secret")
	if err := os.MkdirAll(filepath.Join(weird, "ns"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(weird, "ns", "name"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	cases := []struct {
		in, kind, ns, name string
		isObj              bool
		err                string
	}{
		{in: "configmap/kube-system/kube-root-ca.crt", kind: "configmap", ns: "kube-system", name: "kube-root-ca.crt", isObj: true},
		{in: "cm/a/b", kind: "configmap", ns: "a", name: "b", isObj: true},
		{in: "Secrets/a/b", kind: "secret", ns: "a", name: "b", isObj: true},
		{in: "secret/b", kind: "secret", isObj: true, err: `"secret/b": write secret/NAMESPACE/NAME`},
		{in: "configmap/a/b/c", kind: "configmap", isObj: true, err: "write configmap/NAMESPACE/NAME"},
		{in: "ca.crt"},
		{in: "/etc/kubernetes/pki/ca.crt"},
		{in: "secret/ns/name"}, // the file created above
	}
	for _, c := range cases {
		kind, ns, name, isObj, err := parseObject(c.in)
		if kind != c.kind || ns != c.ns || name != c.name || isObj != c.isObj || (err == nil) != (c.err == "") ||
			err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: got %q %q %q %v %v", c.in, kind, ns, name, isObj, err)
		}
	}
}

func TestInspectValidate(t *testing.T) {
	if err := (&InspectOptions{Key: "ca.crt"}).Validate(); err == nil || !strings.Contains(err.Error(), "nothing to inspect") {
		t.Fatalf("no source: %v", err)
	}
	if err := (&InspectOptions{Key: "ca.crt", sources: []string{"secret/x"}}).Validate(); err == nil {
		t.Fatal("a malformed object reference must be refused before any request")
	}
	for _, o := range []InspectOptions{
		{Key: "ca.crt", Live: true, Output: "yaml"},
		{Key: "ca.crt", Live: true, Fleet: cmdutil.ContextFlags{All: true}},
		{Key: "ca.crt", Live: true, Fleet: cmdutil.ContextFlags{Names: []string{"a,b"}}},
	} {
		if err := o.Validate(); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, c := range []struct {
		o    InspectOptions
		want string
	}{
		{InspectOptions{Key: "ca.crt", Fleet: cmdutil.ContextFlags{All: true}}, "go with --live"},
		{InspectOptions{Key: "ca.crt", Live: true, Fleet: cmdutil.ContextFlags{All: true}, sources: []string{"ca.crt"}}, "in a run of their own"},
		{InspectOptions{Key: "ca.crt", Live: true, Fleet: cmdutil.ContextFlags{All: true, Names: []string{"a"}}}, "go alone"},
	} {
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
}

// TestPrintReportByContext: with several contexts, a CONTEXT column and
// the context before each verification line.
func TestPrintReportByContext(t *testing.T) {
	ca := testca.New(t, "kubernetes")
	c := certLine{CertInfo: checks.Describe(ca.Cert), DaysLeft: 0}
	r := &report{
		Sources: []sourceResult{
			{Context: "prod", Source: "kubeconfig CA", Certificates: []certLine{c}},
			{Context: "stage", Source: "kubeconfig CA", Certificates: []certLine{c}},
			{Context: "stage", Source: "serving chain of https://x", Error: "no answer within 10s"},
		},
		Verification: []verification{{Context: "prod", Chain: "serving chain of https://y", Against: "kubeconfig CA", Verifies: true}},
	}
	var b bytes.Buffer
	if err := printReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	fp, after := checks.Fingerprint(ca.Cert)[:16], ca.Cert.NotAfter.UTC().Format(time.RFC3339)
	want := "" +
		"CONTEXT   SOURCE          SUBJECT         ISSUER          CA    NOT AFTER              DAYS LEFT   FINGERPRINT\n" +
		"prod      kubeconfig CA   CN=kubernetes   CN=kubernetes   yes   " + after + "   0           " + fp + "\n" +
		"stage     kubeconfig CA   CN=kubernetes   CN=kubernetes   yes   " + after + "   0           " + fp + "\n" +
		"prod: serving chain of https://y verifies against kubeconfig CA: yes\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintReport(t *testing.T) {
	ca := testca.New(t, "kubernetes")
	leaf := testca.Leaf(t, ca).Leaf
	now := time.Now()
	src := func(name string, certs ...*x509.Certificate) sourceResult {
		s := sourceResult{Source: name}
		for _, c := range certs {
			s.Certificates = append(s.Certificates, certLine{CertInfo: checks.Describe(c), DaysLeft: checks.DaysLeft(c, now)})
		}
		return s
	}
	r := &report{
		Sources: []sourceResult{src("ca.crt", ca.Cert), src("serving chain of https://x", leaf)},
		Verification: []verification{
			{Chain: "serving chain of https://x", Against: "kubeconfig CA", Verifies: true},
			{Chain: "serving chain of https://x", Against: "configmap/kube-system/kube-root-ca.crt[ca.crt]", Verifies: false},
		},
	}
	var b bytes.Buffer
	if err := printReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	caFP, leafFP := checks.Fingerprint(ca.Cert)[:16], checks.Fingerprint(leaf)[:16]
	caAfter, leafAfter := ca.Cert.NotAfter.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339)
	want := "" +
		"SOURCE                       SUBJECT             ISSUER          CA    NOT AFTER              DAYS LEFT   FINGERPRINT\n" +
		"ca.crt                       CN=kubernetes       CN=kubernetes   yes   " + caAfter + "   0           " + caFP + "\n" +
		"serving chain of https://x   CN=kube-apiserver   CN=kubernetes   no    " + leafAfter + "   0           " + leafFP + "\n" +
		"serving chain of https://x verifies against kubeconfig CA: yes\n" +
		"serving chain of https://x verifies against configmap/kube-system/kube-root-ca.crt[ca.crt]: no\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	if err := printReport(&b, cmdutil.OutputJSON, r); err != nil {
		t.Fatal(err)
	}
	// JSON carries the full fingerprint and the CertInfo fields flattened.
	for _, want := range []string{`"fingerprint": "` + checks.Fingerprint(ca.Cert) + `"`, `"isCA": true`, `"daysLeft": 0`, `"verifies": false`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s", want)
		}
	}
}

func TestPrintExpired(t *testing.T) {
	_, _, p, _, err := checks.GenerateCA("old", 30*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	s := parse("x", p)
	c := s.certs[0]
	r := &report{Sources: []sourceResult{{Source: "x",
		Certificates: []certLine{{CertInfo: checks.Describe(c), DaysLeft: checks.DaysLeft(c, time.Now())}}}}}
	var b bytes.Buffer
	if err := printReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "   expired   ") {
		t.Fatalf("an expired certificate must say so:\n%s", b.String())
	}
}

func TestReadKubeconfigCA(t *testing.T) {
	ca := testca.New(t, "kubernetes")
	if s := readKubeconfigCA(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAData: ca.PEM}}); s.Error != "" || len(s.certs) != 1 {
		t.Fatalf("CAData: %+v", s)
	}
	file := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(file, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if s := readKubeconfigCA(&rest.Config{TLSClientConfig: rest.TLSClientConfig{CAFile: file}}); s.Error != "" || s.Source != "kubeconfig CA ("+file+")" {
		t.Fatalf("CAFile: %+v", s)
	}
	if s := readKubeconfigCA(&rest.Config{TLSClientConfig: rest.TLSClientConfig{Insecure: true}}); !strings.Contains(s.Error, "insecure-skip-tls-verify") {
		t.Fatalf("insecure: %+v", s)
	}
	if s := readKubeconfigCA(&rest.Config{}); !strings.Contains(s.Error, "system roots") {
		t.Fatalf("no CA: %+v", s)
	}
}
