package verify

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// completeSAKey refuses the cluster CA's flags with --target sa-key and
// builds the client.
func (o *Options) completeSAKey(cmd *cobra.Command) error {
	for _, f := range []string{"ca", "old-ca", "expect", "only", "exec", "since", "logs-for", "namespace"} {
		if cmd.Flags().Changed(f) {
			return fmt.Errorf("--%s is a check of the cluster CA: verify --target sa-key takes its keys from the sa-key record and reads the whole cluster", f)
		}
	}
	var err error
	o.client, err = o.Clientset()
	return err
}

// saKeyReport is verify --target sa-key's report (-o json|yaml).
type saKeyReport struct {
	Rotation string `json:"rotation"`
	// Findings are the steps that still depend on the old key.
	Findings []checks.StepState `json:"findings"`
	Steps    []checks.StepState `json:"steps"`
}

// runSAKey checks that nothing depends on the old key any more: exit 0
// when step 4 can remove it, 1 when something does, 2 when it cannot tell.
func (o *Options) runSAKey(ctx context.Context) error {
	rec, err := rotation.LoadTarget(ctx, o.client, checks.TargetSAKey)
	if err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if !rec.Active() {
		return &cmdutil.ExitError{Code: 2, Err: fmt.Errorf("no active sa-key rotation is recorded in %s/%s: kubectl carotate start --target sa-key records one",
			rotation.Namespace, rotation.NameOf(checks.TargetSAKey))}
	}
	steps := checks.JudgeSAKey(cluster.SAKeyEvidence(ctx, o.client, rec.SAKeyFacts(o.Now())))
	rep := saKeyReport{Rotation: rec.ID, Findings: checks.SAKeyLeftovers(steps), Steps: steps}
	if rep.Findings == nil {
		rep.Findings = []checks.StepState{}
	}
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		if err := cmdutil.PrintStructured(o.Out, o.Output, rep); err != nil {
			return err
		}
	} else {
		rows := make([][]string, 0, len(steps))
		for _, s := range steps {
			rows = append(rows, []string{s.Step, s.State, s.Evidence})
		}
		fmt.Fprintf(o.Out, "sa-key rotation %s: what still depends on the old key\n\n", rec.ID)
		if err := cmdutil.WriteTable(o.Out, []string{"step", "state", "evidence"}, rows); err != nil {
			return err
		}
	}
	code := 0
	for _, f := range rep.Findings {
		switch {
		case f.State == checks.StateUnknown:
			code = 2
		case code == 0:
			code = 1
		}
	}
	switch code {
	case 0:
		fmt.Fprintln(o.ErrOut, "verify: no token from the old key is left: step 4 can remove it")
		return nil
	case 1:
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("tokens from the old key are still in use (steps %s): removing the old key now gets them 401", stepList(rep.Findings))}
	}
	return &cmdutil.ExitError{Code: 2, Err: fmt.Errorf("could not check everything (steps %s)", stepList(rep.Findings))}
}

func stepList(steps []checks.StepState) string {
	out := ""
	for i, s := range steps {
		if i > 0 {
			out += ", "
		}
		out += s.Step + " " + s.State
	}
	return out
}
