package restart

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// notAttempted is the error of a workload an interruption left
// before its patch was sent.
const notAttempted = "interrupted before it was patched"

// maxConflicts bounds re-read-and-patch rounds; see patch.
const maxConflicts = 5

// pass is one pass: its value, the workloads it found and what
// happened to each.
type pass struct {
	o        *Options
	value    string
	source   string
	started  time.Time
	targets  []*target
	items    []*item // &targets[i].item
	pods     *podList
	oldPods  map[types.UID]int32
	progress *progress
	undoFile string  // written before the first patch; empty when nothing was to change
	totals   *totals // of the report finish printed
}

func newPass(o *Options, value, source string) *pass {
	return &pass{o: o, value: value, source: source, started: time.Now()}
}

// patchResult is what the Restarter reports for one workload.
type patchResult struct {
	// Current: a fresh read after a conflict showed the value already set.
	Current bool
	// Generation after the patch; the rollout of our change is the one whose
	// observedGeneration reaches it.
	Generation int64
	// Live is the fresh read after a conflict or a lost answer, when one
	// was made: the workload's state for --wait's tracker, which keeps only
	// what its watch shows after a workload is subscribed.
	Live *cluster.Workload
}

// patchBody is the strategic-merge patch of a pass: only our
// annotation (and spec.paused when resuming), so it merges with whatever
// else the template carries, and the resourceVersion the pass read as a
// precondition.
func patchBody(annotation, value, resourceVersion string, resume bool) []byte {
	spec := map[string]any{"template": map[string]any{"metadata": map[string]any{"annotations": map[string]string{annotation: value}}}}
	if resume {
		spec["paused"] = false
	}
	body := map[string]any{"spec": spec}
	if resourceVersion != "" {
		body["metadata"] = map[string]any{"resourceVersion": resourceVersion}
	}
	b, _ := json.Marshal(body) // maps of strings always marshal
	return b
}

// patch is the default Restarter. The patch is conditional on the
// resourceVersion the pass read: two passes with the same value racing on
// one workload (two admins, or a pass and its own re-run) must not both
// report it patched, log it and record it for undo. A conflict, whoever
// caused it (the other pass, or the controller updating the status), reads
// the workload again: if it now carries the value it is reported current,
// else the patch is sent again with the new resourceVersion. Workloads
// change rarely while they are not rolling, so conflicts stay rare; a pass
// costs one GET per conflict, not one per workload.
func (o *Options) patch(ctx context.Context, t *cluster.Workload, value string) (patchResult, error) {
	resume := o.ResumePaused && t.Kind == checks.KindDeployment && t.Paused
	if o.dryRun == cmdutil.DryRunClient {
		return patchResult{Generation: t.Generation}, nil
	}
	body := patchBody(o.Annotation, value, t.ResourceVersion, resume)
	opts := metav1.PatchOptions{DryRun: o.dryRun.Options()}
	// A request that timed out may still have been applied: its retry then
	// conflicts with our own write. Such a workload counts as patched, so
	// that its undo record is kept.
	mayHaveWritten := false
	for round := 1; ; round++ {
		var gen int64
		mayHave, err := cluster.WithRetryWrite(ctx, func() (err error) {
			gen, err = cluster.PatchWorkload(ctx, o.client, t.Kind, t.Namespace, t.Name, types.StrategicMergePatchType, body, opts)
			return err
		})
		mayHaveWritten = mayHaveWritten || mayHave
		if err == nil {
			return patchResult{Generation: gen}, nil
		}
		if (!apierrors.IsConflict(err) && !mayHaveWritten) || round == maxConflicts {
			return patchResult{}, err
		}
		// A conflict, or an answer lost: the fresh read tells whether the
		// template carries the value (perhaps by our own write).
		var cur *cluster.Workload
		if gerr := cluster.WithRetry(ctx, func() (err error) {
			cur, err = cluster.GetWorkload(ctx, o.client, t.Kind, t.Namespace, t.Name, o.Annotation)
			return err
		}); gerr != nil {
			if !apierrors.IsConflict(err) {
				return patchResult{}, err
			}
			return patchResult{}, gerr
		}
		if !apierrors.IsConflict(err) && checks.PlanRestart(cur.Workload, value, o.ResumePaused).Patch {
			// It did not land; sending it again is not ours to decide
			// here: the error goes to the report and a re-run finishes.
			return patchResult{}, err
		}
		if !checks.PlanRestart(cur.Workload, value, o.ResumePaused).Patch {
			return patchResult{Current: !mayHaveWritten, Generation: cur.Generation, Live: cur}, nil
		}
		resume = o.ResumePaused && cur.Kind == checks.KindDeployment && cur.Paused
		body = patchBody(o.Annotation, value, cur.ResourceVersion, resume)
	}
}

// execute patches (and with --wait rolls) every workload.
func (r *pass) execute(ctx context.Context) {
	r.progress = newProgress(r.o.ErrOut, r.o.IsTerminal(r.o.ErrOut), len(r.targets), r.o.Wait, r.o.dryRun)
	r.progress.start()
	defer r.progress.stop()
	defer r.markNotReached()
	if !r.o.Wait {
		idx := make([]int, len(r.targets))
		for i := range idx {
			idx[i] = i
		}
		r.patchAll(ctx, idx, true)
		return
	}
	r.executeWait(ctx)
}

// patchAll patches the given workloads at the pass's pace. countDone says each counts as finished once patched (it does not
// roll, or we do not wait). Once ctx is done no patch starts: those left
// are reported not reached.
func (r *pass) patchAll(ctx context.Context, idx []int, countDone bool) {
	r.o.Pacing.Pace().Fanout(ctx, len(idx), func(n int) {
		i := idx[n]
		r.patchOne(ctx, i)
		if countDone {
			r.progress.finished(r.items[i])
		}
	})
}

// markNotReached records the workloads an interruption left untouched.
func (r *pass) markNotReached() {
	for _, it := range r.items {
		if it.result == resultNone {
			it.result = resultNotReached
			it.setErr(notAttempted)
		}
	}
}

// patchOne patches targets[i] if it needs it and records the outcome; ok
// says the template now carries the value (patched or already current) and
// gen is the generation to wait for.
func (r *pass) patchOne(ctx context.Context, i int) (res patchResult, ok bool) {
	t, it := r.targets[i], r.items[i]
	plan := checks.PlanRestart(t.asChecks(), r.value, r.o.ResumePaused)
	if !plan.Patch {
		it.result = resultCurrent
		it.setSkipped(skipReason(plan, t.replicas, it.oldPods))
		return patchResult{Generation: t.generation}, true
	}
	if ctx.Err() != nil {
		it.result = resultNotReached
		it.setErr(notAttempted)
		return patchResult{}, false
	}
	w := t.workload()
	res, err := r.o.Restarter(ctx, w, r.value)
	switch {
	case err == nil && res.Current:
		it.result = resultCurrent
		it.setSkipped(skipReason(plan, t.replicas, it.oldPods))
		return res, true
	case err == nil:
		it.result = resultPatched
		it.setSkipped(skipReason(plan, t.replicas, it.oldPods))
		return res, true
	case apierrors.IsNotFound(err):
		it.result = resultGone
		it.setErr("deleted after it was listed")
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// The request may or may not have reached the server; a re-run with
		// the same value settles it without a second rollout.
		it.result = resultNotReached
		it.setErr("interrupted while patching")
	default:
		it.result = resultFailed
		it.setErr("patch: " + err.Error())
		r.progress.eventf("%s -n %s: patch failed: %v", w.Ref(), t.Namespace, err)
	}
	return patchResult{}, false
}

// skipReason is why a workload will not roll by itself, refined with
// the pods counted before the patch: an OnDelete workload with no pod on an
// older template has nothing stale (none at all: nothing to roll).
func skipReason(plan checks.RestartPlan, replicas, oldPods int32) string {
	if plan.Reason != checks.ReasonOnDelete || oldPods > 0 {
		return plan.Reason
	}
	if replicas == 0 {
		return checks.ReasonNoReplicas
	}
	if !plan.Patch {
		return ""
	}
	return plan.Reason
}
