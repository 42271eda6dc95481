package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Patch outcomes of a workload in the report.
const (
	restartResultPatched = "patched"
	restartResultCurrent = "already-current"
	restartResultFailed  = "failed"
	// restartResultGone: deleted between the list and the patch; nothing to do.
	restartResultGone = "gone"
	// restartResultNotReached: the run was interrupted first.
	restartResultNotReached = "not-reached"
)

// Rollout outcomes with --wait; empty when not waited for.
const (
	restartRolloutComplete   = "complete"
	restartRolloutFailed     = "failed"
	restartRolloutTimedOut   = "timed-out"
	restartRolloutNotReached = "not-reached"
)

// restartNotAttempted is the error of a workload an interruption left
// before its patch was sent.
const restartNotAttempted = "interrupted before it was patched"

// restartMaxConflicts bounds re-read-and-patch rounds; see restartPatch.
const restartMaxConflicts = 5

// restartRun is one pass: its value, the workloads it found and what
// happened to each.
type restartRun struct {
	o        *RestartWorkloadsOptions
	value    string
	source   string
	started  time.Time
	targets  []*restartTarget
	items    []*restartItem // items[i] reports targets[i]
	pods     []restartPodItem
	oldPods  map[types.UID]int
	progress *restartProgress
	undoFile string // written before the first patch; empty when nothing was to change
}

func newRestartRun(o *RestartWorkloadsOptions, value, source string) *restartRun {
	return &restartRun{o: o, value: value, source: source, started: time.Now()}
}

// restartPatchResult is what the Restarter reports for one workload.
type restartPatchResult struct {
	// Current: a fresh read after a conflict showed the value already set.
	Current bool
	// Generation after the patch; the rollout of our change is the one whose
	// observedGeneration reaches it.
	Generation int64
}

// restartPatchBody is the strategic-merge patch of a pass: only our
// annotation (and spec.paused when resuming), so it merges with whatever
// else the template carries, and the resourceVersion the pass read as a
// precondition.
func restartPatchBody(annotation, value, resourceVersion string, resume bool) []byte {
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

// restartPatch is the default Restarter. The patch is conditional on the
// resourceVersion the pass read: two passes with the same value racing on
// one workload (two admins, or a pass and its own re-run) must not both
// report it patched, log it and record it for undo. A conflict, whoever
// caused it (the other pass, or the controller updating the status), reads
// the workload again: if it now carries the value it is reported current,
// else the patch is sent again with the new resourceVersion. Workloads
// change rarely while they are not rolling, so conflicts stay rare; a pass
// costs one GET per conflict, not one per workload.
func (o *RestartWorkloadsOptions) restartPatch(ctx context.Context, t *restartTarget, value string) (restartPatchResult, error) {
	resume := o.ResumePaused && t.Kind == checks.KindDeployment && t.Paused
	if o.dryRun == DryRunClient {
		return restartPatchResult{Generation: t.Generation}, nil
	}
	body := restartPatchBody(o.Annotation, value, t.ResourceVersion, resume)
	opts := metav1.PatchOptions{DryRun: o.dryRun.Options()}
	// A request that timed out may still have been applied: its retry then
	// conflicts with our own write. Such a workload counts as patched, so
	// that its undo record is kept.
	mayHaveWritten := false
	for round := 1; ; round++ {
		var gen int64
		err := WithRetry(ctx, func() (err error) {
			gen, err = o.restartSend(ctx, t, body, opts)
			mayHaveWritten = mayHaveWritten || IsTransient(err)
			return err
		})
		if err == nil {
			return restartPatchResult{Generation: gen}, nil
		}
		if !apierrors.IsConflict(err) || round == restartMaxConflicts {
			return restartPatchResult{}, err
		}
		var cur *restartTarget
		if err := WithRetry(ctx, func() (err error) {
			cur, err = o.restartGet(ctx, t)
			return err
		}); err != nil {
			return restartPatchResult{}, err
		}
		if !checks.PlanRestart(cur.Workload, value, o.ResumePaused).Patch {
			return restartPatchResult{Current: !mayHaveWritten, Generation: cur.Generation}, nil
		}
		resume = o.ResumePaused && cur.Kind == checks.KindDeployment && cur.Paused
		body = restartPatchBody(o.Annotation, value, cur.ResourceVersion, resume)
	}
}

func (o *RestartWorkloadsOptions) restartSend(ctx context.Context, t *restartTarget, body []byte, opts metav1.PatchOptions) (int64, error) {
	return patchWorkload(ctx, o.client, t.Kind, t.Namespace, t.Name, types.StrategicMergePatchType, body, opts)
}

func (o *RestartWorkloadsOptions) restartGet(ctx context.Context, t *restartTarget) (*restartTarget, error) {
	apps := o.client.AppsV1()
	switch t.Kind {
	case checks.KindDeployment:
		d, err := apps.Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return restartFromDeployment(d, o.Annotation), nil
	case checks.KindDaemonSet:
		d, err := apps.DaemonSets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return restartFromDaemonSet(d, o.Annotation), nil
	case checks.KindStatefulSet:
		d, err := apps.StatefulSets(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		return restartFromStatefulSet(d, o.Annotation), nil
	}
	return nil, fmt.Errorf("unknown kind %q", t.Kind)
}

// execute patches (and with --wait rolls) every workload.
func (r *restartRun) execute(ctx context.Context) {
	r.progress = newRestartProgress(r.o.ErrOut, r.o.IsTerminal(r.o.ErrOut), len(r.targets), r.o.Wait, r.o.dryRun)
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

// patchAll patches the given workloads with --concurrency requests in
// flight. countDone says each counts as finished once patched (it does not
// roll, or we do not wait).
func (r *restartRun) patchAll(ctx context.Context, idx []int, countDone bool) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(r.o.Concurrency, len(idx)) {
		wg.Go(func() {
			for i := range work {
				r.patchOne(ctx, i)
				if countDone {
					r.progress.finished(r.items[i])
				}
			}
		})
	}
feed:
	for _, i := range idx {
		select {
		case work <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
}

// markNotReached records the workloads an interruption left untouched.
func (r *restartRun) markNotReached() {
	for _, it := range r.items {
		if it.Result == "" {
			it.Result = restartResultNotReached
			it.Error = restartNotAttempted
		}
	}
}

// patchOne patches targets[i] if it needs it and records the outcome; ok
// says the template now carries the value (patched or already current) and
// gen is the generation to wait for.
func (r *restartRun) patchOne(ctx context.Context, i int) (gen int64, ok bool) {
	t, it := r.targets[i], r.items[i]
	plan := checks.PlanRestart(t.Workload, r.value, r.o.ResumePaused)
	if !plan.Patch {
		it.Result, it.Skipped = restartResultCurrent, restartSkipReason(plan, t, it.OldPods)
		return t.Generation, true
	}
	if ctx.Err() != nil {
		it.Result, it.Error = restartResultNotReached, restartNotAttempted
		return 0, false
	}
	res, err := r.o.Restarter(ctx, t, r.value)
	switch {
	case err == nil && res.Current:
		it.Result, it.Skipped = restartResultCurrent, restartSkipReason(plan, t, it.OldPods)
		return res.Generation, true
	case err == nil:
		it.Result, it.Skipped = restartResultPatched, restartSkipReason(plan, t, it.OldPods)
		return res.Generation, true
	case apierrors.IsNotFound(err):
		it.Result, it.Error = restartResultGone, "deleted after it was listed"
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		// The request may or may not have reached the server; a re-run with
		// the same value settles it without a second rollout.
		it.Result, it.Error = restartResultNotReached, "interrupted while patching"
	default:
		it.Result, it.Error = restartResultFailed, "patch: "+err.Error()
		r.progress.eventf("%s -n %s: patch failed: %v", t.Ref(), t.Namespace, err)
	}
	return 0, false
}

// restartSkipReason is why a workload will not roll by itself, refined with
// the pods counted before the patch: an OnDelete workload with no pod on an
// older template has nothing stale (none at all: nothing to roll).
func restartSkipReason(plan checks.RestartPlan, t *restartTarget, oldPods int) string {
	if plan.Reason != checks.ReasonOnDelete || oldPods > 0 {
		return plan.Reason
	}
	if t.Replicas == 0 {
		return checks.ReasonNoReplicas
	}
	if !plan.Patch {
		return ""
	}
	return plan.Reason
}
