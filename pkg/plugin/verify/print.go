package verify

import (
	"fmt"
	"io"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// tableLimit caps the rows of one check's table; -o json has them all.
const tableLimit = 100

// printReport prints one block per check: its status and summary, a
// table of what needs attention (rows of severity ok are only counted),
// notes, the next actions; then the summary line.
func printReport(w io.Writer, rep *report) error {
	var cas []string
	for _, c := range rep.CA {
		name := fmt.Sprintf("%s, sha256 %s", c.Subject, checks.ShortFingerprint(c.Fingerprint))
		if c.Label != "" {
			name = c.Label + " (" + name + ")"
		}
		cas = append(cas, name)
	}
	rule := "every certificate of --ca present"
	if rep.Expect == string(checks.ExpectNew) {
		rule = "exactly the certificates of --ca"
	}
	scope := "the whole cluster"
	if rep.Namespace != "" {
		scope = "namespace " + rep.Namespace + " (pods, sa, copies, logs)"
	}
	if _, err := fmt.Fprintf(w, "Expect %s (%s): %s; scope: %s\n", rep.Expect, rule, strings.Join(cas, ", "), scope); err != nil {
		return err
	}
	if rep.OldSource != "" {
		var old []string
		for _, c := range rep.Old {
			old = append(old, fmt.Sprintf("%s, sha256 %s", c.Subject, checks.ShortFingerprint(c.Fingerprint)))
		}
		fmt.Fprintf(w, "Old CA: %s (%s)\n", strings.Join(old, ", "), rep.OldSource)
	}
	for _, s := range rep.Sections {
		if err := printSection(w, s); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "\n%s\n", rep.Result.Summary)
	return err
}

func printSection(w io.Writer, s *section) error {
	fmt.Fprintf(w, "\n== %s\n", s.Title)
	fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(s.Status), s.Summary)
	if s.Error != "" {
		fmt.Fprintf(w, "could not run: %s\n", s.Error)
	}
	var rows [][]string
	for _, it := range s.Items {
		if it.Severity == checks.SeverityOK {
			continue
		}
		rows = append(rows, []string{it.Severity, objectCell(s.Name, it), it.Where, it.Holds, it.Verdict, it.Detail})
	}
	if len(rows) > 0 {
		shown := rows
		if len(shown) > tableLimit {
			shown = shown[:tableLimit]
		}
		if err := cmdutil.WriteTable(w, []string{"severity", "object", "where", "holds", "verdict", "detail"}, shown); err != nil {
			return err
		}
		if len(rows) > len(shown) {
			fmt.Fprintf(w, "... and %d more (-o json lists them all)\n", len(rows)-len(shown))
		}
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, a := range s.Actions {
		if _, err := fmt.Fprintf(w, "next: %s\n", a); err != nil {
			return err
		}
	}
	for _, f := range s.Fixes {
		if _, err := fmt.Fprintf(w, "fix: %s\n", f); err != nil {
			return err
		}
	}
	return nil
}

// objectCell names a row's object, with the size of a group.
func objectCell(section string, it item) string {
	obj := it.object()
	switch {
	case it.Count <= 1 || it.Kind == "Node":
	case section == sectionPods && it.Kind != "exec":
		obj += fmt.Sprintf(" (%d pods)", it.Count)
	default:
		obj += fmt.Sprintf(" (%d)", it.Count)
	}
	return obj
}
