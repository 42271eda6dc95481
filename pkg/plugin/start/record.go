// Package start is the rotation record's commands: "kubectl carotate
// start" records a rotation in the cluster, "finish" marks it done once
// the cluster shows every step done (judged as status judges it), and
// "abort" marks it abandoned and prints what to undo.
package start

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// recordCommand is what start, finish and abort share: they write the
// rotation record, which is one for the whole cluster.
type recordCommand struct {
	*cmdutil.Env
	DryRunFlag string
	Output     string
	// Target is --target: which record (cluster-ca or sa-key).
	Target string
	dryRun cmdutil.DryRun
	now    func() time.Time
}

func newRecordCommand(env *cmdutil.Env) recordCommand {
	return recordCommand{Env: env, DryRunFlag: string(cmdutil.DryRunNone), now: time.Now}
}

func (o *recordCommand) addFlags(cmd *cobra.Command) {
	cmdutil.AddDryRunFlag(cmd, &o.DryRunFlag, "write nothing")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.AddTargetFlag(cmd, &o.Target)
	cmdutil.NoNamespace(cmd, "the rotation record is one for the whole cluster, in kube-system/carotate-state")
}

// Validate checks the flags.
func (o *recordCommand) Validate() error {
	if err := cmdutil.ValidateTarget(o.Target); err != nil {
		return err
	}
	var err error
	if o.dryRun, err = cmdutil.ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	return cmdutil.ValidateOutput(o.Output)
}

// active loads the record and insists that it is active.
func active(ctx context.Context, client kubernetes.Interface, command string) (*rotation.Record, error) {
	return activeTarget(ctx, client, "", command)
}

// activeTarget is active for a target's record.
func activeTarget(ctx context.Context, client kubernetes.Interface, target, command string) (*rotation.Record, error) {
	rec, err := rotation.LoadTarget(ctx, client, target)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%s: no rotation is recorded in %s/%s (kubectl carotate start%s records one); nothing was written", command, rotation.Namespace, rotation.NameOf(target), targetArg(target))
	}
	if !rec.Active() {
		return nil, fmt.Errorf("%s: rotation %s is already %s (by %s at %s); nothing was written", command, rec.ID, rec.State, rec.EndedBy, rec.EndedAt.Format(time.RFC3339))
	}
	return rec, nil
}

// end marks the active rotation state (finished or aborted), unless
// another admin ended it meanwhile.
func (o *recordCommand) end(ctx context.Context, client kubernetes.Interface, command, state string) (*rotation.Record, error) {
	if o.dryRun != cmdutil.DryRunClient {
		// A read-only user learns it before anything is written, in the
		// same words as every other command.
		err := cmdutil.Preflight(ctx, client, []cmdutil.AccessCheck{{Verb: "update", Resource: "configmaps", Namespace: rotation.Namespace}})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", command, err)
		}
	}
	who := rotation.WhoAmI(ctx, client, o.RawKubeConfigLoader())
	rec, err := rotation.UpdateTarget(ctx, client, o.Target, o.dryRun, func(r *rotation.Record) error {
		if !r.Active() {
			return fmt.Errorf("rotation %s was %s by %s meanwhile; nothing was written", r.ID, r.State, r.EndedBy)
		}
		r.State, r.EndedBy, r.EndedAt = state, who, o.now().UTC().Truncate(time.Second)
		return nil
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.ErrOut, "%s: rotation %s marked %s%s\n", command, rec.ID, state, o.dryRun.Suffix())
	return rec, nil
}

// printRecord shows the record: a short table, or the record as data.
func printRecord(w io.Writer, format string, rec *rotation.Record) error {
	v := rotation.ViewOf(rec)
	if format == cmdutil.OutputJSON || format == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(w, format, v)
	}
	rows := [][]string{
		{"rotation", v.ID + " (" + v.State + ")"},
		{"started", v.StartedAt.Format(time.RFC3339) + " by " + v.StartedBy},
	}
	if !v.EndedAt.IsZero() {
		rows = append(rows, []string{v.State, v.EndedAt.Format(time.RFC3339) + " by " + v.EndedBy})
	}
	for _, c := range v.OldCA {
		rows = append(rows, []string{"old CA", rotation.CertLine(c)})
	}
	for _, c := range v.NewCA {
		rows = append(rows, []string{"new CA", rotation.CertLine(c)})
	}
	for _, c := range v.NewFrontProxyCA {
		rows = append(rows, []string{"new front-proxy CA", rotation.CertLine(c)})
	}
	if v.Target != "" {
		rows = append(rows[:1], append([][]string{{"target", v.Target}}, rows[1:]...)...)
	}
	for _, k := range v.OldSAKeyIDs {
		rows = append(rows, []string{"old public key", "kid " + k})
	}
	for _, k := range v.NewSAKeyIDs {
		rows = append(rows, []string{"new public key", "kid " + k})
	}
	rows = append(rows, []string{"passes", fmt.Sprint(len(v.Passes))})
	return cmdutil.WriteTable(w, []string{"field", "value"}, rows)
}
