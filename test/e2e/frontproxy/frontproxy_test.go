//go:build e2e

// Package frontproxy proves the front-proxy-ca target on the kubeadm node:
// the front-proxy CA is rotated end to end only by the scripts
// "kubectl carotate instructions --target front-proxy-ca -o script" prints,
// run as printed inside the node, while an aggregated API server (the
// harness's, which accepts only a proxy client certificate that verifies
// against the requestheader CA kube-apiserver publishes) answers through
// kube-apiserver after every script. The end is checked from outside: the
// proxy client certificate is the new CA's, extension-apiserver-
// authentication publishes the new CA alone, status shows every step done
// and finish closes the record.
package frontproxy

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, localcluster.Options{Kubeadm: true, AggregatorRouting: true, Nodes: 1}))
}

// env shortens the scripts' waits, so a hung step fails the test early.
var env = []string{"CAROTATE_TIMEOUT=180"}

var api = localcluster.AggregatedAPI{Group: "fp.carotate.io", Version: "v1", Namespace: "fp-aggregated", Service: "api"}

const (
	pki      = "/etc/kubernetes/pki/"
	manifest = "/etc/kubernetes/manifests/kube-apiserver.yaml"
)

// answers waits until a request through kube-apiserver's aggregator to
// the aggregated API succeeds (kube-apiserver has just restarted).
func answers(t *testing.T, client kubernetes.Interface, after string) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		var raw []byte
		raw, last = client.Discovery().RESTClient().Get().AbsPath(api.Path()).DoRaw(ctx)
		return last == nil && strings.Contains(string(raw), `"groupVersion":"`+api.Group+"/"+api.Version+`"`), nil
	})
	if err != nil {
		t.Fatalf("after %s, GET %s through kube-apiserver fails: %v\n%s", after, api.Path(), last, Cluster.LogTails(15))
	}
}

// requestHeaderCA is what extension-apiserver-authentication publishes.
func requestHeaderCA(t *testing.T, client kubernetes.Interface) []byte {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "extension-apiserver-authentication", metav1.GetOptions{})
	Must(t, err)
	return []byte(cm.Data["requestheader-client-ca-file"])
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestRotateTheFrontProxyCAByTheScripts(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	began := time.Now()
	Must(t, Cluster.ServeAggregatedAPI(ctx, api))
	t.Logf("aggregated API %s Available in %s", api.APIServiceName(), time.Since(began).Round(time.Second))
	answers(t, client, "the harness started the aggregated API server")
	oldFP := InNode(t, dir, "cat", pki+"front-proxy-ca.crt")

	t.Run("the aggregated API server refuses what the aggregator would not send", func(t *testing.T) {
		url := "https://" + localcluster.NodeAddress + ":9443" + api.Path()
		for name, args := range map[string][]string{
			"no client certificate":                  {},
			"a client certificate of the cluster CA": {"--cert", pki + "apiserver-kubelet-client.crt", "--key", pki + "apiserver-kubelet-client.key", "-H", "X-Remote-User: x"},
			"the proxy client certificate, no user":  {"--cert", pki + "front-proxy-client.crt", "--key", pki + "front-proxy-client.key"},
		} {
			out := InNode(t, dir, append([]string{"curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}"}, append(args, url)...)...)
			if out != "401" {
				t.Errorf("%s: HTTP %s, want 401", name, out)
			}
		}
		if out := InNode(t, dir, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--cert", pki+"front-proxy-client.crt", "--key", pki+"front-proxy-client.key",
			"-H", "X-Remote-User: x", url); out != "200" {
			t.Errorf("the proxy client certificate with a user: HTTP %s, want 200", out)
		}
	})

	// The new front-proxy CA and a new cluster CA (for the refusal below),
	// made on the node; the plugin sees the certificates only.
	for _, name := range []string{"new-front-proxy-ca", "new-cluster-ca"} {
		InNode(t, dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", name+".key", "-out", name+".crt",
			"-subj", "/CN="+name, "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
	}
	newFP := InNode(t, dir, "cat", "new-front-proxy-ca.crt")

	t.Run("a front-proxy-ca rotation refuses while a cluster-ca rotation rotates the front-proxy CA", func(t *testing.T) {
		_, errOut, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--new-ca", "new-cluster-ca.crt", "--new-front-proxy-ca", "new-front-proxy-ca.crt")
		if code != 0 {
			t.Fatalf("start (cluster-ca): exit %d: %s", code, errOut)
		}
		_, errOut, code = NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "front-proxy-ca", "--new-ca", "new-front-proxy-ca.crt")
		if code == 0 || !strings.Contains(errOut, "also rotates the front-proxy CA (start --new-front-proxy-ca)") {
			t.Errorf("start --target front-proxy-ca: exit %d: %s", code, errOut)
		}
		if _, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state-front-proxy-ca", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("the refused start wrote a record: %v", err)
		}
		if _, errOut, code := NodeRun(t, dir, nil, "kubectl", "carotate", "abort"); code != 0 {
			t.Fatalf("abort (cluster-ca): exit %d: %s", code, errOut)
		}
	})

	stdout, stderr, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "front-proxy-ca", "--new-ca", "new-front-proxy-ca.crt", "-o", "json")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	var rec struct {
		ID, Target, OldCASource string
		OldCA, NewCA            []checks.CertInfo
	}
	Must(t, json.Unmarshal([]byte(stdout), &rec))
	if rec.Target != "front-proxy-ca" || len(rec.OldCA) != 1 || len(rec.NewCA) != 1 || rec.NewCA[0].Subject != "CN=new-front-proxy-ca" ||
		!strings.Contains(rec.OldCASource, "extension-apiserver-authentication") {
		t.Fatalf("the record: %+v", rec)
	}
	if oldCerts, err := checks.ParseCertificates("front-proxy-ca.crt", []byte(oldFP)); err != nil || checks.Fingerprint(oldCerts[0]) != rec.OldCA[0].Fingerprint {
		t.Errorf("the recorded old CA is not kubeadm's front-proxy-ca.crt (%v)", err)
	}

	t.Run("a cluster-ca rotation with --new-front-proxy-ca refuses while it is active", func(t *testing.T) {
		_, errOut, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--new-ca", "new-cluster-ca.crt", "--new-front-proxy-ca", "new-front-proxy-ca.crt")
		if code == 0 || !strings.Contains(errOut, "rotates the front-proxy CA on its own") {
			t.Errorf("start --new-front-proxy-ca: exit %d: %s", code, errOut)
		}
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state", metav1.GetOptions{})
		Must(t, err)
		if !strings.Contains(cm.Data["rotation.json"], `"state": "aborted"`) {
			t.Errorf("the refused start touched the cluster-ca record: %s", cm.Data["rotation.json"])
		}
	})

	script := func(phase string) string { return TargetScript(t, dir, checks.TargetFrontProxyCA, phase) }
	run := func(file string) (string, int) {
		out, errOut, code := NodeRun(t, dir, append([]string{"NEW_FRONT_PROXY_CA_KEY=" + filepath.Join(dir, "new-front-proxy-ca.key")}, env...), "bash", file)
		return out + errOut, code
	}
	took := map[string]time.Duration{}
	for _, phase := range checks.TargetPhases(checks.TargetFrontProxyCA) {
		file := script(phase)
		start := time.Now()
		out, code := run(file)
		took[phase] = time.Since(start)
		t.Logf("%s: exit %d in %s\n%s", file, code, took[phase].Round(time.Second), out)
		if code != 0 {
			t.Fatalf("%s did not run through", file)
		}
		answers(t, client, file)
		st := StatusWhen(t, checks.TargetFrontProxyCA, map[string]string{checks.PhaseBundle: "1", checks.PhaseServe: "2", checks.PhaseFinish: "3"}[phase], checks.StateDone)
		switch phase {
		case checks.PhaseBundle:
			if s := st.Step("1"); s.State != checks.StateDone {
				t.Errorf("after bundle, step 1: %s: %s", s.State, s.Evidence)
			}
			if s := st.Step("2"); s.State != checks.StateNotDone {
				t.Errorf("after bundle, step 2: %s: %s", s.State, s.Evidence)
			}
			if st := checks.Classify("published", requestHeaderCA(t, client), parse(t, oldFP), parse(t, newFP)); st.State != checks.BundleHasBoth {
				t.Errorf("after bundle, extension-apiserver-authentication publishes %s", st.State)
			}
			if r := Carotate(t, "status"); !strings.Contains(r.Stdout+r.Stderr, "Also under way: front-proxy-ca rotation "+rec.ID) {
				t.Errorf("status without --target does not list the front-proxy-ca rotation:\n%s", r.Stdout)
			}
			t.Run("the finish script run before the serve script stops and changes nothing", func(t *testing.T) {
				before := InNode(t, dir, "cat", manifest)
				fin := script(checks.PhaseFinish)
				out, code := run(fin)
				if code == 0 || !strings.Contains(out, "step 3 from the workstation failed") {
					t.Errorf("the early finish script: exit %d\n%s", code, out)
				}
				if !strings.Contains(out, "not step 2's certificate from the new CA") {
					t.Errorf("the early finish script does not say why:\n%s", out)
				}
				if after := InNode(t, dir, "cat", manifest); sha(after) != sha(before) {
					t.Errorf("the early finish script changed the kube-apiserver manifest")
				}
				if got := InNode(t, dir, "cat", pki+"front-proxy-ca.crt"); got != oldFP {
					t.Errorf("the early finish script changed front-proxy-ca.crt")
				}
				answers(t, client, "the early finish script")
			})
		case checks.PhaseServe:
			if s := st.Step("2"); s.State != checks.StateDone {
				t.Errorf("after serve, step 2: %s: %s", s.State, s.Evidence)
			}
			InNode(t, dir, "openssl", "verify", "-CAfile", "new-front-proxy-ca.crt", pki+"front-proxy-client-new.crt")
		}
	}
	t.Logf("front-proxy CA rotated by the printed scripts in %s (bundle %s, serve %s, finish %s)", time.Since(began).Round(time.Second),
		took[checks.PhaseBundle].Round(time.Second), took[checks.PhaseServe].Round(time.Second), took[checks.PhaseFinish].Round(time.Second))

	t.Run("the proxy client certificate is the new CA's, under kubeadm's file names", func(t *testing.T) {
		InNode(t, dir, "openssl", "verify", "-CAfile", "new-front-proxy-ca.crt", pki+"front-proxy-client.crt")
		Must(t, os.WriteFile(filepath.Join(dir, "old-front-proxy-ca.crt"), []byte(oldFP), 0o644))
		if _, _, code := NodeRun(t, dir, nil, "openssl", "verify", "-CAfile", "old-front-proxy-ca.crt", pki+"front-proxy-client.crt"); code == 0 {
			t.Errorf("the proxy client certificate still verifies against the old front-proxy CA")
		}
		// The aggregated API server saw it: its log names each caller's issuer.
		logged, err := os.ReadFile(filepath.Join(Cluster.Dir, "logs", localcluster.AggregatedAPIComponent+".log"))
		Must(t, err)
		if !strings.Contains(string(logged), "GET "+api.Path()+": 200 for system:") || !strings.Contains(string(logged), "via front-proxy-client (issuer new-front-proxy-ca)") {
			t.Errorf("the aggregated API server never answered a proxy client certificate from the new CA:\n%s", logged)
		}
		if got := InNode(t, dir, "cat", pki+"front-proxy-ca.crt"); got != newFP {
			t.Errorf("front-proxy-ca.crt is not the new CA")
		}
		InNode(t, dir, "cmp", pki+"front-proxy-ca.key", "new-front-proxy-ca.key")
		ManifestHas(t, dir, manifest, "- --requestheader-client-ca-file="+pki+"front-proxy-ca.crt", "- --proxy-client-cert-file="+pki+"front-proxy-client.crt")
		NodeAbsent(t, dir, pki+"front-proxy-ca-bundle.crt", pki+"front-proxy-ca-new.crt", pki+"front-proxy-ca-new.key")
		BackedUp(t, dir, rec.ID, "3", pki+"front-proxy-ca.crt", oldFP)
	})
	t.Run("extension-apiserver-authentication publishes the new front-proxy CA alone", func(t *testing.T) {
		if got := requestHeaderCA(t, client); !checks.SameCertificates(parse(t, string(got)), parse(t, newFP)) {
			t.Errorf("requestheader-client-ca-file:\n%s", got)
		}
	})
	t.Run("a re-run of the finish script does nothing again", func(t *testing.T) {
		out, code := run("front-proxy-ca-finish.sh")
		if code != 0 || !strings.Contains(out, "already done:") || strings.Contains(out, "did not take") {
			t.Errorf("re-run: exit %d\n%s", code, out)
		}
		answers(t, client, "the finish script's re-run")
	})
	t.Run("status shows every step done and finish closes the record", func(t *testing.T) {
		FinishWhenDone(t, client, checks.TargetFrontProxyCA, "3")
	})
}

func parse(t *testing.T, pemText string) []*x509.Certificate {
	t.Helper()
	certs, err := checks.ParseCertificates("test", []byte(pemText))
	Must(t, err)
	return certs
}
