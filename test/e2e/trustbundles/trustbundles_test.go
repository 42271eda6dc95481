//go:build e2e

// Package trustbundles tests every place that trusts the cluster CA besides
// kube-root-ca.crt, on the local control plane (whose
// kube-controller-manager runs the kube-apiserver-serving ClusterTrustBundle
// publisher): the published bundle judged through a rotation, pods that
// project a user-made ClusterTrustBundle, copies of the old CA in Secrets and
// ConfigMaps found by verify, bundle/unbundle --trust-bundles and undo, and
// unbundle's refusal while a copy pins the old CA alone.
package trustbundles

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

const servingSigner = "kubernetes.io/kube-apiserver-serving"

// report mirrors verify -o json as far as these tests read it.
type report struct {
	OldCASource string    `json:"oldCASource"`
	Sections    []section `json:"sections"`
	Result      struct {
		ExitCode int      `json:"exitCode"`
		Failed   []string `json:"failedChecks"`
	} `json:"result"`
}

type section struct {
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	Summary string   `json:"summary"`
	Error   string   `json:"error"`
	Items   []item   `json:"items"`
	Actions []string `json:"actions"`
	Fixes   []string `json:"fixes"`
}

type item struct {
	Severity, Kind, Namespace, Name, Where, Holds, Verdict, Detail, Action string
}

func (r report) section(t *testing.T, name string) section {
	t.Helper()
	for _, s := range r.Sections {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no section %q", name)
	return section{}
}

// find returns the one item of kind ns/name whose where starts with where.
func (s section) find(t *testing.T, kind, ns, name, where string) item {
	t.Helper()
	var found []item
	for _, it := range s.Items {
		if it.Kind == kind && it.Namespace == ns && it.Name == name && strings.HasPrefix(it.Where, where) {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		t.Fatalf("section %s: want one item %s %s/%s %s, found %d: %+v", s.Name, kind, ns, name, where, len(found), s.Items)
	}
	return found[0]
}

func (s section) has(kind, ns, name string) bool {
	for _, it := range s.Items {
		if it.Kind == kind && it.Namespace == ns && it.Name == name {
			return true
		}
	}
	return false
}

func verifyJSON(t *testing.T, c Cmd, wantCode int, args ...string) report {
	t.Helper()
	r := c.Run(t, "kubectl-carotate", append([]string{"verify", "-o", "json"}, args...)...)
	if r.Code != wantCode {
		t.Fatalf("verify %v: exit %d, want %d\n%s\n%s", args, r.Code, wantCode, r.Stdout, r.Stderr)
	}
	var rep report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("verify -o json: %v\n%s", err, r.Stdout)
	}
	return rep
}

// statusRow is one row of status -o json.
func statusRow(t *testing.T, step string) (state, evidence, next string) {
	t.Helper()
	r := Carotate(t, "status", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("status: exit %d", r.Code)
	}
	var doc struct {
		Steps []struct{ Step, State, Evidence, Next string }
	}
	Must(t, json.Unmarshal([]byte(r.Stdout), &doc))
	for _, s := range doc.Steps {
		if s.Step == step {
			return s.State, s.Evidence, s.Next
		}
	}
	t.Fatalf("status has no row %s", step)
	return "", "", ""
}

// published waits until the controller-manager's kube-apiserver-serving
// bundle holds exactly want, and returns its name.
func published(t *testing.T, client kubernetes.Interface, want []byte) string {
	t.Helper()
	var name string
	var got []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		l, err := client.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{FieldSelector: "spec.signerName=" + servingSigner})
		if err != nil {
			return false, nil
		}
		got = nil
		for _, b := range l.Items {
			got = append(got, b.Name)
			name = b.Name
		}
		return len(l.Items) == 1 && l.Items[0].Spec.TrustBundle == string(want), nil
	})
	if err != nil {
		t.Fatalf("the kube-apiserver-serving ClusterTrustBundle does not hold what --root-ca-file does: %v", got)
	}
	return name
}

func trustBundle(t *testing.T, client kubernetes.Interface, name string) *certificatesv1.ClusterTrustBundle {
	t.Helper()
	b, err := client.CertificatesV1().ClusterTrustBundles().Get(context.Background(), name, metav1.GetOptions{})
	Must(t, err)
	return b
}

// restartKCM restarts kube-controller-manager with --root-ca-file holding
// pemData and waits until it published it everywhere.
func restartKCM(t *testing.T, client kubernetes.Interface, pemData []byte) {
	t.Helper()
	path, err := Cluster.PKI.WriteFile(fmt.Sprintf("root-ca-%d.crt", time.Now().UnixNano()), pemData)
	Must(t, err)
	Must(t, Cluster.Restart(context.Background(), localcluster.ControllerManager, map[string]string{"root-ca-file": path}))
	WaitRootCA(t, client, pemData)
	published(t, client, pemData)
}

// undoFile is the one undo file a command wrote in dir since before.
func undoFile(t *testing.T, dir string, before []string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.undo.jsonl"))
	Must(t, err)
	var fresh []string
	for _, f := range files {
		if !strings.Contains(strings.Join(before, "\n"), f) {
			fresh = append(fresh, f)
		}
	}
	if len(fresh) != 1 {
		t.Fatalf("want one new undo file in %s, found %v", dir, fresh)
	}
	return fresh[0]
}

func globUndo(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.undo.jsonl"))
	Must(t, err)
	return files
}

// versions are the resourceVersions of every ConfigMap, Secret and
// ClusterTrustBundle: a refusal must change none.
func versions(t *testing.T, client kubernetes.Interface) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range cms.Items {
		out["cm/"+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	secs, err := client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range secs.Items {
		out["secret/"+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	ctbs, err := client.CertificatesV1().ClusterTrustBundles().List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range ctbs.Items {
		out["ctb/"+o.Name] = o.ResourceVersion
	}
	return out
}

func kubeconfigYAML(server string, ca []byte) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster:
    server: %s
    certificate-authority-data: %s
contexts:
- name: prod
  context: {cluster: prod, user: deployer}
current-context: prod
users:
- name: deployer
  user:
    token: not-a-real-token-0123456789
`, server, base64.StdEncoding.EncodeToString(ca))
}

// readerDeployment projects a ClusterTrustBundle into its pods, as a client
// that trusts the API server through it would.
func readerDeployment(name string, proj corev1.ClusterTrustBundleProjection) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	tmpl := PodTemplate(labels)
	proj.Path = "ca.pem"
	tmpl.Spec.AutomountServiceAccountToken = ptr.To(false)
	tmpl.Spec.Volumes = []corev1.Volume{{Name: "trust", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ClusterTrustBundle: &proj}}}}}}
	tmpl.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "trust", MountPath: "/etc/trust"}}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl}}
}

// TestCopiesForbidden: a user who may not list Secrets cluster-wide gets
// an incomplete copies check that says what it skipped, never a pass.
func TestCopiesForbidden(t *testing.T) {
	client := Client(t)
	user := "copies-view-" + rand.String(5)
	cert, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: user, Client: true})
	Must(t, err)
	BindClusterRole(t, client, user, "view", "list", "", "configmaps")
	kc := filepath.Join(t.TempDir(), "view.kubeconfig")
	caPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
	Must(t, err)
	Must(t, localcluster.WriteKubeconfig(kc, Cluster.Server, caPEM, cert))
	newCA, err := localcluster.NewCA("kubernetes-new", time.Hour)
	Must(t, err)
	newFile := filepath.Join(t.TempDir(), "new.crt")
	Must(t, os.WriteFile(newFile, newCA.CertPEM, 0o644))

	rep := verifyJSON(t, Cmd{Kubeconfig: kc}, 2, "--ca", newFile, "--only", "copies")
	sec := rep.section(t, "copies")
	if sec.Status != "failed" || !strings.Contains(sec.Error, "Secrets were not checked: listing them is forbidden") || strings.Contains(sec.Error, "ConfigMaps") {
		t.Fatalf("copies as a viewer: %+v", sec)
	}
	// The old CA was inferred from the serving chain (--ca lacks it).
	if !strings.HasPrefix(rep.OldCASource, "inferred: the CA the API server's serving chain verifies against today") {
		t.Fatalf("old CA source %q", rep.OldCASource)
	}
}

// TestTrustSurfacesThroughARotation is the story of the issue: a rotation
// recorded with start, a user-made ClusterTrustBundle that holds the old CA
// alone and a Deployment that projects it, another that projects the
// published kube-apiserver-serving bundle, an operator's kubeconfig Secret
// and a ConfigMap with a PEM, all pinning the old CA.
func TestTrustSurfacesThroughARotation(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	undoDir := filepath.Join(dir, "undo")
	oldPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
	Must(t, err)
	newCA, err := localcluster.NewCA("kubernetes-new", 48*time.Hour)
	Must(t, err)
	bundlePEM := checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{Cluster.PKI.CA.Cert})
	newFile := filepath.Join(dir, "new-ca.crt")
	Must(t, os.WriteFile(newFile, newCA.CertPEM, 0o644))
	origRoot := Cluster.Component(localcluster.ControllerManager).Get("root-ca-file")
	t.Cleanup(func() {
		Must(t, Cluster.Restart(context.Background(), localcluster.ControllerManager, map[string]string{"root-ca-file": origRoot}))
		WaitRootCA(t, client, oldPEM)
	})

	// The rotation record holds the old CA on purpose: never a finding.
	if r := Carotate(t, "start", "--new-ca", newFile); r.Code != 0 {
		t.Fatalf("start: exit %d", r.Code)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().ConfigMaps("kube-system").Delete(context.Background(), "carotate-state", metav1.DeleteOptions{})
	})

	ns := CreateNamespace(t, client, "copies")
	corp := "e2e-corp-" + rand.String(5)
	Must(t, Create(client.CertificatesV1().ClusterTrustBundles().Create(ctx, &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: corp, Labels: map[string]string{"team": "infra"}},
		Spec:       certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(oldPEM)}}, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = client.CertificatesV1().ClusterTrustBundles().Delete(context.Background(), corp, metav1.DeleteOptions{})
	})
	apps := client.AppsV1().Deployments(ns)
	Must(t, Create(apps.Create(ctx, readerDeployment("corp-reader", corev1.ClusterTrustBundleProjection{Name: ptr.To(corp)}), metav1.CreateOptions{})))
	Must(t, Create(apps.Create(ctx, readerDeployment("serving-reader", corev1.ClusterTrustBundleProjection{
		SignerName: ptr.To(servingSigner), LabelSelector: &metav1.LabelSelector{}}), metav1.CreateOptions{})))
	Must(t, Create(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "deployer-kubeconfig"},
		StringData: map[string]string{"kubeconfig": kubeconfigYAML(Cluster.Server, oldPEM)}}, metav1.CreateOptions{})))
	Must(t, Create(client.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-ca"},
		Data: map[string]string{"ca.pem": string(oldPEM), "app.yaml": "color: blue\n"}}, metav1.CreateOptions{})))
	Must(t, Create(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "ingress-tls"}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": []byte("x"), "tls.key": []byte("secret-key-material-never-printed"), "ca.crt": bundlePEM}}, metav1.CreateOptions{})))
	WaitRolledOut(t, client, ns)
	pubOld := published(t, client, oldPEM)

	// Before step 2: verify names every pinned place; the pods of both
	// Deployments trust a source without the new CA.
	rep := verifyJSON(t, Cmd{}, 1, "--only", "pods,trustbundles,copies")
	tbs := rep.section(t, "trustbundles")
	if it := tbs.find(t, "ClusterTrustBundle", "", pubOld, "spec.trustBundle"); it.Severity != "error" || it.Verdict != "lacks-ca" ||
		!strings.Contains(it.Detail, "kube-system/kube-root-ca.crt holds old too") {
		t.Fatalf("published bundle before step 2: %+v", it)
	}
	pods := rep.section(t, "pods")
	if it := pods.find(t, "Deployment", ns, "corp-reader", "ClusterTrustBundle "+corp); it.Verdict != "source-lacks-ca" || it.Severity != "error" {
		t.Fatalf("pods projecting the user bundle: %+v", it)
	}
	if it := pods.find(t, "Deployment", ns, "serving-reader", "ClusterTrustBundle of signer "+servingSigner+" (all labels)"); it.Verdict != "source-lacks-ca" {
		t.Fatalf("pods projecting the published bundle: %+v", it)
	}
	copies := rep.section(t, "copies")
	for _, want := range []struct{ kind, ns, name, where string }{
		{"ClusterTrustBundle", "", corp, "spec.trustBundle"},
		{"Secret", ns, "deployer-kubeconfig", "data.kubeconfig (certificate-authority-data)"},
		{"ConfigMap", ns, "app-ca", "data.ca.pem"},
	} {
		it := copies.find(t, want.kind, want.ns, want.name, want.where)
		if it.Where != want.where || it.Verdict != "old-ca-alone" || it.Severity != "warning" || it.Holds != "old" ||
			!strings.Contains(it.Detail, "CN=kubernetes, sha256 "+checks.ShortFingerprint(checks.Fingerprint(Cluster.PKI.CA.Cert))) {
			t.Errorf("copy %v before step 9.3: %+v", want, it)
		}
	}
	if it := copies.find(t, "Secret", ns, "ingress-tls", "data.ca.crt"); it.Verdict != "old-and-new" || it.Severity != "info" {
		t.Errorf("TLS Secret with the bundle: %+v", it)
	}
	if copies.has("ConfigMap", "kube-system", "carotate-state") || copies.has("ConfigMap", ns, "kube-root-ca.crt") {
		t.Errorf("the rotation record or kube-root-ca.crt reported as a copy: %+v", copies.Items)
	}
	r := Carotate(t, "verify", "--only", "copies")
	if strings.Contains(r.Stdout, "secret-key-material") || strings.Contains(r.Stdout, "not-a-real-token") || strings.Contains(r.Stdout, "color: blue") {
		t.Fatalf("verify printed an object's other data:\n%s", r.Stdout)
	}
	if st, ev, next := statusRow(t, "3-ctb"); st != "not done" || !strings.Contains(ev, "lacks the new CA") || next != "kubectl carotate instructions --step 2" {
		t.Errorf("status 3-ctb before step 2: %s %q %q", st, ev, next)
	}
	if st, _, next := statusRow(t, "11-copies"); st != "unknown" || next != "kubectl carotate verify --only copies" {
		t.Errorf("status 11-copies: %s %q", st, next)
	}

	// Step 2: the controller-manager publishes the bundle, in a new
	// ClusterTrustBundle; the pods that project the signer's bundles
	// started before it (a second apart at least: times are whole seconds).
	time.Sleep(1100 * time.Millisecond)
	restartKCM(t, client, bundlePEM)
	pubBundle := published(t, client, bundlePEM)
	rep = verifyJSON(t, Cmd{}, 1, "--only", "pods,trustbundles")
	if it := rep.section(t, "trustbundles").find(t, "ClusterTrustBundle", "", pubBundle, "spec.trustBundle"); it.Severity != "ok" || it.Holds != "new+old" {
		t.Fatalf("published bundle after step 2: %+v", it)
	}
	if it := rep.section(t, "pods").find(t, "Deployment", ns, "serving-reader", "ClusterTrustBundle"); it.Verdict != "restart-needed" ||
		!strings.Contains(it.Detail, "content changed by kube-controller-manager") {
		t.Fatalf("pods of the published bundle after step 2: %+v", it)
	}
	if st, ev, next := statusRow(t, "3-ctb"); st != "not done" || !strings.Contains(ev, corp) || next != "kubectl carotate bundle --trust-bundles" {
		t.Errorf("status 3-ctb after step 2: %s %q %q", st, ev, next)
	}

	// bundle --trust-bundles adds the new CA to the user-made bundle, and
	// to nothing a signer owns; undo puts the old content back.
	pubRV := trustBundle(t, client, pubBundle).ResourceVersion
	before := globUndo(t, undoDir)
	r = Carotate(t, "bundle", "--trust-bundles", "--undo-dir", undoDir, "--settle", "2s", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("bundle --trust-bundles: exit %d", r.Code)
	}
	if got := trustBundle(t, client, corp).Spec.TrustBundle; got != string(bundlePEM) {
		t.Fatalf("user bundle after bundle --trust-bundles:\n%s\nwant new then old", got)
	}
	if rv := trustBundle(t, client, pubBundle).ResourceVersion; rv != pubRV {
		t.Fatalf("the published bundle was written (%s -> %s)", pubRV, rv)
	}
	var bundleRep struct {
		TrustBundles struct{ Total, Updated int } `json:"trustBundles"`
	}
	Must(t, json.Unmarshal([]byte(r.Stdout), &bundleRep))
	if bundleRep.TrustBundles.Total != 1 || bundleRep.TrustBundles.Updated != 1 {
		t.Fatalf("bundle report: %+v", bundleRep.TrustBundles)
	}
	bundleUndo := undoFile(t, undoDir, before)
	undoText, err := os.ReadFile(bundleUndo)
	Must(t, err)
	if !strings.Contains(string(undoText), `"kind":"ClusterTrustBundle","namespace":"","name":"`+corp+`","key":"spec.trustBundle"`) {
		t.Fatalf("undo file lacks the bundle:\n%s", undoText)
	}
	if r := Carotate(t, "undo", bundleUndo); r.Code != 0 || !strings.Contains(r.Stdout, "1 restored") {
		t.Fatalf("undo: exit %d", r.Code)
	}
	if got := trustBundle(t, client, corp).Spec.TrustBundle; got != string(oldPEM) {
		t.Fatalf("user bundle after undo:\n%s\nwant the old CA alone", got)
	}
	if r := Carotate(t, "bundle", "--trust-bundles", "--undo-dir", undoDir, "--settle", "0s"); r.Code != 0 {
		t.Fatalf("bundle --trust-bundles again: exit %d", r.Code)
	}
	rep = verifyJSON(t, Cmd{}, 1, "--only", "pods,copies")
	if it := rep.section(t, "pods").find(t, "Deployment", ns, "corp-reader", "ClusterTrustBundle "+corp); it.Verdict != "restart-needed" ||
		!strings.Contains(it.Detail, "content changed by kubectl-carotate") {
		t.Fatalf("pods of the user bundle after it changed: %+v", it)
	}
	if it := rep.section(t, "copies").find(t, "ClusterTrustBundle", "", corp, ""); it.Verdict != "old-and-new" {
		t.Fatalf("user bundle after bundle --trust-bundles: %+v", it)
	}
	if st, _, _ := statusRow(t, "3-ctb"); st != "done" {
		t.Errorf("status 3-ctb after bundle --trust-bundles: %s", st)
	}

	// Step 12.1's flag before 9.3 here: the controller-manager publishes
	// the new CA alone (it cannot follow the API server's new certificate
	// below, its kubeconfig trusts the old CA only).
	restartKCM(t, client, newCA.CertPEM)
	pubNew := published(t, client, newCA.CertPEM)
	if st, ev, next := statusRow(t, "12.1-ctb"); st != "not done" || !strings.Contains(ev, corp) || next != "kubectl carotate unbundle --trust-bundles" {
		t.Errorf("status 12.1-ctb with the user bundle still bundled: %s %q %q", st, ev, next)
	}

	// Step 9.3: the API server serves from the new CA. A kubeconfig that
	// pins the old CA alone fails from now on: an error.
	leaf, err := newCA.Issue(localcluster.CertSpec{CommonName: "kube-apiserver", Server: true,
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}})
	Must(t, err)
	stamp := time.Now().UnixNano()
	certPath, err := Cluster.PKI.WriteFile(fmt.Sprintf("apiserver-new-%d.crt", stamp), leaf.CertPEM)
	Must(t, err)
	keyPath, err := Cluster.PKI.WriteFile(fmt.Sprintf("apiserver-new-%d.key", stamp), leaf.KeyPEM)
	Must(t, err)
	api := Cluster.Component(localcluster.APIServer)
	origCert, origKey := api.Get("tls-cert-file"), api.Get("tls-private-key-file")
	_, err = Cluster.UseAdminKubeconfig(bundlePEM, nil)
	Must(t, err)
	t.Cleanup(func() {
		Must(t, Cluster.Restart(context.Background(), localcluster.APIServer, map[string]string{"tls-cert-file": origCert, "tls-private-key-file": origKey}))
		_, err := Cluster.UseAdminKubeconfig(oldPEM, nil)
		Must(t, err)
	})
	Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{"tls-cert-file": certPath, "tls-private-key-file": keyPath}))
	client = Client(t)

	rep = verifyJSON(t, Cmd{}, 1, "--only", "trustbundles,copies")
	// Mid-rotation (the record is not unbundled yet) the bundle is what
	// everything must trust: the published bundle lacks the old CA, as
	// kube-root-ca.crt does.
	if it := rep.section(t, "trustbundles").find(t, "ClusterTrustBundle", "", pubNew, ""); it.Severity != "error" || it.Holds != "new" || it.Verdict != "lacks-ca" {
		t.Errorf("published bundle with the new CA alone, mid-rotation rule: %+v", it)
	}
	copies = rep.section(t, "copies")
	for _, w := range [][3]string{{"Secret", "deployer-kubeconfig", "data.kubeconfig"}, {"ConfigMap", "app-ca", "data.ca.pem"}} {
		if it := copies.find(t, w[0], ns, w[1], w[2]); it.Severity != "error" || !strings.Contains(it.Detail, "the API server serves from the new CA") {
			t.Errorf("%s after step 9.3: %+v", w[1], it)
		}
	}

	// unbundle refuses, naming the pinned copies, and writes nothing.
	vers := versions(t, client)
	r = Carotate(t, "unbundle", "--trust-bundles", "--undo-dir", undoDir)
	if r.Code != 1 {
		t.Fatalf("unbundle with copies pinning the old CA: exit %d", r.Code)
	}
	for _, want := range []string{"refusing to unbundle, nothing was changed: 2 place(s) trust the old CA",
		"Secret " + ns + "/deployer-kubeconfig data.kubeconfig (certificate-authority-data)", "ConfigMap " + ns + "/app-ca data.ca.pem", "--force skips this check"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("refusal lacks %q", want)
		}
	}
	after := versions(t, client)
	for k, v := range vers {
		if after[k] != v && !strings.HasPrefix(k, "cm/kube-system/") && !strings.Contains(k, "kube-node-lease") {
			t.Errorf("%s changed (%s -> %s) although unbundle refused", k, v, after[k])
		}
	}

	// The operator updates its kubeconfig and the app its PEM to the
	// bundle; unbundle then goes ahead and takes the old CA out of the
	// user-made bundle.
	sec, err := client.CoreV1().Secrets(ns).Get(ctx, "deployer-kubeconfig", metav1.GetOptions{})
	Must(t, err)
	sec.Data["kubeconfig"] = []byte(kubeconfigYAML(Cluster.Server, bundlePEM))
	_, err = client.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{})
	Must(t, err)
	cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "app-ca", metav1.GetOptions{})
	Must(t, err)
	cm.Data["ca.pem"] = string(bundlePEM)
	_, err = client.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{})
	Must(t, err)
	before = globUndo(t, undoDir)
	r = Carotate(t, "unbundle", "--trust-bundles", "--undo-dir", undoDir, "--settle", "0s")
	if r.Code != 0 {
		t.Fatalf("unbundle --trust-bundles: exit %d", r.Code)
	}
	if got := trustBundle(t, client, corp).Spec.TrustBundle; got != string(newCA.CertPEM) {
		t.Fatalf("user bundle after unbundle --trust-bundles:\n%s\nwant the new CA alone", got)
	}
	if st, ev, _ := statusRow(t, "12.1-ctb"); st != "done" {
		t.Errorf("status 12.1-ctb after unbundle --trust-bundles: %s %q", st, ev)
	}
	unbundleUndo := undoFile(t, undoDir, before)
	if r := Carotate(t, "undo", unbundleUndo); r.Code != 0 {
		t.Fatalf("undo of unbundle: exit %d", r.Code)
	}
	if got := trustBundle(t, client, corp).Spec.TrustBundle; got != string(bundlePEM) {
		t.Fatalf("user bundle after undoing unbundle:\n%s\nwant the bundle back", got)
	}
	// The record says unbundled: verify judges the end, where a copy that
	// still trusts the old CA next to the new one is a warning.
	rep = verifyJSON(t, Cmd{}, 0, "--only", "copies")
	if it := rep.section(t, "copies").find(t, "Secret", ns, "deployer-kubeconfig", ""); it.Verdict != "old-and-new" || it.Severity != "warning" ||
		!strings.Contains(it.Detail, "remove the old CA before the rotation ends") {
		t.Errorf("updated kubeconfig Secret at the end: %+v", it)
	}
}
