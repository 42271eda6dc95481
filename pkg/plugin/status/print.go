package status

import (
	"fmt"
	"io"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// printTable writes the header, the table and the next step.
func printTable(w io.Writer, r *report) error {
	if v := r.Rotation; v != nil {
		target := ""
		if v.Target != "" {
			target = v.Target + " "
		}
		fmt.Fprintf(w, "Rotation %s%s (%s), started %s by %s\n", target, v.ID, v.State, v.StartedAt.UTC().Format(time.RFC3339), v.StartedBy)
		for _, c := range v.OldCA {
			fmt.Fprintf(w, "  old CA: %s\n", rotation.CertLine(c))
		}
		for _, c := range v.NewCA {
			fmt.Fprintf(w, "  new CA: %s\n", rotation.CertLine(c))
		}
		for _, k := range v.OldSAKeyIDs {
			fmt.Fprintf(w, "  old public key: kid %s\n", k)
		}
		for _, k := range v.NewSAKeyIDs {
			fmt.Fprintf(w, "  new public key: kid %s\n", k)
		}
		if n := len(v.Passes); n > 0 {
			p := v.Passes[n-1]
			fmt.Fprintf(w, "  passes: %d, last %s (%s) at %s by %s\n", n, p.Kind, p.Result, p.At.UTC().Format(time.RFC3339), p.By)
		}
	} else if r.Source == "none" {
		fmt.Fprintln(w, "No rotation recorded")
	} else {
		fmt.Fprintf(w, "CAs from %s\n", r.Source)
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(r.Steps))
	for _, s := range r.Steps {
		rows = append(rows, []string{s.Step, s.State, s.Next, s.Evidence})
	}
	// The evidence is the longest cell: last, like kubectl's last column.
	if err := cmdutil.WriteTable(w, []string{"step", "state", "next", "evidence"}, rows); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
	printOthers(w, r.Others)
	switch {
	case r.Next == "":
	case r.Rotation != nil && r.Rotation.Target != "" && r.NextStep != "finish":
		_, err := fmt.Fprintf(w, "\nNext (step %s): %s\n", r.NextStep, r.Next)
		return err
	case checks.IsStep(r.NextStep):
		_, err := fmt.Fprintf(w, "\nNext (step %s): %s\n", r.NextStep, r.Next)
		return err
	default:
		_, err := fmt.Fprintf(w, "\nNext: %s\n", r.Next)
		return err
	}
	return nil
}
