package start

import (
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// saveTarget records rec, a new rotation of a target other than
// cluster-ca, once the caller has found no active record of the same
// rotation: an active one with other keys or CAs is refused, an ended one
// replaced.
func (o *StartOptions) saveTarget(ctx context.Context, client kubernetes.Interface, rec, existing *rotation.Record) error {
	err := cmdutil.Preflight(ctx, client, []cmdutil.AccessCheck{
		{Verb: "get", Resource: "configmaps", Namespace: rotation.Namespace},
		{Verb: "create", Resource: "configmaps", Namespace: rotation.Namespace},
		{Verb: "update", Resource: "configmaps", Namespace: rotation.Namespace},
	})
	if err != nil {
		return err
	}
	rec.StartedBy = rotation.WhoAmI(ctx, client, o.RawKubeConfigLoader())
	if rec.ID == "" {
		rec.ID = rotation.NewID(o.now())
	}
	name := rotation.NameOf(rec.Target)
	switch {
	case existing.Active():
		return fmt.Errorf("%s rotation %s is active (started by %s at %s) with other %s: finish it (kubectl carotate finish --target %[1]s) "+
			"or abandon it (kubectl carotate abort --target %[1]s) before starting another; nothing was written",
			rec.Target, existing.ID, existing.StartedBy, existing.StartedAt.Format(time.RFC3339), targetHolds(rec.Target))
	case existing != nil:
		fmt.Fprintf(o.ErrOut, "start: replacing the record of %s rotation %s (%s by %s)\n", rec.Target, existing.ID, existing.State, existing.EndedBy)
		rec.ResourceVersion = existing.ResourceVersion
	}
	if err := o.writeRecord(ctx, client, rec, existing); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "start: %s rotation %s recorded in %s/%s%s\nnext: kubectl carotate status --target %[1]s\n", rec.Target, rec.ID, rotation.Namespace, name, o.dryRun.Suffix())
	return printRecord(o.Out, o.Output, rec)
}

// alreadyRecorded prints the active record that start would write again.
func (o *StartOptions) alreadyRecorded(existing *rotation.Record) error {
	fmt.Fprintf(o.ErrOut, "start: %s rotation %s with these %s is already recorded (started by %s at %s); nothing was written\n",
		existing.Target, existing.ID, targetHolds(existing.Target), existing.StartedBy, existing.StartedAt.Format(time.RFC3339))
	return printRecord(o.Out, o.Output, existing)
}

func targetHolds(target string) string {
	if target == checks.TargetSAKey {
		return "keys"
	}
	return "CAs"
}

// finishTarget judges a target's steps as status does and marks its record
// finished, or refuses while a step is not done.
func (o *FinishOptions) finishTarget(ctx context.Context) error {
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	dyn, err := o.DynamicClient()
	if err != nil {
		return err
	}
	rec, err := activeTarget(ctx, client, o.Target, "finish")
	if err != nil {
		return err
	}
	var notDone []string
	for _, s := range rotation.JudgeTarget(ctx, client, dyn, rec, o.now()) {
		if s.State == checks.StateNotDone || s.State == checks.StateUnknown {
			notDone = append(notDone, fmt.Sprintf("step %s (%s): %s", s.Step, s.State, s.Evidence))
		}
	}
	if len(notDone) > 0 && !o.Force {
		return fmt.Errorf("refusing to finish %s rotation %s, nothing was written: the cluster shows steps not done:\n  - %s\n(kubectl carotate status --target %[1]s shows the next command; --force finishes anyway)",
			o.Target, rec.ID, strings.Join(notDone, "\n  - "))
	}
	if len(notDone) > 0 {
		fmt.Fprintf(o.ErrOut, "finish: --force: finishing although %d steps are not done\n", len(notDone))
	}
	if rec, err = o.end(ctx, client, "finish", rotation.StateFinished); err != nil {
		return err
	}
	return printRecord(o.Out, o.Output, rec)
}

// abortTarget marks a target's record aborted and prints what to put back.
func (o *AbortOptions) abortTarget(ctx context.Context) error {
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	if _, err := activeTarget(ctx, client, o.Target, "abort"); err != nil {
		return err
	}
	rec, err := o.end(ctx, client, "abort", rotation.StateAborted)
	if err != nil {
		return err
	}
	switch rec.Target {
	case checks.TargetFrontProxyCA:
		dyn, err := o.DynamicClient()
		if err != nil {
			return err
		}
		fmt.Fprint(o.ErrOut, abortFrontProxyPlan(rec, cluster.FrontProxyEvidence(ctx, client, dyn, rec.FrontProxyFacts())))
	case checks.TargetEtcdCA:
		fmt.Fprint(o.ErrOut, abortEtcdCAPlan(rec, cluster.EtcdCAEvidence(ctx, client, rec.EtcdCAFacts())))
	default:
		fmt.Fprint(o.ErrOut, abortSAKeyPlan(rec, cluster.SAKeyEvidence(ctx, client, rec.SAKeyFacts(o.now()))))
	}
	return printRecord(o.Out, o.Output, rec)
}
