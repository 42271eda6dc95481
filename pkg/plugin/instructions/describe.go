package instructions

import (
	"context"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// configzLimit caps the configz requests of one run: on a big cluster the
// per-node steps are the same for most nodes anyway, so only the first
// nodes are asked.
const configzLimit = 200

// describe reads everything Render needs.
func (o *Options) describe(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, rot *rotation.CAs) (checks.ClusterDescription, []string, error) {
	inv := cluster.ReadInventory(ctx, client, dyn)
	if inv.ControlPlaneErr != nil {
		return checks.ClusterDescription{}, nil, fmt.Errorf("listing the control-plane pods in kube-system: %w", inv.ControlPlaneErr)
	}
	if inv.NodesErr != nil {
		return checks.ClusterDescription{}, nil, inv.NodesErr
	}
	configz := cluster.KubeletConfigs(ctx, client, inv.Nodes[:min(len(inv.Nodes), configzLimit)], nil)
	clusterInfo := true
	if _, err := cluster.GetClusterInfo(ctx, client); apierrors.IsNotFound(err) {
		clusterInfo = false
	} else if err != nil {
		return checks.ClusterDescription{}, nil, fmt.Errorf("reading kube-public/cluster-info: %w", err)
	}
	var kc checks.UserKubeconfig
	_, kc.Cluster, kc.File = o.KubeconfigNames()
	d, notes := description(rot, inv, configz, clusterInfo, kc)
	return d, notes, nil
}

// description is what Render needs of the cluster, from what it shows,
// and the notes that say where each part comes from.
func description(rot *rotation.CAs, inv cluster.Inventory, configz map[string]cluster.KubeletConfig, clusterInfo bool, kc checks.UserKubeconfig) (checks.ClusterDescription, []string) {
	d := checks.ClusterDescription{RotationID: rot.ID, ClusterInfo: clusterInfo, UserKubeconfig: kc, Contents: map[string]string{
		checks.ContentOldCA:  string(checks.EncodePEM(rot.Old)),
		checks.ContentNewCA:  string(checks.EncodePEM(rot.New)),
		checks.ContentBundle: string(checks.BuildBundle(rot.New, rot.Old)),
	}}
	if len(rot.NewFP) > 0 {
		d.FrontProxy = true
		d.Contents[checks.ContentOldFrontProxyCA] = string(checks.EncodePEM(rot.OldFP))
		d.Contents[checks.ContentNewFrontProxyCA] = string(checks.EncodePEM(rot.NewFP))
		d.Contents[checks.ContentFrontProxyBundle] = string(checks.BuildBundle(rot.NewFP, rot.OldFP))
	}
	d.Files = checks.LocalFiles{OldCA: rot.OldFile, NewCA: rot.NewFile, Bundle: "ca-bundle.crt"}
	var notes []string

	hosts, note := controlPlaneHosts(&d, inv)
	notes = append(notes, note)

	if len(inv.Nodes) > configzLimit {
		notes = append(notes, fmt.Sprintf("The kubelet configuration was read for the first %d of %d nodes only (--node NAME narrows the output to one node).",
			configzLimit, len(inv.Nodes)))
	}
	readable := 0
	for _, n := range inv.Nodes {
		kn := checks.KubeletNode{Name: n.Name, ControlPlane: n.ControlPlane || hosts[n.Name] != nil}
		if c, ok := configz[n.Name]; ok && c.Err == nil {
			rotate := c.RotateCertificates
			kn.ClientCAFile, kn.RotateCertificates = c.ClientCAFile, &rotate
			readable++
		}
		d.Nodes = append(d.Nodes, kn)
	}
	notes = append(notes, fmt.Sprintf("Kubelet files (%s, %s) are kubeadm's layout: the API does not show them. "+
		"Each kubelet's clientCAFile and client-certificate rotation come from its configz where readable: %d of %d nodes.",
		checks.KubeletConfigFile, checks.KubeadmKubeletConf, readable, len(inv.Nodes)))

	if inv.CloudControllersErr != nil {
		notes = append(notes, "Could not look for a cloud-controller-manager workload: "+inv.CloudControllersErr.Error())
	}
	d.CloudControllerManagers = append(d.CloudControllerManagers, inv.CloudControllers...)
	if inv.BackendsErr != nil {
		notes = append(notes, "Could not list every aggregated API server and webhook: "+inv.BackendsErr.Error())
	}
	d.AggregatedAPIs, d.Webhooks = inv.APIs, inv.Webhooks

	if rot.ExportOld || rot.ExportNew {
		notes = append(notes, rotation.ExportNote(rot, d.Files.Bundle))
	}
	notes = append(notes, fmt.Sprintf("Each node step first backs up what it changes under /var/backups/carotate-%s/step-<N>/ (cp -a --parents keeps the full path).", d.RotationID))
	return d, notes
}

// controlPlaneHosts fills in d's control-plane hosts (and workload
// cloud-controller-managers) from the mirror pods, or kubeadm's defaults
// when none is visible; it returns the hosts by node and the note that
// says where the paths come from.
func controlPlaneHosts(d *checks.ClusterDescription, inv cluster.Inventory) (map[string]*checks.ControlPlaneHost, string) {
	var note string
	hosts := map[string]*checks.ControlPlaneHost{}
	var hostOrder []string
	for _, p := range inv.ControlPlane {
		if !p.Mirror {
			d.CloudControllerManagers = append(d.CloudControllerManagers, "pod kube-system/"+p.Name)
			continue
		}
		h, ok := hosts[p.Node]
		if !ok {
			h = &checks.ControlPlaneHost{Node: p.Node, Components: map[string]checks.CommandLine{}}
			hosts[p.Node] = h
			hostOrder = append(hostOrder, p.Node)
		}
		h.Components[p.Component] = p.Command
	}
	if len(hosts) > 0 {
		d.Source = checks.SourceMirrorPods
		for _, n := range hostOrder {
			d.ControlPlane = append(d.ControlPlane, *hosts[n])
		}
		note = fmt.Sprintf("Paths are read from the static pods' mirror pods in kube-system on %s. "+
			"The manifest path (%s/<component>.yaml) is kubeadm's default: the API does not show where a static pod's manifest lives.",
			strings.Join(hostOrder, ", "), checks.KubeadmManifestDir)
	} else {
		d.Source = checks.SourceDefaults
		var cpNodes []string
		for _, n := range inv.Nodes {
			if n.ControlPlane {
				cpNodes = append(cpNodes, n.Name)
			}
		}
		if len(cpNodes) == 0 {
			cpNodes = []string{"*"}
		}
		for _, n := range cpNodes {
			h := checks.ControlPlaneHost{Node: n, Components: map[string]checks.CommandLine{}}
			for _, c := range []string{checks.ComponentAPIServer, checks.ComponentControllerManager, checks.ComponentScheduler} {
				h.Components[c] = checks.KubeadmDefaults(c)
			}
			d.ControlPlane = append(d.ControlPlane, h)
		}
		note = "No control-plane mirror pods are visible in kube-system (a managed control plane, or one not run as static pods): " +
			"every control-plane path below is kubeadm's default (/etc/kubernetes/pki/..., /etc/kubernetes/manifests/...). " +
			"Check each against your control plane's real flags before running anything."
	}
	return hosts, note
}
