package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// targetWords are what status says of a target other than cluster-ca:
// what its record holds, and the start command that records one.
var targetWords = map[string]struct{ holds, start string }{
	checks.TargetSAKey:        {"keys", "kubectl carotate start --target sa-key --new-public-key new-sa.pub"},
	checks.TargetFrontProxyCA: {"front-proxy CAs", "kubectl carotate start --target front-proxy-ca --new-ca new-front-proxy-ca.crt"},
	checks.TargetEtcdCA:       {"etcd CAs", "kubectl carotate start --target etcd-ca --new-ca new-etcd-ca.crt --old-ca etcd-ca.crt"},
}

// validateTarget checks the flags of status --target T, T not cluster-ca.
func (o *Options) validateTarget() error {
	switch {
	case o.fleet():
		return fmt.Errorf("--all-contexts and --contexts show every cluster's cluster CA and the rotations of every target under way: leave out --target %s", o.Target)
	case o.CA.OldCA != "" || o.CA.NewCA != "":
		return fmt.Errorf("--old-ca and --new-ca are the cluster CA's: a %s rotation takes its %s from its record (kubectl carotate start --target %s)",
			o.Target, targetWords[o.Target].holds, o.Target)
	case o.FailWithin != 0:
		return errors.New("--fail-within goes with --all-contexts or --contexts")
	}
	if o.Step != "" {
		if _, ok := checks.LookupTargetStep(o.Target, o.Step); !ok {
			return fmt.Errorf("unknown --step %q for --target %s: use one of %s", o.Step, o.Target, strings.Join(checks.StepNumbers(o.Target), ", "))
		}
	}
	return cmdutil.ValidateOutput(o.Output)
}

// runTarget is status --target T, T not cluster-ca.
func (o *Options) runTarget(ctx context.Context) error {
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := rotation.LoadTarget(ctx, client, o.Target)
	if err != nil {
		return err
	}
	name := rotation.Namespace + "/" + rotation.NameOf(o.Target)
	if rec == nil {
		steps := make([]checks.StepState, 0, len(checks.TargetSteps(o.Target)))
		for _, s := range checks.TargetSteps(o.Target) {
			steps = append(steps, checks.StepState{UpstreamStep: s, State: checks.StateUnknown, Evidence: "no " + o.Target + " rotation recorded"})
		}
		return o.print(&report{Source: "none", Steps: steps,
			Notes:    []string{fmt.Sprintf("No %s rotation is recorded in %s: which %s are old and new is not known, so no step can be judged.", o.Target, name, targetWords[o.Target].holds)},
			NextStep: "start", Next: targetWords[o.Target].start})
	}
	dyn, err := o.DynamicClient()
	if err != nil {
		return err
	}
	v := rotation.ViewOf(rec)
	r := &report{Rotation: &v, Source: "the rotation record " + name, Notes: []string{}}
	r.Steps = rotation.JudgeTarget(ctx, client, dyn, rec, o.now())
	if !rec.Active() {
		r.Notes = append(r.Notes, fmt.Sprintf("Rotation %s is %s: the states below are today's cluster judged against its %s.", rec.ID, rec.State, targetWords[o.Target].holds))
	}
	r.NextStep, r.Next = checks.TargetNext(o.Target, r.Steps, rec.Active())
	return o.print(r)
}

// otherRotation is one line for another target's active rotation.
type otherRotation struct {
	Target   string `json:"target"`
	ID       string `json:"id"`
	Record   string `json:"record"`
	NextStep string `json:"nextStep,omitempty"`
	Next     string `json:"next,omitempty"`
}

// otherRotations are the other targets' active records, each judged for
// its next step.
func otherRotations(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, now time.Time) []otherRotation {
	var out []otherRotation
	for _, rec := range rotation.OtherActive(ctx, client) {
		o := otherRotation{Target: rec.Target, ID: rec.ID, Record: rotation.Namespace + "/" + rotation.NameOf(rec.Target)}
		o.NextStep, o.Next = checks.TargetNext(rec.Target, rotation.JudgeTarget(ctx, client, dyn, rec, now), true)
		out = append(out, o)
	}
	return out
}

// printOthers writes a line per other active rotation.
func printOthers(w io.Writer, others []otherRotation) {
	for _, o := range others {
		fmt.Fprintf(w, "\nAlso under way: %s rotation %s (%s), next step %s: %s (kubectl carotate status --target %s)\n",
			o.Target, o.ID, o.Record, o.NextStep, o.Next, o.Target)
	}
}
