//go:build e2e

// Package etcdca proves the etcd-ca target on the kubeadm node: the etcd
// CA (etcd/ca.crt, which kubeadm laid out and etcd, its peers and
// kube-apiserver trust) is rotated end to end only by the scripts
// "kubectl carotate instructions --target etcd-ca -o script" prints, run
// as printed inside the node. After every script the API server answers
// /readyz/etcd and status judges the step; at the end etcd serves a
// certificate that verifies against the new CA only, refuses a client
// certificate from the old CA and accepts one from the new, and finish
// closes the record.
package etcdca

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{Kubeadm: true})) }

// env shortens the scripts' waits, so a hung step fails the test early.
var env = []string{"CAROTATE_TIMEOUT=180"}

const (
	pki    = "/etc/kubernetes/pki/"
	record = "carotate-state-etcd-ca"
	etcd   = "https://127.0.0.1:2379/health"
)

// readyzEtcd waits until kube-apiserver says it reaches etcd (it may have
// just restarted).
func readyzEtcd(t *testing.T, client kubernetes.Interface, after string) {
	t.Helper()
	var last error
	var raw []byte
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		raw, last = client.CoreV1().RESTClient().Get().AbsPath("/readyz/etcd").DoRaw(ctx)
		return last == nil && string(raw) == "ok", nil
	})
	if err != nil {
		t.Fatalf("after %s, GET /readyz/etcd: %q, %v\n%s", after, raw, last, Cluster.LogTails(15))
	}
}

// nodeFails runs a command in the node that must fail.
func nodeFails(t *testing.T, dir, what string, args ...string) {
	t.Helper()
	if out, errOut, code := NodeRun(t, dir, nil, args...); code == 0 {
		t.Errorf("%s: succeeded, want a failure\n%s%s", what, out, errOut)
	}
}

// issueClient makes a client certificate (key in the node's dir) signed
// by ca/caKey.
func issueClient(t *testing.T, dir, name, ca, caKey string) {
	t.Helper()
	Must(t, os.WriteFile(filepath.Join(dir, "client.ext"), []byte("extendedKeyUsage=clientAuth\n"), 0o644))
	InNode(t, dir, "openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name+".key", "-out", name+".csr", "-subj", "/CN="+name)
	InNode(t, dir, "openssl", "x509", "-req", "-in", name+".csr", "-CA", ca, "-CAkey", caKey, "-set_serial", "0x1234", "-days", "30", "-extfile", "client.ext", "-out", name+".crt")
}

func TestRotateTheEtcdCAByTheScripts(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	began := time.Now()
	readyzEtcd(t, client, "the cluster came up")
	oldCA := InNode(t, dir, "cat", pki+"etcd/ca.crt")
	Must(t, os.WriteFile(filepath.Join(dir, "old-etcd-ca.crt"), []byte(oldCA), 0o644))
	// A client of the old CA, made while kubeadm's etcd/ca.key is still it.
	issueClient(t, dir, "old-client", pki+"etcd/ca.crt", pki+"etcd/ca.key")
	InNode(t, dir, "curl", "-sS", "--fail", "--cacert", "old-etcd-ca.crt", "--cert", "old-client.crt", "--key", "old-client.key", etcd)

	// The new etcd CA, made on the node; the plugin sees the certificate only.
	InNode(t, dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "new-etcd-ca.key", "-out", "new-etcd-ca.crt",
		"-subj", "/CN=new-etcd-ca", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
	newCA := InNode(t, dir, "cat", "new-etcd-ca.crt")

	t.Run("start refuses without --old-ca and a private key, writing nothing", func(t *testing.T) {
		_, errOut, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "etcd-ca", "--new-ca", "new-etcd-ca.crt")
		if code == 0 || !strings.Contains(errOut, "needs --old-ca: the API cannot show the etcd CA") {
			t.Errorf("without --old-ca: exit %d: %s", code, errOut)
		}
		key := InNode(t, dir, "cat", "new-etcd-ca.key")
		_, errOut, code = NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "etcd-ca", "--new-ca", "new-etcd-ca.key", "--old-ca", pki+"etcd/ca.crt")
		if code == 0 || !strings.Contains(errOut, "--new-ca new-etcd-ca.key contains a private key") {
			t.Errorf("a private key as --new-ca: exit %d: %s", code, errOut)
		}
		for _, line := range strings.Split(key, "\n") {
			if len(line) > 20 && strings.Contains(errOut, line) {
				t.Errorf("the refusal echoes the key")
			}
		}
		if _, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, record, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a refused start wrote the record: %v", err)
		}
	})

	stdout, stderr, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "etcd-ca", "--new-ca", "new-etcd-ca.crt", "--old-ca", pki+"etcd/ca.crt", "-o", "json")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	var rec struct {
		ID, Target   string
		OldCA, NewCA []checks.CertInfo
	}
	Must(t, json.Unmarshal([]byte(stdout), &rec))
	if rec.Target != "etcd-ca" || len(rec.OldCA) != 1 || len(rec.NewCA) != 1 || rec.NewCA[0].Subject != "CN=new-etcd-ca" || rec.OldCA[0].Subject != "CN=etcd-ca" {
		t.Fatalf("the record: %+v", rec)
	}
	if st := StatusOf(t, checks.TargetEtcdCA); st.Step("1").State != checks.StateNotDone || st.Step("3").State != checks.StateNotDone {
		t.Errorf("before any step: %+v", st.Steps)
	}

	run := func(file string) (string, int) {
		out, errOut, code := NodeRun(t, dir, append([]string{"NEW_ETCD_CA_KEY=" + filepath.Join(dir, "new-etcd-ca.key")}, env...), "bash", file)
		return out + errOut, code
	}
	took := map[string]time.Duration{}
	for _, phase := range checks.TargetPhases(checks.TargetEtcdCA) {
		file := TargetScript(t, dir, checks.TargetEtcdCA, phase)
		start := time.Now()
		out, code := run(file)
		took[phase] = time.Since(start)
		t.Logf("%s: exit %d in %s\n%s", file, code, took[phase].Round(time.Second), out)
		if code != 0 {
			t.Fatalf("%s did not run through", file)
		}
		readyzEtcd(t, client, file)
		step := map[string]string{checks.PhaseBundle: "1", checks.PhaseServe: "2", checks.PhaseFinish: "3"}[phase]
		st := StatusWhen(t, checks.TargetEtcdCA, step, checks.StateDone)
		if s := st.Step(step); s.State != checks.StateDone || !strings.Contains(s.Evidence, "step "+step+"'s checks") ||
			!strings.Contains(s.Evidence, "/readyz/etcd: ok") {
			t.Errorf("after %s, step %s: %s: %s", phase, step, s.State, s.Evidence)
		}
		switch phase {
		case checks.PhaseBundle:
			if s := st.Step("2"); s.State != checks.StateNotDone {
				t.Errorf("after bundle, step 2: %s: %s", s.State, s.Evidence)
			}
			if got := InNode(t, dir, "cat", pki+"etcd/ca.crt"); got != oldCA {
				t.Errorf("the bundle script changed etcd/ca.crt, whose key kubeadm signs with")
			}
			InNode(t, dir, "curl", "-sS", "--fail", "--cacert", pki+"etcd/ca-bundle.crt", "--cert", "old-client.crt", "--key", "old-client.key", etcd)
			if r := Carotate(t, "status"); !strings.Contains(r.Stdout+r.Stderr, "Also under way: etcd-ca rotation "+rec.ID) {
				t.Errorf("status without --target does not list the etcd-ca rotation:\n%s", r.Stdout)
			}
			t.Run("without the node's record of its checks, status says unknown, never done", func(t *testing.T) {
				patch := `{"metadata":{"annotations":{"` + checks.EtcdCAMarkPrefix + `1":null}}}`
				_, err := client.CoreV1().Nodes().Patch(ctx, localcluster.KubeadmNode, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
				Must(t, err)
				if s := StatusOf(t, checks.TargetEtcdCA).Step("1"); s.State != checks.StateUnknown || !strings.Contains(s.Evidence, "the API cannot show what the files hold") {
					t.Errorf("step 1: %s: %s", s.State, s.Evidence)
				}
				if r := Carotate(t, "finish", "--target", "etcd-ca"); r.Code == 0 || !strings.Contains(r.Stderr, "step 1 (unknown)") {
					t.Errorf("finish with step 1 unknown: exit %d: %s", r.Code, r.Stderr)
				}
				// The script again: everything is found done, the checks
				// run and record their pass.
				out, code := run(file)
				if code != 0 || !strings.Contains(out, "already done:") {
					t.Fatalf("re-run of %s: exit %d\n%s", file, code, out)
				}
				if s := StatusOf(t, checks.TargetEtcdCA).Step("1"); s.State != checks.StateDone {
					t.Errorf("step 1 after the re-run: %s: %s", s.State, s.Evidence)
				}
			})
			t.Run("the finish script run before the serve script stops at verify and changes nothing", func(t *testing.T) {
				before := InNode(t, dir, "cat", "/etc/kubernetes/manifests/etcd.yaml")
				out, code := run(TargetScript(t, dir, checks.TargetEtcdCA, checks.PhaseFinish))
				if code == 0 || !strings.Contains(out, "step 3 from the workstation failed") || !strings.Contains(out, "not step 2's certificate from the new CA") {
					t.Errorf("the early finish script: exit %d\n%s", code, out)
				}
				if after := InNode(t, dir, "cat", "/etc/kubernetes/manifests/etcd.yaml"); after != before {
					t.Errorf("the early finish script changed the etcd manifest")
				}
				if got := InNode(t, dir, "cat", pki+"etcd/ca.crt"); got != oldCA {
					t.Errorf("the early finish script changed etcd/ca.crt")
				}
				readyzEtcd(t, client, "the early finish script")
			})
		case checks.PhaseServe:
			for _, c := range []string{pki + "etcd/server-new.crt", pki + "etcd/peer-new.crt", pki + "etcd/healthcheck-client-new.crt", pki + "apiserver-etcd-client-new.crt"} {
				InNode(t, dir, "openssl", "verify", "-CAfile", "new-etcd-ca.crt", c)
			}
			// etcd serves from the new CA; both CAs' clients are accepted.
			InNode(t, dir, "curl", "-sS", "--fail", "--cacert", "new-etcd-ca.crt", "--cert", "old-client.crt", "--key", "old-client.key", etcd)
		}
	}
	t.Logf("etcd CA rotated by the printed scripts in %s (bundle %s, serve %s, finish %s)", time.Since(began).Round(time.Second),
		took[checks.PhaseBundle].Round(time.Second), took[checks.PhaseServe].Round(time.Second), took[checks.PhaseFinish].Round(time.Second))

	t.Run("etcd trusts and serves the new CA alone, under kubeadm's file names", func(t *testing.T) {
		if got := InNode(t, dir, "cat", pki+"etcd/ca.crt"); got != newCA {
			t.Errorf("etcd/ca.crt is not the new CA")
		}
		InNode(t, dir, "cmp", pki+"etcd/ca.key", "new-etcd-ca.key")
		for _, c := range []string{"etcd/server.crt", "etcd/peer.crt", "etcd/healthcheck-client.crt", "apiserver-etcd-client.crt"} {
			InNode(t, dir, "openssl", "verify", "-CAfile", "new-etcd-ca.crt", pki+c)
			nodeFails(t, dir, c+" against the old CA", "openssl", "verify", "-CAfile", "old-etcd-ca.crt", pki+c)
		}
		// etcd's serving certificate verifies against the new CA only.
		issueClient(t, dir, "new-client", "new-etcd-ca.crt", "new-etcd-ca.key")
		InNode(t, dir, "curl", "-sS", "--fail", "--cacert", "new-etcd-ca.crt", "--cert", "new-client.crt", "--key", "new-client.key", etcd)
		nodeFails(t, dir, "etcd's serving certificate against the old CA", "curl", "-sS", "--fail", "--cacert", "old-etcd-ca.crt",
			"--cert", "new-client.crt", "--key", "new-client.key", etcd)
		// A client certificate from the old CA is refused in the handshake.
		nodeFails(t, dir, "a client certificate from the old CA", "curl", "-sS", "--fail", "--cacert", "new-etcd-ca.crt",
			"--cert", "old-client.crt", "--key", "old-client.key", etcd)
		ManifestHas(t, dir, "/etc/kubernetes/manifests/etcd.yaml",
			"- --trusted-ca-file="+pki+"etcd/ca.crt", "- --peer-trusted-ca-file="+pki+"etcd/ca.crt", "- --cert-file="+pki+"etcd/server.crt")
		NodeAbsent(t, dir, pki+"etcd/ca-bundle.crt", pki+"etcd/ca-new.crt", pki+"etcd/ca-new.key")
		BackedUp(t, dir, rec.ID, "3", pki+"etcd/ca.crt", oldCA)
	})
	t.Run("status shows every step done and finish closes the record", func(t *testing.T) {
		FinishWhenDone(t, client, checks.TargetEtcdCA, "3")
	})
	t.Run("abort ends a rotation and says how to go back", func(t *testing.T) {
		InNode(t, dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "third.key", "-out", "third.crt",
			"-subj", "/CN=third-etcd-ca", "-days", "3650", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature")
		if _, errOut, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "etcd-ca", "--new-ca", "third.crt", "--old-ca", pki+"etcd/ca.crt"); code != 0 {
			t.Fatalf("start: exit %d: %s", code, errOut)
		}
		r := Carotate(t, "abort", "--target", "etcd-ca")
		if r.Code != 0 || !strings.Contains(r.Stderr, "To go back to the old etcd CA:") {
			t.Errorf("abort: exit %d: %s", r.Code, r.Stderr)
		}
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, record, metav1.GetOptions{})
		Must(t, err)
		if !strings.Contains(cm.Data["rotation.json"], `"state": "aborted"`) {
			t.Errorf("the record: %v", cm.Data["rotation.json"])
		}
		readyzEtcd(t, client, "abort")
	})
}
