package checks

import (
	"fmt"
	"strings"
)

// Workload kinds whose pods restart when their pod template changes.
const (
	KindDeployment  = "Deployment"
	KindDaemonSet   = "DaemonSet"
	KindStatefulSet = "StatefulSet"
)

// Reasons a workload or pod is not rolled by a pod-template annotation. They
// are the words the restart report shows, so an admin can act on each.
const (
	// ReasonPaused: a paused Deployment takes the new template but starts no
	// rollout until it is resumed.
	ReasonPaused = "paused"
	// ReasonOnDelete: with updateStrategy OnDelete the controller replaces a
	// pod only when someone deletes it.
	ReasonOnDelete = "OnDelete"
	// ReasonNoReplicas: no pods to replace; pods created later get the new
	// template (and the CA of that moment) anyway.
	ReasonNoReplicas = "0 replicas"
	// ReasonBarePod: no controller recreates it; it must be deleted and
	// created again by whoever made it.
	ReasonBarePod = "bare pod"
	// ReasonJobPod: a Job's pod runs to completion; the next Job (or the
	// CronJob's next run) starts with the CA of that moment.
	ReasonJobPod = "Job pod"
	// ReasonStaticPod: a mirror of a static pod; it restarts on its node.
	ReasonStaticPod = "static pod"
	// ReasonOtherOwner: owned by a controller this command does not patch
	// (ReplicationController, an operator's custom resource, a ReplicaSet
	// without a Deployment).
	ReasonOtherOwner = "other controller"
)

// Workload is what the restart pass needs to know about a Deployment,
// DaemonSet or StatefulSet: the pod template's rotation annotation, whether
// patching it replaces pods, and the status fields kubectl rollout status
// reads. It holds no API types so the rules below stay pure.
type Workload struct {
	Kind      string
	Namespace string
	Name      string
	// Generation is metadata.generation of the object this was read from.
	Generation int64
	// Value is the pod template's rotation annotation; HasValue is false when
	// the template does not carry it at all.
	Value    string
	HasValue bool
	// Replicas is spec.replicas for a Deployment or StatefulSet (1 when
	// unset, as the API defaults it) and status.desiredNumberScheduled for a
	// DaemonSet (the nodes it should run on).
	Replicas int32
	// Paused is a Deployment's spec.paused.
	Paused bool
	// OnDelete: a DaemonSet's or StatefulSet's updateStrategy is OnDelete.
	OnDelete bool
	// Partition is a StatefulSet's rollingUpdate.partition (0 when unset).
	Partition int32
	// HasPartition: rollingUpdate.partition is set (kubectl's rule differs).
	HasPartition bool
	Status       WorkloadStatus
}

// WorkloadStatus holds the status fields of the three kinds that kubectl
// rollout status reads; each kind uses its own subset.
type WorkloadStatus struct {
	ObservedGeneration int64
	// Deployment and StatefulSet.
	Replicas          int32
	UpdatedReplicas   int32
	ReadyReplicas     int32
	AvailableReplicas int32
	// ProgressDeadlineExceeded: the Deployment's Progressing condition has
	// reason ProgressDeadlineExceeded.
	ProgressDeadlineExceeded bool
	// DaemonSet.
	DesiredNumberScheduled int32
	UpdatedNumberScheduled int32
	NumberAvailable        int32
	// StatefulSet.
	CurrentReplicas int32
	CurrentRevision string
	UpdateRevision  string
}

// Ref names a workload the way kubectl does: deployment.apps/web.
func (w Workload) Ref() string {
	return strings.ToLower(w.Kind) + ".apps/" + w.Name
}

// RestartPlan is what one pass does to a workload.
type RestartPlan struct {
	// Patch: the pod template does not carry the pass value yet.
	Patch bool
	// Rolls: the workload's controller replaces its pods by itself once the
	// template carries the value. False for paused Deployments (unless
	// resumed by the patch), OnDelete strategies and zero replicas.
	Rolls bool
	// Reason says why it does not roll (one of the Reason constants), empty
	// when it rolls.
	Reason string
	// Note is a further remark worth reporting, such as a StatefulSet
	// partition that keeps some pods on the old template.
	Note string
}

// PlanRestart decides what a pass with value does to w. resumePaused says
// that the patch also sets a paused Deployment's spec.paused to false. A
// workload that already carries the value is not patched again, which is
// what makes a pass resumable: re-running it patches only what is left. A
// paused Deployment to be resumed is patched even when it carries the value,
// since an earlier pass without resumePaused left it paused.
func PlanRestart(w Workload, value string, resumePaused bool) RestartPlan {
	resume := resumePaused && w.Kind == KindDeployment && w.Paused
	p := RestartPlan{Patch: !w.HasValue || w.Value != value || resume, Rolls: true}
	switch {
	case w.Kind == KindDeployment && w.Paused && !resumePaused:
		p.Rolls, p.Reason = false, ReasonPaused
	case w.OnDelete && (w.Kind == KindDaemonSet || w.Kind == KindStatefulSet):
		p.Rolls, p.Reason = false, ReasonOnDelete
	case w.Replicas == 0:
		p.Rolls, p.Reason = false, ReasonNoReplicas
	}
	if w.Kind == KindStatefulSet && !w.OnDelete && w.Partition > 0 {
		kept := min(w.Partition, w.Replicas)
		p.Note = fmt.Sprintf("partition %d: %d pod(s) with a lower ordinal keep the old template", w.Partition, kept)
	}
	return p
}

// RolloutStatus applies kubectl rollout status's rules to w. minGeneration
// is the generation our patch produced (or that was read before waiting): a
// status observed for an older generation says nothing about our change,
// which is how a cached object from before the patch is told apart. It
// returns done, kubectl's progress message, and an error when the rollout
// cannot finish (a Deployment past its progress deadline) or has no status
// to wait for (an OnDelete strategy).
func RolloutStatus(w Workload, minGeneration int64) (done bool, message string, err error) {
	s := w.Status
	if w.Generation < minGeneration {
		return false, fmt.Sprintf("Waiting for %s spec update to be observed...", kindWords(w.Kind)), nil
	}
	switch w.Kind {
	case KindDeployment:
		if w.Generation > s.ObservedGeneration {
			return false, "Waiting for deployment spec update to be observed...", nil
		}
		if s.ProgressDeadlineExceeded {
			return false, "", fmt.Errorf("deployment %q exceeded its progress deadline", w.Name)
		}
		if s.UpdatedReplicas < w.Replicas {
			return false, fmt.Sprintf("Waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated...", w.Name, s.UpdatedReplicas, w.Replicas), nil
		}
		if s.Replicas > s.UpdatedReplicas {
			return false, fmt.Sprintf("Waiting for deployment %q rollout to finish: %d old replicas are pending termination...", w.Name, s.Replicas-s.UpdatedReplicas), nil
		}
		if s.AvailableReplicas < s.UpdatedReplicas {
			return false, fmt.Sprintf("Waiting for deployment %q rollout to finish: %d of %d updated replicas are available...", w.Name, s.AvailableReplicas, s.UpdatedReplicas), nil
		}
		return true, fmt.Sprintf("deployment %q successfully rolled out", w.Name), nil
	case KindDaemonSet:
		if w.OnDelete {
			return true, "", fmt.Errorf("rollout status is only available for RollingUpdate strategy type")
		}
		if w.Generation > s.ObservedGeneration {
			return false, "Waiting for daemon set spec update to be observed...", nil
		}
		if s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
			return false, fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d out of %d new pods have been updated...", w.Name, s.UpdatedNumberScheduled, s.DesiredNumberScheduled), nil
		}
		if s.NumberAvailable < s.DesiredNumberScheduled {
			return false, fmt.Sprintf("Waiting for daemon set %q rollout to finish: %d of %d updated pods are available...", w.Name, s.NumberAvailable, s.DesiredNumberScheduled), nil
		}
		return true, fmt.Sprintf("daemon set %q successfully rolled out", w.Name), nil
	case KindStatefulSet:
		if w.OnDelete {
			return true, "", fmt.Errorf("rollout status is only available for RollingUpdate strategy type")
		}
		if s.ObservedGeneration == 0 || w.Generation > s.ObservedGeneration {
			return false, "Waiting for statefulset spec update to be observed...", nil
		}
		if s.ReadyReplicas < w.Replicas {
			return false, fmt.Sprintf("Waiting for %d pods to be ready...", w.Replicas-s.ReadyReplicas), nil
		}
		// The API defaults rollingUpdate.partition to 0, so in practice this
		// branch is kubectl's rule for every RollingUpdate StatefulSet.
		if w.HasPartition {
			if want := w.Replicas - w.Partition; s.UpdatedReplicas < want {
				return false, fmt.Sprintf("Waiting for partitioned roll out to finish: %d out of %d new pods have been updated...", s.UpdatedReplicas, want), nil
			}
			return true, fmt.Sprintf("partitioned roll out complete: %d new pods have been updated...", s.UpdatedReplicas), nil
		}
		if s.UpdateRevision != s.CurrentRevision {
			return false, fmt.Sprintf("waiting for statefulset rolling update to complete %d pods at revision %s...", s.UpdatedReplicas, s.UpdateRevision), nil
		}
		return true, fmt.Sprintf("statefulset rolling update complete %d pods at revision %s...", s.CurrentReplicas, s.CurrentRevision), nil
	}
	return false, "", fmt.Errorf("unknown workload kind %q", w.Kind)
}

func kindWords(kind string) string {
	switch kind {
	case KindDaemonSet:
		return "daemon set"
	case KindStatefulSet:
		return "statefulset"
	}
	return "deployment"
}

// PodInfo is what the restart report needs of a pod: who controls it.
type PodInfo struct {
	Namespace string
	Name      string
	// Phase is status.phase ("Running", "Succeeded", ...).
	Phase string
	// OwnerKind and OwnerName are the controller owner reference's, empty
	// for a pod without one.
	OwnerKind string
	OwnerName string
	// TemplateHash is the pod-template-hash label that a Deployment's
	// ReplicaSet puts on its pods.
	TemplateHash string
	// Mirror: the pod is the API mirror of a static pod.
	Mirror bool
}

// UnrolledPod classifies a pod that a pod-template annotation cannot
// restart. ok is false for pods that a patched workload replaces, and for
// pods that no longer run (Succeeded, Failed), which hold no connection
// and need nothing.
func UnrolledPod(p PodInfo) (reason, detail string, ok bool) {
	if p.Phase == "Succeeded" || p.Phase == "Failed" {
		return "", "", false
	}
	switch {
	case p.Mirror:
		return ReasonStaticPod, "restart it on its node (move its manifest out of and back into the static pod directory)", true
	case p.OwnerKind == "":
		return ReasonBarePod, "no controller recreates it: delete it and create it again", true
	case p.OwnerKind == "Job":
		return ReasonJobPod, fmt.Sprintf("owned by Job %s: runs to completion; the next run trusts the CA of that moment", p.OwnerName), true
	case p.OwnerKind == KindDaemonSet || p.OwnerKind == KindStatefulSet:
		return "", "", false
	case p.OwnerKind == "ReplicaSet":
		// A Deployment names its ReplicaSets <deployment>-<pod-template-hash>;
		// a ReplicaSet that does not is a bare ReplicaSet no patch reaches.
		if p.TemplateHash != "" && strings.HasSuffix(p.OwnerName, "-"+p.TemplateHash) {
			return "", "", false
		}
		return ReasonOtherOwner, fmt.Sprintf("owned by ReplicaSet %s, which no Deployment manages: restart it through whoever created it", p.OwnerName), true
	}
	return ReasonOtherOwner, fmt.Sprintf("owned by %s %s: restart it through that controller", p.OwnerKind, p.OwnerName), true
}
