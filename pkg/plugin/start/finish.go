package start

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// FinishOptions is "kubectl carotate finish".
type FinishOptions struct {
	recordCommand
	Force bool
}

// NewCmdFinish is "kubectl carotate finish".
func NewCmdFinish(env *cmdutil.Env) *cobra.Command {
	o := &FinishOptions{recordCommand: newRecordCommand(env)}
	cmd := &cobra.Command{
		Use:   "finish",
		Short: "Mark the recorded rotation done, once status shows every step done",
		Long: `Mark the rotation recorded by "kubectl carotate start" as finished. It first
judges the cluster as "kubectl carotate status" does and refuses, writing
nothing, while any step of the upstream procedure is "not done" (--force
marks it finished anyway). Steps that status cannot see through the API
("unknown": files on nodes, other admins' kubeconfigs) are listed as a
reminder and do not block. With --target front-proxy-ca, etcd-ca or sa-key
an "unknown" step blocks as well (--force overrides it): those rotations
are judged from what the API shows (for etcd-ca, also the checks its
printed node steps record on their Node), so "unknown" there is a read
that failed or a check not yet run.`,
		Example: `  kubectl carotate status
  kubectl carotate finish

  # The ServiceAccount signing key rotation
  kubectl carotate finish --target sa-key
  kubectl carotate finish --target front-proxy-ca
  kubectl carotate finish --target etcd-ca`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	cmdutil.AddForceFlag(cmd, &o.Force, "Mark the rotation finished even though status shows steps not done")
	o.addFlags(cmd)
	return cmd
}

// Run judges the cluster as status does and marks the record finished.
func (o *FinishOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if checks.OtherTarget(o.Target) {
		return o.finishTarget(ctx)
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := active(ctx, client, "finish")
	if err != nil {
		return err
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	steps, err := cluster.Judge(ctx, client, cfg, rotation.FromRecord(rec).Facts(), o.now())
	if err != nil {
		return err
	}
	var notDone, unknown []string
	for _, s := range steps {
		switch s.State {
		case checks.StateNotDone:
			notDone = append(notDone, fmt.Sprintf("step %s: %s", s.Step, s.Evidence))
		case checks.StateUnknown:
			unknown = append(unknown, fmt.Sprintf("step %s: %s", s.Step, s.Evidence))
		}
	}
	if len(notDone) > 0 && !o.Force {
		return fmt.Errorf("refusing to finish rotation %s, nothing was written: the cluster shows steps not done:\n  - %s\n(kubectl carotate status shows the next command; --force finishes anyway)",
			rec.ID, strings.Join(notDone, "\n  - "))
	}
	if len(notDone) > 0 {
		fmt.Fprintf(o.ErrOut, "finish: --force: finishing although %d steps are not done\n", len(notDone))
	}
	for _, u := range unknown {
		fmt.Fprintf(o.ErrOut, "finish: not visible through the API, make sure it is done: %s\n", u)
	}
	if rec, err = o.end(ctx, client, "finish", rotation.StateFinished); err != nil {
		return err
	}
	return printRecord(o.Out, o.Output, rec)
}
