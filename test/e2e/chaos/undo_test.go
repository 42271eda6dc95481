//go:build e2e

package chaos

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// TestChaosUndoRestartPass kills kube-apiserver while undo takes a
// restart-workloads pass back, after some workloads lost the pass value:
// the write whose answer the kill cut off is sent again, and its test op
// (the template still carries the pass value) fails on its own effect.
// undo must call such a workload restored, not "changed while undo ran";
// each workload must be written once; and undo's own undo file must hold
// every workload, so that the undo can be undone.
func TestChaosUndoRestartPass(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "chaos-undo")
	const n = 16
	for i := range n {
		labels := map[string]string{"app": fmt.Sprintf("d%02d", i)}
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: labels["app"], Labels: labels}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](0), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: PodTemplate(labels)}}
		_, err := client.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
		Must(t, err)
	}
	dir := t.TempDir()
	undoDir := filepath.Join(dir, "undo")
	const value = "chaos-undo-1"
	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: dir, Narrator: drill.LogfNarrator(t.Logf)}
	t.Cleanup(d.Close)
	// Through the drill's relay, as undo will be: the undo file names the
	// API server it was written for.
	_, err := d.Disrupt(ctx, drill.Kill{}, "restart-workloads", "-n", ns, "--value", value, "--undo-dir", undoDir)
	Must(t, err)
	files := undoFiles(t, undoDir, "restart-workloads")
	if len(files) != 1 || len(files[0].changes) != n {
		t.Fatalf("restart-workloads left %d undo files, the first with %d changes; want 1 with %d", len(files), len(files[0].changes), n)
	}
	generations := func() map[string]int64 {
		t.Helper()
		l, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		out := map[string]int64{}
		for _, d := range l.Items {
			out[d.Name] = d.Generation
			if v, ok := d.Spec.Template.Annotations["ca-rotation"]; ok && v != value {
				t.Errorf("%s/%s carries ca-rotation=%q, want %q or none", ns, d.Name, v, value)
			}
		}
		return out
	}
	before := generations()

	// The restore removes the annotation: the kill comes once 6 of the 16
	// have lost it. A low rate stretches the pass over seconds.
	k := drill.KillAfterPatches(drill.PointMidPass+" (after 6 of 16 restores)", "", []string{ns}, 6)
	k.Args = []string{"--qps", "5", "--burst", "1"}
	_, err = d.Disrupt(ctx, k, "undo", files[0].path)
	dis := survivedOneKill(t, d, err)
	for _, row := range strings.Split(dis.First.Stdout, "\n") {
		// KIND NAMESPACE NAME KEYS RESULT REASON
		if f := strings.Fields(row); len(f) > 4 && f[0] == "Deployment" && f[4] != "restored" {
			t.Errorf("undo under a kill finished, and reports a workload it was to restore as %s: %s", f[4], row)
		}
	}
	if !strings.Contains(dis.First.Stdout, "an answer was lost") {
		t.Errorf("the kill cut no restore's answer, so no resent write was exercised:\n%s", dis.First.Stdout)
	}

	after := generations()
	for name, g := range before {
		if after[name] != g+1 {
			t.Errorf("%s/%s: generation %d -> %d, want one write", ns, name, g, after[name])
		}
	}
	l, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, d := range l.Items {
		if v, ok := d.Spec.Template.Annotations["ca-rotation"]; ok {
			t.Errorf("%s/%s still carries ca-rotation=%q after undo", ns, d.Name, v)
		}
	}
	recorded := map[string]int{}
	for _, f := range undoFiles(t, undoDir, "undo") {
		for _, c := range f.changes {
			recorded[c.Name]++
		}
	}
	for name := range before {
		if recorded[name] != 1 {
			t.Errorf("undo's undo files record %s/%s %d times, want once", ns, name, recorded[name])
		}
	}
}

// TestChaosUndoDeletes kills kube-apiserver while undo deletes the
// kube-root-ca.crt ConfigMaps bundle --create-missing created (with the
// controller-manager stopped, so nothing publishes them meanwhile): the
// delete whose answer the kill cut off is sent again and finds the object
// gone. undo must report it deleted, not "deleted while undo ran", and
// every ConfigMap it created must be gone.
func TestChaosUndoDeletes(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	const n = 10
	var made []string
	for range n {
		made = append(made, CreateNamespace(t, client, "chaos-made"))
	}
	WaitRootCAPublished(t, client, made...)
	// The CA the cluster runs on now (the drill before may have rotated it).
	sys, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	Must(t, err)
	Must(t, Cluster.StopComponent(localcluster.ControllerManager))
	t.Cleanup(func() { Must(t, Cluster.StartComponent(ctx, localcluster.ControllerManager)) })
	for _, ns := range made {
		Must(t, client.CoreV1().ConfigMaps(ns).Delete(ctx, "kube-root-ca.crt", metav1.DeleteOptions{}))
	}

	dir := t.TempDir()
	newCA, err := localcluster.NewCA("kubernetes-chaos-made", 365*24*time.Hour)
	Must(t, err)
	oldFile, newFile := filepath.Join(dir, "old-ca.crt"), filepath.Join(dir, "new-ca.crt")
	Must(t, os.WriteFile(oldFile, []byte(sys.Data["ca.crt"]), 0o600))
	Must(t, os.WriteFile(newFile, newCA.CertPEM, 0o600))
	undoDir := filepath.Join(dir, "undo")
	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: dir, Narrator: drill.LogfNarrator(t.Logf)}
	t.Cleanup(d.Close)
	_, err = d.Disrupt(ctx, drill.Kill{}, "bundle", "--old-ca", oldFile, "--new-ca", newFile, "--create-missing", "--settle", "0", "--undo-dir", undoDir)
	Must(t, err)
	files := undoFiles(t, undoDir, "bundle")
	if len(files) != 1 {
		t.Fatalf("bundle left %d undo files, want 1", len(files))
	}

	// bundle records the ConfigMaps it created after those it updated,
	// and undo goes in the file's order: the kill comes after 4 deletes.
	at := len(files[0].changes) - n + 4
	k := drill.KillAfterRootCAWrites(fmt.Sprintf("%s (after %d restores and 4 deletes)", drill.PointMidPass, at-4), at, "--qps", "5", "--burst", "1")
	_, err = d.Disrupt(ctx, k, "undo", files[0].path)
	dis := survivedOneKill(t, d, err)
	deleted := 0
	for _, row := range strings.Split(dis.First.Stdout, "\n") {
		// KIND NAMESPACE NAME KEYS RESULT REASON
		f := strings.Fields(row)
		if len(f) < 5 || f[0] != "ConfigMap" {
			continue
		}
		if slices.Contains(made, f[1]) {
			if f[4] != "deleted" {
				t.Errorf("undo under a kill reports a ConfigMap bundle created as %s, want deleted: %s", f[4], row)
			}
			deleted++
		} else if f[4] != "restored" {
			t.Errorf("undo under a kill reports a ConfigMap it was to restore as %s: %s", f[4], row)
		}
	}
	if !strings.Contains(dis.First.Stdout, "an answer was lost, and it is gone") {
		t.Errorf("the kill cut no delete's answer, so no resent delete was exercised:\n%s", dis.First.Stdout)
	}
	if deleted != n {
		t.Errorf("undo's report has %d rows for the %d ConfigMaps bundle created", deleted, n)
	}
	for _, ns := range made {
		if _, err := client.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s/kube-root-ca.crt, created by bundle, is still there after undo (%v)", ns, err)
		}
	}
}
