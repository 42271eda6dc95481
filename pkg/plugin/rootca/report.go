package rootca

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// Per-object results.
const (
	resultAlready  = "already"
	resultUpdated  = "updated"
	resultCreated  = "created"
	resultReverted = "reverted"
	resultSkipped  = "skipped"
	resultFailed   = "failed"
)

// reportObject is one object's line in the report.
type reportObject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Found is what ca.crt held when we read it ("old", "new+old", ...).
	Found  string `json:"found"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	// ResourceVersion is the object's version after our write.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// outside is set when the object was skipped because it holds
	// certificates outside the rotation: the pass is then not complete.
	outside bool
}

// counts sums results per kind of object.
type counts struct {
	Total    int `json:"total"`
	Already  int `json:"already"`
	Updated  int `json:"updated"`
	Created  int `json:"created"`
	Reverted int `json:"reverted"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
}

// targetCert names one certificate of the wanted set.
type targetCert struct {
	Label       string    `json:"label"`
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
}

// report is the summary of a bundle or unbundle run (-o json|yaml).
type report struct {
	Command    string         `json:"command"`
	DryRun     cmdutil.DryRun `json:"dryRun"`
	Target     []targetCert   `json:"target"`
	BundleFile string         `json:"bundleFile,omitempty"`
	UndoFile   string         `json:"undoFile,omitempty"`
	Settle     string         `json:"settle,omitempty"`
	Namespaces counts         `json:"namespaces"`
	Secrets    counts         `json:"secrets"`
	// TrustBundles counts the user-made ClusterTrustBundles of a
	// --trust-bundles pass.
	TrustBundles *counts `json:"trustBundles,omitempty"`
	// Pacing is how the writes were paced (--concurrency).
	Pacing  *cluster.PaceStats `json:"pacing,omitempty"`
	Objects []reportObject     `json:"objects"`
}

// report builds the summary from the results so far, sorted by kind,
// namespace and name.
func (p *pass) report() *report {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &report{Command: p.Command, DryRun: p.DryRun, Objects: []reportObject{}}
	if p.Pace != nil {
		s := p.Pace.Stats()
		r.Pacing = &s
	}
	if p.undo != nil {
		r.UndoFile = p.undo.Path
	}
	for _, c := range checks.Unique(p.Target.Want) {
		r.Target = append(r.Target, targetCert{Label: p.Target.Labels[checks.Fingerprint(c)], Subject: c.Subject.String(),
			Fingerprint: checks.Fingerprint(c), NotAfter: c.NotAfter.UTC()})
	}
	if p.TrustBundles != nil {
		r.TrustBundles = &counts{}
	}
	for _, o := range p.results {
		r.Objects = append(r.Objects, *o)
		c := &r.Namespaces
		switch o.Kind {
		case "Secret":
			c = &r.Secrets
		case kindTrustBundle:
			c = r.TrustBundles
		}
		c.Total++
		switch o.Result {
		case resultAlready:
			c.Already++
		case resultUpdated:
			c.Updated++
		case resultCreated:
			c.Created++
		case resultReverted:
			c.Reverted++
		case resultSkipped:
			c.Skipped++
		case resultFailed:
			c.Failed++
		}
	}
	sort.Slice(r.Objects, func(i, j int) bool {
		a, b := r.Objects[i], r.Objects[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind // ConfigMaps first
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return r
}

// outcome is what the report means for the exit code: nil when the pass
// did its job. instruction is printed when the controller-manager reverted
// our writes.
func (r *report) outcome(instruction string) (string, error) {
	var failed, reverted, outside, bundlesOld int
	var revertedBy []string
	seenBy := map[string]bool{}
	for _, o := range r.Objects {
		switch {
		case o.Result == resultFailed:
			failed++
		case o.Result == resultReverted:
			reverted++
			who, _, _ := strings.Cut(o.Reason, " put back")
			if !seenBy[who] {
				seenBy[who] = true
				revertedBy = append(revertedBy, who)
			}
		case o.outside && o.Kind == kindTrustBundle:
			bundlesOld++
		case o.outside:
			outside++
		}
	}
	var msgs []string
	hint := ""
	if reverted > 0 {
		written := r.Namespaces.Updated + r.Namespaces.Created + r.Namespaces.Reverted + r.Secrets.Updated + r.Secrets.Reverted
		msgs = append(msgs, fmt.Sprintf("%d of %d objects written were changed back within %s by %s", reverted, written, r.Settle, strings.Join(revertedBy, ", ")))
		hint = instruction
	}
	if failed > 0 {
		msgs = append(msgs, fmt.Sprintf("%d objects failed (see the RESULT column); run the same command again: what already holds the CA is not written twice", failed))
	}
	if outside > 0 {
		msgs = append(msgs, fmt.Sprintf("%d objects hold certificates outside this rotation and were left alone (see the REASON column; --replace-other replaces them)", outside))
	}
	if bundlesOld > 0 {
		msgs = append(msgs, fmt.Sprintf("%d user-made ClusterTrustBundles trust the old CA without the new one and were left alone (see the REASON column; bundle --trust-bundles adds the new CA first, --replace-other swaps them)", bundlesOld))
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return hint, errors.New(strings.Join(msgs, "; "))
}

// printReport writes the per-object table and the summary table, or the
// report as JSON/YAML.
func printReport(w io.Writer, format string, r *report) error {
	if format == cmdutil.OutputJSON || format == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(w, format, r)
	}
	suffix := r.DryRun.Suffix()
	rows := make([][]string, 0, len(r.Objects))
	for _, o := range r.Objects {
		res := o.Result
		if res == resultUpdated || res == resultCreated {
			res += suffix
		}
		rows = append(rows, []string{o.Kind, o.Namespace, o.Name, o.Found, res, o.Reason})
	}
	if len(rows) > 0 {
		if err := cmdutil.WriteTable(w, []string{"kind", "namespace", "name", "found", "result", "reason"}, rows); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	already := "already bundled"
	if r.Command != "bundle" {
		already = "already " + r.Command + "d"
	}
	count := func(name string, c counts) []string {
		return []string{name, fmt.Sprint(c.Total), fmt.Sprint(c.Already), fmt.Sprint(c.Updated), fmt.Sprint(c.Created),
			fmt.Sprint(c.Reverted), fmt.Sprint(c.Skipped), fmt.Sprint(c.Failed)}
	}
	// The dry-run suffix stays out of the header: the table writer's
	// header formatting would mangle the parentheses, and every updated
	// row above already carries it.
	summary := [][]string{
		count("namespaces (kube-root-ca.crt)", r.Namespaces),
		count("legacy token Secrets (ca.crt)", r.Secrets),
	}
	if r.TrustBundles != nil {
		summary = append(summary, count("user-made ClusterTrustBundles", *r.TrustBundles))
	}
	return cmdutil.WriteTable(w, []string{"objects", "total", already, "updated", "created", "reverted", "skipped", "failed"}, summary)
}

// conclusion is the last line of a pass that did its job.
func conclusion(w io.Writer, r *report) {
	n, s := r.Namespaces, r.Secrets
	var t counts
	objects := "every kube-root-ca.crt and legacy token Secret"
	if r.TrustBundles != nil {
		t = *r.TrustBundles
		objects = "every kube-root-ca.crt, legacy token Secret and user-made ClusterTrustBundle with the old CA"
	}
	skipped := n.Skipped + s.Skipped + t.Skipped
	written := n.Updated + n.Created + s.Updated + t.Updated
	switch {
	case written == 0 && skipped == 0:
		fmt.Fprintf(w, "%s: %s already holds the %s; nothing was written\n", r.Command, objects, targetWords(r.Command))
		return
	case written == 0:
		fmt.Fprintf(w, "%s: %s already holds the %s, except %d skipped (see the REASON column); nothing was written\n",
			r.Command, objects, targetWords(r.Command), skipped)
		return
	case r.DryRun == cmdutil.DryRunClient || r.DryRun == cmdutil.DryRunServer:
		fmt.Fprintf(w, "%s: %d objects would be written%s\n", r.Command, written, r.DryRun.Suffix())
	case r.UndoFile != "":
		fmt.Fprintf(w, "%s: done; to restore the previous values: kubectl carotate undo %s\n", r.Command, r.UndoFile)
	}
	if skipped > 0 {
		fmt.Fprintf(w, "%s: %d objects skipped (see the REASON column)\n", r.Command, skipped)
	}
}

func targetWords(command string) string {
	if command == "bundle" {
		return "bundle"
	}
	return "kept CA only"
}

// progress prints "N/M namespaces done" to stderr at most every few
// seconds, and once at the end.
type progress struct {
	w     io.Writer
	what  string
	total int // -1 when unknown
	now   func() time.Time
	mu    sync.Mutex
	done  int
	last  time.Time
}

func (p *progress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.last.IsZero() {
		p.last = p.now()
		return
	}
	if now := p.now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		p.print()
	}
}

func (p *progress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.print()
}

func (p *progress) print() {
	if p.total >= 0 {
		fmt.Fprintf(p.w, "%s: %d/%d done\n", p.what, p.done, p.total)
	} else {
		fmt.Fprintf(p.w, "%s: %d done\n", p.what, p.done)
	}
}
