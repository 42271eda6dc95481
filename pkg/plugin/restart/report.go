package restart

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// item is what happened to one workload.
type item struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Result of the patch: patched, already-current, failed, gone, not-reached.
	Result string `json:"result"`
	// Skipped is why the workload does not roll by itself (paused, OnDelete,
	// 0 replicas); empty when it rolls.
	Skipped string `json:"skipped,omitempty"`
	Note    string `json:"note,omitempty"`
	// Rollout with --wait: complete, failed, timed-out, not-reached.
	Rollout string `json:"rollout,omitempty"`
	// OldPods counts the pods of a DaemonSet or StatefulSet whose template
	// lacked the value when the pass listed them.
	OldPods     int    `json:"oldPods,omitempty"`
	DeletedPods int    `json:"deletedPods,omitempty"`
	Error       string `json:"error,omitempty"`
}

func (it *item) failed() bool {
	switch it.Result {
	case resultFailed, resultNotReached:
		return true
	}
	switch it.Rollout {
	case rolloutFailed, rolloutTimedOut, rolloutNotReached:
		return true
	}
	return false
}

func (it *item) ref() string {
	return strings.ToLower(it.Kind) + ".apps/" + it.Name
}

// podItem is a pod no workload patch restarts.
type podItem struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
	Detail    string `json:"detail"`
}

type totals struct {
	Workloads    int `json:"workloads"`
	Patched      int `json:"patched"`
	Current      int `json:"alreadyCurrent"`
	Skipped      int `json:"skipped"`
	Failed       int `json:"failed"`
	RolledOut    int `json:"rolledOut"`
	Gone         int `json:"gone"`
	UnrolledPods int `json:"unrolledPods"`
}

type summaryRow struct {
	Namespace string         `json:"namespace"`
	Kind      string         `json:"kind"`
	Patched   int            `json:"patched"`
	Current   int            `json:"alreadyCurrent"`
	Skipped   map[string]int `json:"skipped,omitempty"`
	Failed    int            `json:"failed"`
	RolledOut int            `json:"rolledOut"`
}

// report is the -o json|yaml document, and what the tables show.
type report struct {
	Annotation  string `json:"annotation"`
	Value       string `json:"value"`
	ValueSource string `json:"valueSource"`
	DryRun      string `json:"dryRun"`
	Scope       string `json:"scope"`
	Waited      bool   `json:"waited"`
	Interrupted bool   `json:"interrupted,omitempty"`
	UndoFile    string `json:"undoFile,omitempty"`
	Totals      totals `json:"totals"`
	// Pacing is how the patches were paced (--concurrency).
	Pacing    cluster.PaceStats `json:"pacing"`
	Summary   []summaryRow      `json:"summary"`
	Workloads []*item           `json:"workloads"`
	Pods      []podItem         `json:"pods"`
}

func (r *pass) report() report {
	items := slices.Clone(r.items)
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return kindOrder(a.Kind) < kindOrder(b.Kind)
		}
		return a.Name < b.Name
	})
	rep := report{
		Annotation: r.o.Annotation, Value: r.value, ValueSource: r.source, DryRun: string(r.o.dryRun),
		Scope: r.o.scope.String(), Waited: r.o.Wait, UndoFile: r.undoFile, Workloads: items, Pods: r.pods,
		Pacing: r.o.Pacing.Pace().Stats(),
	}
	if rep.Workloads == nil {
		rep.Workloads = []*item{}
	}
	if rep.Pods == nil {
		rep.Pods = []podItem{}
	}
	rows := map[[2]string]*summaryRow{}
	row := func(ns, kind string) *summaryRow {
		k := [2]string{ns, kind}
		if rows[k] == nil {
			rows[k] = &summaryRow{Namespace: ns, Kind: kind}
		}
		return rows[k]
	}
	t := &rep.Totals
	for _, it := range items {
		s := row(it.Namespace, it.Kind)
		t.Workloads++
		switch it.Result {
		case resultPatched:
			s.Patched++
			t.Patched++
		case resultCurrent:
			s.Current++
			t.Current++
		case resultGone:
			t.Gone++
		}
		if it.Skipped != "" {
			if s.Skipped == nil {
				s.Skipped = map[string]int{}
			}
			s.Skipped[it.Skipped]++
			t.Skipped++
		}
		if it.failed() {
			s.Failed++
			t.Failed++
			rep.Interrupted = rep.Interrupted || it.Result == resultNotReached || it.Rollout == rolloutNotReached
		}
		if it.Rollout == rolloutComplete {
			s.RolledOut++
			t.RolledOut++
		}
	}
	for _, p := range r.pods {
		s := row(p.Namespace, "Pod")
		if s.Skipped == nil {
			s.Skipped = map[string]int{}
		}
		s.Skipped[p.Reason]++
		t.UnrolledPods++
	}
	for _, s := range rows {
		rep.Summary = append(rep.Summary, *s)
	}
	sort.Slice(rep.Summary, func(i, j int) bool {
		a, b := rep.Summary[i], rep.Summary[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return kindOrder(a.Kind) < kindOrder(b.Kind)
	})
	if rep.Summary == nil {
		rep.Summary = []summaryRow{}
	}
	return rep
}

// tableLimit caps each list under the summary; -o json has them all.
const tableLimit = 100

func (r *pass) finish(context.Context) error {
	rep := r.report()
	r.o.Pacing.Report(r.o.ErrOut, "restart-workloads")
	var err error
	if r.o.Output == cmdutil.OutputJSON || r.o.Output == cmdutil.OutputYAML {
		err = cmdutil.PrintStructured(r.o.Out, r.o.Output, rep)
	} else {
		err = printTables(r.o.Out, rep, r.o.dryRun)
	}
	if err != nil {
		return err
	}
	t := rep.Totals
	if t.Failed == 0 {
		return nil
	}
	what := fmt.Sprintf("%d of %d workloads failed", t.Failed, t.Workloads)
	if rep.Interrupted {
		what = fmt.Sprintf("interrupted: %d of %d workloads not finished or failed", t.Failed, t.Workloads)
	}
	return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("%s; re-run with --value %s to finish this pass: what already carries the value is not patched again", what, r.value)}
}

// printTables prints the summary by namespace and kind, then every
// workload or pod that will not roll and every failure, then one line of
// totals.
func printTables(w io.Writer, rep report, dryRun cmdutil.DryRun) error {
	dash := func(n int, show bool) string {
		if !show {
			return "-"
		}
		return strconv.Itoa(n)
	}
	var rows [][]string
	for _, s := range rep.Summary {
		pod := s.Kind == "Pod"
		rows = append(rows, []string{s.Namespace, s.Kind, dash(s.Patched, !pod), dash(s.Current, !pod),
			skippedCell(s.Skipped), dash(s.Failed, !pod), dash(s.RolledOut, rep.Waited && !pod)})
	}
	if len(rows) > 0 {
		if err := cmdutil.WriteTable(w, []string{"namespace", "kind", "patched", "current", "skipped", "failed", "rolled out"}, rows); err != nil {
			return err
		}
	}

	var notRolled [][]string
	for _, it := range rep.Workloads {
		if reason, detail := attention(it, rep.Value); reason != "" {
			notRolled = append(notRolled, []string{it.Namespace, it.ref(), reason, detail})
		}
	}
	for _, p := range rep.Pods {
		notRolled = append(notRolled, []string{p.Namespace, "pod/" + p.Name, p.Reason, p.Detail})
	}
	if err := section(w, "Not rolled by this pass:", []string{"namespace", "object", "reason", "what to do"}, notRolled); err != nil {
		return err
	}
	var failed [][]string
	for _, it := range rep.Workloads {
		if it.failed() {
			failed = append(failed, []string{it.Namespace, it.ref(), it.Error})
		}
	}
	if err := section(w, "Failed:", []string{"namespace", "object", "error"}, failed); err != nil {
		return err
	}

	t := rep.Totals
	line := fmt.Sprintf("\nPass %s=%s: %d workloads, %d patched, %d already current, %d skipped, %d failed",
		rep.Annotation, rep.Value, t.Workloads, t.Patched, t.Current, t.Skipped, t.Failed)
	if rep.Waited {
		line += fmt.Sprintf(", %d rolled out", t.RolledOut)
	}
	if t.Gone > 0 {
		line += fmt.Sprintf(", %d deleted meanwhile", t.Gone)
	}
	if t.UnrolledPods > 0 {
		line += fmt.Sprintf("; %d pod(s) no patch restarts", t.UnrolledPods)
	}
	_, err := fmt.Fprintln(w, line+dryRun.Suffix())
	return err
}

func section(w io.Writer, title string, header []string, rows [][]string) error {
	if len(rows) == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "\n%s\n", title); err != nil {
		return err
	}
	shown := rows
	if len(rows) > tableLimit {
		shown = rows[:tableLimit]
	}
	if err := cmdutil.WriteTable(w, header, shown); err != nil {
		return err
	}
	if len(rows) > len(shown) {
		_, err := fmt.Fprintf(w, "... and %d more (-o json lists them all)\n", len(rows)-len(shown))
		return err
	}
	return nil
}

// skippedCell reads "0", or "1 (paused)", or "2 (OnDelete), 1 (0 replicas)".
func skippedCell(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	reasons := make([]string, 0, len(m))
	for r := range m {
		reasons = append(reasons, r)
	}
	sort.Strings(reasons)
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d (%s)", m[r], r)
	}
	return strings.Join(parts, ", ")
}

// attention says why a workload needs the admin, and what to do. A
// re-run it suggests names the pass value: without it, a re-run inside a
// rotation whose pass was logged finished would start the next phase.
func attention(it *item, value string) (reason, detail string) {
	did := "patched"
	if it.Result == resultCurrent {
		did = "carries the value"
	}
	switch it.Skipped {
	case checks.ReasonPaused:
		return it.Skipped, fmt.Sprintf("%s; rolls once resumed: kubectl rollout resume deployment/%s -n %s (or re-run with --value %s --resume-paused)", did, it.Name, it.Namespace, value)
	case checks.ReasonOnDelete:
		return it.Skipped, fmt.Sprintf("%s; %d pod(s) still run an older template: delete them one at a time, or re-run with --value %s --wait --delete-ondelete-pods", did, it.OldPods, value)
	case checks.ReasonNoReplicas:
		return it.Skipped, "nothing to roll; pods created later get the new template"
	}
	switch {
	case it.Result == resultGone:
		return "gone", it.Error
	case it.Note != "":
		return "partition", it.Note
	}
	return "", ""
}
