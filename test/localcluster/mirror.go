package localcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// ControlPlaneNode is the KWOK node that "runs" the control plane's static
// pods when Options.MirrorPods is set.
const ControlPlaneNode = "control-plane-0"

// Annotations the kubelet puts on the mirror pod of a static pod.
const (
	mirrorAnnotation = "kubernetes.io/config.mirror"
	sourceAnnotation = "kubernetes.io/config.source"
	hashAnnotation   = "kubernetes.io/config.hash"
)

// mirrored are the components kubeadm runs as static pods.
var mirrored = []string{Etcd, APIServer, ControllerManager, Scheduler}

// createControlPlaneNode registers the node the mirror pods are bound to,
// tainted like a kubeadm control-plane node so workloads stay off it.
func (c *Cluster) createControlPlaneNode(ctx context.Context) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	if err := createNode(ctx, client, ControlPlaneNode); err != nil {
		return err
	}
	node, err := client.CoreV1().Nodes().Get(ctx, ControlPlaneNode, metav1.GetOptions{})
	if err != nil {
		return err
	}
	node.Labels["node-role.kubernetes.io/control-plane"] = ""
	node.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
	_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
	return err
}

// SyncMirrorPods makes the mirror pods in kube-system show each component's
// current command line, as the kubelet does for static pods: a changed
// manifest means the mirror pod is deleted and created again. Tools that
// read control-plane flags through the API (kubectl carotate instructions)
// see the harness's real flags and file paths.
func (c *Cluster) SyncMirrorPods(ctx context.Context) error {
	if !c.opts.MirrorPods || c.opts.Kubeadm {
		return nil // the kubeadm node's kubelet stand-in keeps its own
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	node, err := client.CoreV1().Nodes().Get(ctx, ControlPlaneNode, metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, name := range mirrored {
		comp := c.Components[name]
		command := append([]string{name}, comp.Args()...)
		sum := sha256.New()
		for _, a := range command {
			sum.Write([]byte(a + "\x00"))
		}
		hash := hex.EncodeToString(sum.Sum(nil))[:32]
		static := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:      name,
				Namespace: metav1.NamespaceSystem,
				Labels:    map[string]string{"component": name, "tier": "control-plane"},
			},
			Spec: corev1.PodSpec{
				HostNetwork:       true,
				PriorityClassName: "system-node-critical",
				Containers: []corev1.Container{{
					Name:    name,
					Image:   "registry.k8s.io/" + name + ":v1.37.2",
					Command: command,
				}},
			},
		}
		if _, _, err := ensureMirrorPod(ctx, client, newMirrorPod(static, node, hash), getPod(client)); err != nil {
			return err
		}
	}
	return nil
}

// newMirrorPod is the mirror pod the kubelet creates for a static pod on
// node: named <pod>-<node>, bound to the node, owned by it (NodeRestriction
// requires that of a node creating it), with the annotations that mark it
// as a mirror of the static pod whose hash is hash.
func newMirrorPod(static *corev1.Pod, node *corev1.Node, hash string) *corev1.Pod {
	pod := static.DeepCopy()
	pod.Name = static.Name + "-" + node.Name
	if pod.Namespace == "" {
		pod.Namespace = metav1.NamespaceDefault
	}
	pod.UID, pod.ResourceVersion = "", ""
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Annotations[mirrorAnnotation] = hash
	pod.Annotations[hashAnnotation] = hash
	pod.Annotations[sourceAnnotation] = "file"
	pod.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptr.To(true),
	}}
	pod.Spec.NodeName = node.Name
	if pod.Spec.AutomountServiceAccountToken == nil {
		pod.Spec.AutomountServiceAccountToken = ptr.To(false)
	}
	// The kubelet lets static pods tolerate every NoExecute taint.
	pod.Spec.Tolerations = append(pod.Spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
	pod.Status = corev1.PodStatus{}
	return pod
}

// podLookup finds a pod by namespace and name; a pod that does not exist is
// (nil, nil).
type podLookup func(ctx context.Context, namespace, name string) (*corev1.Pod, error)

// getPod looks a pod up with a GET, as an admin may.
func getPod(client kubernetes.Interface) podLookup {
	return func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
		p, err := client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return p, err
	}
}

// nodePod looks a pod up as a kubelet may: among the pods bound to its
// node (the Node authorizer refuses a node a GET of a pod not bound to it,
// even one that does not exist).
func nodePod(client kubernetes.Interface, node string) podLookup {
	return func(ctx context.Context, ns, name string) (*corev1.Pod, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + node})
		if err != nil {
			return nil, err
		}
		for i := range pods.Items {
			if pods.Items[i].Name == name {
				return &pods.Items[i], nil
			}
		}
		return nil, nil
	}
}

// ensureMirrorPod makes the mirror pod want.Name show want, as the kubelet
// does: a mirror pod of another version of the static pod (another
// mirror annotation) is deleted and created again. It returns the pod in
// the API and whether it was created now.
func ensureMirrorPod(ctx context.Context, client kubernetes.Interface, want *corev1.Pod, lookup podLookup) (*corev1.Pod, bool, error) {
	pods := client.CoreV1().Pods(want.Namespace)
	existing, err := lookup(ctx, want.Namespace, want.Name)
	if err != nil {
		return nil, false, err
	}
	if existing != nil {
		if existing.Annotations[mirrorAnnotation] == want.Annotations[mirrorAnnotation] && existing.DeletionTimestamp == nil {
			return existing, false, nil
		}
		if err := pods.Delete(ctx, want.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
			return nil, false, err
		}
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
			p, err := lookup(ctx, want.Namespace, want.Name)
			return err == nil && p == nil, nil
		}); err != nil {
			return nil, false, fmt.Errorf("mirror pod %s not deleted: %w", want.Name, err)
		}
	}
	created, err := pods.Create(ctx, want, metav1.CreateOptions{})
	if err != nil {
		return nil, false, fmt.Errorf("create mirror pod %s: %w", want.Name, err)
	}
	return created, true, nil
}
