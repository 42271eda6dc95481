package verify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
	file string
}

func newTestCA(t *testing.T, dir, cn string) testCA {
	t.Helper()
	c, k, p, _, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, cn+".crt")
	if err := os.WriteFile(file, p, 0o600); err != nil {
		t.Fatal(err)
	}
	return testCA{cert: c, key: k.(*ecdsa.PrivateKey), pem: p, file: file}
}

// testLeaf issues a serving certificate from ca, valid from
// notBefore to notAfter.
func testLeaf(t *testing.T, ca testCA, notBefore, notAfter time.Time) *x509.Certificate {
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

func newTestOptions(errOut *bytes.Buffer) *Options {
	return &Options{Env: &cmdutil.Env{IOStreams: genericiooptions.IOStreams{Out: &bytes.Buffer{}, ErrOut: errOut}},
		Since: time.Hour, Only: append([]string{}, sectionNames...), Now: time.Now}
}

func TestVerifyValidate(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newTestCA(t, dir, "old"), newTestCA(t, dir, "new")
	bundle := filepath.Join(dir, "bundle.crt")
	if err := os.WriteFile(bundle, checks.BuildBundle([]*x509.Certificate{newCA.cert}, []*x509.Certificate{oldCA.cert}), 0o600); err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(dir, "key.pem")
	_, _, _, keyPEM, err := checks.GenerateCA("k", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		set        func(o *Options)
		err        string
		expect     checks.Expect
		warn       string
		old, wantN int
	}{
		{"bundle is bundle by default", func(o *Options) { o.CAFile = bundle }, "", checks.ExpectBundle, "", 0, 2},
		{"one CA is new by default", func(o *Options) { o.CAFile = newCA.file }, "", checks.ExpectNew, "", 0, 1},
		{"explicit expect with old", func(o *Options) { o.CAFile, o.OldCAFile, o.Expect = newCA.file, oldCA.file, "new" }, "", checks.ExpectNew, "", 1, 1},
		{"bundle without the old CA warns", func(o *Options) { o.CAFile, o.OldCAFile, o.Expect = newCA.file, oldCA.file, "bundle" }, "", checks.ExpectBundle,
			"does not hold the --old-ca certificate", 1, 1},
		{"no --ca", func(o *Options) {}, "--ca FILE is required", "", "", 0, 0},
		{"bad --expect", func(o *Options) { o.CAFile, o.Expect = bundle, "both" }, `--expect must be "bundle" or "new", got "both"`, "", "", 0, 0},
		{"old in --ca with --expect new", func(o *Options) { o.CAFile, o.OldCAFile, o.Expect = bundle, oldCA.file, "new" },
			"--old-ca certificate CN=old is also in --ca", "", "", 0, 0},
		{"unknown check", func(o *Options) { o.CAFile, o.Only = bundle, []string{"pods", "dns"} }, `--only: unknown check "dns"`, "", "", 0, 0},
		{"no check", func(o *Options) { o.CAFile, o.Only = bundle, []string{""} }, "--only names no check", "", "", 0, 0},
		{"bad --since", func(o *Options) { o.CAFile, o.Since = bundle, 0 }, "--since must be positive", "", "", 0, 0},
		{"bad --logs-for", func(o *Options) { o.CAFile, o.LogsFor = bundle, []string{"cronjob/x"} }, `kind "cronjob" is not one of`, "", "", 0, 0},
		{"missing file", func(o *Options) { o.CAFile = filepath.Join(dir, "nope") }, "--ca: open ", "", "", 0, 0},
		{"private key", func(o *Options) { o.CAFile = keyFile }, "private key", "", "", 0, 0},
		{"bad output", func(o *Options) { o.CAFile, o.Output = bundle, "wide" }, `unsupported output format "wide"`, "", "", 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var errOut bytes.Buffer
			o := newTestOptions(&errOut)
			c.set(o)
			err := o.Validate()
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				if strings.Contains(err.Error(), "PRIVATE KEY-----") {
					t.Fatalf("error echoes the key: %v", err)
				}
				// Whatever stops verify before it judged anything is "could
				// not run".
				var ee *cmdutil.ExitError
				if !errors.As(cannotRun(err), &ee) || ee.Code != 2 {
					t.Fatalf("exit code for %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.rule.Expect != c.expect || len(o.rule.Want) != c.wantN || len(o.rule.Old) != c.old {
				t.Fatalf("rule %+v", o.rule)
			}
			if !strings.Contains(errOut.String(), c.warn) || (c.warn == "" && errOut.Len() > 0) {
				t.Fatalf("stderr %q, want %q", errOut.String(), c.warn)
			}
		})
	}
}

func TestVerifyReportResult(t *testing.T) {
	sec := func(name string, sev ...string) *section {
		s := newSection(name)
		for _, v := range sev {
			s.add(item{Severity: v, Kind: "X", Name: v})
		}
		s.finish()
		return s
	}
	failed := sec("sa", checks.SeverityError)
	failed.fail("listing Secrets: forbidden")
	failed.finish()
	cases := []struct {
		name     string
		sections []*section
		code     int
		summary  string
		err      string
	}{
		{"all good", []*section{sec("pods", checks.SeverityOK, checks.SeverityInfo), sec("sa")}, 0,
			"OK: 2 checks passed, 0 errors, 0 warnings", ""},
		{"warnings pass", []*section{sec("pods", checks.SeverityWarning, checks.SeverityWarning)}, 0,
			"OK: 1 check passed, 0 errors, 2 warnings (pods)", ""},
		{"errors block", []*section{sec("pods", checks.SeverityError, checks.SeverityWarning), sec("webhooks", checks.SeverityError)}, 1,
			"NOT READY: 2 errors (pods, webhooks), 1 warning (pods); fix the errors before the next step", "verify found 2 errors that block the next step"},
		{"a failed check wins", []*section{sec("pods", checks.SeverityError), failed}, 2,
			"INCOMPLETE: 1 check (sa) could not run; 2 errors (pods, sa), 0 warnings", "verify is incomplete: sa: listing Secrets: forbidden"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &report{Sections: c.sections}
			r.finish()
			if r.Result.ExitCode != c.code || r.Result.Summary != c.summary {
				t.Fatalf("got %d %q, want %d %q", r.Result.ExitCode, r.Result.Summary, c.code, c.summary)
			}
			err := r.exitError()
			if c.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ee *cmdutil.ExitError
			if !errors.As(err, &ee) || ee.Code != c.code || err.Error() != c.err {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestVerifySectionSortsWorstFirst(t *testing.T) {
	s := newSection(sectionPods)
	s.add(item{Severity: checks.SeverityOK, Kind: "Deployment", Namespace: "a", Name: "ok"})
	s.add(item{Severity: checks.SeverityInfo, Kind: "Pod", Namespace: "a", Name: "i"})
	s.add(item{Severity: checks.SeverityError, Kind: "Pod", Namespace: "b", Name: "e2"})
	s.add(item{Severity: checks.SeverityError, Kind: "Deployment", Namespace: "b", Name: "e1"})
	s.add(item{Severity: checks.SeverityWarning, Kind: "Pod", Namespace: "a", Name: "w"})
	s.finish()
	var got []string
	for _, it := range s.Items {
		got = append(got, it.Name)
	}
	if want := []string{"e1", "e2", "w", "i", "ok"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	if s.Errors != 2 || s.Warnings != 1 || s.Status != "findings" {
		t.Fatalf("counts %+v", s)
	}
}

func TestPrintVerifyReport(t *testing.T) {
	pods := newSection(sectionPods)
	pods.Summary = "4 pods judged: 1 ok, 2 restart-needed, 1 no-api-ca"
	pods.add(item{Severity: checks.SeverityError, Kind: "Deployment", Namespace: "shop", Name: "web", Where: "ConfigMap kube-root-ca.crt",
		Holds: "new+old", Verdict: "restart-needed", Detail: "pod web-1: container app started ...", Count: 2, Members: []string{"web-1", "web-2"},
		Action: "kubectl carotate restart-workloads -n shop --kinds deployments --wait"})
	pods.add(item{Severity: checks.SeverityInfo, Kind: "Pod", Namespace: "shop", Name: "batch", Where: "none (automountServiceAccountToken: false)",
		Verdict: "no-api-ca", Detail: "does not use the API CA through a ServiceAccount token", Count: 1})
	pods.add(item{Severity: checks.SeverityOK, Kind: "Deployment", Namespace: "shop", Name: "api", Verdict: "ok", Count: 1})
	pods.notef("times are compared at the second")
	pods.action("kubectl carotate restart-workloads -n shop --kinds deployments --wait")
	pods.finish()
	serving := newSection(sectionServing)
	serving.Summary = "1 API server address checked"
	serving.add(item{Severity: checks.SeverityOK, Kind: "kubeconfig server", Name: "https://10.0.0.1:6443", Verdict: "verifies"})
	serving.finish()
	rep := &report{Expect: "bundle", Namespace: "shop", Sections: []*section{pods, serving},
		CA: []cert{{Label: "new", Subject: "CN=kubernetes-new", Fingerprint: "0123456789abcdef0123"}, {Label: "old", Subject: "CN=kubernetes", Fingerprint: "fedcba9876543210fedc"}}}
	rep.finish()
	var buf bytes.Buffer
	if err := printReport(&buf, rep); err != nil {
		t.Fatal(err)
	}
	want := `Expect bundle (every certificate of --ca present): new (CN=kubernetes-new, sha256 0123456789abcdef), old (CN=kubernetes, sha256 fedcba9876543210); scope: namespace shop (pods, sa, copies, logs)

== Pods: where each pod's API trust comes from (steps 3, 4, 9.4, 12.1)
FINDINGS: 4 pods judged: 1 ok, 2 restart-needed, 1 no-api-ca
SEVERITY   OBJECT                         WHERE                                        HOLDS     VERDICT          DETAIL
error      Deployment shop/web (2 pods)   ConfigMap kube-root-ca.crt                   new+old   restart-needed   pod web-1: container app started ...
info       Pod shop/batch                 none (automountServiceAccountToken: false)             no-api-ca        does not use the API CA through a ServiceAccount token
note: times are compared at the second
next: kubectl carotate restart-workloads -n shop --kinds deployments --wait

== API server serving chain (step 9.3)
PASSED: 1 API server address checked

NOT READY: 1 error (pods), 0 warnings; fix the errors before the next step
`
	if got := buf.String(); got != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseVerifyWorkloadRef(t *testing.T) {
	cases := map[string]workloadRef{
		"deployment/web":            {Kind: "Deployment", Name: "web"},
		"kube-system/ds/kube-proxy": {Namespace: "kube-system", Kind: "DaemonSet", Name: "kube-proxy"},
		"db/statefulsets/pg":        {Namespace: "db", Kind: "StatefulSet", Name: "pg"},
		"po/x":                      {Kind: "Pod", Name: "x"},
	}
	for in, want := range cases {
		got, err := parseWorkloadRef(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"web", "a/b/c/d", "job/x", "deployment/", "/deployment/x"} {
		if _, err := parseWorkloadRef(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if s := (workloadRef{Namespace: "a", Kind: "Deployment", Name: "b"}).String(); s != "a/deployment/b" {
		t.Errorf("String: %s", s)
	}
}

func TestVerifyRestartActions(t *testing.T) {
	two := map[string]map[string]bool{"b": {"statefulsets": true, "deployments": true}, "a": {"daemonsets": true}}
	want := []string{"kubectl carotate restart-workloads -n a --kinds daemonsets --wait",
		"kubectl carotate restart-workloads -n b --kinds deployments,statefulsets --wait"}
	if got := restartActions(two); !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v", got)
	}
	many := map[string]map[string]bool{"a": {"deployments": true}, "b": {"deployments": true}, "c": {"daemonsets": true}, "d": {"deployments": true}}
	if got := restartActions(many); !reflect.DeepEqual(got, []string{"kubectl carotate restart-workloads --kinds deployments,daemonsets --wait"}) {
		t.Fatalf("many namespaces: %v", got)
	}
}

func TestVerifyPodAction(t *testing.T) {
	cases := []struct {
		g           podGroup
		action, fix string
	}{
		{podGroup{podKey: podKey{ns: "n", ownerKind: "StatefulSet", ownerName: "db", verdict: checks.PodRestartNeeded}},
			"kubectl carotate restart-workloads -n n --kinds statefulsets --wait", ""},
		{podGroup{podKey: podKey{ns: "n", ownerKind: "Pod", ownerName: "p", verdict: checks.PodRestartNeeded}},
			"kubectl get pod -n n p -o yaml > pod.yaml && kubectl replace --force -f pod.yaml", "no controller recreates pod p: replace it with itself"},
		{podGroup{podKey: podKey{ns: "n", ownerKind: "Job", ownerName: "j", verdict: checks.PodRestartNeeded}, members: []string{"j-1", "j-2"}},
			"kubectl delete pod -n n j-1 j-2", "let Job j finish (its next pods read the current CA), or delete its running pods"},
		{podGroup{podKey: podKey{ns: "n", ownerKind: "Deployment", ownerName: "d", verdict: checks.PodSourceLacksCA, source: "ConfigMap kube-root-ca.crt"}},
			"", "fix ConfigMap kube-root-ca.crt first (see the sa check), then restart these pods"},
		{podGroup{podKey: podKey{ns: "n", ownerKind: "Rollout", ownerName: "r", verdict: checks.PodRestartNeeded}},
			"", "restart the pods through their controller Rollout r"},
	}
	for _, c := range cases {
		action, fix := podAction(&c.g)
		if action != c.action || fix != c.fix {
			t.Errorf("%+v:\n got %q, %q\nwant %q, %q", c.g, action, fix, c.action, c.fix)
		}
		checkRunnable(t, action)
	}
}

func TestVerifyChainItem(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newTestCA(t, dir, "old"), newTestCA(t, dir, "new")
	now := time.Now()
	oldLeaf := testLeaf(t, oldCA, now.Add(-time.Hour), now.Add(time.Hour))
	newLeaf := testLeaf(t, newCA, now.Add(-time.Hour), now.Add(time.Hour))
	expired := testLeaf(t, newCA, now.Add(-2*time.Hour), now.Add(-time.Hour))
	bundle := checks.NewCARule(checks.ExpectBundle, []*x509.Certificate{newCA.cert, oldCA.cert}, []*x509.Certificate{oldCA.cert})
	final := checks.NewCARule(checks.ExpectNew, []*x509.Certificate{newCA.cert}, []*x509.Certificate{oldCA.cert})
	finalNoOld := checks.NewCARule(checks.ExpectNew, []*x509.Certificate{newCA.cert}, nil)
	cases := []struct {
		name                      string
		rule                      checks.CARule
		leaf                      *x509.Certificate
		severity, verdict, detail string
	}{
		{"bundle, old serving cert", bundle, oldLeaf, "warning", "old-ca", "still served by the old CA: step 9.3 is not done yet, and unbundle refuses until it is; verifies against old"},
		{"bundle, new serving cert", bundle, newLeaf, "ok", "verifies", "verifies against new"},
		{"new, old serving cert", final, oldLeaf, "error", "old-ca", "still served by the old CA, which clients trusting only --ca reject; verifies against old"},
		{"new without --old-ca, old serving cert", finalNoOld, oldLeaf, "error", "untrusted", "verifies against none of --ca"},
		{"new, new serving cert", final, newLeaf, "ok", "verifies", "verifies against new"},
		{"expired", final, expired, "error", "expired", "the serving certificate expired on " + expired.NotAfter.UTC().Format(time.RFC3339) + "; verifies against new"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &run{o: &Options{rule: c.rule, Now: func() time.Time { return now }}}
			it := r.chainItem("kubeconfig server", "https://x", []*x509.Certificate{c.leaf})
			if it.Severity != c.severity || it.Verdict != c.verdict || it.Detail != c.detail {
				t.Fatalf("got %s %s %q", it.Severity, it.Verdict, it.Detail)
			}
			if (c.severity == "ok") != (it.Action == "") {
				t.Fatalf("action %q", it.Action)
			}
			if !strings.HasPrefix(it.Holds, "leaf CN=kube-apiserver, issued by CN=") {
				t.Fatalf("holds %q", it.Holds)
			}
		})
	}
}

func TestVerifyGroupReason(t *testing.T) {
	msg := `no exec found for container "app" in pod "shop/web-1"`
	if got := groupReason(msg, "shop", "web-1", "app"); got != `no exec found for container "CONTAINER" in pod "NAMESPACE/POD"` {
		t.Fatalf("%s", got)
	}
}

// TestVerifyErrorReadsRight: the error a user reads mid-incident is English.
func TestVerifyErrorReadsRight(t *testing.T) {
	for n, want := range map[int]string{1: "verify found 1 error that blocks the next step", 2: "verify found 2 errors that block the next step"} {
		rep := &report{Result: result{ExitCode: 1, Errors: n}}
		if got := rep.exitError().Error(); got != want {
			t.Errorf("%d errors: %q, want %q", n, got, want)
		}
	}
}
