package cluster

import (
	"context"
	"fmt"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Inventory is what status and instructions both read of a cluster: the
// control plane's pods, the nodes, cloud-controller-managers run as
// workloads, and the servers the API server calls. Each part keeps its
// error; the caller decides which it cannot do without.
type Inventory struct {
	ControlPlane    []MirrorPod
	ControlPlaneErr error
	// Nodes are sorted by name.
	Nodes    []Node
	NodesErr error
	// CloudControllers are "Deployment kube-system/NAME" and the like.
	CloudControllers    []string
	CloudControllersErr error
	// APIs and Webhooks are the backends served by a service or a URL (see
	// ServiceBackends).
	APIs, Webhooks []checks.ServiceRef
	BackendsErr    error
}

// ReadInventory reads the Inventory. dyn may be nil: then APIServices and
// CRDs are not read.
func ReadInventory(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface) Inventory {
	var inv Inventory
	inv.ControlPlane, inv.ControlPlaneErr = ControlPlane(ctx, client)
	if inv.Nodes, inv.NodesErr = ListNodes(ctx, client); inv.NodesErr != nil {
		inv.NodesErr = fmt.Errorf("listing nodes: %w", inv.NodesErr)
	}
	inv.CloudControllers, inv.CloudControllersErr = CloudControllerWorkloads(ctx, client)
	inv.APIs, inv.Webhooks, inv.BackendsErr = ServiceBackends(ctx, client, dyn)
	return inv
}
