//go:build e2e

// Package badinput runs every mutating command with each bad input that
// applies to it and checks, for each, a specific error, a non-zero exit, no
// private-key material in the output, and no write anywhere in the cluster
// (ConfigMaps, Secrets, workloads and pods). The table runs twice: before
// any rotation is recorded, and again with one recorded, since most
// commands then take their CAs and pass values from the record.
package badinput

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

// versions is the resourceVersion of every ConfigMap and Secret in the
// cluster, and for every Deployment, DaemonSet and StatefulSet what a write
// by a command changes: generation (spec), labels and annotations. Their
// resourceVersion alone also moves with the controllers' status updates,
// which are no write of ours.
func versions(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	c := Client(t)
	out := map[string]string{}
	cms, err := c.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range cms.Items {
		out["ConfigMap "+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	ss, err := c.CoreV1().Secrets("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range ss.Items {
		out["Secret "+o.Namespace+"/"+o.Name] = o.ResourceVersion
	}
	ds, err := c.AppsV1().Deployments("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range ds.Items {
		out["Deployment "+o.Namespace+"/"+o.Name] = written(o.ObjectMeta)
	}
	dss, err := c.AppsV1().DaemonSets("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range dss.Items {
		out["DaemonSet "+o.Namespace+"/"+o.Name] = written(o.ObjectMeta)
	}
	sts, err := c.AppsV1().StatefulSets("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range sts.Items {
		out["StatefulSet "+o.Namespace+"/"+o.Name] = written(o.ObjectMeta)
	}
	// A pod that a write made its controller replace is a new uid (or a
	// deletion under way); its resourceVersion moves with status updates
	// that are no write of ours (seen: a KWOK pod's, within 30 s).
	pods, err := c.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, o := range pods.Items {
		out["Pod "+o.Namespace+"/"+o.Name] = fmt.Sprintf("uid %s, deleting %v, labels %v, annotations %v", o.UID, o.DeletionTimestamp != nil, o.Labels, o.Annotations)
	}
	return out
}

func written(m metav1.ObjectMeta) string {
	return fmt.Sprintf("generation %d, labels %v, annotations %v", m.Generation, m.Labels, m.Annotations)
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// expiredCA is a self-signed CA whose validity ended yesterday.
func expiredCA(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Must(t, err)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(42), Subject: pkix.Name{CommonName: "expired-ca"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	Must(t, err)
	return pemBlock("CERTIFICATE", der)
}

func csr(t *testing.T) []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Must(t, err)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a-request"}}, key)
	Must(t, err)
	return pemBlock("CERTIFICATE REQUEST", der)
}

// tc is one bad input: the command, as whom, and what stderr must say
// ("a|b": either).
type tc struct {
	name       string
	kubeconfig string
	args       []string
	want       []string
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		Must(t, os.WriteFile(p, data, 0o600))
		return p
	}
	newCA, err := localcluster.NewCA("kubernetes-next", 365*24*time.Hour)
	Must(t, err)
	otherCA, err := localcluster.NewCA("unrelated-ca", 365*24*time.Hour)
	Must(t, err)
	leaf, err := newCA.Issue(localcluster.CertSpec{CommonName: "a-leaf", Client: true})
	Must(t, err)
	f := map[string]string{
		"old":     write("old-ca.crt", Cluster.PKI.CA.CertPEM),
		"new":     write("new-ca.crt", newCA.CertPEM),
		"other":   write("other-ca.crt", otherCA.CertPEM),
		"notpem":  write("notes.txt", []byte("this is not a certificate\n")),
		"der":     write("new-ca.der", newCA.Cert.Raw),
		"key":     write("new-ca.key", newCA.KeyPEM),
		"csr":     write("request.csr", csr(t)),
		"leaf":    write("leaf.crt", leaf.CertPEM),
		"expired": write("expired-ca.crt", expiredCA(t)),
	}
	keyLines := strings.Split(strings.TrimSpace(string(newCA.KeyPEM)+string(Cluster.PKI.CA.KeyPEM)), "\n")

	// Users: unreachable server, read-only (view role).
	unreachable := filepath.Join(dir, "unreachable.conf")
	Must(t, localcluster.WriteKubeconfig(unreachable, "https://127.0.0.1:1", Cluster.PKI.CA.CertPEM, Cluster.PKI.Admin))
	ro, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "readonly", Client: true})
	Must(t, err)
	readonly := filepath.Join(dir, "readonly.conf")
	Must(t, localcluster.WriteKubeconfig(readonly, Cluster.Server, Cluster.PKI.CA.CertPEM, ro))
	BindClusterRole(t, client, "readonly", "view", "list", "", "configmaps")

	// A workload restart-workloads would patch.
	ns := CreateNamespace(t, client, "badinput")
	Must(t, Create(client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "app"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "app"}},
			Template: PodTemplate(map[string]string{"app": "app"})}}, metav1.CreateOptions{})))
	WaitRolledOut(t, client, ns)
	undoBad := write("bad.undo.jsonl", []byte("{not json\n"))
	// A valid undo file, from a real pass over the namespace (before the
	// snapshot below), and the same file as written against another API
	// server.
	undoDir := filepath.Join(dir, "undo")
	if r := Carotate(t, "restart-workloads", "-n", ns, "--value", "badinput-1", "--undo-dir", undoDir); r.Code != 0 {
		t.Fatalf("the pass that writes a valid undo file: exit %d", r.Code)
	}
	WaitRolledOut(t, client, ns)
	undoFiles, err := filepath.Glob(filepath.Join(undoDir, "*.undo.jsonl"))
	Must(t, err)
	if len(undoFiles) != 1 {
		t.Fatalf("undo files %v, want one", undoFiles)
	}
	undoValid := undoFiles[0]
	valid, err := os.ReadFile(undoValid)
	Must(t, err)
	header, rest, _ := strings.Cut(string(valid), "\n")
	if !strings.Contains(header, `"server":"`+Cluster.Server+`"`) {
		t.Fatalf("undo file header %s does not name %s", header, Cluster.Server)
	}
	undoOther := write("other-server.undo.jsonl", []byte(strings.Replace(header, Cluster.Server, "https://10.255.255.1:6443", 1)+"\n"+rest))

	var cases []tc
	certInputs := []struct{ input, want string }{
		{"notpem", "not PEM: no -----BEGIN line found"},
		{"der", "not PEM (looks like DER"},
		{"key", "private key"},
		{"csr", "is a certificate request, not a certificate"},
		{"leaf", "is not a CA"},
		{"expired", "expired on"},
	}
	for _, in := range certInputs {
		// The error names the flag (parse errors) or the CA's role
		// (validation errors), and says nothing was changed.
		cases = append(cases,
			tc{"start --new-ca " + in.input, "", []string{"start", "--new-ca", f[in.input]}, []string{"--new-ca|new CA", in.want, "nothing was"}},
			tc{"bundle --new-ca " + in.input, "", []string{"bundle", "--old-ca", f["old"], "--new-ca", f[in.input]}, []string{"--new-ca|new CA", in.want, "nothing was changed"}},
			tc{"bundle --old-ca " + in.input, "", []string{"bundle", "--old-ca", f[in.input], "--new-ca", f["new"]}, []string{"--old-ca|old CA", in.want, "nothing was changed"}},
			tc{"unbundle --keep " + in.input, "", []string{"unbundle", "--keep", f[in.input]}, []string{"--keep|kept CA", in.want, "nothing was changed"}},
			tc{"update-cluster-info --ca " + in.input, "", []string{"update-cluster-info", "--ca", f[in.input]}, []string{"--ca", in.want, "nothing was changed"}},
		)
	}
	cases = append(cases,
		tc{"start old == new", "", []string{"start", "--old-ca", f["old"], "--new-ca", f["old"]}, []string{"old CA and new CA are the same certificate"}},
		tc{"start --new-ca the CA the cluster runs on", "", []string{"start", "--new-ca", f["old"]}, []string{"already serves a certificate from the new CA", "pass --old-ca"}},
		tc{"bundle old == new", "", []string{"bundle", "--old-ca", f["old"], "--new-ca", f["old"]}, []string{"old CA and new CA are the same certificate"}},
		tc{"unbundle --keep without the serving CA", "", []string{"unbundle", "--keep", f["other"]}, []string{"serving"}},
		tc{"update-cluster-info --ca without the serving CA", "", []string{"update-cluster-info", "--ca", f["other"]}, []string{"serving"}},
		// An old CA that is not the one the cluster runs on: recorded, or
		// bundled with --replace-other, it would drop the CA every pod
		// trusts from every kube-root-ca.crt.
		tc{"start --old-ca that is not the served CA", "", []string{"start", "--old-ca", f["other"], "--new-ca", f["new"], "--dry-run=server"},
			[]string{"does not verify the API server's serving certificate", "nothing was written"}},
		tc{"bundle --old-ca that is not the served CA", "", []string{"bundle", "--old-ca", f["other"], "--new-ca", f["new"]},
			[]string{"holds no CA that verifies the API server's serving certificate", "nothing was changed"}},
		tc{"bundle --old-ca that is not the served CA, --replace-other", "", []string{"bundle", "--old-ca", f["other"], "--new-ca", f["new"], "--replace-other"},
			[]string{"holds no CA that verifies the API server's serving certificate", "nothing was changed"}},
		// A value the API server would store mangled never matches itself.
		tc{"restart-workloads --value not UTF-8", "", []string{"restart-workloads", "-n", ns, "--value", "x\xff\xfe"}, []string{"not valid UTF-8"}},
		tc{"restart-workloads unknown namespace", "", []string{"restart-workloads", "-n", "no-such-namespace"}, []string{"no-such-namespace", "not found"}},
		tc{"restart-workloads unknown kind", "", []string{"restart-workloads", "--kinds", "cronjobs"}, []string{"cronjobs"}},
		// The undo file comes before the first patch; without it nothing is patched.
		tc{"restart-workloads undo dir not creatable", "", []string{"restart-workloads", "-n", ns, "--undo-dir", filepath.Join(f["notpem"], "undo")},
			[]string{"cannot create the undo file", "--undo-dir", "nothing was patched"}},
		tc{"bundle undo dir not creatable", "", []string{"bundle", "--old-ca", f["old"], "--new-ca", f["new"], "--undo-dir", filepath.Join(f["notpem"], "undo")},
			[]string{"cannot create the undo file", "--undo-dir", "nothing was written"}},
		tc{"undo a file that is not an undo file", "", []string{"undo", undoBad}, []string{undoBad}},
		tc{"undo a missing file", "", []string{"undo", filepath.Join(dir, "missing.jsonl")}, []string{"missing.jsonl"}},
		tc{"undo a valid file written for another API server", "", []string{"undo", undoOther},
			[]string{"https://10.255.255.1:6443", "--context", "nothing was changed"}},
	)
	// The undo file names the API server it was written for: against the
	// unreachable one, undo refuses before any request. finish and abort
	// write only the rotation record and say "nothing was written" of it.
	for _, k := range []struct {
		who, kubeconfig, want, undoWant string
	}{{"unreachable server", unreachable, "127.0.0.1:1", "was written for the API server"}, {"read-only user", readonly, "nothing was changed|nothing was written", "nothing was changed"}} {
		cases = append(cases,
			tc{"start " + k.who, k.kubeconfig, []string{"start", "--new-ca", f["new"]}, []string{k.want}},
			tc{"bundle " + k.who, k.kubeconfig, []string{"bundle", "--old-ca", f["old"], "--new-ca", f["new"]}, []string{k.want}},
			tc{"unbundle " + k.who, k.kubeconfig, []string{"unbundle", "--keep", f["new"], "--force"}, []string{k.want}},
			tc{"update-cluster-info " + k.who, k.kubeconfig, []string{"update-cluster-info", "--ca", f["new"]}, []string{k.want}},
			tc{"restart-workloads " + k.who, k.kubeconfig, []string{"restart-workloads"}, []string{k.want}},
			tc{"undo a valid file " + k.who, k.kubeconfig, []string{"undo", undoValid}, []string{k.undoWant}},
			tc{"finish " + k.who, k.kubeconfig, []string{"finish"}, []string{k.want}},
			tc{"abort " + k.who, k.kubeconfig, []string{"abort"}, []string{k.want}},
		)
	}

	noRecord := append(slices.Clone(cases),
		tc{"finish without a rotation", "", []string{"finish"}, []string{"no rotation is recorded", "nothing was written"}},
		tc{"abort without a rotation", "", []string{"abort"}, []string{"no rotation is recorded", "nothing was written"}},
	)
	run(t, "no rotation recorded", noRecord, keyLines)

	// The same inputs once a rotation is recorded, and what only a record
	// makes possible: finish while steps are not done, a second start with
	// other CAs.
	if r := Carotate(t, "start", "--new-ca", f["new"]); r.Code != 0 {
		t.Fatalf("start: exit %d", r.Code)
	}
	// Against an unreachable server nothing is read, record or not: those
	// cases ran above. In a rotation a pass is refused until the step it
	// follows is done (here: nothing is bundled yet), before its undo file:
	// the undo-dir case needs --force to get that far.
	withRecord := slices.DeleteFunc(slices.Clone(cases), func(c tc) bool { return c.kubeconfig == unreachable })
	for i, c := range withRecord {
		if c.name == "restart-workloads undo dir not creatable" {
			withRecord[i].args = append(slices.Clone(c.args), "--force")
		}
	}
	withRecord = append(withRecord,
		tc{"restart-workloads before the bundle is published", "", []string{"restart-workloads", "-n", ns},
			[]string{"refusing the bundle pass", "not done", "nothing was patched"}},
		tc{"finish while steps are not done", "", []string{"finish"}, []string{"refusing to finish", "not done", "nothing was written"}},
		tc{"start with other CAs", "", []string{"start", "--new-ca", f["other"]}, []string{"is active", "other CAs", "nothing was written"}},
	)
	run(t, "rotation recorded", withRecord, keyLines)
}

// run runs each case in a subtest of t and checks it changed nothing.
func run(t *testing.T, phase string, cases []tc, keyLines []string) {
	t.Run(phase, func(t *testing.T) {
		before := versions(t)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := Cmd{Kubeconfig: c.kubeconfig, Timeout: time.Minute}.Run(t, "kubectl-carotate", c.args...)
				if r.Code == 0 {
					t.Errorf("exit 0, want non-zero")
				}
				for _, w := range c.want {
					found := false
					for _, alt := range strings.Split(w, "|") {
						found = found || strings.Contains(r.Stderr, alt)
					}
					if !found {
						t.Errorf("stderr does not say %q:\n%s", w, r.Stderr)
					}
				}
				for _, line := range keyLines {
					if !strings.HasPrefix(line, "-----") && strings.Contains(r.Stdout+r.Stderr, line) {
						t.Fatal("the output echoes private-key material")
					}
				}
				after := versions(t)
				for k, v := range after {
					if before[k] != v {
						t.Errorf("%s was written (%s -> %s)", k, before[k], v)
					}
				}
				for k := range before {
					if _, ok := after[k]; !ok {
						t.Errorf("%s was deleted", k)
					}
				}
				before = after
			})
		}
	})
}
