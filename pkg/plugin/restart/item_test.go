package restart

import (
	"encoding/json"
	"strings"
	"testing"
	"unsafe"

	"sigs.k8s.io/yaml"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// A workload in -o json reads as it did when every field was a string:
// the same keys in the same order, empty ones left out, and it reads back.
func TestRestartItemJSON(t *testing.T) {
	full := &item{kind: kindOf(checks.KindStatefulSet), Namespace: "ns", Name: "db", result: resultPatched, rollout: rolloutTimedOut, oldPods: 3}
	full.setSkipped(checks.ReasonOnDelete)
	full.setNote("partition 1: 1 pod(s) with a lower ordinal keep the old template")
	full.setErr("rollout did not finish within 5m0s: waiting")
	full.more().deletedPods = 2
	bare := &item{kind: kindOf(checks.KindDeployment), Namespace: "a", Name: "web", result: resultCurrent}
	other := &item{kind: kindOf(checks.KindDaemonSet), Namespace: "a", Name: "agent", result: resultGone}
	other.setSkipped("a reason added later")
	for _, tt := range []struct {
		it   *item
		want string
	}{
		{full, `{"kind":"StatefulSet","namespace":"ns","name":"db","result":"patched","skipped":"OnDelete",` +
			`"note":"partition 1: 1 pod(s) with a lower ordinal keep the old template","rollout":"timed-out","oldPods":3,` +
			`"deletedPods":2,"error":"rollout did not finish within 5m0s: waiting"}`},
		{bare, `{"kind":"Deployment","namespace":"a","name":"web","result":"already-current"}`},
		{other, `{"kind":"DaemonSet","namespace":"a","name":"agent","result":"gone","skipped":"a reason added later"}`},
	} {
		b, err := json.Marshal(tt.it)
		if err != nil || string(b) != tt.want {
			t.Errorf("JSON\n%s, %v\nwant\n%s", b, err, tt.want)
			continue
		}
		var back item
		if err := json.Unmarshal(b, &back); err != nil {
			t.Errorf("read back %s: %v", b, err)
		} else if again, _ := json.Marshal(&back); string(again) != tt.want {
			t.Errorf("read back and written again:\n%s\nwant\n%s", again, tt.want)
		}
	}
	if bare.extra != nil {
		t.Errorf("an item with nothing rare set made its extra fields: %+v", bare.extra)
	}
	y, err := yaml.Marshal(report{Workloads: []*item{bare}})
	if err != nil || !strings.Contains(string(y), "workloads:\n- kind: Deployment\n  name: web\n  namespace: a\n  result: already-current\n") {
		t.Errorf("YAML:\n%s%v", y, err)
	}
	var bad item
	if err := json.Unmarshal([]byte(`{"kind":"Deployment","namespace":"a","name":"web","result":"rolled"}`), &bad); err == nil ||
		!strings.Contains(err.Error(), `result "rolled"`) {
		t.Errorf("unknown result read as %+v, %v", bad, err)
	}
}

// Every reason PlanRestart gives for a workload that does not roll has a
// code: none goes to the item's extra fields.
func TestRestartSkipReasonsHaveCodes(t *testing.T) {
	for _, w := range []checks.Workload{
		{Kind: checks.KindDeployment, Replicas: 1, Paused: true},
		{Kind: checks.KindDaemonSet, OnDelete: true},
		{Kind: checks.KindStatefulSet, Replicas: 0},
	} {
		plan := checks.PlanRestart(w, "v2", false)
		var it item
		it.setSkipped(plan.Reason)
		if plan.Reason == "" || it.skipped == skipOther || it.extra != nil || it.skip() != plan.Reason {
			t.Errorf("%+v: reason %q kept as code %d, extra %+v", w, plan.Reason, it.skipped, it.extra)
		}
	}
}

// The pass holds a target per workload from the list to the report: it
// fits Go's 128-byte size class (the one with the report's fields as
// strings took 240; docs/benchmarks.md).
func TestRestartTargetFitsItsSizeClass(t *testing.T) {
	if size := unsafe.Sizeof(target{}); size > 128 {
		t.Errorf("a target takes %d bytes, over the 128-byte size class", size)
	}
	// The selector, in extra, only for OnDelete workloads.
	w := &cluster.Workload{Workload: checks.Workload{Kind: checks.KindDaemonSet, Namespace: "ns", Name: "agent", OnDelete: true},
		UID: "uid-agent", Selector: "app=agent"}
	if got := newTarget(w).workload(); got.Selector != "app=agent" || got.UID != "uid-agent" {
		t.Errorf("OnDelete DaemonSet: got %+v", *got)
	}
	w.OnDelete = false
	if tg := newTarget(w); tg.extra != nil {
		t.Errorf("a rolling DaemonSet made extra fields: %+v", tg.extra)
	}
}
