package checks

import (
	"strings"
	"testing"
)

func TestPlanRestart(t *testing.T) {
	const value = "20261130T150405Z"
	dep := Workload{Kind: KindDeployment, Namespace: "ns", Name: "web", Replicas: 2}
	with := func(w Workload, f func(*Workload)) Workload { f(&w); return w }
	tests := []struct {
		name         string
		w            Workload
		resumePaused bool
		want         RestartPlan
	}{
		{"no annotation", dep, false, RestartPlan{Patch: true, Rolls: true}},
		{"older value", with(dep, func(w *Workload) { w.Value, w.HasValue = "1", true }), false, RestartPlan{Patch: true, Rolls: true}},
		{"empty value is not the pass value", with(dep, func(w *Workload) { w.HasValue = true }), false, RestartPlan{Patch: true, Rolls: true}},
		{"already current", with(dep, func(w *Workload) { w.Value, w.HasValue = value, true }), false, RestartPlan{Patch: false, Rolls: true}},
		{"paused", with(dep, func(w *Workload) { w.Paused = true }), false, RestartPlan{Patch: true, Reason: ReasonPaused}},
		{"paused, resumed by the patch", with(dep, func(w *Workload) { w.Paused = true }), true, RestartPlan{Patch: true, Rolls: true}},
		{"paused and current, resumed now", with(dep, func(w *Workload) { w.Paused, w.Value, w.HasValue = true, value, true }), true, RestartPlan{Patch: true, Rolls: true}},
		{"paused and current", with(dep, func(w *Workload) { w.Paused, w.Value, w.HasValue = true, value, true }), false, RestartPlan{Reason: ReasonPaused}},
		{"zero replicas", with(dep, func(w *Workload) { w.Replicas = 0 }), false, RestartPlan{Patch: true, Reason: ReasonNoReplicas}},
		{"paused wins over zero replicas", with(dep, func(w *Workload) { w.Replicas, w.Paused = 0, true }), false, RestartPlan{Patch: true, Reason: ReasonPaused}},
		{"OnDelete daemon set", Workload{Kind: KindDaemonSet, Name: "agent", Replicas: 3, OnDelete: true}, false, RestartPlan{Patch: true, Reason: ReasonOnDelete}},
		{"OnDelete statefulset", Workload{Kind: KindStatefulSet, Name: "db", Replicas: 2, OnDelete: true}, false, RestartPlan{Patch: true, Reason: ReasonOnDelete}},
		{"daemon set on no node", Workload{Kind: KindDaemonSet, Name: "agent"}, false, RestartPlan{Patch: true, Reason: ReasonNoReplicas}},
		{"rolling daemon set", Workload{Kind: KindDaemonSet, Name: "agent", Replicas: 3}, false, RestartPlan{Patch: true, Rolls: true}},
		{"partitioned statefulset", Workload{Kind: KindStatefulSet, Name: "db", Replicas: 3, Partition: 2, HasPartition: true}, false,
			RestartPlan{Patch: true, Rolls: true, Note: "partition 2: 2 pod(s) with a lower ordinal keep the old template"}},
		{"partition above replicas", Workload{Kind: KindStatefulSet, Name: "db", Replicas: 1, Partition: 5, HasPartition: true}, false,
			RestartPlan{Patch: true, Rolls: true, Note: "partition 5: 1 pod(s) with a lower ordinal keep the old template"}},
		{"paused is a Deployment field only", Workload{Kind: KindStatefulSet, Name: "db", Replicas: 1, Paused: true}, false, RestartPlan{Patch: true, Rolls: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := PlanRestart(tt.w, value, tt.resumePaused); got != tt.want {
				t.Fatalf("PlanRestart = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestRolloutStatus(t *testing.T) {
	dep := func(gen int64, s WorkloadStatus) Workload {
		return Workload{Kind: KindDeployment, Name: "web", Generation: gen, Replicas: 2, Status: s}
	}
	ds := func(gen int64, s WorkloadStatus) Workload {
		return Workload{Kind: KindDaemonSet, Name: "agent", Generation: gen, Replicas: s.DesiredNumberScheduled, Status: s}
	}
	sts := func(gen int64, s WorkloadStatus) Workload {
		return Workload{Kind: KindStatefulSet, Name: "db", Generation: gen, Replicas: 2, HasPartition: true, Status: s}
	}
	done := WorkloadStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2, ReadyReplicas: 2}
	tests := []struct {
		name    string
		w       Workload
		minGen  int64
		done    bool
		msg     string
		wantErr string
	}{
		{"deployment done", dep(2, done), 2, true, `deployment "web" successfully rolled out`, ""},
		{"deployment read before our patch", dep(1, WorkloadStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), 2, false,
			"Waiting for deployment spec update to be observed...", ""},
		{"deployment not observed", dep(3, done), 3, false, "Waiting for deployment spec update to be observed...", ""},
		{"deployment updating", dep(2, WorkloadStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 1, AvailableReplicas: 2}), 2, false,
			`Waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated...`, ""},
		{"deployment old pods terminating", dep(2, WorkloadStatus{ObservedGeneration: 2, Replicas: 3, UpdatedReplicas: 2, AvailableReplicas: 2}), 2, false,
			`Waiting for deployment "web" rollout to finish: 1 old replicas are pending termination...`, ""},
		{"deployment not available", dep(2, WorkloadStatus{ObservedGeneration: 2, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1}), 2, false,
			`Waiting for deployment "web" rollout to finish: 1 of 2 updated replicas are available...`, ""},
		{"deployment past deadline", dep(2, WorkloadStatus{ObservedGeneration: 2, ProgressDeadlineExceeded: true}), 2, false, "",
			`deployment "web" exceeded its progress deadline`},
		{"later generation than ours is fine", dep(4, WorkloadStatus{ObservedGeneration: 4, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}), 2, true,
			`deployment "web" successfully rolled out`, ""},
		{"daemon set done", ds(2, WorkloadStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 3}), 2, true,
			`daemon set "agent" successfully rolled out`, ""},
		{"daemon set updating", ds(2, WorkloadStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 1, NumberAvailable: 3}), 2, false,
			`Waiting for daemon set "agent" rollout to finish: 1 out of 3 new pods have been updated...`, ""},
		{"daemon set unavailable", ds(2, WorkloadStatus{ObservedGeneration: 2, DesiredNumberScheduled: 3, UpdatedNumberScheduled: 3, NumberAvailable: 2}), 2, false,
			`Waiting for daemon set "agent" rollout to finish: 2 of 3 updated pods are available...`, ""},
		{"daemon set not observed", ds(2, WorkloadStatus{ObservedGeneration: 1}), 2, false, "Waiting for daemon set spec update to be observed...", ""},
		{"daemon set OnDelete", Workload{Kind: KindDaemonSet, Name: "agent", OnDelete: true}, 0, true, "", "rollout status is only available for RollingUpdate strategy type"},
		{"statefulset done", sts(2, WorkloadStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 2}), 2, true,
			"partitioned roll out complete: 2 new pods have been updated...", ""},
		{"statefulset not ready", sts(2, WorkloadStatus{ObservedGeneration: 2, ReadyReplicas: 1, UpdatedReplicas: 2}), 2, false, "Waiting for 1 pods to be ready...", ""},
		{"statefulset updating", sts(2, WorkloadStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 1}), 2, false,
			"Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...", ""},
		{"statefulset never observed", sts(1, WorkloadStatus{}), 1, false, "Waiting for statefulset spec update to be observed...", ""},
		{"statefulset without partition field", Workload{Kind: KindStatefulSet, Name: "db", Generation: 2, Replicas: 2,
			Status: WorkloadStatus{ObservedGeneration: 2, ReadyReplicas: 2, UpdatedReplicas: 2, CurrentRevision: "db-1", UpdateRevision: "db-2"}}, 2, false,
			"waiting for statefulset rolling update to complete 2 pods at revision db-2...", ""},
		{"statefulset OnDelete", Workload{Kind: KindStatefulSet, Name: "db", OnDelete: true}, 0, true, "", "rollout status is only available for RollingUpdate strategy type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gotDone, msg, err := RolloutStatus(tt.w, tt.minGen)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if gotDone != tt.done || msg != tt.msg {
				t.Fatalf("RolloutStatus = %v %q, want %v %q", gotDone, msg, tt.done, tt.msg)
			}
		})
	}
}

func TestUnrolledPod(t *testing.T) {
	tests := []struct {
		name   string
		p      PodInfo
		reason string
		detail string
	}{
		{"bare", PodInfo{Name: "debug", Phase: "Running"}, ReasonBarePod, "no controller"},
		{"pending bare pod still counts", PodInfo{Name: "debug", Phase: "Pending"}, ReasonBarePod, "no controller"},
		{"finished bare pod needs nothing", PodInfo{Name: "debug", Phase: "Succeeded"}, "", ""},
		{"job", PodInfo{Name: "backup-x", Phase: "Running", OwnerKind: "Job", OwnerName: "backup"}, ReasonJobPod, "owned by Job backup"},
		{"failed job pod", PodInfo{Name: "backup-x", Phase: "Failed", OwnerKind: "Job", OwnerName: "backup"}, "", ""},
		{"static", PodInfo{Name: "kube-apiserver-n1", Phase: "Running", OwnerKind: "Node", OwnerName: "n1", Mirror: true}, ReasonStaticPod, "on its node"},
		{"deployment", PodInfo{Phase: "Running", OwnerKind: "ReplicaSet", OwnerName: "web-5d8f7c", TemplateHash: "5d8f7c"}, "", ""},
		{"bare replica set", PodInfo{Phase: "Running", OwnerKind: "ReplicaSet", OwnerName: "legacy"}, ReasonOtherOwner, "which no Deployment manages"},
		{"daemon set", PodInfo{Phase: "Running", OwnerKind: "DaemonSet", OwnerName: "agent"}, "", ""},
		{"statefulset", PodInfo{Phase: "Running", OwnerKind: "StatefulSet", OwnerName: "db"}, "", ""},
		{"replication controller", PodInfo{Phase: "Running", OwnerKind: "ReplicationController", OwnerName: "old"}, ReasonOtherOwner, "owned by ReplicationController old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, detail, ok := UnrolledPod(tt.p)
			if ok != (tt.reason != "") || reason != tt.reason || !strings.Contains(detail, tt.detail) {
				t.Fatalf("UnrolledPod = %q %q %v, want %q containing %q", reason, detail, ok, tt.reason, tt.detail)
			}
		})
	}
}
