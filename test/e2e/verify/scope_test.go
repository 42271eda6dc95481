//go:build e2e

package verify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
)

// TestPodStartedWithItsNamespace: a pod that starts in the same second as
// its namespace's kube-root-ca.crt was created read the only content that
// ConfigMap ever had. managedFields times have one-second resolution, so
// the tie cannot be settled from the times; a creation is not a change,
// and such a pod is not "restart needed" (it was, before: an error, exit 1,
// for a pod that had done nothing wrong).
//
// The kubelet's start time cannot be steered, so the pod is bound to a node
// no kubelet runs, and its status is written here as the kubelet would,
// with the container started in the ConfigMap's creation second.
func TestPodStartedWithItsNamespace(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "verify-tie")
	var created time.Time
	Must(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		created = cm.CreationTimestamp.Time
		return true, nil
	}))
	pod := barePod("p1", func(s *corev1.PodSpec) { s.NodeName = "no-kubelet-runs-here" })
	createPod(t, ns, pod)
	p, err := client.CoreV1().Pods(ns).Get(ctx, "p1", metav1.GetOptions{})
	Must(t, err)
	started := metav1.NewTime(created.Add(400 * time.Millisecond))
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
		ContainerStatuses: []corev1.ContainerStatus{{Name: "app", Ready: true, Image: "registry.invalid/app:1",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}}}
	_, err = client.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{})
	Must(t, err)

	rep := verify(t, 0, "--ca", Cluster.PKI.Path("ca.crt"), "--only", "pods,sa", "-n", ns)
	it := rep.section(t, "pods").find(t, "Pod", ns, "(pods without a controller)", "")
	if it.Verdict != "ok" || it.Count != 1 {
		t.Fatalf("a pod started in its namespace's first second: %+v", it)
	}
}

// TestNamespaceScope: -n narrows verify and bundle, a namespace that does
// not exist is an error (not "ConfigMap missing"), -A is accepted where a
// namespace scope applies, and commands that act on the whole cluster
// refuse -n rather than ignore it.
func TestNamespaceScope(t *testing.T) {
	caFile := Cluster.PKI.Path("ca.crt")
	r := Carotate(t, "verify", "--ca", caFile, "--only", "sa", "-n", "no-such-namespace")
	if r.Code != 2 || !strings.Contains(r.Stderr, `namespace "no-such-namespace" not found`) {
		t.Errorf("verify -n of a missing namespace: exit %d, %q", r.Code, r.Stderr)
	}
	if r := Carotate(t, "verify", "--ca", caFile, "--only", "sa", "-A"); r.Code != 0 {
		t.Errorf("verify -A: exit %d, %q", r.Code, r.Stderr)
	}
	if r := Carotate(t, "verify", "--ca", caFile, "--only", "sa", "-A", "-n", "default"); r.Code != 2 || !strings.Contains(r.Stderr, "cannot be used together") {
		t.Errorf("verify -A -n: exit %d, %q", r.Code, r.Stderr)
	}
	for _, args := range [][]string{
		{"status", "-n", "default"},
		{"instructions", "--namespace", "default"},
		{"update-cluster-info", "-n", "kube-public", "--check"},
		{"abort", "-n", "default", "--dry-run=client"},
	} {
		r := Carotate(t, args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "does not take -n/--namespace") {
			t.Errorf("%v: exit %d, %q: -n must be refused, not ignored", args, r.Code, r.Stderr)
		}
	}

	// bundle -n touches that namespace's objects only.
	ns := CreateNamespace(t, Client(t), "verify-scope")
	WaitRootCA(t, Client(t), Cluster.PKI.CA.CertPEM)
	rot := newRotation(t)
	r = Carotate(t, "bundle", "--old-ca", rot.old, "--new-ca", rot.new, "-n", ns, "--dry-run=client", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("bundle -n %s --dry-run=client: exit %d, %q", ns, r.Code, r.Stderr)
	}
	var rep struct {
		Objects []struct{ Kind, Namespace, Name, Result string }
	}
	Must(t, json.Unmarshal([]byte(r.Stdout), &rep))
	if len(rep.Objects) == 0 {
		t.Fatalf("bundle -n %s reports no object", ns)
	}
	for _, o := range rep.Objects {
		if o.Namespace != ns {
			t.Errorf("bundle -n %s reports %s %s/%s", ns, o.Kind, o.Namespace, o.Name)
		}
	}
	if r := Carotate(t, "bundle", "--old-ca", rot.old, "--new-ca", rot.new, "-n", "no-such-namespace", "--dry-run=client"); r.Code == 0 || !strings.Contains(r.Stderr, `namespace "no-such-namespace" not found`) {
		t.Errorf("bundle -n of a missing namespace: exit %d, %q", r.Code, r.Stderr)
	}
}
