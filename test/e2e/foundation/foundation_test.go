//go:build e2e

// Package foundation proves the harness: the real kubectl finds the plugin,
// KWOK nodes are Ready, workloads roll, and the controller-manager publishes
// its --root-ca-file into every namespace.
package foundation

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{MirrorPods: true})) }

func TestKubectlFindsPlugin(t *testing.T) {
	r := Run(t, "kubectl", "carotate", "version", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"version"`) {
		t.Fatalf("kubectl carotate version -o json: exit %d, stdout %q", r.Code, r.Stdout)
	}
	r = Run(t, "kubectl", "plugin", "list")
	if !strings.Contains(r.Stdout, "kubectl-carotate") {
		t.Fatalf("kubectl plugin list does not show kubectl-carotate: %q", r.Stdout)
	}
	// The real kubectl talks to the harness's apiserver with the admin cert.
	r = Run(t, "kubectl", "version", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"gitVersion": "v1.37.2"`) {
		t.Fatalf("kubectl version: exit %d, %q", r.Code, r.Stdout)
	}
}

func TestHelpShowsKubectlFlags(t *testing.T) {
	// version needs no cluster, even with a kubeconfig that does not exist.
	r := Carotate(t, "--kubeconfig", "/nonexistent/kubeconfig", "version")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "kubectl-carotate ") {
		t.Fatalf("version: exit %d, %q", r.Code, r.Stdout)
	}
	r = Carotate(t, "--help")
	for _, want := range []string{"kubectl carotate [command]", "--kubeconfig", "--context", "--namespace", "--request-timeout", "--qps", "--burst", "-v, --v"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("--help lacks %q", want)
		}
	}
	if strings.Contains(r.Stdout, "log_dir") || strings.Contains(r.Stdout, "logtostderr") {
		t.Errorf("--help shows klog flags other than -v")
	}
	r = Carotate(t, "no-such-command")
	if r.Code != 1 || !strings.Contains(r.Stderr, `unknown command "no-such-command"`) {
		t.Errorf("unknown command: exit %d, stderr %q", r.Code, r.Stderr)
	}
}

func TestNodesReady(t *testing.T) {
	nodes, err := Client(t).CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	Must(t, err)
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	// Three worker nodes and the control-plane node of the mirror pods.
	if len(nodes.Items) != 4 || ready != 4 {
		t.Fatalf("want 4 Ready nodes, have %d nodes, %d Ready", len(nodes.Items), ready)
	}
}

// TestWorkloadsRollOnTemplateAnnotation proves that KWOK, the scheduler and
// the controllers really roll workloads: the rotation's restarts depend on it.
func TestWorkloadsRollOnTemplateAnnotation(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "roll")
	labels := map[string]string{"app": "demo"}
	tmpl := PodTemplate(labels)
	sel := &metav1.LabelSelector{MatchLabels: labels}
	apps := client.AppsV1()
	Must(t, Create(apps.Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl}}, metav1.CreateOptions{})))
	Must(t, Create(apps.DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent"},
		Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})))
	Must(t, Create(apps.StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](2), Selector: sel, Template: tmpl}}, metav1.CreateOptions{})))

	WaitRolledOut(t, client, ns)
	before := PodUIDs(t, client, ns)
	// 2 Deployment pods, 3 DaemonSet pods (one per node), 2 StatefulSet pods.
	if len(before) != 7 {
		t.Fatalf("want 7 running pods, have %d", len(before))
	}

	patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"ca-rotation":"e2e-1"}}}}}`)
	_, err := apps.Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	Must(t, err)
	_, err = apps.DaemonSets(ns).Patch(ctx, "agent", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	Must(t, err)
	_, err = apps.StatefulSets(ns).Patch(ctx, "db", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	Must(t, err)
	WaitRolledOut(t, client, ns)

	after := PodUIDs(t, client, ns)
	if len(after) != 7 {
		t.Fatalf("want 7 running pods after the roll, have %d", len(after))
	}
	if both := before.Intersection(after); both.Len() != 0 {
		t.Fatalf("%d pods survived the roll: %v", both.Len(), sets.List(both))
	}
}

// TestRootCAPublisherFollowsRootCAFile is the behaviour bundle relies on: the
// controller-manager publishes its --root-ca-file into every namespace and
// into legacy token Secrets.
func TestRootCAPublisherFollowsRootCAFile(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "rootca")
	caPEM, err := os.ReadFile(Cluster.PKI.Path("ca.crt"))
	Must(t, err)
	WaitRootCA(t, client, caPEM)
	legacy := createLegacyToken(t, ns)

	newCA, err := localcluster.NewCA("kubernetes-new", 24*time.Hour)
	Must(t, err)
	bundle := append(append([]byte{}, newCA.CertPEM...), caPEM...)
	path, err := Cluster.PKI.WriteFile(fmt.Sprintf("ca-bundle-%d.crt", time.Now().UnixNano()), bundle)
	Must(t, err)
	kcm := Cluster.Component(localcluster.ControllerManager)
	orig := kcm.Get("root-ca-file")
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": orig}))
		WaitRootCA(t, client, caPEM)
	})
	Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": path}))
	WaitRootCA(t, client, bundle)
	waitSecretCA(t, ns, legacy, bundle)

	// The mirror pod shows the restarted command line, as a kubelet would.
	// A vanished one is created again within a second or so (KWOK may
	// delete the replaced one late, by name): wait a little, as a reader
	// of a real kubelet's mirror pods would.
	var mirror *corev1.Pod
	Must(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 15*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		mirror, err = client.CoreV1().Pods("kube-system").Get(ctx, "kube-controller-manager-"+localcluster.ControlPlaneNode, metav1.GetOptions{})
		return err == nil, nil
	}))
	if !slices.Contains(mirror.Spec.Containers[0].Command, "--root-ca-file="+path) {
		t.Fatalf("mirror pod command %v lacks --root-ca-file=%s", mirror.Spec.Containers[0].Command, path)
	}
}

// TestMirrorPodsShowControlPlaneFlags: what instructions and status read.
func TestMirrorPodsShowControlPlaneFlags(t *testing.T) {
	pods, err := Client(t).CoreV1().Pods("kube-system").List(context.Background(), metav1.ListOptions{LabelSelector: "tier=control-plane"})
	Must(t, err)
	got := map[string][]string{}
	for _, p := range pods.Items {
		if p.Annotations["kubernetes.io/config.mirror"] == "" || p.Spec.NodeName != localcluster.ControlPlaneNode {
			t.Errorf("pod %s does not look like a mirror pod", p.Name)
		}
		got[p.Labels["component"]] = p.Spec.Containers[0].Command
	}
	for _, comp := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"} {
		if len(got[comp]) == 0 || got[comp][0] != comp {
			t.Errorf("no mirror pod for %s: %v", comp, got[comp])
		}
	}
	if want := "--client-ca-file=" + Cluster.PKI.Path("ca.crt"); !slices.Contains(got["kube-apiserver"], want) {
		t.Errorf("kube-apiserver mirror pod lacks %s: %v", want, got["kube-apiserver"])
	}
}

// TestMirrorPodCreatedAgain: a mirror pod deleted behind the harness's back
// (as KWOK's late delete of a replaced one does) comes back, as a
// kubelet's would, with the same command line.
func TestMirrorPodCreatedAgain(t *testing.T) {
	ctx := context.Background()
	pods := Client(t).CoreV1().Pods("kube-system")
	name := "kube-scheduler-" + localcluster.ControlPlaneNode
	before, err := pods.Get(ctx, name, metav1.GetOptions{})
	Must(t, err)
	Must(t, pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	var after *corev1.Pod
	if err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, false, func(ctx context.Context) (bool, error) {
		after, err = pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil && after.UID != before.UID, nil
	}); err != nil {
		t.Fatalf("mirror pod %s not created again after it was deleted: %v", name, err)
	}
	if !slices.Equal(after.Spec.Containers[0].Command, before.Spec.Containers[0].Command) {
		t.Errorf("re-created mirror pod command %v, was %v", after.Spec.Containers[0].Command, before.Spec.Containers[0].Command)
	}
}

// createLegacyToken creates a kubernetes.io/service-account-token Secret
// for the default ServiceAccount; the tokens controller fills it in.
func createLegacyToken(t *testing.T, ns string) string {
	t.Helper()
	WaitDefaultServiceAccount(t, Client(t), ns)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "legacy-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type:       corev1.SecretTypeServiceAccountToken,
	}
	Must(t, Create(Client(t).CoreV1().Secrets(ns).Create(context.Background(), s, metav1.CreateOptions{})))
	return s.Name
}

func waitSecretCA(t *testing.T, ns, name string, want []byte) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		s, err := Client(t).CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && string(s.Data["ca.crt"]) == string(want) && len(s.Data["token"]) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("secret %s/%s does not hold the expected ca.crt (err %v)", ns, name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCompletion: kubectl >= 1.26 completes plugin commands through
// kubectl_complete-carotate, which runs "kubectl-carotate __complete".
func TestCompletion(t *testing.T) {
	r := Carotate(t, "__complete", "")
	for _, want := range []string{"version", "completion"} {
		if !strings.Contains(r.Stdout, want+"\t") && !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("__complete does not offer %q: %q", want, r.Stdout)
		}
	}
	r = Carotate(t, "__complete", "version", "-n", "kube-")
	for _, want := range []string{"kube-system", "kube-public", "kube-node-lease"} {
		if !strings.Contains(r.Stdout, want+"\n") {
			t.Errorf("-n completion lacks namespace %s from the cluster: %q", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout, "default\n") {
		t.Errorf("-n kube- offered a namespace without the prefix: %q", r.Stdout)
	}
	bash, err := exec.LookPath("bash")
	Must(t, err)
	out, err := exec.Command(bash, "-c", "source <("+BinDir+"/kubectl-carotate completion bash); complete -p kubectl-carotate").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "kubectl-carotate") {
		t.Fatalf("bash completion not registered: %v %s", err, out)
	}
	// Through kubectl itself, as a user's shell would ask.
	r = Run(t, "kubectl", "__complete", "carotate", "ver")
	if !strings.Contains(r.Stdout, "version") {
		t.Errorf("kubectl __complete carotate ver: %q", r.Stdout)
	}
}
