// Package drilltest asserts the end state of a drill (test/drill) from
// outside the plugin, for the e2e packages that run one.
package drilltest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// AssertEndState checks the end state of a rotation (issue 9, step 4)
// from outside the plugin: handshakes, authentication, the CA data pods and
// joining nodes read, cluster-info signatures checked by hand, pod ages,
// revision counts, and what verify and status say.
func AssertEndState(t *testing.T, out *drill.Outcome) {
	ctx := context.Background()
	newPool, oldPool := x509.NewCertPool(), x509.NewCertPool()
	newPool.AddCert(out.NewCA.Cert)
	oldPool.AddCert(out.OldCA.Cert)
	host := strings.TrimPrefix(Cluster.Server, "https://")

	// The serving chain verifies against the new CA, not the old.
	conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: newPool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Errorf("the serving chain does not verify against the new CA: %v", err)
	} else {
		conn.Close()
	}
	if conn, err := tls.Dial("tcp", host, &tls.Config{RootCAs: oldPool, ServerName: "127.0.0.1"}); err == nil {
		conn.Close()
		t.Error("the serving chain still verifies against the old CA")
	} else if !strings.Contains(err.Error(), "unknown authority") {
		t.Errorf("handshake trusting the old CA failed for another reason: %v", err)
	}

	// Client certificates: the old CA's is rejected with 401, the new CA's accepted.
	clientFor := func(ck *localcluster.CertKey) kubernetes.Interface {
		cfg := &rest.Config{Host: Cluster.Server, TLSClientConfig: rest.TLSClientConfig{CAData: out.NewCA.CertPEM, CertData: ck.CertPEM, KeyData: ck.KeyPEM}}
		c, err := kubernetes.NewForConfig(cfg)
		Must(t, err)
		return c
	}
	_, err = clientFor(out.OldAdmin).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{})
	if !apierrors.IsUnauthorized(err) {
		t.Errorf("a client certificate from the old CA: %v, want 401 Unauthorized", err)
	}
	fresh, err := out.NewCA.Issue(localcluster.CertSpec{CommonName: "end-check", Organizations: []string{"system:masters"}, Client: true})
	Must(t, err)
	if _, err := clientFor(fresh).CoreV1().Namespaces().Get(ctx, "default", metav1.GetOptions{}); err != nil {
		t.Errorf("a client certificate from the new CA is not accepted: %v", err)
	}

	client := Client(t)
	newOnly := func(what string, data []byte) {
		certs, err := checks.ParseCertificates(what, data)
		if err != nil || !checks.SameCertificates(certs, []*x509.Certificate{out.NewCA.Cert}) {
			t.Errorf("%s does not hold the new CA alone (%d certificates, %v)", what, len(certs), err)
		}
	}
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=kube-root-ca.crt"})
	Must(t, err)
	nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	Must(t, err)
	if len(cms.Items) != len(nss.Items) {
		t.Errorf("%d kube-root-ca.crt for %d namespaces", len(cms.Items), len(nss.Items))
	}
	for _, cm := range cms.Items {
		newOnly(cm.Namespace+"/kube-root-ca.crt", []byte(cm.Data["ca.crt"]))
	}
	secrets, err := client.CoreV1().Secrets("").List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
	Must(t, err)
	if len(secrets.Items) == 0 {
		t.Error("no legacy token Secret to check")
	}
	for _, s := range secrets.Items {
		newOnly("Secret "+s.Namespace+"/"+s.Name+" ca.crt", s.Data["ca.crt"])
	}

	// cluster-info: the new CA, signed for both tokens (HS256 by hand).
	ci, err := client.CoreV1().ConfigMaps("kube-public").Get(ctx, "cluster-info", metav1.GetOptions{})
	Must(t, err)
	kc, err := clientcmd.Load([]byte(ci.Data["kubeconfig"]))
	Must(t, err)
	for name, c := range kc.Clusters {
		newOnly("cluster-info cluster "+name, c.CertificateAuthorityData)
	}
	if len(Cluster.BootstrapTokens) != 2 {
		t.Fatalf("%d bootstrap tokens, want 2", len(Cluster.BootstrapTokens))
	}
	AssertClusterInfoSigned(t, ci.Data, Cluster.BootstrapTokens)

	// Every pod of the drill's workloads (and the re-created bare pod) was
	// created after the last kube-root-ca.crt change (one-second resolution:
	// a later second).
	if out.FinalRootCAChange.IsZero() {
		t.Fatal("the drill recorded no final kube-root-ca.crt change")
	}
	final := out.FinalRootCAChange.Truncate(1e9)
	rollable := 0
	for _, ns := range out.Workloads.Namespaces {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, p := range pods.Items {
			if !p.CreationTimestamp.Time.After(final) {
				t.Errorf("pod %s/%s was created at %s, not after the final bundle change at %s", ns, p.Name, p.CreationTimestamp.UTC(), final.UTC())
			}
			if len(p.OwnerReferences) > 0 {
				rollable++
			}
		}
	}
	if rollable < 10 {
		t.Errorf("only %d controller-owned pods in the drill's namespaces", rollable)
	}
	// The OnDelete StatefulSet's pods run the current revision.
	sts, err := client.AppsV1().StatefulSets(out.Workloads.OnDelete.Namespace).Get(ctx, out.Workloads.OnDelete.Name, metav1.GetOptions{})
	Must(t, err)
	if sts.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType || sts.Status.CurrentRevision != sts.Status.UpdateRevision {
		t.Errorf("OnDelete StatefulSet: strategy %s, current revision %s, update revision %s", sts.Spec.UpdateStrategy.Type, sts.Status.CurrentRevision, sts.Status.UpdateRevision)
	}

	// Every workload rolled exactly once per pass: its first template and
	// one per pass (bundle, finish) make three ReplicaSets or
	// ControllerRevisions, no more (a re-run with the pass value must not
	// roll again), no fewer.
	for name, n := range revisions(t, client, out.Workloads.Namespaces) {
		if n != 3 {
			t.Errorf("%s has %d revisions, want 3 (created, bundle pass, finish pass)", name, n)
		}
	}

	assertPassWrites(t, out)
	assertKubelets(t, out)

	// The special cases were reported by each first pass, not skipped silently.
	if len(out.RestartReports) != 4 {
		t.Fatalf("%d restart reports, want 4 (two per phase)", len(out.RestartReports))
	}
	for _, i := range []int{0, 2} {
		rep := out.RestartReports[i]
		for _, want := range []string{"frozen", "paused", "ondelete", "OnDelete", "zero", "0 replicas", "bare", "bare pod", "no controller recreates it"} {
			if !strings.Contains(rep, want) {
				t.Errorf("restart pass %d does not report %q", i, want)
			}
		}
	}

	// The webhook trusts the new CA alone, as verify said to make it.
	vwc, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, out.Workloads.Webhook, metav1.GetOptions{})
	Must(t, err)
	newOnly("webhook "+vwc.Name, vwc.Webhooks[0].ClientConfig.CABundle)

	if r := Carotate(t, "verify", "--ca", out.NewFile, "--expect", "new"); r.Code != 0 {
		t.Errorf("verify --expect new: exit %d", r.Code)
	}
	r := Carotate(t, "status", "-o", "json")
	var st drill.StatusDoc
	Must(t, json.Unmarshal([]byte(r.Stdout), &st))
	if st.Rotation == nil || st.Rotation.ID != out.RotationID || st.Rotation.State != "finished" {
		t.Errorf("status: rotation %+v, want %s finished", st.Rotation, out.RotationID)
	}
	if len(st.Steps) == 0 {
		t.Error("status shows no steps")
	}
	// status cannot see three rows by design: 11 (it reads no logs; verify
	// did, above), 11-copies (it reads no Secrets; verify did) and 12.3
	// (kubelet files are not visible through the API).
	// Every other row is done or not applicable.
	blind := map[string]string{"11": "status does not read logs", "12.3": "not visible through the API",
		"11-copies": "status does not read every Secret and ConfigMap"}
	for _, s := range st.Steps {
		if why, ok := blind[s.Step]; ok && s.State == "unknown" && strings.Contains(s.Evidence, why) {
			continue
		}
		if s.State != "done" && s.State != "not applicable" {
			t.Errorf("status: step %s is %q (%s)", s.Step, s.State, s.Evidence)
		}
	}
}

// revisions counts the ReplicaSets of each Deployment and the
// ControllerRevisions of each DaemonSet and StatefulSet in the namespaces.
func revisions(t *testing.T, client kubernetes.Interface, namespaces []string) map[string]int {
	ctx := context.Background()
	out := map[string]int{}
	for _, ns := range namespaces {
		deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, d := range deps.Items {
			out["deployment "+ns+"/"+d.Name] = 0
		}
		dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, d := range dss.Items {
			out["daemonset "+ns+"/"+d.Name] = 0
		}
		stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, s := range stss.Items {
			out["statefulset "+ns+"/"+s.Name] = 0
		}
		rss, err := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, rs := range rss.Items {
			for _, o := range rs.OwnerReferences {
				if o.Kind == "Deployment" {
					out["deployment "+ns+"/"+o.Name]++
				}
			}
		}
		crs, err := client.AppsV1().ControllerRevisions(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, cr := range crs.Items {
			for _, o := range cr.OwnerReferences {
				out[strings.ToLower(o.Kind)+" "+ns+"/"+o.Name]++
			}
		}
	}
	return out
}

// assertPassWrites checks that each restart pass wrote every workload
// exactly once, whatever its attempts: each workload's generation rose by
// one (the template), the paused Deployment's by two (the template, then
// --resume-paused), and each OnDelete pod of the old revision was deleted
// once, none of the new.
func assertPassWrites(t *testing.T, out *drill.Outcome) {
	t.Helper()
	if len(out.Passes) != 2 {
		t.Fatalf("%d restart passes recorded, want 2 (bundle, finish)", len(out.Passes))
	}
	w := out.Workloads
	paused := "Deployment/" + w.Paused.Namespace + "/" + w.Paused.Name
	for _, p := range out.Passes {
		if len(p.Generations) != 9 {
			t.Errorf("pass %s: %d workloads seen, want 9: %v", p.Value, len(p.Generations), p.Generations)
		}
		for k, n := range p.Generations {
			want := int64(1)
			if k == paused {
				want = 2
			}
			if n != want {
				t.Errorf("pass %s: %s's generation rose by %d, want %d (one per spec write)", p.Value, k, n, want)
			}
		}
		// The pass deletes each pod of an older revision once; pods of its
		// own revision it never deletes. (KWOK sometimes force-deletes a
		// replacement by the name of the pod just deleted; the StatefulSet
		// controller creates it again. Such a deletion leaves no grace
		// period and a new uid of the same revision, which is not counted.)
		oldDeleted := map[string]int{}
		for _, ps := range p.OnDeletePods {
			switch {
			case ps.Revision != p.OnDeleteRevision && (ps.Deleted || ps.Gone):
				oldDeleted[ps.Name]++
			case ps.Revision == p.OnDeleteRevision && ps.Deleted:
				t.Errorf("pass %s: pod %s (uid %s) of the pass's own revision was deleted", p.Value, ps.Name, ps.UID)
			case ps.Revision == p.OnDeleteRevision && ps.Gone:
				t.Logf("pass %s: pod %s (uid %s) of the pass's revision was force-deleted (KWOK, not the plugin)", p.Value, ps.Name, ps.UID)
			}
		}
		if len(oldDeleted) != 2 {
			t.Errorf("pass %s: old pods deleted per name %v, want both pods of the OnDelete StatefulSet", p.Value, oldDeleted)
		}
		for name, n := range oldDeleted {
			if n != 1 {
				t.Errorf("pass %s: %d pods named %s of an older revision deleted, want 1", p.Value, n, name)
			}
		}
	}
}
