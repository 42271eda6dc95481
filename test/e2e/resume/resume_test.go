//go:build e2e

// Package resume: once a rotation is recorded, the in-cluster commands take
// their CAs from the record, so a second admin resumes with no flags.
package resume

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
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
	r = as2.Run(t, "kubectl-carotate", "unbundle")
	if r.Code == 0 || !strings.Contains(r.Stderr, "keeping the new CA of rotation") {
		t.Fatalf("unbundle with no flags: exit %d (it must refuse: the serving chain is old-CA only), %q", r.Code, r.Stderr)
	}

	// restart-workloads takes its pass value from the record: the bundle
	// pass first, then the next one.
	ns := CreateNamespace(t, client, "resume")
	Must(t, Create(client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: PodTemplate(map[string]string{"app": "web"})}}, metav1.CreateOptions{})))
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if r.Code != 0 || !strings.Contains(r.Stderr, "/bundle (rotation ") {
		t.Fatalf("restart-workloads with no --value: exit %d, %q", r.Code, r.Stderr)
	}
	r = as2.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if r.Code != 0 || !strings.Contains(r.Stderr, "/serve (rotation ") {
		t.Fatalf("second restart-workloads pass: exit %d, %q", r.Code, r.Stderr)
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
