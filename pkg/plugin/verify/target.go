package verify

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// What verify --target T says, T not cluster-ca: what goes at the end of
// the rotation, the step that removes it, and what breaks if it goes
// early.
var targetWords = map[string]struct{ old, lastStep, breaks, reads string }{
	checks.TargetSAKey: {"key", "4", "tokens from the old key are still in use (steps %s): removing the old key now gets them 401",
		"takes its keys from the sa-key record"},
	checks.TargetFrontProxyCA: {"front-proxy CA", "3", "the API servers may still present a proxy client certificate from the old front-proxy CA (steps %s): dropping the old CA now makes the aggregated APIs refuse them",
		"takes its CAs from the front-proxy-ca record"},
	checks.TargetEtcdCA: {"etcd CA", "3", "etcd or the API servers may still present a certificate from the old etcd CA (steps %s): dropping the old CA now cuts the API servers off etcd",
		"takes its CAs from the etcd-ca record"},
}

// completeTarget refuses the cluster CA's flags with --target T and
// builds the clients.
func (o *Options) completeTarget(cmd *cobra.Command) error {
	for _, f := range []string{"ca", "old-ca", "expect", "only", "exec", "since", "logs-for", "namespace"} {
		if cmd.Flags().Changed(f) {
			return fmt.Errorf("--%s is a check of the cluster CA: verify --target %s %s and reads the whole cluster", f, o.Target, targetWords[o.Target].reads)
		}
	}
	var err error
	if o.client, err = o.Clientset(); err != nil {
		return err
	}
	o.dyn, err = o.DynamicClient()
	return err
}

// targetReport is verify --target T's report (-o json|yaml).
type targetReport struct {
	Rotation string `json:"rotation"`
	// Findings are the steps that still depend on what goes at the end.
	Findings []checks.StepState `json:"findings"`
	Steps    []checks.StepState `json:"steps"`
}

// runTarget checks that nothing depends on the old key or CA any more:
// exit 0 when the last step can remove it, 1 when something does, 2 when
// it cannot tell.
func (o *Options) runTarget(ctx context.Context) error {
	words := targetWords[o.Target]
	rec, err := rotation.LoadTarget(ctx, o.client, o.Target)
	if err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	if !rec.Active() {
		return &cmdutil.ExitError{Code: 2, Err: fmt.Errorf("no active %s rotation is recorded in %s/%s: kubectl carotate start --target %s records one",
			o.Target, rotation.Namespace, rotation.NameOf(o.Target), o.Target)}
	}
	steps := rotation.JudgeTarget(ctx, o.client, o.dyn, rec, o.Now())
	rep := targetReport{Rotation: rec.ID, Steps: steps}
	switch o.Target {
	case checks.TargetFrontProxyCA:
		rep.Findings = checks.FrontProxyLeftovers(steps)
	case checks.TargetEtcdCA:
		rep.Findings = checks.EtcdCALeftovers(steps)
	default:
		rep.Findings = checks.SAKeyLeftovers(steps)
	}
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
		fmt.Fprintf(o.Out, "%s rotation %s: what still depends on the old %s\n\n", o.Target, rec.ID, words.old)
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
		fmt.Fprintf(o.ErrOut, "verify: nothing depends on the old %s any more: step %s can remove it\n", words.old, words.lastStep)
		return nil
	case 1:
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf(words.breaks, stepList(rep.Findings))}
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
