package restart

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// A rotation's restart pass rolls the workloads after a change so their
// pods load it: after the bundle is published (step 4), after the API
// servers serve from the new CA (9.4), after the old CA is removed (12.1).
// Run before that change, a pass rolls pods that miss it, and its value,
// now on every template, would make the pass that was needed patch
// nothing. So a phase pass checks the cluster first.

// phaseCheck is what a phase pass learnt of the cluster: what the
// step before it lacks, and when the change it follows was last made.
type phaseCheck struct {
	missing   []string
	changedAt time.Time
}

// readPhase reads what the step before the pass of phase must have
// done. An error means the cluster could not be read to tell.
func (o *Options) readPhase(ctx context.Context, rec *rotation.Record, phase string) (*phaseCheck, error) {
	c := &phaseCheck{}
	root := cluster.ReadRootCAState(ctx, o.client, rec.OldCAs, rec.NewCAs)
	if root.CMErr != nil {
		return nil, fmt.Errorf("cannot read kube-root-ca.crt to check that the step before the %s pass is done: %w", phase, root.CMErr)
	}
	if root.SecretErr != nil {
		return nil, fmt.Errorf("cannot read the legacy token Secrets to check that the step before the %s pass is done: %w", phase, root.SecretErr)
	}
	c.changedAt = root.LastChange
	published := func(want, step string, states ...checks.BundleState) {
		if !root.ControllerManagerPublishes(states...) {
			c.missing = append(c.missing, fmt.Sprintf("kube-controller-manager does not publish %s: kube-system/kube-root-ca.crt holds %s, last written by %s (its --root-ca-file: kubectl carotate instructions --step %s)",
				want, checks.StateWords(root.KubeSystemCM), cmdutil.Or(root.KubeSystemCMWriter, "an unknown writer"), step))
		}
	}
	switch phase {
	case checks.PhaseBundle:
		if !root.Bundled() {
			c.missing = append(c.missing, "not every ServiceAccount root CA holds the bundle: "+root.Line()+" (step 3: kubectl carotate bundle)")
		}
		published("the bundle", "2", checks.BundleHasBoth, checks.BundleOnlyNew)
	case checks.PhaseServe:
		if !root.Bundled() {
			c.missing = append(c.missing, "not every ServiceAccount root CA trusts the new CA: "+root.Line())
		}
		cfg, err := o.RESTConfig()
		if err != nil {
			return nil, err
		}
		chain, err := cluster.FetchServingChain(ctx, cfg)
		if err != nil {
			return nil, fmt.Errorf("cannot fetch the API server's serving chain to check that step 9.3 is done: %w", err)
		}
		if !checks.ChainVerifies(chain, rec.NewCAs) {
			c.missing = append(c.missing, fmt.Sprintf("the API server does not serve from the new CA yet (its serving certificate is issued by %s; step 9.3: kubectl carotate instructions --step 9.3)", chain[0].Issuer))
		}
		// The change this pass follows is the API servers' restart; their
		// mirror pods say when (none visible: unknown).
		cp, _ := cluster.ControlPlane(ctx, o.client)
		c.changedAt = cluster.APIServerStarted(cp)
	case checks.PhaseFinish:
		if !root.Unbundled() {
			c.missing = append(c.missing, "not every ServiceAccount root CA holds the new CA alone: "+root.Line()+" (step 12.1: kubectl carotate unbundle)")
		}
		published("the new CA alone", "12.1", checks.BundleOnlyNew)
	}
	return c, nil
}

// checkPhase refuses a phase pass whose step before it is not done,
// or with --force says what it runs despite. A value the command chose
// itself (no --value) moves on to a fresh round when the phase's last pass
// ran before the change it follows: that value is on every template, and
// would patch nothing.
func (o *Options) checkPhase(ctx context.Context, rec *rotation.Record, value string, chosen bool) (string, error) {
	phase := checks.RestartPhaseOf(rec.ID, value)
	if phase == "" {
		return value, nil
	}
	c, err := o.readPhase(ctx, rec, phase)
	if err != nil {
		if !o.Force {
			return "", fmt.Errorf("%w; nothing was patched (--force runs the pass without this check)", err)
		}
		fmt.Fprintf(o.ErrOut, "warning: --force: running the %s pass of rotation %s without checking the step before it: %v\n", phase, rec.ID, err)
		o.forced = "not checked: " + err.Error()
		return value, nil
	}
	if chosen {
		value = checks.NextPassValue(rec.ID, phase, rec.PassRuns(), c.changedAt)
	}
	if len(c.missing) == 0 {
		return value, nil
	}
	if o.Force {
		fmt.Fprintf(o.ErrOut, "warning: --force: running the %s pass of rotation %s although the step before it is not done; pods it rolls may miss that change:\n  - %s\n",
			phase, rec.ID, strings.Join(c.missing, "\n  - "))
		o.forced = strings.Join(c.missing, "; ")
		return value, nil
	}
	return "", fmt.Errorf("refusing the %s pass (%s) of rotation %s, nothing was patched: the step it follows is not done, so the pods it rolls would miss that change:\n  - %s\n"+
		"kubectl carotate status shows where the rotation stands; --force runs the pass anyway",
		phase, value, rec.ID, strings.Join(c.missing, "\n  - "))
}
