package verify

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// cert names one certificate of --ca or --old-ca.
type cert struct {
	Label       string    `json:"label,omitempty"`
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
}

func certsOf(rule checks.CARule, certs []*x509.Certificate) []cert {
	out := []cert{}
	for _, c := range certs {
		fp := checks.Fingerprint(c)
		out = append(out, cert{Label: rule.Labels[fp], Subject: c.Subject.String(), Fingerprint: fp, NotAfter: c.NotAfter.UTC()})
	}
	return out
}

// item is one row of a check: an object (or a group of pods or nodes
// that share a verdict) and what was found.
type item struct {
	Severity  string `json:"severity"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Where is the field or trust source that was judged.
	Where   string `json:"where,omitempty"`
	Holds   string `json:"holds,omitempty"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
	// Action is the next step as a command line a shell runs as printed,
	// empty when there is none.
	Action string `json:"action,omitempty"`
	// Fix says in words what to do where no command can (node files,
	// another controller's objects), or what the command is for.
	Fix string `json:"fix,omitempty"`
	// Count is the number of pods or nodes in a grouped row; Members names
	// the first listCap of them.
	Count   int               `json:"count,omitempty"`
	Members []string          `json:"members,omitempty"`
	Matches []checks.LogMatch `json:"matches,omitempty"`
}

func (it item) object() string {
	name := it.Name
	if it.Namespace != "" {
		name = it.Namespace + "/" + name
	}
	if it.Kind == "" {
		return name
	}
	return it.Kind + " " + name
}

// section is the result of one check.
type section struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Status is "passed", "findings" (an error-severity item) or "failed"
	// (the check could not run, wholly or in part: Error says why).
	Status   string   `json:"status"`
	Summary  string   `json:"summary"`
	Error    string   `json:"error,omitempty"`
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Notes    []string `json:"notes,omitempty"`
	Items    []item   `json:"items"`
	// Actions are the distinct next commands of the items, merged where
	// one command covers several; Fixes the distinct fixes in words.
	Actions []string `json:"actions,omitempty"`
	Fixes   []string `json:"fixes,omitempty"`

	errs []string
}

func newSection(name string) *section {
	return &section{Name: name, Title: titles[name], Items: []item{}}
}

func (s *section) add(it item) { s.Items = append(s.Items, it) }

func (s *section) notef(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// fail records that (part of) the check could not run.
func (s *section) fail(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

// action records a next command, once per section.
func (s *section) action(a string) { s.Actions = addOnce(s.Actions, a) }

// fix records an item's fix in words, once per section.
func (s *section) fix(f string) { s.Fixes = addOnce(s.Fixes, f) }

func addOnce(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// take records an item's next command and fix.
func (s *section) take(it item) {
	s.action(it.Action)
	s.fix(it.Fix)
}

// finish sorts the items worst first and sets the status and counts.
func (s *section) finish() {
	sort.SliceStable(s.Items, func(i, j int) bool {
		a, b := s.Items[i], s.Items[j]
		if ra, rb := checks.SeverityRank(a.Severity), checks.SeverityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Where < b.Where
	})
	s.Errors, s.Warnings = 0, 0
	for _, it := range s.Items {
		switch it.Severity {
		case checks.SeverityError:
			s.Errors++
		case checks.SeverityWarning:
			s.Warnings++
		}
	}
	switch {
	case len(s.errs) > 0:
		s.Status, s.Error = "failed", strings.Join(s.errs, "; ")
	case s.Errors > 0:
		s.Status = "findings"
	default:
		s.Status = "passed"
	}
}

// report is the whole run (-o json|yaml).
type report struct {
	Expect string `json:"expect"`
	CA     []cert `json:"ca"`
	Old    []cert `json:"oldCA,omitempty"`
	// OldSource says where the old CA came from when neither --old-ca nor
	// the rotation record (as --ca's source) named it.
	OldSource string     `json:"oldCASource,omitempty"`
	Namespace string     `json:"namespace,omitempty"`
	Sections  []*section `json:"sections"`
	Result    result     `json:"result"`
}

// result is the summary line and the exit code.
type result struct {
	ExitCode int      `json:"exitCode"`
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Failed   []string `json:"failedChecks"`
	Summary  string   `json:"summary"`
}

func (r *report) finish() {
	res := result{Failed: []string{}}
	var withErrors, withWarnings []string
	for _, s := range r.Sections {
		res.Errors += s.Errors
		res.Warnings += s.Warnings
		if s.Status == "failed" {
			res.Failed = append(res.Failed, s.Name)
		}
		if s.Errors > 0 {
			withErrors = append(withErrors, s.Name)
		}
		if s.Warnings > 0 {
			withWarnings = append(withWarnings, s.Name)
		}
	}
	count := func(n int, what string, in []string) string {
		s := cmdutil.Plural(n, what)
		if len(in) > 0 {
			s += " (" + strings.Join(in, ", ") + ")"
		}
		return s
	}
	findings := count(res.Errors, "error", withErrors) + ", " + count(res.Warnings, "warning", withWarnings)
	switch {
	case len(res.Failed) > 0:
		res.ExitCode = 2
		res.Summary = fmt.Sprintf("INCOMPLETE: %s could not run; %s", cmdutil.Plural(len(res.Failed), "check")+" ("+strings.Join(res.Failed, ", ")+")", findings)
	case res.Errors > 0:
		res.ExitCode = 1
		res.Summary = "NOT READY: " + findings + "; fix the errors before the next step"
	default:
		res.Summary = fmt.Sprintf("OK: %s passed, %s", cmdutil.Plural(len(r.Sections), "check"), findings)
	}
	r.Result = res
}

func (r *report) exitError() error {
	switch r.Result.ExitCode {
	case 0:
		return nil
	case 2:
		var why []string
		for _, s := range r.Sections {
			if s.Status == "failed" {
				why = append(why, s.Name+": "+s.Error)
			}
		}
		return &cmdutil.ExitError{Code: 2, Err: fmt.Errorf("verify is incomplete: %s", strings.Join(why, "; "))}
	}
	verb := "block"
	if r.Result.Errors == 1 {
		verb = "blocks"
	}
	return &cmdutil.ExitError{Code: r.Result.ExitCode, Err: fmt.Errorf("verify found %s that %s the next step", cmdutil.Plural(r.Result.Errors, "error"), verb)}
}

// progress prints "verify: pods: 5000 read" to stderr at most every
// progressEvery, so a large cluster shows life and a small one stays
// quiet.
type progress struct {
	w    io.Writer
	now  func() time.Time
	last time.Time
}

func (p *progress) start() { p.last = p.now() }

func (p *progress) tick(format string, args ...any) {
	if now := p.now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		fmt.Fprintf(p.w, "verify: "+format+"\n", args...)
	}
}

// groups counts what shares a key (a verdict, a failure's reason) in the
// order first seen, naming the first listCap members of each: the same
// finding on 5,000 pods or nodes is one row.
type groups[K comparable] struct {
	order []K
	by    map[K]*group
	n     int
}

type group struct {
	count   int
	members []string
}

func (g *groups[K]) add(k K, member string) {
	if g.by == nil {
		g.by = map[K]*group{}
	}
	e := g.by[k]
	if e == nil {
		e = &group{}
		g.by[k] = e
		g.order = append(g.order, k)
	}
	e.count++
	g.n++
	if len(e.members) < listCap {
		e.members = append(e.members, member)
	}
}

// groupReason takes the pod's and container's names out of a
// message: without them, the same failure on 5,000 pods is one row (the
// row lists the pods).
func groupReason(msg, ns, pod, container string) string {
	msg = strings.ReplaceAll(msg, ns+"/"+pod, "NAMESPACE/POD")
	msg = strings.ReplaceAll(msg, `"`+pod+`"`, `"POD"`)
	return strings.ReplaceAll(msg, `"`+container+`"`, `"CONTAINER"`)
}

// reasonRows are one info row per reason something could not be read.
func reasonRows(g *groups[string], kind, name, verdict string) []item {
	var out []item
	for _, reason := range g.order {
		e := g.by[reason]
		out = append(out, item{Severity: checks.SeverityInfo, Kind: kind, Name: name, Verdict: verdict, Count: e.count, Members: e.members, Detail: reason})
	}
	return out
}

// fanout calls fn(0) ... fn(n-1), workers at a time, and shows progress
// with format (given the calls done and n). Once ctx is done, fn is not
// called for the rest.
func (r *run) fanout(ctx context.Context, format string, n int, fn func(i int)) {
	var mu sync.Mutex
	done := 0
	r.progress.start()
	cluster.Fanout(ctx, workers, n, func(i int) {
		fn(i)
		mu.Lock()
		done++
		r.progress.tick(format, done, n)
		mu.Unlock()
	})
}
