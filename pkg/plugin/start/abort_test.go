package start

import (
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

func TestAbortPlan(t *testing.T) {
	rec := testRecord(t)
	rec.Passes = []rotation.Pass{
		{Kind: "bundle", At: time.Unix(1, 0), By: "alice", UndoFile: "/a/bundle.undo.jsonl"},
		{Kind: "restart-workloads", At: time.Unix(2, 0), By: "alice", UndoFile: "/a/restart.undo.jsonl"},
		{Kind: "update-cluster-info", At: time.Unix(3, 0), By: "bob", UndoFile: "/b/ci.undo.jsonl"},
	}
	evidence := func(rootCA string, published checks.BundleState) checks.Evidence {
		return checks.Evidence{
			ControlPlane: []checks.ControlPlanePod{{Node: "cp-1", Component: "kube-controller-manager", Mirror: true,
				Command: checks.ParseCommandLine([]string{"kube-controller-manager", "--root-ca-file=" + rootCA, "--v=2"}, nil)}},
			RootCA: checks.RootCAEvidence{KubeSystem: published, KubeSystemWriter: "kube-controller-manager"},
		}
	}

	// The controller-manager publishes the bundle from a transition file:
	// its flag is the first thing to put back, before any undo file.
	plan := abortPlan(rec, evidence("/etc/kubernetes/pki/ca-bundle.crt", checks.BundleHasBoth))
	for _, want := range []string{
		"1. kube-controller-manager publishes old+new (the bundle)",
		"kube-controller-manager on cp-1: --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt  ->  --root-ca-file=/etc/kubernetes/pki/ca.crt",
		"/var/backups/carotate-20260101-abcdef/step-*",
		"restart-workloads --value 20260101-abcdef/abort",
	} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
	if i, j := strings.Index(plan, "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt"), strings.Index(plan, "kubectl carotate undo"); i < 0 || j < 0 || i > j {
		t.Errorf("the controller-manager's flag does not come before the undo files:\n%s", plan)
	}
	if strings.Count(plan, "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt") != 1 {
		t.Errorf("the controller-manager's flag is listed twice:\n%s", plan)
	}
	if i, j := strings.Index(plan, "/b/ci.undo.jsonl"), strings.Index(plan, "/a/bundle.undo.jsonl"); i < 0 || j < 0 || i > j {
		t.Errorf("undo files not listed newest first:\n%s", plan)
	}
	if strings.Contains(plan, "restart.undo.jsonl") {
		t.Errorf("a restart pass's undo file is listed (the abort pass rolls the workloads):\n%s", plan)
	}
	if strings.Contains(plan, "--v=2  ->") {
		t.Error("a flag that names no transition file is listed")
	}

	// The bundle written into the original file in place: no transition
	// path to point back at, so the file's content is what to restore.
	plan = abortPlan(rec, evidence("/etc/kubernetes/pki/ca.crt", checks.BundleHasBoth))
	if !strings.Contains(plan, "1. kube-controller-manager publishes") || !strings.Contains(plan, "--root-ca-file=/etc/kubernetes/pki/ca.crt holds old+new (the bundle): put the old CA alone back into it") {
		t.Errorf("in-place bundle: plan does not start with the controller-manager's file:\n%s", plan)
	}

	// The controller-manager still publishes the old CA: nothing of it to revert.
	plan = abortPlan(rec, evidence("/etc/kubernetes/pki/ca.crt", checks.BundleOnlyOld))
	if strings.Contains(plan, "kube-controller-manager publishes") {
		t.Errorf("the plan reverts a controller-manager that publishes the old CA:\n%s", plan)
	}
}
