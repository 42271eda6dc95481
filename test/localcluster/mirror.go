package localcluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
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
	// KWOK writes the new node's status meanwhile: a conflict reads it again.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, ControlPlaneNode, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Labels["node-role.kubernetes.io/control-plane"] = ""
		node.Spec.Taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
		_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
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
	c.mirrors.mu.Lock()
	defer c.mirrors.mu.Unlock()
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
		want := newMirrorPod(static, node, hash)
		if _, _, err := ensureMirrorPod(ctx, client, want.DeepCopy(), getPod(client)); err != nil {
			return err
		}
		c.mirrors.want = append(slices.DeleteFunc(c.mirrors.want, func(p *corev1.Pod) bool { return p.Name == want.Name }), want)
	}
	return nil
}

// mirrorKeeper holds the mirror pods SyncMirrorPods made and the loop that
// keeps them.
type mirrorKeeper struct {
	mu   sync.Mutex
	want []*corev1.Pod
	quit chan struct{}
	done chan struct{}
}

// keepMirrorPods creates a mirror pod again when it vanishes, as a kubelet
// does, until Stop. KWOK deletes a pod by name with no UID precondition
// when it handles a deletion, and under load it may handle the deletion of
// a replaced mirror pod after SyncMirrorPods created the new one (seen: a
// test read the controller-manager's mirror pod right after a restart and
// found none). Waiting in SyncMirrorPods until KWOK runs the new pod is no
// cure: after an API server restart KWOK can take over a minute.
func (c *Cluster) keepMirrorPods() {
	if !c.opts.MirrorPods || c.opts.Kubeadm || c.opts.Detached {
		return
	}
	client, err := c.Client()
	if err != nil {
		return
	}
	k := &c.mirrors
	k.quit, k.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(k.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-k.quit:
				return
			case <-tick.C:
				k.recreateVanished(client, c.opts.Logf)
			}
		}
	}()
}

// recreateVanished creates each wanted mirror pod the API server says is
// not found; other errors (an API server being restarted) wait for the
// next round.
func (k *mirrorKeeper) recreateVanished(client kubernetes.Interface, logf func(string, ...any)) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, want := range k.want {
		pods := client.CoreV1().Pods(want.Namespace)
		if _, err := pods.Get(ctx, want.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			continue
		}
		if _, err := pods.Create(ctx, want.DeepCopy(), metav1.CreateOptions{}); err == nil {
			logf("mirror pod %s/%s vanished: created it again", want.Namespace, want.Name)
		}
	}
}

// stop ends the loop keepMirrorPods started, if any.
func (k *mirrorKeeper) stop() {
	if k.quit == nil {
		return
	}
	close(k.quit)
	<-k.done
	k.quit = nil
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
