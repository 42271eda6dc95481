package restart

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// item is what happened to one workload. The pass holds one for every
// workload from the list to the report (50,000 at the scale
// docs/benchmarks.md measures), so it is packed: the kind and the outcomes
// are one byte each, and what few workloads have (a note, an error, pods
// deleted) sits behind one pointer. The report reads it through
// itemJSON, one string per field, as it always has.
type item struct {
	Namespace string
	Name      string
	extra     *extra
	oldPods   int32
	kind      kindCode
	result    patchOutcome
	skipped   skipCode
	rollout   rolloutOutcome
}

// extra are the fields of an item (and its target) that few workloads
// have.
type extra struct {
	note        string
	err         string
	skipped     string // a reason skipCode has no code for
	deletedPods int
	selector    string // the target's, OnDelete workloads only
}

// itemJSON is an item in the report.
type itemJSON struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Result of the patch: patched, already-current, failed, gone, not-reached.
	Result string `json:"result"`
	// Skipped is why the workload does not roll by itself (paused, OnDelete,
	// 0 replicas); empty when it rolls.
	Skipped string `json:"skipped,omitempty"`
	Note    string `json:"note,omitempty"`
	// Rollout with --wait: complete, failed, timed-out, not-reached.
	Rollout string `json:"rollout,omitempty"`
	// OldPods counts the pods of a DaemonSet or StatefulSet whose template
	// lacked the value when the pass listed them.
	OldPods     int    `json:"oldPods,omitempty"`
	DeletedPods int    `json:"deletedPods,omitempty"`
	Error       string `json:"error,omitempty"`
}

func (it *item) MarshalJSON() ([]byte, error) {
	return json.Marshal(itemJSON{Kind: it.Kind(), Namespace: it.Namespace, Name: it.Name, Result: it.result.String(),
		Skipped: it.skip(), Note: it.note(), Rollout: it.rollout.String(), OldPods: int(it.oldPods),
		DeletedPods: it.deletedPods(), Error: it.errText()})
}

// UnmarshalJSON reads what MarshalJSON writes; a value it has no code for
// is an error.
func (it *item) UnmarshalJSON(b []byte) error {
	var j itemJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*it = item{Namespace: j.Namespace, Name: j.Name, oldPods: int32(j.OldPods)}
	var ok [3]bool
	it.kind, ok[0] = codeOf[kindCode](kindNames[:], j.Kind)
	it.result, ok[1] = codeOf[patchOutcome](patchOutcomes[:], j.Result)
	it.rollout, ok[2] = codeOf[rolloutOutcome](rolloutOutcomes[:], j.Rollout)
	if slices.Contains(ok[:], false) {
		return fmt.Errorf("workload %s/%s: unknown kind %q, result %q or rollout %q", j.Namespace, j.Name, j.Kind, j.Result, j.Rollout)
	}
	it.setSkipped(j.Skipped)
	it.setNote(j.Note)
	it.setErr(j.Error)
	if j.DeletedPods != 0 {
		it.more().deletedPods = j.DeletedPods
	}
	return nil
}

// codeOf is the code whose name is s.
func codeOf[C ~uint8](names []string, s string) (C, bool) {
	i := slices.Index(names, s)
	return C(max(i, 0)), i >= 0
}

// kindCode is a workload's kind: kindNames names them, in the upstream
// loop's order, which the report sorts by.
type kindCode uint8

var kindNames = [...]string{"", checks.KindDeployment, checks.KindDaemonSet, checks.KindStatefulSet}

// kindOf is the code of a kind the pass lists; only those three are
// listed.
func kindOf(kind string) kindCode {
	c, _ := codeOf[kindCode](kindNames[:], kind)
	return c
}

func (it *item) Kind() string { return kindNames[it.kind] }

// patchOutcome is the result of a workload's patch.
type patchOutcome uint8

const (
	resultNone patchOutcome = iota // not decided yet
	resultPatched
	resultCurrent
	resultFailed
	// resultGone: deleted between the list and the patch; nothing to do.
	resultGone
	// resultNotReached: the run was interrupted first.
	resultNotReached
)

var patchOutcomes = [...]string{"", "patched", "already-current", "failed", "gone", "not-reached"}

func (o patchOutcome) String() string { return patchOutcomes[o] }

// rolloutOutcome is the end of a workload's rollout with --wait.
type rolloutOutcome uint8

const (
	rolloutNone rolloutOutcome = iota // not waited for
	rolloutComplete
	rolloutFailed
	rolloutTimedOut
	rolloutNotReached
)

var rolloutOutcomes = [...]string{"", "complete", "failed", "timed-out", "not-reached"}

func (o rolloutOutcome) String() string { return rolloutOutcomes[o] }

// skipCode is why a workload does not roll by itself: the reasons
// checks.PlanRestart gives, and skipOther for one it may give later
// (kept as text in extra).
type skipCode uint8

const skipOther skipCode = 255

var skipNames = [...]string{"", checks.ReasonPaused, checks.ReasonOnDelete, checks.ReasonNoReplicas}

func (it *item) skip() string {
	if it.skipped == skipOther {
		return it.extra.skipped
	}
	return skipNames[it.skipped]
}

func (it *item) setSkipped(reason string) {
	c, ok := codeOf[skipCode](skipNames[:], reason)
	if !ok {
		c = skipOther
		it.more().skipped = reason
	}
	it.skipped = c
}

// more is the item's extra fields, made when one is first set. An item is
// written by one goroutine at a time.
func (it *item) more() *extra {
	if it.extra == nil {
		it.extra = &extra{}
	}
	return it.extra
}

func (it *item) note() string {
	if it.extra == nil {
		return ""
	}
	return it.extra.note
}

func (it *item) setNote(s string) {
	if s != "" || it.extra != nil {
		it.more().note = s
	}
}

func (it *item) errText() string {
	if it.extra == nil {
		return ""
	}
	return it.extra.err
}

func (it *item) setErr(s string) {
	if s != "" || it.extra != nil {
		it.more().err = s
	}
}

func (it *item) deletedPods() int {
	if it.extra == nil {
		return 0
	}
	return it.extra.deletedPods
}

func (it *item) failed() bool {
	switch it.result {
	case resultFailed, resultNotReached:
		return true
	}
	switch it.rollout {
	case rolloutFailed, rolloutTimedOut, rolloutNotReached:
		return true
	}
	return false
}

func (it *item) ref() string {
	return strings.ToLower(it.Kind()) + ".apps/" + it.Name
}
