//go:build e2e

// Package verify tests "kubectl carotate verify" against the local control
// plane: pods created before the controller-manager published the bundle
// are found ("restart needed") and are good after a restart, subPath mounts
// and pods without a token are reported, webhook caBundles that hold the
// old CA are found, the serving chain check tells the old CA from the new
// when the API server's certificate changes, and the exit codes are those
// documented.
package verify

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

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// MirrorPods gives kube-system the control plane's mirror pods, as on a
// kubeadm cluster: the logs check must find them.
func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{MirrorPods: true})) }

// report mirrors verify's -o json.
type report struct {
	Expect    string    `json:"expect"`
	OldSource string    `json:"oldCASource"`
	Sections  []section `json:"sections"`
	Result    struct {
		ExitCode int      `json:"exitCode"`
		Errors   int      `json:"errors"`
		Warnings int      `json:"warnings"`
		Failed   []string `json:"failedChecks"`
		Summary  string   `json:"summary"`
	} `json:"result"`
}

type section struct {
	Name    string   `json:"name"`
	Status  string   `json:"status"`
	Summary string   `json:"summary"`
	Error   string   `json:"error"`
	Notes   []string `json:"notes"`
	Items   []item   `json:"items"`
	Actions []string `json:"actions"`
}

type item struct {
	Severity  string   `json:"severity"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Where     string   `json:"where"`
	Holds     string   `json:"holds"`
	Verdict   string   `json:"verdict"`
	Detail    string   `json:"detail"`
	Action    string   `json:"action"`
	Fix       string   `json:"fix"`
	Count     int      `json:"count"`
	Members   []string `json:"members"`
}

func (r report) section(t *testing.T, name string) section {
	t.Helper()
	for _, s := range r.Sections {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no section %q in the report", name)
	return section{}
}

// find returns the one item of kind/name (and where, if given).
func (s section) find(t *testing.T, kind, ns, name, where string) item {
	t.Helper()
	var found []item
	for _, it := range s.Items {
		if it.Kind == kind && it.Namespace == ns && it.Name == name && (where == "" || it.Where == where) {
			found = append(found, it)
		}
	}
	if len(found) != 1 {
		t.Fatalf("section %s: want one item %s %s/%s %s, found %d: %+v", s.Name, kind, ns, name, where, len(found), s.Items)
	}
	return found[0]
}

// verify runs verify -o json as the admin and decodes the report.
func verify(t *testing.T, wantCode int, args ...string) report {
	t.Helper()
	return verifyAs(t, Cmd{}, wantCode, args...)
}

func verifyAs(t *testing.T, c Cmd, wantCode int, args ...string) report {
	t.Helper()
	r := c.Run(t, "kubectl-carotate", append([]string{"verify", "-o", "json"}, args...)...)
	if r.Code != wantCode {
		t.Fatalf("verify %v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, r.Code, wantCode, r.Stdout, r.Stderr)
	}
	var rep report
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("verify -o json output does not decode: %v\n%s", err, r.Stdout)
	}
	if rep.Result.ExitCode != wantCode {
		t.Fatalf("report says exit %d, process exited %d", rep.Result.ExitCode, wantCode)
	}
	return rep
}

// rotation holds the CA files of a rotation from the cluster's CA (old) to
// a fresh one (new).
type rotation struct {
	old, new, bundle          string // file paths
	oldPEM, newPEM, bundlePEM []byte
	newCA                     *localcluster.CertKey
}

func newRotation(t *testing.T) rotation {
	t.Helper()
	dir := t.TempDir()
	oldPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
	Must(t, err)
	newCA, err := localcluster.NewCA("kubernetes-new", 48*time.Hour)
	Must(t, err)
	r := rotation{
		old: filepath.Join(dir, "old-ca.crt"), new: filepath.Join(dir, "new-ca.crt"), bundle: filepath.Join(dir, "bundle.crt"),
		oldPEM: oldPEM, newPEM: newCA.CertPEM, newCA: newCA,
		bundlePEM: checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{Cluster.PKI.CA.Cert}),
	}
	Must(t, os.WriteFile(r.old, r.oldPEM, 0o644))
	Must(t, os.WriteFile(r.new, r.newPEM, 0o644))
	Must(t, os.WriteFile(r.bundle, r.bundlePEM, 0o644))
	return r
}

// publishBundle restarts the controller-manager with --root-ca-file on the
// bundle, as upstream step 2 does, and waits until it published it
// everywhere; the original flag comes back at the end of the test.
func publishBundle(t *testing.T, rot rotation, legacy ...[2]string) {
	t.Helper()
	ctx := context.Background()
	client := Client(t)
	path, err := Cluster.PKI.WriteFile(fmt.Sprintf("verify-bundle-%d.crt", time.Now().UnixNano()), rot.bundlePEM)
	Must(t, err)
	kcm := Cluster.Component(localcluster.ControllerManager)
	orig := kcm.Get("root-ca-file")
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": orig}))
		WaitRootCA(t, client, rot.oldPEM)
		// Later tests judge every token Secret of the cluster.
		for _, l := range legacy {
			waitSecretCA(t, l[0], l[1], rot.oldPEM)
		}
	})
	Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": path}))
	WaitRootCA(t, client, rot.bundlePEM)
	for _, l := range legacy {
		waitSecretCA(t, l[0], l[1], rot.bundlePEM)
	}
}

func waitSecretCA(t *testing.T, ns, name string, want []byte) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := Client(t).CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && string(s.Data["ca.crt"]) == string(want) && len(s.Data["token"]) > 0, nil
	})
	if err != nil {
		t.Fatalf("secret %s/%s does not hold the expected ca.crt: %v", ns, name, err)
	}
}

// waitPastSecond waits until the wall clock is in a later second than the
// last change of kube-root-ca.crt in ns: pods started from then on are
// after the change at the one-second precision both times are stored with.
func waitPastSecond(t *testing.T, ns string) {
	t.Helper()
	cm, err := Client(t).CoreV1().ConfigMaps(ns).Get(context.Background(), "kube-root-ca.crt", metav1.GetOptions{})
	Must(t, err)
	var last time.Time
	for _, mf := range cm.ManagedFields {
		if mf.Time != nil && mf.Time.After(last) {
			last = mf.Time.Time
		}
	}
	for !time.Now().Truncate(time.Second).After(last) {
		time.Sleep(50 * time.Millisecond)
	}
}

func createPod(t *testing.T, ns string, pod *corev1.Pod) {
	t.Helper()
	Must(t, Create(Client(t).CoreV1().Pods(ns).Create(context.Background(), pod, metav1.CreateOptions{})))
}

func barePod(name string, mutate func(*corev1.PodSpec)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bare": name}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}}}
	if mutate != nil {
		mutate(&p.Spec)
	}
	return p
}

// subPathPod mounts ca.crt of kube-root-ca.crt with subPath: the file is
// copied once and never updated.
func subPathPod(name string) *corev1.Pod {
	return barePod(name, func(s *corev1.PodSpec) {
		s.Volumes = append(s.Volumes, corev1.Volume{Name: "ca", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ConfigMap: &corev1.ConfigMapProjection{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
				Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
			}}}}}})
		s.AutomountServiceAccountToken = ptr.To(false)
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "ca", MountPath: "/etc/cluster-ca/ca.crt", SubPath: "ca.crt"}}
	})
}

func legacyPod(name, secret string) *corev1.Pod {
	return barePod(name, func(s *corev1.PodSpec) {
		s.AutomountServiceAccountToken = ptr.To(false)
		s.Volumes = []corev1.Volume{{Name: "token", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: secret}}}}
		s.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "token", MountPath: "/var/run/legacy"}}
	})
}

// waitRunning waits until every pod in ns is Running.
func waitRunning(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	var pending []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		pending = nil
		for _, p := range pods.Items {
			if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				pending = append(pending, p.Name)
			}
		}
		return len(pending) == 0, nil
	})
	if err != nil {
		t.Fatalf("pods not running in %s: %v", ns, pending)
	}
}

// TestPodsAcrossTheBundle is the main story of upstream steps 2 to 4: pods
// that started before the controller-manager published the bundle may hold
// the old CA ("restart needed", named by their workload), pods started
// after are good, and after the restart all are.
func TestPodsAcrossTheBundle(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	rot := newRotation(t)
	ns := CreateNamespace(t, client, "verify-pods")
	apps := client.AppsV1()
	labels := map[string]string{"app": "web"}
	Must(t, Create(apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: PodTemplate(labels)}}, metav1.CreateOptions{})))
	dbLabels := map[string]string{"app": "db"}
	Must(t, Create(apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: dbLabels}, Template: PodTemplate(dbLabels)}}, metav1.CreateOptions{})))
	// A legacy token Secret naming a ServiceAccount that does not exist yet
	// is deleted by the tokens controller (CI lost one that way).
	WaitDefaultServiceAccount(t, client, ns)
	Must(t, Create(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})))
	waitSecretCA(t, ns, "legacy-token", rot.oldPEM)
	createPod(t, ns, barePod("noauto", func(s *corev1.PodSpec) { s.AutomountServiceAccountToken = ptr.To(false) }))
	createPod(t, ns, subPathPod("subpath-old"))
	createPod(t, ns, legacyPod("legacy", "legacy-token"))
	WaitRolledOut(t, client, ns)
	waitRunning(t, client, ns)

	// Before the bundle is published, the sources themselves lack the new CA.
	rep := verify(t, 1, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "pods,sa", "-n", ns)
	sa := rep.section(t, "sa")
	if it := sa.find(t, "ConfigMap", ns, "kube-root-ca.crt", ""); it.Severity != "error" || it.Verdict != "lacks-ca" || it.Holds != "old" ||
		it.Action != "kubectl carotate instructions --step 2" || !strings.Contains(it.Fix, "--root-ca-file at "+rot.bundle) {
		t.Fatalf("kube-root-ca.crt before the bundle: %+v", it)
	}
	pods := rep.section(t, "pods")
	if it := pods.find(t, "Deployment", ns, "web", ""); it.Verdict != "source-lacks-ca" || it.Count != 2 {
		t.Fatalf("web before the bundle: %+v", it)
	}

	publishBundle(t, rot, [2]string{ns, "legacy-token"})
	waitPastSecond(t, ns)
	fresh := map[string]string{"app": "fresh"}
	Must(t, Create(apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "fresh"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: fresh}, Template: PodTemplate(fresh)}}, metav1.CreateOptions{})))
	createPod(t, ns, subPathPod("subpath-new"))
	WaitRolledOut(t, client, ns)
	waitRunning(t, client, ns)

	rep = verify(t, 1, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "pods,sa", "-n", ns)
	sa = rep.section(t, "sa")
	if it := sa.find(t, "ConfigMap", ns, "kube-root-ca.crt", ""); it.Severity != "ok" || it.Holds != "new+old" ||
		!strings.Contains(it.Detail, "by kube-controller-manager") {
		t.Fatalf("kube-root-ca.crt after the bundle: %+v", it)
	}
	if it := sa.find(t, "Secret", ns, "legacy-token", ""); it.Severity != "ok" || it.Holds != "new+old" {
		t.Fatalf("legacy token after the bundle: %+v", it)
	}
	pods = rep.section(t, "pods")
	for _, w := range []struct{ kind, name string }{{"Deployment", "web"}, {"StatefulSet", "db"}} {
		it := pods.find(t, w.kind, ns, w.name, "")
		if it.Severity != "error" || it.Verdict != "restart-needed" || it.Where != "ConfigMap kube-root-ca.crt" ||
			!strings.Contains(it.Detail, "not after ConfigMap kube-root-ca.crt ca.crt changed by kube-controller-manager") {
			t.Fatalf("%s %s started before the bundle: %+v", w.kind, w.name, it)
		}
	}
	if it := pods.find(t, "Deployment", ns, "web", ""); it.Count != 2 || it.Action != "kubectl carotate restart-workloads -n "+ns+" --kinds deployments --wait" {
		t.Fatalf("web names its Deployment (resolved from the ReplicaSet) and the command to run: %+v", it)
	}
	if it := pods.find(t, "Deployment", ns, "fresh", ""); it.Severity != "ok" || it.Verdict != "ok" {
		t.Fatalf("a pod started after the bundle is good: %+v", it)
	}
	if it := pods.find(t, "Pod", ns, "noauto", ""); it.Severity != "info" || it.Verdict != "no-api-ca" || it.Where != "none (automountServiceAccountToken: false)" {
		t.Fatalf("automount off: %+v", it)
	}
	if it := pods.find(t, "Pod", ns, "subpath-old", ""); it.Verdict != "restart-needed" || !strings.Contains(it.Detail, "container(s) app mount ca.crt with subPath (never updates)") ||
		!strings.Contains(it.Action, "kubectl replace --force") {
		t.Fatalf("subPath pod started before: %+v", it)
	}
	if it := pods.find(t, "Pod", ns, "subpath-new", ""); it.Severity != "warning" || it.Verdict != "subpath" {
		t.Fatalf("subPath pod started after: %+v", it)
	}
	if it := pods.find(t, "Pod", ns, "legacy", ""); it.Verdict != "restart-needed" || it.Where != "Secret legacy-token" {
		t.Fatalf("legacy token pod: %+v", it)
	}
	if !containsStr(pods.Actions, "kubectl carotate restart-workloads -n "+ns+" --kinds deployments,statefulsets --wait") {
		t.Fatalf("actions: %v", pods.Actions)
	}

	// The table says the same, for a human.
	r := Carotate(t, "verify", "--ca", rot.bundle, "--old-ca", rot.old, "--only", "pods", "-n", ns)
	for _, want := range []string{
		"== Pods: where each pod's API trust comes from",
		"FINDINGS: ",
		"Deployment " + ns + "/web (2 pods)",
		"next: kubectl carotate restart-workloads -n " + ns + " --kinds deployments,statefulsets --wait",
		"NOT READY: ",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("table output lacks %q", want)
		}
	}
	if r.Code != 1 || !strings.Contains(r.Stderr, "verify found") {
		t.Fatalf("table run: exit %d, stderr %q", r.Code, r.Stderr)
	}

	// Roll the workloads, re-create the bare pods the way the report says.
	if r := Carotate(t, "restart-workloads", "-n", ns, "--wait"); r.Code != 0 {
		t.Fatalf("restart-workloads: exit %d", r.Code)
	}
	for _, p := range []*corev1.Pod{subPathPod("subpath-old"), legacyPod("legacy", "legacy-token")} {
		p.Namespace = ns
		Must(t, drill.RecreatePod(ctx, client, p))
	}
	WaitRolledOut(t, client, ns)
	waitRunning(t, client, ns)
	rep = verify(t, 0, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "pods,sa", "-n", ns)
	pods = rep.section(t, "pods")
	for _, it := range pods.Items {
		if it.Severity == "error" {
			t.Errorf("after the restart: %+v", it)
		}
	}
	if it := pods.find(t, "Deployment", ns, "web", ""); it.Verdict != "ok" || it.Count != 2 {
		t.Fatalf("web after the restart: %+v", it)
	}
	if it := pods.find(t, "Pod", ns, "subpath-old", ""); it.Verdict != "subpath" || it.Severity != "warning" {
		t.Fatalf("re-created subPath pod stays flagged: %+v", it)
	}
	if rep.Result.Warnings != 2 || !strings.HasPrefix(rep.Result.Summary, "OK: 2 checks passed, 0 errors, 2 warnings (pods)") {
		t.Fatalf("result: %+v", rep.Result)
	}

	// --exec: KWOK runs exec commands on the host, where the pods' mounted
	// files do not exist, so no file is read here. What this proves is the
	// plumbing: the exec goes through the API server, its failure comes
	// back and is reported as a skip with the reason, not as a finding.
	rep = verify(t, 0, "--ca", rot.bundle, "--only", "pods", "-n", ns, "--exec")
	pods = rep.section(t, "pods")
	var skipped item
	for _, it := range pods.Items {
		if it.Verdict == "exec-skipped" {
			skipped = it
		}
	}
	if skipped.Count == 0 || skipped.Severity != "info" || !strings.HasPrefix(skipped.Detail, "exec failed: ") {
		t.Fatalf("--exec skip: %+v (items %+v)", skipped, pods.Items)
	}
	if !containsPrefix(pods.Notes, "--exec: read ca.crt in 0 of ") {
		t.Fatalf("--exec note: %v", pods.Notes)
	}
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func containsPrefix(list []string, p string) bool {
	for _, x := range list {
		if strings.HasPrefix(x, p) {
			return true
		}
	}
	return false
}

// TestWebhookCABundles: caBundles that hold the old CA are found, with the
// object and field to update; a caBundle of another CA is left alone.
func TestWebhookCABundles(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	rot := newRotation(t)
	other, err := localcluster.NewCA("someone-else", time.Hour)
	Must(t, err)
	suffix := rand.String(5)
	never := &metav1.LabelSelector{MatchLabels: map[string]string{"verify-never": suffix}}
	hook := func(name string, ca []byte) admissionregistrationv1.ValidatingWebhook {
		return admissionregistrationv1.ValidatingWebhook{
			Name: name + ".verify.carotate.test",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: "default", Name: "nowhere", Path: ptr.To("/validate")},
				CABundle: ca,
			},
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"verify.carotate.test"}, APIVersions: []string{"v1"}, Resources: []string{"nothings"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			NamespaceSelector:       never,
		}
	}
	vname := "verify-hooks-" + suffix
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: vname},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{hook("other", other.CertPEM), hook("old", rot.oldPEM)}}
	Must(t, Create(client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(context.Background(), vname, metav1.DeleteOptions{})
	})
	mname := "verify-mutating-" + suffix
	v := hook("bundle", rot.bundlePEM)
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: mname},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{Name: v.Name, ClientConfig: v.ClientConfig, Rules: v.Rules, FailurePolicy: v.FailurePolicy,
			SideEffects: v.SideEffects, AdmissionReviewVersions: v.AdmissionReviewVersions, NamespaceSelector: never}}}
	Must(t, Create(client.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{})))
	t.Cleanup(func() {
		_ = client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(context.Background(), mname, metav1.DeleteOptions{})
	})
	crdName := createConversionCRD(t, suffix, rot.oldPEM)

	// Mid-rotation: a caBundle with only the old CA still works while the
	// webhook's certificate comes from it: a warning, with the patch.
	rep := verify(t, 0, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "webhooks")
	hooks := rep.section(t, "webhooks")
	oldHook := hooks.find(t, "ValidatingWebhookConfiguration", "", vname, "webhooks[1] (old.verify.carotate.test).clientConfig.caBundle")
	if oldHook.Severity != "warning" || oldHook.Verdict != "lacks-ca" || oldHook.Holds != "old" ||
		!strings.Contains(oldHook.Action, "kubectl patch validatingwebhookconfiguration "+vname+` --type=json -p "[{\"op\":\"replace\",\"path\":\"/webhooks/1/clientConfig/caBundle\",\"value\":\"$(base64 -w0 `+rot.bundle+`)\"}]"`) {
		t.Fatalf("old-CA webhook mid-rotation: %+v", oldHook)
	}
	if it := hooks.find(t, "ValidatingWebhookConfiguration", "", vname, "webhooks[0] (other.verify.carotate.test).clientConfig.caBundle"); it.Severity != "ok" || it.Verdict != "other-ca" {
		t.Fatalf("webhook of another CA: %+v", it)
	}
	if it := hooks.find(t, "MutatingWebhookConfiguration", "", mname, ""); it.Severity != "ok" || it.Holds != "new+old" {
		t.Fatalf("bundle webhook mid-rotation: %+v", it)
	}
	if it := hooks.find(t, "CustomResourceDefinition", "", crdName, "spec.conversion.webhook.clientConfig.caBundle"); it.Severity != "warning" || it.Holds != "old" {
		t.Fatalf("CRD conversion webhook mid-rotation: %+v", it)
	}
	if it := hooks.find(t, "ConfigMap", "kube-system", "extension-apiserver-authentication", "data.client-ca-file"); it.Severity != "warning" || it.Holds != "old" ||
		!strings.Contains(it.Detail, "refused until step 5 is done") {
		t.Fatalf("client-ca-file mid-rotation: %+v", it)
	}
	if it := hooks.find(t, "ConfigMap", "kube-system", "extension-apiserver-authentication", "data.requestheader-client-ca-file"); it.Severity != "info" || it.Verdict != "front-proxy-ca" {
		t.Fatalf("requestheader CA: %+v", it)
	}

	// At the end: anything holding the old CA blocks.
	rep = verify(t, 1, "--ca", rot.new, "--old-ca", rot.old, "--expect", "new", "--only", "webhooks")
	hooks = rep.section(t, "webhooks")
	if it := hooks.find(t, "MutatingWebhookConfiguration", "", mname, ""); it.Severity != "error" || it.Verdict != "still-old" || it.Detail != "still holds old" {
		t.Fatalf("bundle webhook at the end: %+v", it)
	}
	if it := hooks.find(t, "ValidatingWebhookConfiguration", "", vname, "webhooks[1] (old.verify.carotate.test).clientConfig.caBundle"); it.Severity != "error" ||
		!strings.HasPrefix(it.Action, "kubectl patch validatingwebhookconfiguration "+vname+" ") || it.Fix != "patch it once the server's certificate is issued by the new CA" {
		t.Fatalf("old webhook at the end: %+v", it)
	}
	if it := hooks.find(t, "ValidatingWebhookConfiguration", "", vname, "webhooks[0] (other.verify.carotate.test).clientConfig.caBundle"); it.Severity != "ok" {
		t.Fatalf("webhook of another CA at the end: %+v", it)
	}

	// Without --old-ca (and without a record) verify infers the old CA as
	// start does, the CA the serving chain verifies against, says so, and
	// judges by it: the bundle webhook still holds the old CA, and the
	// summary names the webhooks it counts.
	rep = verify(t, 1, "--ca", rot.new, "--expect", "new", "--only", "webhooks")
	hooks = rep.section(t, "webhooks")
	if it := hooks.find(t, "MutatingWebhookConfiguration", "", mname, ""); it.Severity != "error" || it.Verdict != "still-old" ||
		!strings.Contains(it.Action, "kubectl patch mutatingwebhookconfiguration "+mname) {
		t.Fatalf("new+old webhook at the end without --old-ca: %+v", it)
	}
	if !strings.HasPrefix(rep.OldSource, "inferred: the CA the API server's serving chain verifies against today") {
		t.Fatalf("old CA source without --old-ca: %q", rep.OldSource)
	}
	if !strings.Contains(hooks.Summary, "of other CAs (ValidatingWebhookConfiguration "+vname+")") ||
		!strings.Contains(hooks.Summary, "MutatingWebhookConfiguration "+mname) || !strings.Contains(hooks.Summary, "CustomResourceDefinition "+crdName) {
		t.Fatalf("the summary does not name what it counts: %q", hooks.Summary)
	}
}

func createConversionCRD(t *testing.T, suffix string, caPEM []byte) string {
	t.Helper()
	dyn, err := dynamic.NewForConfig(RESTConfig(t))
	Must(t, err)
	group := "v" + suffix + ".verify.carotate.test"
	name := "widgets." + group
	schemaObj := map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{
				map[string]any{"name": "v1", "served": true, "storage": true, "schema": schemaObj},
				map[string]any{"name": "v2", "served": true, "storage": false, "schema": schemaObj},
			},
			"conversion": map[string]any{"strategy": "Webhook", "webhook": map[string]any{
				"conversionReviewVersions": []any{"v1"},
				"clientConfig": map[string]any{
					"service":  map[string]any{"namespace": "default", "name": "nowhere", "path": "/convert"},
					"caBundle": base64.StdEncoding.EncodeToString(caPEM),
				},
			}},
		},
	}}
	gvr := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	_, err = dyn.Resource(gvr).Create(context.Background(), crd, metav1.CreateOptions{})
	Must(t, err)
	t.Cleanup(func() { _ = dyn.Resource(gvr).Delete(context.Background(), name, metav1.DeleteOptions{}) })
	return name
}

// TestServingChain: the API server's serving chain verifies against the
// old CA until the API server restarts with a certificate from the new CA.
func TestServingChain(t *testing.T) {
	ctx := context.Background()
	rot := newRotation(t)

	rep := verify(t, 0, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "serving")
	it := rep.section(t, "serving").find(t, "kubeconfig server", "", Cluster.Server, "")
	if it.Severity != "warning" || it.Verdict != "old-ca" || it.Detail != "still served by the old CA: step 9.3 is not done yet, and unbundle refuses until it is; verifies against old" {
		t.Fatalf("mid-rotation, before step 9.3: %+v", it)
	}
	rep = verify(t, 1, "--ca", rot.new, "--old-ca", rot.old, "--expect", "new", "--only", "serving")
	if it := rep.section(t, "serving").find(t, "kubeconfig server", "", Cluster.Server, ""); it.Severity != "error" || it.Verdict != "old-ca" ||
		it.Action != "kubectl carotate instructions --step 9.3" || !strings.HasPrefix(it.Fix, "re-issue the API server's serving certificate") {
		t.Fatalf("at the end, before step 9.3: %+v", it)
	}

	// Step 9.3 on the local API server. Every client that trusts only the
	// old CA fails from now on, the harness's included: it gets a
	// kubeconfig trusting old and new first.
	leaf, err := rot.newCA.Issue(localcluster.CertSpec{CommonName: "kube-apiserver", Server: true,
		IPs: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}})
	Must(t, err)
	stamp := time.Now().UnixNano()
	certPath, err := Cluster.PKI.WriteFile(fmt.Sprintf("apiserver-new-%d.crt", stamp), leaf.CertPEM)
	Must(t, err)
	keyPath, err := Cluster.PKI.WriteFile(fmt.Sprintf("apiserver-new-%d.key", stamp), leaf.KeyPEM)
	Must(t, err)
	api := Cluster.Component(localcluster.APIServer)
	origCert, origKey := api.Get("tls-cert-file"), api.Get("tls-private-key-file")
	_, err = Cluster.UseAdminKubeconfig(rot.bundlePEM, nil)
	Must(t, err)
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{"tls-cert-file": origCert, "tls-private-key-file": origKey}))
		_, err := Cluster.UseAdminKubeconfig(rot.oldPEM, nil)
		Must(t, err)
	})
	Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{"tls-cert-file": certPath, "tls-private-key-file": keyPath}))

	rep = verify(t, 0, "--ca", rot.new, "--old-ca", rot.old, "--expect", "new", "--only", "serving")
	if it := rep.section(t, "serving").find(t, "kubeconfig server", "", Cluster.Server, ""); it.Severity != "ok" || it.Verdict != "verifies" ||
		it.Detail != "verifies against new" || it.Holds != "leaf CN=kube-apiserver, issued by CN=kubernetes-new" {
		t.Fatalf("after step 9.3: %+v", it)
	}
	rep = verify(t, 0, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "serving")
	if it := rep.section(t, "serving").find(t, "kubeconfig server", "", Cluster.Server, ""); it.Severity != "ok" {
		t.Fatalf("after step 9.3, mid-rotation rule: %+v", it)
	}
	// The old-only kubeconfig of a user who skipped step 7 cannot read the
	// API any more; the handshake itself still shows what is served.
	oldKC := filepath.Join(t.TempDir(), "old.kubeconfig")
	Must(t, localcluster.WriteKubeconfig(oldKC, Cluster.Server, rot.oldPEM, Cluster.PKI.Admin))
	rep = verifyAs(t, Cmd{Kubeconfig: oldKC}, 0, "--ca", rot.new, "--old-ca", rot.old, "--expect", "new", "--only", "serving")
	sec := rep.section(t, "serving")
	if it := sec.find(t, "kubeconfig server", "", Cluster.Server, ""); it.Detail != "verifies against new" {
		t.Fatalf("old-only kubeconfig: %+v", it)
	}
	if !containsPrefix(sec.Notes, "the default/kubernetes EndpointSlices could not be read") || !strings.Contains(strings.Join(sec.Notes, " "), "x509: certificate signed by unknown authority") {
		t.Fatalf("old-only kubeconfig notes: %v", sec.Notes)
	}
}

// TestClients: the kubeconfig's CA and cluster-info are judged by the rule.
func TestClients(t *testing.T) {
	rot := newRotation(t)
	rep := verify(t, 1, "--ca", rot.bundle, "--old-ca", rot.old, "--only", "clients")
	sec := rep.section(t, "clients")
	if it := sec.find(t, "kubeconfig", "", "context local, cluster local", ""); it.Severity != "error" || it.Verdict != "lacks-ca" || it.Holds != "old" ||
		it.Action != "kubectl config set-cluster local --embed-certs --certificate-authority="+rot.bundle || !strings.Contains(it.Fix, "step 7") {
		t.Fatalf("kubeconfig: %+v", it)
	}
	if it := sec.find(t, "ConfigMap", "kube-public", "cluster-info", ""); it.Severity != "error" || it.Verdict != "inconsistent" || it.Holds != "old" ||
		it.Action != "kubectl carotate update-cluster-info --ca "+rot.bundle {
		t.Fatalf("cluster-info: %+v", it)
	}
	// Before the rotation the old CA alone is "everything trusts exactly it".
	rep = verify(t, 0, "--ca", rot.old, "--only", "clients")
	if it := rep.section(t, "clients").find(t, "ConfigMap", "kube-public", "cluster-info", ""); it.Verdict != "consistent" || !strings.Contains(it.Detail, "valid") {
		t.Fatalf("cluster-info with the old CA: %+v", it)
	}
}

// TestLogsPlumbing: KWOK pods have no logs, so the TLS error scanner is
// proven by unit tests on fixtures (pkg/checks/testdata/logs). Here the
// plumbing: the control plane's mirror pods and --logs-for workloads are
// found, their logs are asked for through the API, and the answer "no logs"
// is reported as such, not as a clean log.
func TestLogsPlumbing(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	rot := newRotation(t)
	ns := CreateNamespace(t, client, "verify-logs")
	labels := map[string]string{"app": "talker"}
	Must(t, Create(client.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "talker"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: PodTemplate(labels)}}, metav1.CreateOptions{})))
	WaitRolledOut(t, client, ns)
	waitRunning(t, client, "kube-system")

	rep := verify(t, 0, "--ca", rot.old, "--only", "logs", "--logs-for", ns+"/deployment/talker", "--since", "10m")
	sec := rep.section(t, "logs")
	var unavailable []string
	for _, it := range sec.Items {
		if it.Verdict == "clean" {
			t.Fatalf("a KWOK pod has no log to be clean: %+v", it)
		}
		if it.Verdict == "no-logs" {
			if it.Severity != "info" || !strings.HasPrefix(it.Detail, "no logs available through the API: ") {
				t.Fatalf("no-logs item: %+v", it)
			}
			unavailable = append(unavailable, it.Members...)
		}
	}
	joined := strings.Join(unavailable, " ")
	for _, want := range []string{"kube-system/kube-apiserver-" + localcluster.ControlPlaneNode + "/kube-apiserver",
		"kube-system/kube-controller-manager-" + localcluster.ControlPlaneNode + "/kube-controller-manager", ns + "/talker-"} {
		if !strings.Contains(joined, want) {
			t.Errorf("logs asked for %q? members: %v", want, unavailable)
		}
	}
	if !strings.Contains(sec.Summary, "0 with TLS errors, 0 clean, ") {
		t.Fatalf("summary: %q", sec.Summary)
	}
	// A workload that does not exist is a check that could not run.
	rep = verify(t, 2, "--ca", rot.old, "--only", "logs", "--logs-for", ns+"/deployment/nope")
	if s := rep.section(t, "logs"); s.Status != "failed" || !strings.Contains(s.Error, "Deployment nope not found in namespace "+ns) {
		t.Fatalf("missing workload: %+v", s)
	}
}

// TestNodesSkippedOnKWOK: KWOK nodes have no kubelet configz; each is
// skipped with the reason, which is not a finding. Their client
// certificates came from the harness, not through a CSR: which CA issued
// them is not visible, a warning with the command that shows it.
func TestNodesSkippedOnKWOK(t *testing.T) {
	rot := newRotation(t)
	rep := verify(t, 0, "--ca", rot.old, "--only", "nodes")
	sec := rep.section(t, "nodes")
	total := map[string]int{}
	for _, it := range sec.Items {
		switch it.Where {
		case "configz kubeletconfig.rotateCertificates":
			if it.Verdict != "skipped" || it.Severity != "info" || !strings.Contains(it.Detail, "KWOK node (a simulated kubelet, no configz)") {
				t.Fatalf("node configz item: %+v", it)
			}
		case "client certificate (its newest CSR)":
			if it.Verdict != "client-cert-unknown" || it.Severity != "warning" || !strings.Contains(it.Fix, "openssl x509 -issuer -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem") {
				t.Fatalf("node client certificate item: %+v", it)
			}
		default:
			t.Fatalf("node item: %+v", it)
		}
		total[it.Where] += it.Count
	}
	if total["configz kubeletconfig.rotateCertificates"] != 4 || total["client certificate (its newest CSR)"] != 4 ||
		sec.Summary != "4 nodes: client certificates 4 client-cert-unknown; configz 4 skipped" {
		t.Fatalf("3 KWOK nodes and the control-plane node: %v, %q", total, sec.Summary)
	}
	r := Carotate(t, "verify", "--ca", rot.old, "--only", "nodes", "-o", "yaml")
	if r.Code != 0 || !strings.Contains(r.Stdout, "\n  name: nodes\n") || !strings.Contains(r.Stdout, "  exitCode: 0\n") {
		t.Fatalf("-o yaml: exit %d\n%s", r.Code, r.Stdout)
	}
}

// TestExitCodes: 2 when a check cannot run or the input is bad, with
// nothing echoed of a private key.
func TestExitCodes(t *testing.T) {
	rot := newRotation(t)
	r := Run(t, "kubectl", "carotate", "verify", "--help")
	for _, want := range []string{"Exit codes:", "0  every check ran and found nothing that blocks the next step",
		"1  findings that block the next step", "2  a check could not run", "kubectl carotate verify --ca bundle.crt --old-ca old-ca.crt"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("verify --help lacks %q", want)
		}
	}
	r = Carotate(t, "verify", "--only", "sa")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--ca FILE is required") {
		t.Fatalf("no --ca: exit %d, %q", r.Code, r.Stderr)
	}
	r = Carotate(t, "verify", "--ca", rot.bundle, "--only", "pods,bogus")
	if r.Code != 2 || !strings.Contains(r.Stderr, `--only: unknown check "bogus"`) {
		t.Fatalf("bad --only: exit %d, %q", r.Code, r.Stderr)
	}
	keyFile := filepath.Join(t.TempDir(), "key.pem")
	Must(t, os.WriteFile(keyFile, rot.newCA.KeyPEM, 0o600))
	r = Carotate(t, "verify", "--ca", keyFile)
	keyBody := strings.Split(string(rot.newCA.KeyPEM), "\n")[1]
	if r.Code != 2 || strings.Contains(r.Stdout+r.Stderr, keyBody) || !strings.Contains(r.Stderr, "private key") {
		t.Fatalf("key as --ca: exit %d, stderr %q", r.Code, r.Stderr)
	}
	r = Carotate(t, "verify", "--ca", rot.new, "--old-ca", rot.old, "--expect", "bundle", "--only", "sa", "--since", "0s")
	if r.Code != 2 || !strings.Contains(r.Stderr, "--since must be positive") {
		t.Fatalf("bad --since: exit %d, %q", r.Code, r.Stderr)
	}

	// A user with the view role cannot list Secrets: the sa check is
	// incomplete, and says so.
	kc := readonlyKubeconfig(t)
	r = Cmd{Kubeconfig: kc}.Run(t, "kubectl-carotate", "verify", "--ca", rot.old, "--only", "sa")
	if r.Code != 2 || !strings.Contains(r.Stdout, "FAILED: ") || !strings.Contains(r.Stdout, "INCOMPLETE: 1 check (sa) could not run") ||
		!strings.Contains(r.Stderr, "verify is incomplete: sa: listing legacy ServiceAccount token Secrets") || !strings.Contains(r.Stderr, "forbidden") {
		t.Fatalf("readonly: exit %d\n%s\n%s", r.Code, r.Stdout, r.Stderr)
	}
	// Everything that it can read holds the old CA: with the old CA as the
	// rule, the only reason not to pass is the check that could not run.
	rep := verifyAs(t, Cmd{Kubeconfig: kc}, 2, "--ca", rot.old, "--only", "sa,serving")
	if rep.Result.Errors != 0 || len(rep.Result.Failed) != 1 || rep.section(t, "serving").Status != "passed" {
		t.Fatalf("readonly result: %+v", rep.Result)
	}
	// And the same checks as admin pass: exit 0.
	verify(t, 0, "--ca", rot.old, "--only", "sa,serving")
}

func readonlyKubeconfig(t *testing.T) string {
	t.Helper()
	client := Client(t)
	user := "verify-readonly-" + rand.String(5)
	cert, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: user, Client: true})
	Must(t, err)
	BindClusterRole(t, client, user, "view", "list", "", "configmaps")
	path := filepath.Join(t.TempDir(), "readonly.kubeconfig")
	caPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
	Must(t, err)
	Must(t, localcluster.WriteKubeconfig(path, Cluster.Server, caPEM, cert))
	return path
}
