package restart

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

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
	Namespace string     `json:"namespace"`
	Kind      string     `json:"kind"`
	Patched   int        `json:"patched"`
	Current   int        `json:"alreadyCurrent"`
	Skipped   skipCounts `json:"skipped,omitempty"`
	Failed    int        `json:"failed"`
	RolledOut int        `json:"rolledOut"`
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
	Pods      *podList          `json:"pods"`
}

func (r *pass) report() report {
	items := slices.Clone(r.items)
	sort.SliceStable(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.kind != b.kind {
			return a.kind < b.kind // kindNames is in the upstream loop's order
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
		rep.Pods = newPodList()
	}
	// The items are sorted by namespace and kind: a row ends where the
	// next item's namespace or kind differs (no map of rows: at 10,000
	// namespaces there are 30,000). Pods, in the order they were listed,
	// get a row per namespace after the workloads' and are sorted in below.
	// The rows are counted first: grown by appending, their slice and the
	// copies it left behind took twice their size.
	podRows := map[string]int{} // namespace: index in rep.Summary
	rows := 0
	for i, it := range items {
		if i == 0 || it.Namespace != items[i-1].Namespace || it.kind != items[i-1].kind {
			rows++
		}
	}
	for p := range r.pods.all() {
		if _, ok := podRows[p.Namespace]; !ok {
			podRows[p.Namespace] = rows + len(podRows)
		}
	}
	rep.Summary = make([]summaryRow, 0, rows+len(podRows))
	t := &rep.Totals
	var s *summaryRow
	for _, it := range items {
		if s == nil || s.Namespace != it.Namespace || s.Kind != it.Kind() {
			rep.Summary = append(rep.Summary, summaryRow{Namespace: it.Namespace, Kind: it.Kind()})
			s = &rep.Summary[len(rep.Summary)-1]
		}
		t.Workloads++
		switch it.result {
		case resultPatched:
			s.Patched++
			t.Patched++
		case resultCurrent:
			s.Current++
			t.Current++
		case resultGone:
			t.Gone++
		}
		if reason := it.skip(); reason != "" {
			s.Skipped.add(reason)
			t.Skipped++
		}
		if it.failed() {
			s.Failed++
			t.Failed++
			rep.Interrupted = rep.Interrupted || it.result == resultNotReached || it.rollout == rolloutNotReached
		}
		if it.rollout == rolloutComplete {
			s.RolledOut++
			t.RolledOut++
		}
	}
	rep.Summary = rep.Summary[:rows+len(podRows)]
	for ns, i := range podRows {
		rep.Summary[i] = summaryRow{Namespace: ns, Kind: "Pod"}
	}
	for p := range r.pods.all() {
		rep.Summary[podRows[p.Namespace]].Skipped.add(p.Reason)
		t.UnrolledPods++
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
	r.totals = &rep.Totals
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
	// One row per namespace and kind: at 10,000 namespaces, 30,000 rows,
	// printed rather than held.
	if len(rep.Summary) > 0 {
		header := []string{"namespace", "kind", "patched", "current", "skipped", "failed", "rolled out"}
		err := cmdutil.WriteRows(w, header, len(rep.Summary), func(i int, cells []string) {
			s := rep.Summary[i]
			pod := s.Kind == "Pod"
			cells[0], cells[1], cells[2], cells[3] = s.Namespace, s.Kind, dash(s.Patched, !pod), dash(s.Current, !pod)
			cells[4], cells[5], cells[6] = skippedCell(s.Skipped), dash(s.Failed, !pod), dash(s.RolledOut, rep.Waited && !pod)
		})
		if err != nil {
			return err
		}
	}

	// The sections below show tableLimit rows each: only those are built,
	// the rest counted.
	notRolled := limitedRows{}
	for _, it := range rep.Workloads {
		if attentionReason(it) != "" {
			notRolled.add(func() []string {
				reason, detail := attention(it, rep.Value)
				return []string{it.Namespace, it.ref(), reason, detail}
			})
		}
	}
	for p := range rep.Pods.all() {
		notRolled.add(func() []string { return []string{p.Namespace, "pod/" + p.Name, p.Reason, p.Detail} })
	}
	if err := section(w, "Not rolled by this pass:", []string{"namespace", "object", "reason", "what to do"}, notRolled); err != nil {
		return err
	}
	failed := limitedRows{}
	for _, it := range rep.Workloads {
		if it.failed() {
			failed.add(func() []string { return []string{it.Namespace, it.ref(), it.errText()} })
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

// limitedRows are the first tableLimit rows of a section, and how many
// there are in all.
type limitedRows struct {
	shown [][]string
	total int
}

func (l *limitedRows) add(row func() []string) {
	if l.total < tableLimit {
		l.shown = append(l.shown, row())
	}
	l.total++
}

func section(w io.Writer, title string, header []string, rows limitedRows) error {
	if rows.total == 0 {
		return nil
	}
	if _, err := fmt.Fprintf(w, "\n%s\n", title); err != nil {
		return err
	}
	if err := cmdutil.WriteTable(w, header, rows.shown); err != nil {
		return err
	}
	if rows.total > len(rows.shown) {
		_, err := fmt.Fprintf(w, "... and %d more (-o json lists them all)\n", rows.total-len(rows.shown))
		return err
	}
	return nil
}

// skippedCell reads "0", or "1 (paused)", or "2 (OnDelete), 1 (0 replicas)".
func skippedCell(s skipCounts) string {
	if len(s) == 0 {
		return "0"
	}
	parts := make([]string, len(s))
	for i, c := range s.sorted() {
		parts[i] = fmt.Sprintf("%d (%s)", c.n, c.reason)
	}
	return strings.Join(parts, ", ")
}

// skipCounts counts a summary row's workloads or pods that will not roll,
// by reason; JSON and YAML show it as an object of reason: count. A map
// per row cost 200 bytes or more: 30,000 rows at 10,000 namespaces.
type skipCounts []skipCount

type skipCount struct {
	reason string
	n      int
}

func (s *skipCounts) add(reason string) {
	for i := range *s {
		if (*s)[i].reason == reason {
			(*s)[i].n++
			return
		}
	}
	*s = append(*s, skipCount{reason, 1})
}

func (s skipCounts) sorted() skipCounts {
	out := slices.Clone(s)
	slices.SortFunc(out, func(a, b skipCount) int { return strings.Compare(a.reason, b.reason) })
	return out
}

// MarshalJSON is the map's encoding, made for the moment.
func (s skipCounts) MarshalJSON() ([]byte, error) {
	m := make(map[string]int, len(s))
	for _, c := range s {
		m[c.reason] = c.n
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the object MarshalJSON writes, sorted by reason.
func (s *skipCounts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*s = nil
	for _, r := range slices.Sorted(maps.Keys(m)) {
		*s = append(*s, skipCount{r, m[r]})
	}
	return nil
}

// attention says why a workload needs the admin, and what to do. A
// re-run it suggests names the pass value: without it, a re-run inside a
// rotation whose pass was logged finished would start the next phase.
func attention(it *item, value string) (reason, detail string) {
	did := "patched"
	if it.result == resultCurrent {
		did = "carries the value"
	}
	switch reason = attentionReason(it); reason {
	case checks.ReasonPaused:
		return reason, fmt.Sprintf("%s; rolls once resumed: kubectl rollout resume deployment/%s -n %s (or re-run with --value %s --resume-paused)", did, it.Name, it.Namespace, value)
	case checks.ReasonOnDelete:
		return reason, fmt.Sprintf("%s; %d pod(s) still run an older template: delete them one at a time, or re-run with --value %s --wait --delete-ondelete-pods", did, it.oldPods, value)
	case checks.ReasonNoReplicas:
		return reason, "nothing to roll; pods created later get the new template"
	case "gone":
		return reason, it.errText()
	case "partition":
		return reason, it.note()
	}
	return "", ""
}

// attentionReason is attention's reason alone, which costs nothing to tell.
func attentionReason(it *item) string {
	switch reason := it.skip(); reason {
	case checks.ReasonPaused, checks.ReasonOnDelete, checks.ReasonNoReplicas:
		return reason
	}
	switch {
	case it.result == resultGone:
		return "gone"
	case it.note() != "":
		return "partition"
	}
	return ""
}
