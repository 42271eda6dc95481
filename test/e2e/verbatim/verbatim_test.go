//go:build e2e

// Package verbatim proves the printed node steps as the text a human runs:
// on the kubeadm node (localcluster.Options{Kubeadm: true}), every node
// step of the three phases is done only by running the scripts of
// "kubectl carotate instructions -o script" as printed, inside the nodes
// (the JSON is not used), and the end state is checked from outside: TLS,
// authentication, the kubeconfigs kubeadm wrote, kubeadm's own check, the
// backups, cluster-info's signatures and the API server's client CAs.
package verbatim

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	"github.com/carotate/kubectl-carotate/test/drill/drilltest"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

const cp = localcluster.KubeadmNode

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{Kubeadm: true})) }

// lint runs ShellCheck on a printed script; under make e2e it must exist.
func lint(t *testing.T) func(name, script string) error {
	bin := filepath.Join(BinDir, "shellcheck")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CAROTATE_REQUIRE_SHELLCHECK") != "" {
			t.Fatalf("%s is missing: make shellcheck", bin)
		}
		t.Logf("%s is missing (make shellcheck): the printed scripts are not linted", bin)
		return nil
	}
	return func(name, script string) error {
		cmd := exec.Command(bin, "--shell=bash", "--severity=style", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("shellcheck: %v\n%s", err, out)
		}
		return nil
	}
}

// inNode runs a command on a node in dir; it must succeed.
func inNode(t *testing.T, node, dir string, args ...string) string {
	t.Helper()
	out, err := drill.NodeOutput(context.Background(), Cluster, node, dir, args...)
	Must(t, err)
	return out
}

// env shortens the scripts' waits, so a hung step fails the test early.
var env = []string{"CAROTATE_TIMEOUT=180", "CAROTATE_NODE_TIMEOUT=420"}

// TestABrokenStepStopsTheScript runs first, on the cluster as kubeadm made
// it: with the controller-manager's --root-ca-file written the way YAML
// allows and the sed does not expect (a quoted list item, the same command
// line, so the mirror pod the plugin reads looks the same), step 2's
// script stops at that flag, names the manifest, and changes nothing after.
func TestABrokenStepStopsTheScript(t *testing.T) {
	dir := t.TempDir()
	manifest := Cluster.NodePath(cp, "/etc/kubernetes/manifests/kube-controller-manager.yaml")
	orig, err := os.ReadFile(manifest)
	Must(t, err)
	const flag = "    - --root-ca-file=/etc/kubernetes/pki/ca.crt\n"
	if !bytes.Contains(orig, []byte(flag)) {
		t.Fatalf("kubeadm's manifest has no %q", flag)
	}
	broken := bytes.Replace(orig, []byte(flag), []byte(`    - "--root-ca-file=/etc/kubernetes/pki/ca.crt"`+"\n"), 1)
	Must(t, os.WriteFile(manifest, broken, 0o600))
	t.Cleanup(func() {
		Must(t, os.WriteFile(manifest, orig, 0o600))
		waitStaticPod(t, "kube-controller-manager", manifest)
	})
	waitStaticPod(t, "kube-controller-manager", manifest)

	inNode(t, cp, dir, "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "broken-ca.key", "-out", "broken-ca.crt",
		"-subj", "/CN=broken-test", "-days", "30", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
	script := inNode(t, cp, dir, "kubectl", "carotate", "instructions", "--old-ca", "/etc/kubernetes/pki/ca.crt", "--new-ca", "broken-ca.crt",
		"-o", "script", "--step", "2", "--node", cp)
	if l := lint(t); l != nil {
		Must(t, l("step-2.sh", script))
	}
	Must(t, os.WriteFile(filepath.Join(dir, "step-2.sh"), []byte(script), 0o644))
	id := regexpFind(t, script, `carotate_rotation=(\S+)`)
	t.Cleanup(func() { _ = os.RemoveAll(Cluster.NodePath(cp, "/var/backups/carotate-"+id)) })

	var stdout, stderr bytes.Buffer
	code, err := drill.NodeExec(context.Background(), Cluster, cp, dir, env, &stdout, &stderr, "bash", "step-2.sh")
	Must(t, err)
	t.Logf("step-2.sh: exit %d\n%s%s", code, stdout.String(), stderr.String())
	if code == 0 {
		t.Fatalf("the script went on over a manifest the sed does not match")
	}
	want := "carotate: step 2 on cp-1 did not take: /etc/kubernetes/manifests/kube-controller-manager.yaml has no line '- --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt'"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("the failure does not name the manifest and the flag; want %q", want)
	}
	// It stopped there: no later flag was touched, the controller-manager
	// was not restarted for it, and only the backup ran before.
	if now, _ := os.ReadFile(manifest); !bytes.Equal(now, broken) {
		t.Errorf("the manifest changed:\n%s", now)
	}
	if strings.Contains(stderr.String(), "--client-ca-file=/etc/kubernetes/pki/ca-new.crt") {
		t.Errorf("the script went on to the next flag")
	}
	backup, err := os.ReadFile(Cluster.NodePath(cp, "/var/backups/carotate-"+id+"/step-2/etc/kubernetes/manifests/kube-controller-manager.yaml"))
	if err != nil || !bytes.Equal(backup, broken) {
		t.Errorf("the backup before the step: %v", err)
	}
}

// waitStaticPod waits until the component runs a container that started
// after its manifest last changed (the runner restarts it on a change).
func waitStaticPod(t *testing.T, component, manifest string) {
	t.Helper()
	fi, err := os.Stat(manifest)
	Must(t, err)
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := drill.NodeOutput(context.Background(), Cluster, cp, "/", "bash", "-c",
			`id=$(crictl ps --name "^$1\$" --state running -q) && [[ -n $id ]] && date -d "$(crictl inspect -o go-template --template '{{.status.startedAt}}' "$id")" +%s`,
			"wait", component)
		if err == nil {
			var started int64
			if _, err := fmt.Sscan(out, &started); err == nil && started >= fi.ModTime().Unix() {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not restart after its manifest changed: %v %s", component, err, out)
		}
		time.Sleep(time.Second)
	}
}

func regexpFind(t *testing.T, s, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no %s in the script", re)
	}
	return m[1]
}

// TestScriptsRotateTheCluster: bundle, serve, finish, each phase's scripts
// run as printed on every node that has steps; then the cluster is checked
// from outside.
func TestScriptsRotateTheCluster(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	before := originals(t)
	oldCA := Cluster.PKI.CA
	began := time.Now()
	v := &drill.Verbatim{Cluster: Cluster, Dir: dir, Narrator: drill.LogfNarrator(t.Logf), Env: env, Lint: lint(t)}
	out, err := v.Run(ctx)
	for _, r := range out.Runs {
		t.Logf("%s on %s: exit %d in %s", r.File, r.Node, r.Code, r.Took.Round(time.Second))
	}
	if err != nil {
		t.Fatalf("the printed scripts did not rotate the cluster: %v", err)
	}
	t.Logf("three phases, verbatim, in %s", time.Since(began).Round(time.Second))
	newCA := parseCerts(t, out.NewCA)[0]

	// Run again, the finish phase's scripts find every node step done (a
	// re-run resumes, it never repeats one): nothing restarts.
	rerun, err := v.Phase(ctx, checks.PhaseFinish)
	if err != nil {
		t.Fatalf("a re-run of the finish phase failed: %v", err)
	}
	for _, r := range rerun {
		if n := strings.Count(r.Stderr, "already done:"); n == 0 || strings.Contains(r.Stdout, "Stopped sandbox") ||
			strings.Contains(r.Stderr, "did not take") || strings.Contains(r.Stdout+r.Stderr, "Restarted") {
			t.Errorf("the re-run of %s on %s did work again (%d steps already done):\n%s", r.File, r.Node, n, r.Stderr)
		}
	}

	client := newCAClient(t, out.NewCA)
	t.Run("the API server serves a chain that verifies against the new CA alone", func(t *testing.T) {
		if err := dialVerify(out.NewCA); err != nil {
			t.Errorf("against the new CA: %v", err)
		}
		if err := dialVerify(oldCA.CertPEM); err == nil {
			t.Errorf("the serving chain still verifies against the old CA")
		}
	})
	t.Run("a client certificate from the old CA gets 401", func(t *testing.T) {
		old, err := oldCA.Issue(localcluster.CertSpec{CommonName: "old-admin", Organizations: []string{"system:masters"}, Client: true})
		Must(t, err)
		if code := status(t, out.NewCA, old); code != http.StatusUnauthorized {
			t.Errorf("GET /api with an old-CA client certificate: %d, want 401", code)
		}
		fresh, err := newCAIssue(t, out)
		Must(t, err)
		if code := status(t, out.NewCA, fresh); code != http.StatusOK {
			t.Errorf("GET /api with a new-CA client certificate: %d, want 200", code)
		}
	})
	t.Run("kubeadm's kubeconfigs trust the new CA alone, with client certificates from it", func(t *testing.T) {
		for _, f := range []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf", "kubelet.conf"} {
			checkKubeconfig(t, cp, "/etc/kubernetes/"+f, newCA)
		}
		for _, w := range workers(t) {
			checkKubeconfig(t, w, "/etc/kubernetes/kubelet.conf", newCA)
		}
	})
	t.Run("kubeadm certs check-expiration runs clean in the node", func(t *testing.T) {
		r := inNode(t, cp, dir, "kubeadm", "certs", "check-expiration")
		for _, bad := range []string{"MISSING", "invalid", "error"} {
			if strings.Contains(r, bad) {
				t.Errorf("check-expiration says %q:\n%s", bad, r)
			}
		}
		// The CA kubeadm reads is the new one (364 days left, not the old
		// ten years), its key is there (not externally managed), and what
		// it signed is listed under it.
		ca := ""
		for _, line := range strings.Split(r, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == "ca" {
				ca = line
			}
		}
		if !LineHas(ca, "364d", "no") {
			t.Errorf("check-expiration's line for ca is %q, want the new CA (364d) with its key:\n%s", ca, r)
		}
		for _, cert := range []string{"admin.conf", "apiserver ", "apiserver-kubelet-client", "controller-manager.conf", "scheduler.conf", "super-admin.conf"} {
			if !LineHas(r, cert, "ca ", "no") {
				t.Errorf("check-expiration has no line for %s under ca:\n%s", cert, r)
			}
		}
	})
	t.Run("the backups hold what was there before each step", func(t *testing.T) {
		root := "/var/backups/carotate-" + out.RotationID
		for _, b := range []struct{ node, step, file string }{
			{cp, "1", "/etc/kubernetes/pki/ca.crt"},
			{cp, "1", "/etc/kubernetes/pki/ca.key"},
			{cp, "2", "/etc/kubernetes/manifests/kube-controller-manager.yaml"},
			{cp, "5", "/etc/kubernetes/manifests/kube-apiserver.yaml"},
			{cp, "7", "/etc/kubernetes/admin.conf"},
			{cp, "7", "/etc/kubernetes/super-admin.conf"},
			{cp, "9.2", "/var/lib/kubelet/config.yaml"},
			{"kwok-node-0", "9.2", "/etc/kubernetes/kubelet.conf"},
			{"kwok-node-2", "9.2", "/var/lib/kubelet/config.yaml"},
		} {
			got, err := os.ReadFile(Cluster.NodePath(b.node, root+"/step-"+b.step+b.file))
			if err != nil {
				t.Errorf("%s: no backup of %s in step %s: %v", b.node, b.file, b.step, err)
				continue
			}
			if !bytes.Equal(got, before[b.node+":"+b.file]) {
				t.Errorf("%s: the backup of %s in step %s is not what was there before the rotation", b.node, b.file, b.step)
			}
		}
	})
	t.Run("cluster-info holds the new CA alone, validly signed for every token", func(t *testing.T) {
		ci, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
		Must(t, err)
		kc, err := clientcmd.Load([]byte(ci.Data["kubeconfig"]))
		Must(t, err)
		for name, c := range kc.Clusters {
			if certs := parseCerts(t, c.CertificateAuthorityData); len(certs) != 1 || !certs[0].Equal(newCA) {
				t.Errorf("cluster-info cluster %s trusts %d certificates, not the new CA alone", name, len(certs))
			}
		}
		drilltest.AssertClusterInfoSigned(t, ci.Data, Cluster.BootstrapTokens)
	})
	t.Run("extension-apiserver-authentication holds no old CA", func(t *testing.T) {
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
		Must(t, err)
		certs := parseCerts(t, []byte(cm.Data["client-ca-file"]))
		if len(certs) == 0 {
			t.Fatal("client-ca-file is empty")
		}
		for _, c := range certs {
			if c.Equal(oldCA.Cert) {
				t.Errorf("client-ca-file still holds the old CA")
			}
		}
		if !certs[0].Equal(newCA) {
			t.Errorf("client-ca-file does not hold the new CA")
		}
	})
	t.Run("verify dials the default/kubernetes endpoint from inside the node", func(t *testing.T) {
		// Through 127.0.0.1, so the endpoint 10.200.0.10:6443 is another
		// address verify dials on its own.
		inNode(t, cp, dir, "bash", "-c", `cp /etc/kubernetes/admin.conf local.conf && kubectl config set-cluster kubernetes --kubeconfig local.conf --server https://127.0.0.1:6443 --tls-server-name kubernetes >/dev/null`)
		var stdout, stderr bytes.Buffer
		code, err := drill.NodeExec(ctx, Cluster, cp, dir, []string{"KUBECONFIG=" + filepath.Join(dir, "local.conf")}, &stdout, &stderr,
			"kubectl", "carotate", "verify", "--only", "serving", "--ca", "new-ca.crt", "--expect", "new", "-o", "json")
		Must(t, err)
		var rep struct {
			Sections []struct {
				Items []struct{ Kind, Name, Verdict, Detail, Severity string }
			}
		}
		Must(t, json.Unmarshal(stdout.Bytes(), &rep))
		found := false
		for _, s := range rep.Sections {
			for _, it := range s.Items {
				if it.Kind == "endpoint" && it.Name == "10.200.0.10:6443" {
					found = true
					if it.Verdict != "verifies" || !strings.Contains(it.Detail, "new") || strings.Contains(it.Detail, "old") {
						t.Errorf("endpoint: %+v", it)
					}
				}
			}
		}
		if !found || code != 0 {
			t.Errorf("verify (exit %d) did not report the endpoint 10.200.0.10:6443:\n%s\n%s", code, stdout.String(), stderr.String())
		}
	})
	t.Run("every node still renews its Lease", func(t *testing.T) {
		since := time.Now()
		for _, n := range append(workers(t), cp) {
			deadline := time.Now().Add(45 * time.Second)
			for {
				l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, n, metav1.GetOptions{})
				if err == nil && l.Spec.RenewTime.After(since) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("node %s has not renewed its Lease since %s (%v): its kubelet is not accepted", n, since.Format(time.RFC3339), err)
					break
				}
				time.Sleep(time.Second)
			}
		}
	})
	t.Run("status shows the rotation done and finish closes it", func(t *testing.T) {
		inNode(t, cp, dir, "kubectl", "carotate", "status")
		inNode(t, cp, dir, "kubectl", "carotate", "finish")
	})
}

// originals are the files the backups must hold, read before the rotation.
func originals(t *testing.T) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, n := range append(workers(t), cp) {
		for _, f := range []string{"/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/pki/ca.key", "/etc/kubernetes/manifests/kube-controller-manager.yaml",
			"/etc/kubernetes/manifests/kube-apiserver.yaml", "/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf",
			"/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/config.yaml"} {
			if b, err := os.ReadFile(Cluster.NodePath(n, f)); err == nil {
				out[n+":"+f] = b
			}
		}
	}
	return out
}

// workers are the KWOK nodes with their own kubelet files.
func workers(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(Cluster.Dir, "nodes"))
	Must(t, err)
	var out []string
	for _, e := range entries {
		if e.Name() != cp {
			out = append(out, e.Name())
		}
	}
	if len(out) == 0 {
		t.Fatal("no worker node")
	}
	return out
}

func parseCerts(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	certs, err := checks.ParseCertificates("test", data)
	Must(t, err)
	return certs
}

// newCAClient is an admin client of the API server that trusts the new
// CA alone, with the client certificate admin.conf now holds.
func newCAClient(t *testing.T, newCA []byte) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(Cluster.NodePath(cp, "/etc/kubernetes/admin.conf"))
	Must(t, err)
	for _, c := range cfg.Clusters {
		c.Server, c.TLSServerName, c.CertificateAuthorityData = Cluster.Server, "kubernetes", newCA
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	Must(t, err)
	client, err := kubernetes.NewForConfig(rc)
	Must(t, err)
	return client
}

func serverHost(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(Cluster.Server)
	Must(t, err)
	return u.Host
}

// dialVerify is a TLS handshake with the API server that verifies its
// chain against roots alone, as "kubernetes" (the forwarded port).
func dialVerify(roots []byte) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	u, err := url.Parse(Cluster.Server)
	if err != nil {
		return err
	}
	conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool, ServerName: "kubernetes"})
	if err != nil {
		return err
	}
	return conn.Close()
}

// status is the HTTP status of GET /api with a client certificate.
func status(t *testing.T, roots []byte, client *localcluster.CertKey) int {
	t.Helper()
	pair, err := tls.X509KeyPair(client.CertPEM, client.KeyPEM)
	Must(t, err)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	// Sent whatever CAs the server asks for, as client-go does: with
	// Certificates, Go sends none whose issuer the server does not list,
	// and the request goes anonymous (403, not 401).
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: pool, ServerName: "kubernetes",
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }}}}
	resp, err := hc.Get("https://" + serverHost(t) + "/api")
	Must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// newCAIssue issues an admin client certificate from the new CA, with the
// key the test made the CA with.
func newCAIssue(t *testing.T, out *drill.VerbatimOutcome) (*localcluster.CertKey, error) {
	t.Helper()
	key, err := os.ReadFile(out.NewCAKey)
	Must(t, err)
	ca, err := localcluster.ParseCertKey(out.NewCA, key)
	Must(t, err)
	return ca.Issue(localcluster.CertSpec{CommonName: "new-admin", Organizations: []string{"system:masters"}, Client: true})
}

// checkKubeconfig: every cluster of a node's kubeconfig trusts newCA alone,
// and its client certificate (embedded or a file) was issued by it.
func checkKubeconfig(t *testing.T, node, path string, newCA *x509.Certificate) {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(Cluster.NodePath(node, path))
	if err != nil {
		t.Errorf("%s %s: %v", node, path, err)
		return
	}
	for name, c := range cfg.Clusters {
		if certs := parseCerts(t, c.CertificateAuthorityData); len(certs) != 1 || !certs[0].Equal(newCA) {
			t.Errorf("%s %s: cluster %s trusts %d certificates, not the new CA alone", node, path, name, len(certs))
		}
	}
	for name, u := range cfg.AuthInfos {
		data := u.ClientCertificateData
		if len(data) == 0 && u.ClientCertificate != "" {
			if data, err = readNodeFile(node, u.ClientCertificate); err != nil {
				t.Errorf("%s %s: user %s: %v", node, path, name, err)
				continue
			}
		}
		certs, err := checks.ParseCertificates(path, certsOnly(data))
		if err != nil || len(certs) == 0 {
			t.Errorf("%s %s: user %s has no client certificate (%v)", node, path, name, err)
			continue
		}
		if err := certs[0].CheckSignatureFrom(newCA); err != nil {
			t.Errorf("%s %s: user %s's client certificate (%s) is not from the new CA: issued by %s", node, path, name, certs[0].Subject, certs[0].Issuer)
		}
	}
}

// certsOnly drops the key of a PEM holding certificate and key (the
// kubelet's kubelet-client-current.pem).
func certsOnly(data []byte) []byte {
	var out []byte
	for {
		i := bytes.Index(data, []byte("-----BEGIN "))
		if i < 0 {
			return out
		}
		data = data[i:]
		j := bytes.Index(data, []byte("-----END "))
		if j < 0 {
			return out
		}
		k := bytes.IndexByte(data[j:], '\n')
		if k < 0 {
			k = len(data) - j - 1
		}
		block := data[:j+k+1]
		if bytes.HasPrefix(block, []byte("-----BEGIN CERTIFICATE-----")) {
			out = append(out, block...)
		}
		data = data[j+k+1:]
	}
}

// readNodeFile reads a file of a node from the host, following symbolic
// links as the node sees them (kubelet-client-current.pem points at an
// absolute path of the node).
func readNodeFile(node, path string) ([]byte, error) {
	for range 10 {
		host := Cluster.NodePath(node, path)
		fi, err := os.Lstat(host)
		if err != nil {
			return nil, err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return os.ReadFile(host)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return nil, err
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return nil, fmt.Errorf("%s: too many symbolic links", path)
}
