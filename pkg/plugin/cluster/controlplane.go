package cluster

import (
	"context"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// MirrorPod is a control-plane static pod as its mirror pod shows it: the
// plain type of pkg/checks, which judges from it.
type MirrorPod = checks.ControlPlanePod

var components = []string{checks.ComponentAPIServer, checks.ComponentControllerManager, checks.ComponentScheduler, checks.ComponentCloudController}

// ControlPlane lists the control-plane pods in kube-system by
// their component label, kubeadm's convention.
func ControlPlane(ctx context.Context, client kubernetes.Interface) ([]MirrorPod, error) {
	return controlPlaneOf(ctx, client, components)
}

// ControlPlaneWithEtcd is ControlPlane with etcd's static pods, which
// only the etcd-ca target reads.
func ControlPlaneWithEtcd(ctx context.Context, client kubernetes.Interface) ([]MirrorPod, error) {
	return controlPlaneOf(ctx, client, append([]string{checks.ComponentEtcd}, components...))
}

func controlPlaneOf(ctx context.Context, client kubernetes.Interface, components []string) ([]MirrorPod, error) {
	sel := "component in (" + strings.Join(components, ",") + ")"
	var out []MirrorPod
	pods := client.CoreV1().Pods(metav1.NamespaceSystem)
	_, err := Each(ctx, 200, metav1.ListOptions{LabelSelector: sel},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, lo) },
		func() { out = nil },
		func(p *corev1.Pod) {
			if p.DeletionTimestamp != nil {
				return
			}
			comp := p.Labels["component"]
			var argv []string
			for _, c := range p.Spec.Containers {
				if c.Name == comp || len(p.Spec.Containers) == 1 {
					argv = append(append(argv, c.Command...), c.Args...)
					break
				}
			}
			_, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]
			out = append(out, MirrorPod{Node: p.Spec.NodeName, Component: comp, Name: p.Name,
				Command: checks.ParseCommandLine(argv, nil), Created: p.CreationTimestamp.Time, Mirror: mirror})
		})
	sort.Slice(out, func(i, j int) bool {
		if out[i].Node != out[j].Node {
			return out[i].Node < out[j].Node
		}
		return out[i].Component < out[j].Component
	})
	return out, err
}

// APIServerStarted is checks.APIServerStarted.
func APIServerStarted(cp []MirrorPod) time.Time { return checks.APIServerStarted(cp) }

// Component is the mirror pods of one component in cp.
func Component(cp []MirrorPod, name string) []MirrorPod { return checks.ComponentPods(cp, name) }
