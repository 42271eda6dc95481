package main

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// The status the simulator writes is a finished rollout by kubectl
// rollout status's rules (which restart-workloads --wait applies), and it
// writes none once the generation is observed.
func TestFinishedStatusCompletesTheRollout(t *testing.T) {
	meta := metav1.ObjectMeta{Namespace: "wait-00001", Name: "w00", Generation: 3}
	for _, obj := range []runtime.Object{
		&appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 1, AvailableReplicas: 1}},
		&appsv1.DaemonSet{ObjectMeta: meta, Status: appsv1.DaemonSetStatus{ObservedGeneration: 2, DesiredNumberScheduled: 1}},
		&appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](1)},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, CurrentRevision: "w00-2", UpdateRevision: "w00-3"}},
	} {
		w, _ := cluster.WorkloadFrom(obj, restartAnnotation)
		if done, _, _ := checks.RolloutStatus(w.Workload, 3); done {
			t.Fatalf("%s: done before the simulator wrote its status", w.Kind)
		}
		ns, name, body := finishedStatus(obj)
		if ns != meta.Namespace || name != meta.Name || body == nil {
			t.Fatalf("%s: finishedStatus = %q, %q, %s", w.Kind, ns, name, body)
		}
		// A merge patch of status fields: decoding it over the object
		// sets what it names and keeps the rest.
		if err := json.Unmarshal(body, obj); err != nil {
			t.Fatal(err)
		}
		w, _ = cluster.WorkloadFrom(obj, restartAnnotation)
		if done, msg, err := checks.RolloutStatus(w.Workload, 3); !done || err != nil {
			t.Fatalf("%s: not rolled out after the simulated status: %s %v", w.Kind, msg, err)
		}
		if _, _, body := finishedStatus(obj); body != nil {
			t.Fatalf("%s: another status written once observed: %s", w.Kind, body)
		}
	}
}
