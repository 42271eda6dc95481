package restart

import (
	"k8s.io/apimachinery/pkg/types"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// target is one workload of the pass: what the pass read of it and what
// happened to it, in one allocation. At 50,000 workloads the pass holds
// them all from the list to the report, so it keeps only what it reads:
// no status (--wait reads the live one from its tracker), the UID of
// DaemonSets and StatefulSets alone (their pods are counted and replaced),
// the selector of OnDelete ones alone (only their pods are replaced, and
// few workloads are OnDelete: it sits in the item's extra), and the kind,
// namespace and name once, in the item. A cluster.Workload and a separate
// item held 390 bytes a workload, a target with the report's fields as
// strings 240 (docs/benchmarks.md: 11.65 of 20.7 MB in use at the peak
// over 50,000 workloads), this one 128.
type target struct {
	item
	uid             types.UID
	resourceVersion string
	value           string
	generation      int64
	replicas        int32
	partition       int32
	hasValue        bool
	paused          bool
	onDelete        bool
	hasPartition    bool
}

// newTarget keeps of w what the pass reads.
func newTarget(w *cluster.Workload) *target {
	t := &target{item: item{kind: kindOf(w.Kind), Namespace: w.Namespace, Name: w.Name}, resourceVersion: w.ResourceVersion,
		value: w.Value, generation: w.Generation, replicas: w.Replicas, partition: w.Partition,
		hasValue: w.HasValue, paused: w.Paused, onDelete: w.OnDelete, hasPartition: w.HasPartition}
	if w.Kind != checks.KindDeployment {
		t.uid = w.UID
	}
	if w.OnDelete && w.Selector != "" {
		t.more().selector = w.Selector
	}
	return t
}

// asChecks is the workload as the rules in pkg/checks read it (without
// status).
func (t *target) asChecks() checks.Workload {
	return checks.Workload{Kind: t.Kind(), Namespace: t.Namespace, Name: t.Name, Generation: t.generation,
		Value: t.value, HasValue: t.hasValue, Replicas: t.replicas, Paused: t.paused, OnDelete: t.onDelete,
		Partition: t.partition, HasPartition: t.hasPartition}
}

// workload is the workload as the Restarter and the tracker's waits take
// it, made for the call.
func (t *target) workload() *cluster.Workload {
	w := &cluster.Workload{Workload: t.asChecks(), UID: t.uid, ResourceVersion: t.resourceVersion}
	if t.extra != nil {
		w.Selector = t.extra.selector
	}
	return w
}
