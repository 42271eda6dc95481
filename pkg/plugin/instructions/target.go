package instructions

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// targetStart is the start command that records a rotation of a target
// other than cluster-ca.
var targetStart = map[string]string{
	checks.TargetSAKey:        "kubectl carotate start --target sa-key --new-public-key new-sa.pub",
	checks.TargetFrontProxyCA: "kubectl carotate start --target front-proxy-ca --new-ca new-front-proxy-ca.crt",
	checks.TargetEtcdCA:       "kubectl carotate start --target etcd-ca --new-ca new-etcd-ca.crt --old-ca etcd-ca.crt",
}

// validateTarget checks the flags of instructions --target T, T not
// cluster-ca.
func (o *Options) validateTarget() error {
	if o.CA.OldCA != "" || o.CA.NewCA != "" {
		return fmt.Errorf("--old-ca and --new-ca are the cluster CA's: the %s steps take what they rotate from the %s record (kubectl carotate start --target %s)", o.Target, o.Target, o.Target)
	}
	if o.Step != "" {
		if _, ok := checks.LookupTargetStep(o.Target, o.Step); !ok {
			return fmt.Errorf("unknown --step %q for --target %s: use one of %s", o.Step, o.Target, strings.Join(checks.StepNumbers(o.Target), ", "))
		}
	}
	if phases := checks.TargetPhases(o.Target); o.Phase != "" && !slices.Contains(phases, o.Phase) {
		return fmt.Errorf("unknown --phase %q for --target %s: use %s", o.Phase, o.Target, strings.Join(phases, ", "))
	}
	return o.validateOutput()
}

// runTarget prints the steps of the recorded rotation of a target other
// than cluster-ca, read from the control plane's static pods.
func (o *Options) runTarget(ctx context.Context) error {
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := rotation.LoadTarget(ctx, client, o.Target)
	if err != nil {
		return err
	}
	if !rec.Active() {
		return fmt.Errorf("no active %s rotation is recorded in %s/%s: %s records one",
			o.Target, rotation.Namespace, rotation.NameOf(o.Target), targetStart[o.Target])
	}
	dyn, err := o.DynamicClient()
	if err != nil {
		return err
	}
	inv := cluster.ReadInventory(ctx, client, dyn)
	if rec.Target == checks.TargetEtcdCA {
		// etcd's static pods are the etcd-ca target's alone to read.
		inv.ControlPlane, inv.ControlPlaneErr = cluster.ControlPlaneWithEtcd(ctx, client)
	}
	if inv.ControlPlaneErr != nil {
		return fmt.Errorf("listing the control-plane pods in kube-system: %w", inv.ControlPlaneErr)
	}
	if inv.NodesErr != nil {
		return inv.NodesErr
	}
	d := targetDescription(rec)
	_, note := controlPlaneHosts(&d, inv)
	switch rec.Target {
	case checks.TargetFrontProxyCA:
		return o.emit(d, checks.RenderFrontProxy(d), append([]string{note}, checks.FrontProxyNotes(rec.ID)...), "")
	case checks.TargetEtcdCA:
		if d.Source != checks.SourceMirrorPods {
			return fmt.Errorf("no etcd or control-plane mirror pod is visible in kube-system: the etcd-ca steps are for etcd run as kubeadm static pods on the control-plane nodes, " +
				"whose flags name its files; an external etcd or one outside kubeadm's layout is not covered")
		}
		return o.emit(d, checks.RenderEtcdCA(d), append([]string{note}, checks.EtcdCANotes(rec.ID)...), "")
	}
	return o.emit(d, checks.RenderSAKey(d), append([]string{note}, checks.SAKeyNotes(rec.ID)...), "")
}

// targetDescription is what a target's renderer needs but the control
// plane: the record's public keys or certificates as contents.
func targetDescription(rec *rotation.Record) checks.ClusterDescription {
	switch rec.Target {
	case checks.TargetFrontProxyCA:
		return checks.ClusterDescription{RotationID: rec.ID, Target: rec.Target, Contents: map[string]string{
			checks.ContentOldFrontProxyCA:  string(checks.EncodePEM(rec.OldCAs)),
			checks.ContentNewFrontProxyCA:  string(checks.EncodePEM(rec.NewCAs)),
			checks.ContentFrontProxyBundle: string(checks.BuildBundle(rec.NewCAs, rec.OldCAs)),
		}}
	case checks.TargetEtcdCA:
		return checks.ClusterDescription{RotationID: rec.ID, Target: rec.Target, Contents: map[string]string{
			checks.ContentOldEtcdCA:  string(checks.EncodePEM(rec.OldCAs)),
			checks.ContentNewEtcdCA:  string(checks.EncodePEM(rec.NewCAs)),
			checks.ContentEtcdBundle: string(checks.BuildBundle(rec.NewCAs, rec.OldCAs)),
		}}
	}
	return checks.ClusterDescription{RotationID: rec.ID, Target: checks.TargetSAKey, Contents: map[string]string{
		checks.ContentOldSAPublicKey: string(rec.OldSAPEM),
		checks.ContentNewSAPublicKey: string(rec.NewSAPEM),
		checks.ContentSAPublicKeys:   string(checks.EncodePublicKeys(append(slices.Clone(rec.NewSAKeys), rec.OldSAKeys...))),
	}}
}
