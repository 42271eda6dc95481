package instructions

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// validateSAKey checks the flags of instructions --target sa-key.
func (o *Options) validateSAKey() error {
	if o.CA.OldCA != "" || o.CA.NewCA != "" {
		return errors.New("--old-ca and --new-ca are the cluster CA's: the sa-key steps take the keys from the sa-key record (kubectl carotate start --target sa-key)")
	}
	if o.Step != "" {
		if _, ok := checks.LookupTargetStep(checks.TargetSAKey, o.Step); !ok {
			return fmt.Errorf("unknown --step %q for --target sa-key: use one of %s", o.Step, strings.Join(checks.StepNumbers(checks.TargetSAKey), ", "))
		}
	}
	if phases := checks.TargetPhases(checks.TargetSAKey); o.Phase != "" && !slices.Contains(phases, o.Phase) {
		return fmt.Errorf("unknown --phase %q for --target sa-key: use %s", o.Phase, strings.Join(phases, ", "))
	}
	if o.Output == "text" {
		o.Output = cmdutil.OutputTable
	}
	if o.Output == outputScript {
		return nil
	}
	return cmdutil.ValidateOutput(o.Output)
}

// runSAKey prints the sa-key steps of the recorded sa-key rotation.
func (o *Options) runSAKey(ctx context.Context) error {
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := rotation.LoadTarget(ctx, client, checks.TargetSAKey)
	if err != nil {
		return err
	}
	if !rec.Active() {
		return fmt.Errorf("no active sa-key rotation is recorded in %s/%s: kubectl carotate start --target sa-key --new-public-key new-sa.pub records one",
			rotation.Namespace, rotation.NameOf(checks.TargetSAKey))
	}
	dyn, err := o.DynamicClient()
	if err != nil {
		return err
	}
	inv := cluster.ReadInventory(ctx, client, dyn)
	if inv.ControlPlaneErr != nil {
		return fmt.Errorf("listing the control-plane pods in kube-system: %w", inv.ControlPlaneErr)
	}
	if inv.NodesErr != nil {
		return inv.NodesErr
	}
	d := saKeyDescription(rec)
	_, note := controlPlaneHosts(&d, inv)
	notes := append([]string{note}, checks.SAKeyNotes(rec.ID)...)
	return o.emit(d, checks.RenderSAKey(d), notes, "")
}

// saKeyDescription is what RenderSAKey needs but the control plane.
func saKeyDescription(rec *rotation.Record) checks.ClusterDescription {
	return checks.ClusterDescription{RotationID: rec.ID, Target: checks.TargetSAKey, Contents: map[string]string{
		checks.ContentOldSAPublicKey: string(rec.OldSAPEM),
		checks.ContentNewSAPublicKey: string(rec.NewSAPEM),
		checks.ContentSAPublicKeys:   string(checks.EncodePublicKeys(append(slices.Clone(rec.NewSAKeys), rec.OldSAKeys...))),
	}}
}
