package clusterinfo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// runCheck is --check: it judges cluster-info and writes nothing.
func (o *UpdateClusterInfoOptions) runCheck(ctx context.Context) error {
	var want []*x509.Certificate
	if o.CAFile != "" {
		var err error
		if want, err = o.loadCA(ctx); err != nil {
			return &cmdutil.ExitError{Code: 2, Err: err}
		}
	}
	if _, err := cluster.GetClusterInfo(ctx, o.client); err != nil && !apierrors.IsNotFound(err) {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if err := cmdutil.Preflight(ctx, o.client, access(false, false)); err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	st, err := cluster.CheckClusterInfo(ctx, o.client, want, o.now())
	if err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		if err := cmdutil.PrintStructured(o.Out, o.Output, st); err != nil {
			return &cmdutil.ExitError{Code: 2, Err: err}
		}
	}
	if !st.Present {
		fmt.Fprintln(o.ErrOut, o.notApplicable())
		if o.Require {
			return &cmdutil.ExitError{Code: 1, Err: errors.New("cluster-info is required (--require) but does not exist")}
		}
		return nil
	}
	if o.Output != cmdutil.OutputJSON && o.Output != cmdutil.OutputYAML {
		if err := printStatus(o.Out, st, o.CAFile); err != nil {
			return &cmdutil.ExitError{Code: 2, Err: err}
		}
	}
	if !st.Consistent {
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("cluster-info is not consistent: %s", strings.Join(st.Problems, "; "))}
	}
	return nil
}

func printStatus(w io.Writer, st cluster.ClusterInfoStatus, caFile string) error {
	fmt.Fprintf(w, "ConfigMap %s/%s (resourceVersion %s), cluster %q at %s\n", st.Namespace, st.Name, st.ResourceVersion, st.Cluster, st.Server)
	fmt.Fprintf(w, "CA certificates (%d):\n", len(st.CAs))
	printCAs(w, st.CAs)
	if st.MatchesCA != nil {
		answer := "no"
		if *st.MatchesCA {
			answer = "yes"
		}
		fmt.Fprintf(w, "Same certificates as %s: %s\n", caFile, answer)
	}
	if err := printSignatures(w, st.Signatures); err != nil {
		return err
	}
	if st.Consistent {
		fmt.Fprintln(w, "Consistent: yes")
		return nil
	}
	fmt.Fprintln(w, "Consistent: no")
	for _, p := range st.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	return nil
}

func printCAs(w io.Writer, cas []checks.CertInfo) {
	for _, c := range cas {
		fmt.Fprintf(w, "  - %s (sha256 %s, expires %s)\n", c.Subject, c.Fingerprint, c.NotAfter.UTC().Format(time.RFC3339))
	}
}

func printSignatures(w io.Writer, sigs []checks.TokenSignature) error {
	if len(sigs) == 0 {
		_, err := fmt.Fprintln(w, "No bootstrap token may sign cluster-info, and it carries no signature.")
		return err
	}
	rows := make([][]string, 0, len(sigs))
	for _, s := range sigs {
		signed := "no"
		if s.Signed {
			signed = "yes"
		}
		rows = append(rows, []string{s.TokenID, string(s.State), signed, s.Detail})
	}
	return cmdutil.WriteTable(w, []string{"TOKEN", "SIGNATURE", "SIGNED", "DETAIL"}, rows)
}
