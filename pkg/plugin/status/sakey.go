package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// validateSAKey checks the flags of status --target sa-key.
func (o *Options) validateSAKey() error {
	switch {
	case o.fleet():
		return errors.New("--all-contexts and --contexts show the cluster CA of each cluster: leave out --target sa-key")
	case o.CA.OldCA != "" || o.CA.NewCA != "":
		return errors.New("--old-ca and --new-ca are the cluster CA's: an sa-key rotation takes its keys from its record (kubectl carotate start --target sa-key)")
	case o.FailWithin != 0:
		return errors.New("--fail-within goes with --all-contexts or --contexts")
	}
	if o.Step != "" {
		if _, ok := checks.LookupTargetStep(checks.TargetSAKey, o.Step); !ok {
			return fmt.Errorf("unknown --step %q for --target sa-key: use one of %s", o.Step, strings.Join(checks.StepNumbers(checks.TargetSAKey), ", "))
		}
	}
	return cmdutil.ValidateOutput(o.Output)
}

// runSAKey is status --target sa-key.
func (o *Options) runSAKey(ctx context.Context) error {
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := rotation.LoadTarget(ctx, client, checks.TargetSAKey)
	if err != nil {
		return err
	}
	name := rotation.Namespace + "/" + rotation.NameOf(checks.TargetSAKey)
	if rec == nil {
		steps := make([]checks.StepState, 0, len(checks.SAKeySteps))
		for _, s := range checks.SAKeySteps {
			steps = append(steps, checks.StepState{Step: s.Number, Title: s.Title, Kind: s.Kind, Phase: s.Phase, State: checks.StateUnknown, Evidence: "no sa-key rotation recorded"})
		}
		return o.print(&report{Source: "none", Steps: steps, Notes: []string{"No sa-key rotation is recorded in " + name + ": which key is new is not known, so no step can be judged."},
			NextStep: "start", Next: "kubectl carotate start --target sa-key --new-public-key new-sa.pub"})
	}
	v := rotation.ViewOf(rec)
	r := &report{Rotation: &v, Source: "the rotation record " + name, Notes: []string{}}
	r.Steps = checks.JudgeSAKey(cluster.SAKeyEvidence(ctx, client, rec.SAKeyFacts(o.now())))
	if !rec.Active() {
		r.Notes = append(r.Notes, fmt.Sprintf("Rotation %s is %s: the states below are today's cluster judged against its keys.", rec.ID, rec.State))
	}
	r.NextStep, r.Next = checks.SAKeyNext(r.Steps, rec.Active())
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
func otherRotations(ctx context.Context, client kubernetes.Interface, now time.Time) []otherRotation {
	var out []otherRotation
	for _, rec := range rotation.OtherActive(ctx, client) {
		o := otherRotation{Target: rec.Target, ID: rec.ID, Record: rotation.Namespace + "/" + rotation.NameOf(rec.Target)}
		if rec.Target == checks.TargetSAKey {
			o.NextStep, o.Next = checks.SAKeyNext(checks.JudgeSAKey(cluster.SAKeyEvidence(ctx, client, rec.SAKeyFacts(now))), true)
		}
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
