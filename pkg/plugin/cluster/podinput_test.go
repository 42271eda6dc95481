package cluster

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// TestPodInput reads a pod as the ServiceAccount admission plugin
// leaves it (projected kube-api-access volume in every container), plus a
// sidecar and a legacy token Secret.
func TestPodInput(t *testing.T) {
	started := metav1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	saMount := corev1.VolumeMount{Name: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n"},
		Spec: corev1.PodSpec{
			Volumes: []corev1.Volume{
				{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
						Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				}}}},
				{Name: "legacy", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "tok",
					Items: []corev1.KeyToPath{{Key: "token", Path: "token"}}}}},
				{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "app"}}}},
			},
			InitContainers: []corev1.Container{
				{Name: "setup", VolumeMounts: []corev1.VolumeMount{saMount}},
				{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways), VolumeMounts: []corev1.VolumeMount{saMount}},
			},
			Containers: []corev1.Container{{Name: "app", VolumeMounts: []corev1.VolumeMount{saMount, {Name: "legacy", MountPath: "/l"}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &started,
			ContainerStatuses:     []corev1.ContainerStatus{{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}},
			InitContainerStatuses: []corev1.ContainerStatus{{Name: "proxy", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: started}}}},
		},
	}
	in := PodInput(pod)
	want := checks.PodTrustInput{
		Running: true, PodStarted: started.Time,
		// The legacy volume maps only "token": no ca.crt there.
		Volumes: []checks.PodCAVolume{{Volume: "kube-api-access-abcde", Kind: checks.SourceRootCA, Object: "kube-root-ca.crt", File: "ca.crt"}},
		Mounts: []checks.PodMount{
			{Container: "app", Volume: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"},
			{Container: "app", Volume: "legacy", MountPath: "/l"},
			{Container: "proxy", Volume: "kube-api-access-abcde", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"},
		},
		Started: map[string]time.Time{"app": started.Time, "proxy": started.Time},
	}
	if !reflect.DeepEqual(in, want) {
		t.Fatalf("\n got %+v\nwant %+v", in, want)
	}
}
