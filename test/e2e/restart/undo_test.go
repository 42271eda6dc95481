//go:build e2e

package restart

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
)

// undoReport mirrors the fields of undo -o json that the test reads.
type undoReport struct {
	NewUndoFile string `json:"newUndoFile"`
	Restored    int    `json:"restored"`
	Skipped     int    `json:"skipped"`
	Failed      int    `json:"failed"`
	Objects     []struct {
		Kind, Namespace, Name, Result, Reason string
	} `json:"objects"`
}

func undoJSON(t *testing.T, file string) undoReport {
	t.Helper()
	res := Carotate(t, "undo", "-o", "json", file)
	var rep undoReport
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil || res.Code != 0 {
		t.Fatalf("undo %s: exit %d, %v\n%s\n%s", file, res.Code, err, res.Stdout, res.Stderr)
	}
	return rep
}

// TestUndoFileRestoresPreviousValues: a pass writes the previous annotation
// values (and spec.paused of what --resume-paused resumed) to an undo file
// before its first patch; undo puts them back on the workloads that still
// carry the pass value, skips one changed since, and its own undo file
// takes the pass's values back again.
func TestUndoFileRestoresPreviousValues(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := namespaces(t, client, "undo", 1)[0]
	w := workloads{client, ns}
	w.deployment(t, "web", 1, func(d *appsv1.Deployment) {
		d.Spec.Template.Annotations = map[string]string{"ca-rotation": "before", "team": "web"}
	})
	w.deployment(t, "held", 1, func(d *appsv1.Deployment) { d.Spec.Paused = true })
	w.daemonSet(t, "agent")
	w.statefulSet(t, "db", 1)
	undoDir := t.TempDir()
	args := []string{"--namespace-selector", "restart-e2e=undo", "--resume-paused", "--undo-dir", undoDir}

	rep, res := restartJSON(t, Cmd{}, append(args, "--value", "pass-1")...)
	if res.Code != 0 || rep.Totals.Patched != 4 {
		t.Fatalf("pass: exit %d, totals %+v\n%s", res.Code, rep.Totals, res.Stderr)
	}
	if rep.UndoFile == "" || filepath.Dir(rep.UndoFile) != undoDir || !strings.Contains(res.Stderr, "Undo file: "+rep.UndoFile) {
		t.Fatalf("undo file %q not in %s or not announced:\n%s", rep.UndoFile, undoDir, res.Stderr)
	}
	fi, err := os.Stat(rep.UndoFile)
	Must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("undo file mode %v, want 0600", fi.Mode().Perm())
	}
	raw, err := os.ReadFile(rep.UndoFile)
	Must(t, err)
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	// header, four annotations, one spec.paused
	if len(lines) != 6 || !strings.Contains(lines[0], `"command":"restart-workloads"`) ||
		!strings.Contains(string(raw), `"name":"web","key":"spec.template.metadata.annotations[ca-rotation]","previous":"before","set":"pass-1"`) ||
		!strings.Contains(string(raw), `"name":"held","key":"spec.paused","previous":"true","set":"false"`) {
		t.Fatalf("undo file:\n%s", raw)
	}
	if d, err := client.AppsV1().Deployments(ns).Get(ctx, "held", metav1.GetOptions{}); err != nil || d.Spec.Paused {
		t.Fatalf("held not resumed: %v", err)
	}

	// Nothing left to change: the same value again writes no undo file.
	rep2, res := restartJSON(t, Cmd{}, append(args, "--value", "pass-1")...)
	if res.Code != 0 || rep2.Totals.Patched != 0 || rep2.UndoFile != "" {
		t.Fatalf("re-run: exit %d, totals %+v, undo file %q", res.Code, rep2.Totals, rep2.UndoFile)
	}
	entries, err := os.ReadDir(undoDir)
	Must(t, err)
	if len(entries) != 1 {
		t.Fatalf("re-run wrote another undo file: %v", entries)
	}

	// Someone else changes db afterwards: undo must leave it alone. And
	// agent is put back by hand, as a workload the pass recorded but never
	// reached would be: nothing to undo there.
	body := []byte(`{"spec":{"template":{"metadata":{"annotations":{"ca-rotation":"someone-else"}}}}}`)
	_, err = client.AppsV1().StatefulSets(ns).Patch(ctx, "db", types.StrategicMergePatchType, body, metav1.PatchOptions{})
	Must(t, err)
	_, err = client.AppsV1().DaemonSets(ns).Patch(ctx, "agent", types.JSONPatchType,
		[]byte(`[{"op":"remove","path":"/spec/template/metadata/annotations/ca-rotation"}]`), metav1.PatchOptions{})
	Must(t, err)

	undo := undoJSON(t, rep.UndoFile)
	if undo.Restored != 2 || undo.Skipped != 2 || undo.Failed != 0 {
		t.Fatalf("undo: %+v", undo)
	}
	reasons := map[string]string{}
	for _, o := range undo.Objects {
		reasons[o.Name] = o.Result + ": " + o.Reason
	}
	if !strings.Contains(reasons["db"], `skipped: changed since: annotation ca-rotation is "someone-else", the command set "pass-1"`) ||
		!strings.Contains(reasons["agent"], "skipped: nothing to undo: annotation ca-rotation is as it was before the command") {
		t.Fatalf("undo reasons: %v", reasons)
	}
	got := templateValues(t, client, ns)
	want := map[string]string{
		"Deployment/" + ns + "/web": "before", "Deployment/" + ns + "/held": "<none>",
		"DaemonSet/" + ns + "/agent": "<none>", "StatefulSet/" + ns + "/db": "someone-else",
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("after undo %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	web, err := client.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	Must(t, err)
	if web.Spec.Template.Annotations["team"] != "web" {
		t.Fatalf("undo touched another annotation: %v", web.Spec.Template.Annotations)
	}
	if d, err := client.AppsV1().Deployments(ns).Get(ctx, "held", metav1.GetOptions{}); err != nil || !d.Spec.Paused {
		t.Fatalf("held not paused again: %v", err)
	}

	// The undo's own undo file takes the pass's values back.
	if undo.NewUndoFile == "" {
		t.Fatal("undo wrote no undo file of its own")
	}
	again := undoJSON(t, undo.NewUndoFile)
	if again.Restored != 2 || again.Skipped != 0 || again.Failed != 0 {
		t.Fatalf("undo of the undo: %+v", again)
	}
	got = templateValues(t, client, ns)
	for _, k := range []string{"Deployment/" + ns + "/web", "Deployment/" + ns + "/held"} {
		if got[k] != "pass-1" {
			t.Fatalf("after the undo of the undo %s = %q, want pass-1", k, got[k])
		}
	}
	if got["DaemonSet/"+ns+"/agent"] != "<none>" {
		t.Fatalf("the undo of the undo touched agent, which the undo had skipped: %v", got)
	}
	if d, err := client.AppsV1().Deployments(ns).Get(ctx, "held", metav1.GetOptions{}); err != nil || d.Spec.Paused {
		t.Fatalf("held paused after the undo of the undo: %v", err)
	}
}
