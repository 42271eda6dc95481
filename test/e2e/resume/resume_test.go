//go:build e2e

// Package resume: once a rotation is recorded, the in-cluster commands take
// their CAs from the record, so a second admin resumes with no flags.
package resume

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

func TestSecondAdminResumesWithNoFlags(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	newCA, err := localcluster.NewCA("kubernetes-new", 10*365*24*time.Hour)
	Must(t, err)
	Must(t, newCA.Write(dir, "new-ca"))

	// Without a record the flags are required, and the message says how
	// a record comes to exist.
	r := Carotate(t, "bundle")
	if r.Code == 0 || !strings.Contains(r.Stderr, "no active rotation is recorded") {
		t.Fatalf("bundle without flags or record: exit %d, %q", r.Code, r.Stderr)
	}

	if r := Carotate(t, "start", "--new-ca", filepath.Join(dir, "new-ca.crt")); r.Code != 0 {
		t.Fatalf("start: exit %d", r.Code)
	}

	// A second admin: another user, with its own kubeconfig and HOME.
	second, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "second-admin", Organizations: []string{"system:masters"}, Client: true})
	Must(t, err)
	kc := filepath.Join(dir, "second.conf")
	Must(t, localcluster.WriteKubeconfig(kc, Cluster.Server, Cluster.PKI.CA.CertPEM, second))
	as2 := Cmd{Kubeconfig: kc}

	// bundle: the controller-manager still runs on the old --root-ca-file,
	// so it reverts; what matters here is that the CAs came from the record.
	r = as2.Run(t, "kubectl-carotate", "bundle", "--settle", "2s")
	if !strings.Contains(r.Stderr, "old and new CA from rotation") || !strings.Contains(r.Stderr, "put its old content back") {
		t.Fatalf("bundle with no flags did not use the record: exit %d, %q", r.Code, r.Stderr)
	}

	// update-cluster-info: the record's bundle goes into cluster-info.
	r = as2.Run(t, "kubectl-carotate", "update-cluster-info")
	if r.Code != 0 || !strings.Contains(r.Stderr, "bundle (new+old)") {
		t.Fatalf("update-cluster-info with no flags: exit %d, %q", r.Code, r.Stderr)
	}
	ci, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	Must(t, err)
	cfg, err := clientcmd.Load([]byte(ci.Data["kubeconfig"]))
	Must(t, err)
	var caData []byte
	for _, c := range cfg.Clusters {
		caData = c.CertificateAuthorityData
	}
	got, err := checks.ParseCertificates("cluster-info", caData)
	Must(t, err)
	if len(got) != 2 || !checks.Contains(got, newCA.Cert) || !checks.Contains(got, Cluster.PKI.CA.Cert) {
		t.Fatalf("cluster-info carries %d certificates, want the record's new and old CA", len(got))
	}

	// verify and unbundle read the record too.
	r = as2.Run(t, "kubectl-carotate", "verify", "--only", "clients")
	if !strings.Contains(r.Stderr, "--ca from the rotation") {
		t.Fatalf("verify with no flags did not use the record: exit %d, %q", r.Code, r.Stderr)
	}
	// Its next line for this kubeconfig (it trusts the old CA alone) runs
	// as printed: it writes the bundle from the record, then embeds it.
	action := kubeconfigAction(t, as2)
	if !strings.HasPrefix(action, "kubectl -n kube-system get configmap carotate-state ") || !strings.Contains(action, "kubectl config set-cluster local ") {
		t.Fatalf("verify's next line for the kubeconfig: %q", action)
	}
	sh := exec.Command("bash", "-c", action)
	sh.Dir = t.TempDir()
	sh.Env = append(os.Environ(), "KUBECONFIG="+kc, "PATH="+BinDir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("verify's next line %q failed: %v\n%s", action, err, out)
	}
	if a := kubeconfigAction(t, as2); a != "" {
		t.Fatalf("after running verify's next line, verify still asks for %q", a)
	}
	kcCfg, err := clientcmd.LoadFromFile(kc)
	Must(t, err)
	if embedded, err := checks.ParseCertificates(kc, kcCfg.Clusters["local"].CertificateAuthorityData); err != nil || len(embedded) != 2 || !checks.Contains(embedded, newCA.Cert) {
		t.Fatalf("the kubeconfig does not trust the bundle after the next line: %v", err)
	}
	r = as2.Run(t, "kubectl-carotate", "unbundle")
	if r.Code == 0 || !strings.Contains(r.Stderr, "keeping the new CA of rotation") {
		t.Fatalf("unbundle with no flags: exit %d (it must refuse: the serving chain is old-CA only), %q", r.Code, r.Stderr)
	}

	// restart-workloads takes its pass value from the record, and refuses
	// a pass whose step before it is not done: while the controller-manager
	// still publishes the old CA, the bundle pass would roll pods onto the
	// old CA alone, and its value, then on every template, would make the
	// pass that is needed later patch nothing.
	ns := CreateNamespace(t, client, "resume")
	Must(t, Create(client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: PodTemplate(map[string]string{"app": "web"})}}, metav1.CreateOptions{})))
	WaitRolledOut(t, client, ns)
	annotation := func() string {
		d, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		Must(t, err)
		return d.Spec.Template.Annotations["ca-rotation"]
	}
	passes := func() int { return strings.Count(recordJSON(t), `"kind": "restart-workloads"`) }
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if r.Code != 1 || !strings.Contains(r.Stderr, "refusing the bundle pass") || !strings.Contains(r.Stderr, "nothing was patched") ||
		!strings.Contains(r.Stderr, "kube-controller-manager does not publish the bundle") {
		t.Fatalf("a bundle pass before the bundle is published: exit %d, %q", r.Code, r.Stderr)
	}
	if v := annotation(); v != "" || passes() != 0 {
		t.Fatalf("a refused pass patched (annotation %q) or was logged (%d passes)", v, passes())
	}

	// The controller-manager publishes the bundle (step 2), bundle finds
	// it done (step 3): now the bundle pass runs.
	bundleFile := filepath.Join(dir, "ca-bundle.crt")
	Must(t, os.WriteFile(bundleFile, checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{Cluster.PKI.CA.Cert}), 0o644))
	kcm := Cluster.Component(localcluster.ControllerManager)
	origRootCA := kcm.Get("root-ca-file")
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": origRootCA}))
		WaitRootCA(t, Client(t), Cluster.PKI.CA.CertPEM)
	})
	Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": bundleFile}))
	bundlePEM, err := os.ReadFile(bundleFile)
	Must(t, err)
	WaitRootCA(t, client, bundlePEM)
	Must(t, drill.AfterRootCAChange(ctx, client))
	// abort's plan starts with the controller-manager, though no mirror
	// pod shows its flags here: it publishes the bundle, and would put it
	// back over anything an undo file restores.
	r = as2.Run(t, "kubectl-carotate", "abort", "--dry-run=client")
	if r.Code != 0 || !strings.Contains(r.Stderr, "\n1. kube-controller-manager publishes old+new (the bundle)") ||
		!strings.Contains(r.Stderr, "no kube-controller-manager mirror pod is visible") {
		t.Errorf("abort --dry-run=client while the controller-manager publishes the bundle: exit %d:\n%s", r.Code, r.Stderr)
	}
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if r.Code != 0 || !strings.Contains(r.Stderr, "/bundle (rotation ") || annotation() == "" {
		t.Fatalf("restart-workloads with no --value once the bundle is published: exit %d, %q", r.Code, r.Stderr)
	}
	// A pass over one namespace does not complete the phase: the next run
	// resumes the bundle pass rather than moving on to the serve pass.
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if r.Code != 0 || !strings.Contains(r.Stderr, "/bundle (rotation ") {
		t.Fatalf("after a pass over one namespace: exit %d, %q", r.Code, r.Stderr)
	}
	r = as2.Run(t, "kubectl-carotate", "restart-workloads")
	if r.Code != 0 || !strings.Contains(r.Stderr, "/bundle (rotation ") {
		t.Fatalf("the bundle pass over the cluster: exit %d, %q", r.Code, r.Stderr)
	}
	// The serve pass waits for step 9.3: the API server still serves from
	// the old CA. --force runs it anyway, and says what it risks.
	before := annotation()
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if r.Code != 1 || !strings.Contains(r.Stderr, "refusing the serve pass") || !strings.Contains(r.Stderr, "does not serve from the new CA") || annotation() != before {
		t.Fatalf("the serve pass before step 9.3: exit %d, %q", r.Code, r.Stderr)
	}
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns, "--force")
	if r.Code != 0 || !strings.Contains(r.Stderr, "--force: running the serve pass") || !strings.HasSuffix(annotation(), "/serve") {
		t.Fatalf("the serve pass with --force: exit %d, %q", r.Code, r.Stderr)
	}
	if !strings.Contains(recordJSON(t), "forced although: the API server does not serve from the new CA") {
		t.Fatalf("the forced pass is not logged as forced:\n%s", recordJSON(t))
	}

	// The passes are in the record for the next admin.
	state, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state", metav1.GetOptions{})
	Must(t, err)
	var rec struct {
		Passes []struct{ Kind, Result, By string }
	}
	Must(t, json.Unmarshal([]byte(state.Data["rotation.json"]), &rec))
	kinds := map[string]string{}
	for _, p := range rec.Passes {
		kinds[p.Kind] = p.Result + " by " + p.By
	}
	if !strings.HasPrefix(kinds["bundle"], "failed by") || !strings.HasPrefix(kinds["update-cluster-info"], "ok by") ||
		!strings.HasPrefix(kinds["restart-workloads"], "ok by CN=second-admin") && !strings.HasPrefix(kinds["restart-workloads"], "ok by second-admin") {
		t.Fatalf("passes logged: %v", kinds)
	}
	if _, ok := kinds["unbundle"]; ok {
		t.Fatalf("a refused unbundle must not be logged as a pass: %v", kinds)
	}
}

// recordJSON is the rotation record's log, as the next admin reads it.
func recordJSON(t *testing.T) string {
	t.Helper()
	cm, err := Client(t).CoreV1().ConfigMaps("kube-system").Get(context.Background(), "carotate-state", metav1.GetOptions{})
	Must(t, err)
	return cm.Data["rotation.json"]
}

// kubeconfigAction is verify's next command for the kubeconfig of c, ""
// when the kubeconfig needs none.
func kubeconfigAction(t *testing.T, c Cmd) string {
	t.Helper()
	r := c.Run(t, "kubectl-carotate", "verify", "--only", "clients", "-o", "json")
	var rep struct {
		Sections []struct {
			Items []struct{ Kind, Action string }
		}
	}
	Must(t, json.Unmarshal([]byte(r.Stdout), &rep))
	for _, s := range rep.Sections {
		for _, it := range s.Items {
			if it.Kind == "kubeconfig" {
				return it.Action
			}
		}
	}
	t.Fatalf("verify --only clients reports no kubeconfig: %s", r.Stdout)
	return ""
}
