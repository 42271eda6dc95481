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
	if !c.opts.MirrorPods {
		return nil
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
		podName := name + "-" + ControlPlaneNode
		pods := client.CoreV1().Pods(metav1.NamespaceSystem)
		existing, err := pods.Get(ctx, podName, metav1.GetOptions{})
		switch {
		case err == nil && existing.Annotations[hashAnnotation] == hash:
			continue
		case err == nil:
			if err := pods.Delete(ctx, podName, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
				_, err := pods.Get(ctx, podName, metav1.GetOptions{})
				return apierrors.IsNotFound(err), nil
			}); err != nil {
				return fmt.Errorf("mirror pod %s not deleted: %w", podName, err)
			}
		case !apierrors.IsNotFound(err):
			return err
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name:      podName,
				Namespace: metav1.NamespaceSystem,
				Labels:    map[string]string{"component": name, "tier": "control-plane"},
				Annotations: map[string]string{
					mirrorAnnotation: hash, sourceAnnotation: "file", hashAnnotation: hash,
				},
				OwnerReferences: []metav1.OwnerReference{{
					APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID, Controller: ptr.To(true),
				}},
			},
			Spec: corev1.PodSpec{
				NodeName:                     ControlPlaneNode,
				HostNetwork:                  true,
				PriorityClassName:            "system-node-critical",
				AutomountServiceAccountToken: ptr.To(false),
				Tolerations:                  []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
				Containers: []corev1.Container{{
					Name:    name,
					Image:   "registry.k8s.io/" + name + ":v1.37.2",
					Command: command,
				}},
			},
		}
		if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create mirror pod %s: %w", podName, err)
		}
	}
	return nil
}
