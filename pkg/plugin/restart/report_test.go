package restart

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// reportPass is a pass over the given targets, in list order (kind by
// kind), with the given pods.
func reportPass(targets []*target, pods []podItem) *pass {
	o := &Options{Env: &cmdutil.Env{}, Annotation: defaultAnnotation}
	r := newPass(o, "v2", "flag")
	r.targets, r.pods = targets, newPodList(pods...)
	for _, t := range targets {
		r.items = append(r.items, &t.item)
	}
	return r
}

func reportTarget(kind, ns, name string, result patchOutcome, skipped string) *target {
	t := &target{item: item{kind: kindOf(kind), Namespace: ns, Name: name, result: result}}
	t.setSkipped(skipped)
	return t
}

// The summary has a row per namespace and kind, workloads in the upstream
// loop's order and pods last, however the list and the pods scan ordered
// them; skipped counts show as an object of reason: count in JSON and YAML.
func TestRestartReportSummaryRows(t *testing.T) {
	r := reportPass([]*target{
		reportTarget(checks.KindDeployment, "b", "web", resultPatched, ""),
		reportTarget(checks.KindDeployment, "a", "web", resultPatched, checks.ReasonPaused),
		reportTarget(checks.KindDeployment, "b", "api", resultCurrent, ""),
		reportTarget(checks.KindDaemonSet, "a", "agent", resultPatched, checks.ReasonOnDelete),
		reportTarget(checks.KindStatefulSet, "a", "db", resultFailed, ""),
		reportTarget(checks.KindStatefulSet, "a", "cache", resultPatched, checks.ReasonNoReplicas),
		reportTarget(checks.KindStatefulSet, "a", "queue", resultPatched, checks.ReasonOnDelete),
	}, []podItem{
		{Namespace: "b", Name: "p1", Reason: "bare pod"},
		{Namespace: "a", Name: "p2", Reason: "job"},
		{Namespace: "b", Name: "p3", Reason: "bare pod"},
		{Namespace: "b", Name: "p4", Reason: "job"},
	})
	rep := r.report()
	var got []string
	for _, s := range rep.Summary {
		got = append(got, fmt.Sprintf("%s/%s p%d c%d f%d %s", s.Namespace, s.Kind, s.Patched, s.Current, s.Failed, skippedCell(s.Skipped)))
	}
	want := []string{
		"a/Deployment p1 c0 f0 1 (paused)",
		"a/DaemonSet p1 c0 f0 1 (OnDelete)",
		"a/StatefulSet p2 c0 f1 1 (0 replicas), 1 (OnDelete)",
		"a/Pod p0 c0 f0 1 (job)",
		"b/Deployment p1 c1 f0 0",
		"b/Pod p0 c0 f0 2 (bare pod), 1 (job)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("summary:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if tt := rep.Totals; tt.Workloads != 7 || tt.Patched != 5 || tt.Current != 1 || tt.Skipped != 4 || tt.Failed != 1 || tt.UnrolledPods != 4 {
		t.Errorf("totals %+v", tt)
	}
	// Counted, not grown: at 10,000 namespaces the rows are 30,000.
	if cap(rep.Summary) != len(rep.Summary) {
		t.Errorf("summary of %d rows allocated for %d", len(rep.Summary), cap(rep.Summary))
	}

	// The encoding a map of reason: count had.
	sc := rep.Summary[2].Skipped
	b, err := json.Marshal(struct {
		S skipCounts `json:"skipped,omitempty"`
		E skipCounts `json:"empty,omitempty"`
	}{S: sc})
	if err != nil || string(b) != `{"skipped":{"0 replicas":1,"OnDelete":1}}` {
		t.Errorf("JSON %s, %v", b, err)
	}
	y, err := yaml.Marshal(rep.Summary[5])
	if err != nil || !strings.Contains(string(y), "skipped:\n  bare pod: 2\n  job: 1\n") {
		t.Errorf("YAML:\n%s%v", y, err)
	}
	var back skipCounts
	if err := json.Unmarshal([]byte(`{"b":2,"a":1}`), &back); err != nil || skippedCell(back) != "1 (a), 2 (b)" {
		t.Errorf("read back %v, %v", back, err)
	}
}

// The sections under the summary show their first 100 rows and count the
// rest; the summary shows every row.
func TestRestartTablesShowTheFirstHundred(t *testing.T) {
	var targets []*target
	for i := range 130 {
		ns := fmt.Sprintf("ns-%03d", i)
		targets = append(targets, reportTarget(checks.KindDeployment, ns, "paused", resultPatched, checks.ReasonPaused))
		failed := reportTarget(checks.KindDeployment, ns, "broken", resultFailed, "")
		failed.setErr("patch: boom")
		targets = append(targets, failed)
	}
	r := reportPass(targets, []podItem{{Namespace: "ns-000", Name: "bare", Reason: "bare pod", Detail: "delete it"}})
	var out bytes.Buffer
	if err := printTables(&out, r.report(), cmdutil.DryRunNone); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"\nNot rolled by this pass:\n", "... and 31 more (-o json lists them all)\n",
		"\nFailed:\n", "... and 30 more (-o json lists them all)\n",
		"ns-000      deployment.apps/paused   paused   patched; rolls once resumed: kubectl rollout resume deployment/paused -n ns-000 (or re-run with --value v2 --resume-paused)\n",
		"ns-099      deployment.apps/broken   patch: boom\n",
		"ns-129      Deployment   1         0         1 (paused)     1        -\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
	if strings.Contains(text, "ns-100      deployment.apps/broken") || strings.Count(text, "deployment.apps/paused") != 100 {
		t.Errorf("more than 100 rows in a section:\n%s", text)
	}
}

// A target keeps what the pass reads and nothing it does not.
func TestRestartTargetKeepsWhatThePassReads(t *testing.T) {
	w := &cluster.Workload{Workload: checks.Workload{Kind: checks.KindStatefulSet, Namespace: "ns", Name: "db", Generation: 4,
		Value: "v1", HasValue: true, Replicas: 3, OnDelete: true, Partition: 1, HasPartition: true,
		Status: checks.WorkloadStatus{ObservedGeneration: 4, UpdateRevision: "db-1"}},
		UID: "uid-db", ResourceVersion: "17", Selector: "app=db"}
	tg := newTarget(w)
	got := tg.workload()
	want := *w
	want.Status = checks.WorkloadStatus{}
	if *got != want {
		t.Errorf("OnDelete StatefulSet: got %+v, want %+v", *got, want)
	}
	d := &cluster.Workload{Workload: checks.Workload{Kind: checks.KindDeployment, Namespace: "ns", Name: "web", Paused: true, Replicas: 2},
		UID: "uid-web", ResourceVersion: "18", Selector: "app=web"}
	if got := newTarget(d).workload(); got.UID != "" || got.Selector != "" || got.ResourceVersion != "18" || !got.Paused || got.Replicas != 2 {
		t.Errorf("Deployment: got %+v, want no UID and no selector", *got)
	}
	ds := &cluster.Workload{Workload: checks.Workload{Kind: checks.KindDaemonSet, Namespace: "ns", Name: "agent"}, UID: "uid-agent", Selector: "app=agent"}
	if got := newTarget(ds).workload(); got.UID != "uid-agent" || got.Selector != "" {
		t.Errorf("rolling DaemonSet: got %+v, want its UID and no selector", *got)
	}
}
