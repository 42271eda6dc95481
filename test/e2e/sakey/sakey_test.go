//go:build e2e

// Package sakey proves the sa-key target on the kubeadm node: the
// ServiceAccount signing key is rotated end to end only by the scripts
// "kubectl carotate instructions --target sa-key -o script" prints, run as
// printed inside the node, and the end is checked from outside: a token
// minted before the rotation gets 401, a fresh one is accepted, no legacy
// token Secret is left signed by the old key, and /openid/v1/jwks lists
// the new key alone.
package sakey

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{Kubeadm: true})) }

// env shortens the scripts' waits, so a hung step fails the test early.
var env = []string{"CAROTATE_TIMEOUT=180"}

// authStatus is the HTTP status of GET /api with a bearer token: 401 for a
// token the API server does not accept.
func authStatus(t *testing.T, token string) int {
	t.Helper()
	// The node's serving certificate is not what this checks: skip it.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	req, err := http.NewRequest(http.MethodGet, Cluster.Server+"/api", nil)
	Must(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := hc.Do(req)
	Must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

func mintToken(t *testing.T, client kubernetes.Interface, ns string) string {
	t.Helper()
	exp := int64(3600)
	tr, err := client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), "default",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	Must(t, err)
	return tr.Status.Token
}

// legacySecret creates a legacy token Secret and waits for its token.
func legacySecret(t *testing.T, client kubernetes.Interface, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	// Without it the tokens controller deletes the Secret (this test
	// timed out on it once, beside three other node suites on 2 cores).
	WaitDefaultServiceAccount(t, client, ns)
	_, err := client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})
	Must(t, err)
	var token string
	Must(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		token = string(s.Data[corev1.ServiceAccountTokenKey])
		return token != "", nil
	}))
	return token
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	kid, err := checks.TokenKeyID(token)
	Must(t, err)
	return kid
}

func jwks(t *testing.T, client kubernetes.Interface) []string {
	t.Helper()
	raw, err := client.CoreV1().RESTClient().Get().AbsPath("/openid/v1/jwks").DoRaw(context.Background())
	Must(t, err)
	var set struct{ Keys []struct{ KID string } }
	Must(t, json.Unmarshal(raw, &set))
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.KID)
	}
	return out
}

// TestAnUnknownTargetIsRefused: exit 2, the targets named, nothing
// written.
func TestAnUnknownTargetIsRefused(t *testing.T) {
	client := Client(t)
	for _, args := range [][]string{
		{"start", "--target", "kubelet-ca", "--new-ca", "x.crt"},
		{"status", "--target", "kubelet-ca"},
		{"instructions", "--target", "kubelet-ca"},
		{"verify", "--target", "kubelet-ca"},
		{"finish", "--target", "kubelet-ca"},
		{"abort", "--target", "kubelet-ca"},
	} {
		r := Carotate(t, args...)
		if r.Code != 2 || !strings.Contains(r.Stderr, `unknown --target "kubelet-ca": use one of cluster-ca, front-proxy-ca, etcd-ca, sa-key`) {
			t.Errorf("%v: exit %d, %q; want exit 2 naming the targets", args, r.Code, r.Stderr)
		}
	}
	cms, err := client.CoreV1().ConfigMaps("kube-system").List(context.Background(), metav1.ListOptions{})
	Must(t, err)
	for _, cm := range cms.Items {
		if strings.HasPrefix(cm.Name, "carotate-state") {
			t.Errorf("a refused target wrote %s", cm.Name)
		}
	}
}

// TestScriptsRotateTheSAKey: trust, sign, finish, each phase's script run
// as printed on the control-plane node; then the cluster is checked from
// outside.
func TestScriptsRotateTheSAKey(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	ns := CreateNamespace(t, client, "sakey")
	oldJWKS := jwks(t, client)
	legacyBefore := legacySecret(t, client, ns, "legacy-token")
	oldKID := kidOf(t, legacyBefore)
	tokenBefore := mintToken(t, client, ns)
	if code := authStatus(t, tokenBefore); code == http.StatusUnauthorized {
		t.Fatalf("a fresh token gets 401 before the rotation")
	}
	saPub := InNode(t, dir, "cat", "/etc/kubernetes/pki/sa.pub")
	began := time.Now()

	// The new key pair, made on the node; the plugin sees the public half.
	InNode(t, dir, "openssl", "genrsa", "-out", "new-sa.key", "2048")
	InNode(t, dir, "openssl", "pkey", "-in", "new-sa.key", "-pubout", "-out", "new-sa.pub")
	keyPEM, err := os.ReadFile(filepath.Join(dir, "new-sa.key"))
	Must(t, err)

	t.Run("a private key where the public key belongs is refused, not echoed", func(t *testing.T) {
		stdout, stderr, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "sa-key", "--new-public-key", "new-sa.key")
		if code == 0 || !strings.Contains(stderr, "--new-public-key new-sa.key contains a private key") {
			t.Errorf("exit %d: %s", code, stderr)
		}
		body := strings.Split(string(keyPEM), "\n")[1]
		if strings.Contains(stdout+stderr, body) || strings.Contains(stdout+stderr, "PRIVATE KEY-----") {
			t.Errorf("the refusal echoes key material")
		}
		if _, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state-sa-key", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a record was written: %v", err)
		}
	})

	stdout, stderr, code := NodeRun(t, dir, nil, "kubectl", "carotate", "start", "--target", "sa-key", "--new-public-key", "new-sa.pub", "-o", "json")
	if code != 0 {
		t.Fatalf("start: exit %d: %s", code, stderr)
	}
	var rec struct {
		ID        string
		OldKeyIDs []string `json:"oldKeyIDs"`
		NewKeyIDs []string `json:"newKeyIDs"`
		Target    string
	}
	Must(t, json.Unmarshal([]byte(stdout), &rec))
	if rec.Target != "sa-key" || len(rec.NewKeyIDs) != 1 || strings.Join(rec.OldKeyIDs, ",") != strings.Join(oldJWKS, ",") || rec.OldKeyIDs[0] != oldKID {
		t.Fatalf("the record: %+v; /openid/v1/jwks listed %v, the legacy token's kid %s", rec, oldJWKS, oldKID)
	}
	newKID := rec.NewKeyIDs[0]
	if _, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the cluster-ca record was touched: %v", err)
	}

	took := map[string]time.Duration{}
	for _, phase := range checks.TargetPhases(checks.TargetSAKey) {
		script := InNode(t, dir, "kubectl", "carotate", "instructions", "--target", "sa-key", "-o", "script", "--phase", phase)
		LintScript(t, script)
		file := "sa-key-" + phase + ".sh"
		Must(t, os.WriteFile(filepath.Join(dir, file), []byte(script), 0o644))
		start := time.Now()
		out, errOut, code := NodeRun(t, dir, append([]string{"NEW_SA_KEY=" + filepath.Join(dir, "new-sa.key")}, env...), "bash", file)
		took[phase] = time.Since(start)
		t.Logf("%s: exit %d in %s\n%s%s", file, code, took[phase].Round(time.Second), out, errOut)
		if code != 0 {
			t.Fatalf("%s did not run through", file)
		}
		if phase == checks.SAPhaseTrust {
			if got := jwks(t, client); !strings.Contains(strings.Join(got, ","), newKID) || !strings.Contains(strings.Join(got, ","), oldKID) {
				t.Errorf("after trust, /openid/v1/jwks lists %v, want old and new", got)
			}
			r := Carotate(t, "status")
			if !strings.Contains(r.Stderr+r.Stdout, "Also under way: sa-key rotation "+rec.ID) {
				t.Errorf("status without --target does not list the sa-key rotation")
			}
		}
	}
	t.Logf("sa-key rotated by the printed scripts in %s (trust %s, sign %s, finish %s)", time.Since(began).Round(time.Second),
		took[checks.SAPhaseTrust].Round(time.Second), took[checks.SAPhaseSign].Round(time.Second), took[checks.SAPhaseFinish].Round(time.Second))

	t.Run("a token minted before the rotation gets 401, a fresh one does not", func(t *testing.T) {
		if code := authStatus(t, tokenBefore); code != http.StatusUnauthorized {
			t.Errorf("the token from before: %d, want 401", code)
		}
		if code := authStatus(t, legacyBefore); code != http.StatusUnauthorized {
			t.Errorf("the legacy token from before: %d, want 401", code)
		}
		fresh := mintToken(t, client, ns)
		if kid := kidOf(t, fresh); kid != newKID {
			t.Errorf("a fresh token's kid is %s, want %s", kid, newKID)
		}
		if code := authStatus(t, fresh); code == http.StatusUnauthorized {
			t.Errorf("a fresh token gets 401")
		}
	})
	t.Run("no legacy token Secret is left signed by the old key", func(t *testing.T) {
		list, err := client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/service-account-token"})
		Must(t, err)
		if len(list.Items) == 0 {
			t.Fatal("no legacy token Secret: the test made one")
		}
		for _, s := range list.Items {
			tok := string(s.Data[corev1.ServiceAccountTokenKey])
			if tok == "" || kidOf(t, tok) != newKID {
				t.Errorf("%s/%s is not signed by the new key", s.Namespace, s.Name)
			}
			if s.Namespace == ns && s.Name == "legacy-token" && authStatus(t, tok) == http.StatusUnauthorized {
				t.Errorf("the re-signed legacy token gets 401")
			}
		}
	})
	t.Run("undo of resign-tokens puts no token back and says why", func(t *testing.T) {
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state-sa-key", metav1.GetOptions{})
		Must(t, err)
		var r struct {
			Passes []struct{ Kind, UndoFile string }
		}
		Must(t, json.Unmarshal([]byte(cm.Data["rotation.json"]), &r))
		file := ""
		for _, p := range r.Passes {
			if p.Kind == "resign-tokens" && p.UndoFile != "" {
				file = p.UndoFile
			}
		}
		if file == "" {
			t.Fatalf("no resign-tokens pass with an undo file in the record: %s", cm.Data["rotation.json"])
		}
		undo := InNode(t, dir, "cat", file)
		if strings.Contains(undo, legacyBefore) || strings.Contains(undo, strings.Split(legacyBefore, ".")[1]) {
			t.Errorf("the undo file holds token data")
		}
		before, err := client.CoreV1().Secrets(ns).Get(ctx, "legacy-token", metav1.GetOptions{})
		Must(t, err)
		out, errOut, code := NodeRun(t, dir, nil, "kubectl", "carotate", "undo", file)
		if !strings.Contains(out+errOut, "an undo file never holds token data") {
			t.Errorf("undo: exit %d, does not say why it skips the token:\n%s%s", code, out, errOut)
		}
		after, err := client.CoreV1().Secrets(ns).Get(ctx, "legacy-token", metav1.GetOptions{})
		Must(t, err)
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("undo wrote the re-signed Secret")
		}
	})
	t.Run("the API server accepts the new key alone, under kubeadm's file names", func(t *testing.T) {
		if got := jwks(t, client); len(got) != 1 || got[0] != newKID {
			t.Errorf("/openid/v1/jwks lists %v, want %s alone", got, newKID)
		}
		pub := InNode(t, dir, "cat", "/etc/kubernetes/pki/sa.pub")
		want := InNode(t, dir, "cat", "new-sa.pub")
		if pub != want {
			t.Errorf("sa.pub is not the new public key")
		}
		InNode(t, dir, "cmp", "/etc/kubernetes/pki/sa.key", "new-sa.key")
		manifest := InNode(t, dir, "cat", "/etc/kubernetes/manifests/kube-apiserver.yaml")
		for _, l := range []string{"- --service-account-key-file=/etc/kubernetes/pki/sa.pub", "- --service-account-signing-key-file=/etc/kubernetes/pki/sa.key"} {
			if !strings.Contains(manifest, l) {
				t.Errorf("the kube-apiserver manifest lacks %q", l)
			}
		}
		for _, f := range []string{"sa-new.key", "sa-new.pub", "sa-bundle.pub"} {
			if _, _, code := NodeRun(t, dir, nil, "test", "!", "-e", "/etc/kubernetes/pki/"+f); code != 0 {
				t.Errorf("the transition file %s is left", f)
			}
		}
		backup := InNode(t, dir, "cat", "/var/backups/carotate-"+rec.ID+"/step-1/etc/kubernetes/pki/sa.pub")
		if backup != saPub {
			t.Errorf("the backup of sa.pub is not what was there before")
		}
	})
	t.Run("a re-run of the finish script does nothing again", func(t *testing.T) {
		out, errOut, code := NodeRun(t, dir, append([]string{"NEW_SA_KEY=" + filepath.Join(dir, "new-sa.key")}, env...), "bash", "sa-key-finish.sh")
		if code != 0 || strings.Count(errOut, "already done:") == 0 || strings.Contains(out+errOut, "did not take") {
			t.Errorf("re-run: exit %d\n%s", code, errOut)
		}
	})
	t.Run("status shows every step done and finish closes the record", func(t *testing.T) {
		r := Carotate(t, "status", "--target", "sa-key", "-o", "json")
		var st struct {
			Steps []checks.StepState
			Next  string
		}
		Must(t, json.Unmarshal([]byte(r.Stdout), &st))
		for _, s := range st.Steps {
			if s.State != checks.StateDone && s.State != checks.StateNotApplicable {
				t.Errorf("step %s: %s: %s", s.Step, s.State, s.Evidence)
			}
		}
		if st.Next != "kubectl carotate finish --target sa-key" {
			t.Errorf("next: %q", st.Next)
		}
		if r := Carotate(t, "finish", "--target", "sa-key"); r.Code != 0 {
			t.Errorf("finish: exit %d", r.Code)
		}
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state-sa-key", metav1.GetOptions{})
		Must(t, err)
		if !strings.Contains(cm.Data["rotation.json"], `"state": "finished"`) || checks.ContainsPrivateKey([]byte(strings.Join(mapValues(cm.Data), ""))) {
			t.Errorf("the record: %v", cm.Data["rotation.json"])
		}
	})
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
