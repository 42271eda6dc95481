package cluster

import (
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// PodInput is what checks.JudgePod needs of a pod.
func PodInput(pod *corev1.Pod) checks.PodTrustInput {
	in := checks.PodTrustInput{
		AutomountOff: pod.Spec.AutomountServiceAccountToken != nil && !*pod.Spec.AutomountServiceAccountToken,
		Running:      pod.Status.Phase == corev1.PodRunning,
	}
	_, in.Mirror = pod.Annotations[corev1.MirrorPodAnnotationKey]
	if pod.Status.StartTime != nil {
		in.PodStarted = pod.Status.StartTime.Time
	}
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				switch {
				case s.ConfigMap != nil && s.ConfigMap.Name == RootCAConfigMap:
					if f := keyPath(s.ConfigMap.Items); f != "" {
						in.Volumes = append(in.Volumes, checks.PodCAVolume{Volume: v.Name, Kind: checks.SourceRootCA, Object: RootCAConfigMap, File: f})
					}
				case s.Secret != nil:
					if f := keyPath(s.Secret.Items); f != "" {
						in.Volumes = append(in.Volumes, checks.PodCAVolume{Volume: v.Name, Kind: checks.SourceSecret, Object: s.Secret.Name, File: f})
					}
				case s.ClusterTrustBundle != nil:
					// The kubelet writes the picked bundles to path: the
					// pod's API trust when its client reads that file.
					in.Volumes = append(in.Volumes, checks.PodCAVolume{Volume: v.Name, Kind: checks.SourceTrustBundle,
						Object: TrustBundleRefOf(s.ClusterTrustBundle).Key, File: s.ClusterTrustBundle.Path})
				}
			}
		case v.ConfigMap != nil && v.ConfigMap.Name == RootCAConfigMap:
			if f := keyPath(v.ConfigMap.Items); f != "" {
				in.Volumes = append(in.Volumes, checks.PodCAVolume{Volume: v.Name, Kind: checks.SourceRootCA, Object: RootCAConfigMap, File: f})
			}
		case v.Secret != nil:
			if f := keyPath(v.Secret.Items); f != "" {
				in.Volumes = append(in.Volumes, checks.PodCAVolume{Volume: v.Name, Kind: checks.SourceSecret, Object: v.Secret.SecretName, File: f})
			}
		}
	}
	addMounts := func(c corev1.Container) {
		for _, m := range c.VolumeMounts {
			in.Mounts = append(in.Mounts, checks.PodMount{Container: c.Name, Volume: m.Name, MountPath: m.MountPath, SubPath: m.SubPath, SubPathExpr: m.SubPathExpr != ""})
		}
	}
	for _, c := range pod.Spec.Containers {
		addMounts(c)
	}
	// Sidecars (init containers that keep running) talk to the API server
	// as much as any container.
	for _, c := range pod.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addMounts(c)
		}
	}
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running != nil && !cs.State.Running.StartedAt.IsZero() {
				if in.Started == nil {
					in.Started = map[string]time.Time{}
				}
				in.Started[cs.Name] = cs.State.Running.StartedAt.Time
			}
		}
	}
	return in
}

// keyPath is where ca.crt lands in a ConfigMap or Secret volume: its
// own name unless items map it, "" when items leave it out.
func keyPath(items []corev1.KeyToPath) string {
	if len(items) == 0 {
		return RootCAKey
	}
	for _, it := range items {
		if it.Key == RootCAKey {
			return it.Path
		}
	}
	return ""
}

// PodStart is when the pod's earliest running container started.
func PodStart(in checks.PodTrustInput) time.Time {
	var t time.Time
	for _, s := range in.Started {
		if t.IsZero() || s.Before(t) {
			t = s
		}
	}
	if t.IsZero() {
		t = in.PodStarted
	}
	return t
}
