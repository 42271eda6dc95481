package inspect

import (
	"fmt"
	"io"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

func printReport(w io.Writer, format string, r *report) error {
	if format == cmdutil.OutputJSON || format == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(w, format, r)
	}
	// Several contexts: each row says which.
	byContext := false
	for _, s := range r.Sources {
		byContext = byContext || s.Context != ""
	}
	var rows [][]string
	for _, s := range r.Sources {
		for _, c := range s.Certificates {
			ca := "no"
			if c.IsCA {
				ca = "yes"
			}
			days := fmt.Sprint(c.DaysLeft)
			if c.DaysLeft < 0 {
				days = "expired"
			}
			row := []string{s.Source, c.Subject, c.Issuer, ca, c.NotAfter.UTC().Format(time.RFC3339), days,
				checks.ShortFingerprint(c.Fingerprint)}
			if byContext {
				row = append([]string{s.Context}, row...)
			}
			rows = append(rows, row)
		}
	}
	if len(rows) > 0 {
		header := []string{"source", "subject", "issuer", "ca", "not after", "days left", "fingerprint"}
		if byContext {
			header = append([]string{"context"}, header...)
		}
		if err := cmdutil.WriteTable(w, header, rows); err != nil {
			return err
		}
	}
	for _, v := range r.Verification {
		answer := "no"
		if v.Verifies {
			answer = "yes"
		}
		prefix := ""
		if v.Context != "" {
			prefix = v.Context + ": "
		}
		if _, err := fmt.Fprintf(w, "%s%s verifies against %s: %s\n", prefix, v.Chain, v.Against, answer); err != nil {
			return err
		}
	}
	return nil
}
