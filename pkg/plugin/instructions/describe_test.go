package instructions

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

func TestDescription(t *testing.T) {
	rot := &rotation.CAs{ID: "r1", OldFile: "old-ca.crt", NewFile: "new-ca.crt"}
	kcm := cluster.MirrorPod{Node: "cp-1", Component: checks.ComponentControllerManager, Name: "kube-controller-manager-cp-1", Mirror: true,
		Command: checks.ParseCommandLine([]string{"kube-controller-manager", "--root-ca-file=/pki/ca.crt"}, nil)}
	ccmPod := cluster.MirrorPod{Node: "n1", Component: checks.ComponentCloudController, Name: "ccm-abc"}
	nodes := []cluster.Node{{Name: "cp-1"}, {Name: "cp-2", ControlPlane: true}, {Name: "n1"}}
	configz := map[string]cluster.KubeletConfig{"cp-1": {ClientCAFile: "/pki/ca.crt", RotateCertificates: true}, "n1": {Err: errors.New("forbidden")}}

	// The paths of mirror pods; a control-plane pod that is no mirror is a
	// cloud-controller-manager workload.
	d, notes := description(rot, cluster.Inventory{ControlPlane: []cluster.MirrorPod{kcm, ccmPod}, Nodes: nodes,
		CloudControllers: []string{"Deployment kube-system/ccm"}, CloudControllersErr: nil}, configz, true, checks.UserKubeconfig{Cluster: "c"})
	if d.Source != checks.SourceMirrorPods || len(d.ControlPlane) != 1 || d.ControlPlane[0].Node != "cp-1" ||
		d.ControlPlane[0].Components[checks.ComponentControllerManager].Value("root-ca-file") != "/pki/ca.crt" {
		t.Errorf("control plane %+v from %s, want cp-1's mirror pod", d.ControlPlane, d.Source)
	}
	if want := []string{"pod kube-system/ccm-abc", "Deployment kube-system/ccm"}; !reflect.DeepEqual(d.CloudControllerManagers, want) {
		t.Errorf("cloud-controller-managers %q, want %q", d.CloudControllerManagers, want)
	}
	yes := true
	wantNodes := []checks.KubeletNode{{Name: "cp-1", ControlPlane: true, ClientCAFile: "/pki/ca.crt", RotateCertificates: &yes},
		{Name: "cp-2", ControlPlane: true}, {Name: "n1"}}
	if !reflect.DeepEqual(d.Nodes, wantNodes) {
		t.Errorf("nodes %+v, want %+v", d.Nodes, wantNodes)
	}
	if !d.ClusterInfo || d.UserKubeconfig.Cluster != "c" || d.Files.Bundle != "ca-bundle.crt" {
		t.Errorf("description %+v", d)
	}
	if all := strings.Join(notes, "\n"); !strings.Contains(all, "mirror pods in kube-system on cp-1.") || !strings.Contains(all, "where readable: 1 of 3 nodes") ||
		!strings.Contains(all, "/var/backups/carotate-r1/step-<N>/") {
		t.Errorf("notes:\n%s", all)
	}

	// No mirror pod: kubeadm's paths on the labelled control-plane nodes,
	// and notes for what could not be read.
	d, notes = description(rot, cluster.Inventory{Nodes: nodes, CloudControllersErr: errors.New("forbidden"), BackendsErr: errors.New("no CRDs")},
		nil, false, checks.UserKubeconfig{})
	if d.Source != checks.SourceDefaults || len(d.ControlPlane) != 1 || d.ControlPlane[0].Node != "cp-2" ||
		d.ControlPlane[0].Components[checks.ComponentAPIServer].Value("client-ca-file") == "" {
		t.Errorf("control plane %+v from %s, want kubeadm's defaults on cp-2", d.ControlPlane, d.Source)
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{"No control-plane mirror pods are visible", "Could not look for a cloud-controller-manager workload: forbidden",
		"Could not list every aggregated API server and webhook: no CRDs", "where readable: 0 of 3 nodes"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	d, _ = description(rot, cluster.Inventory{Nodes: []cluster.Node{{Name: "n1"}}}, nil, false, checks.UserKubeconfig{})
	if len(d.ControlPlane) != 1 || d.ControlPlane[0].Node != "*" {
		t.Errorf("no control-plane node known: %+v, want one host \"*\"", d.ControlPlane)
	}

	// configz is read for the first nodes only.
	many := make([]cluster.Node, configzLimit+1)
	for i := range many {
		many[i].Name = fmt.Sprintf("n%03d", i)
	}
	_, notes = description(rot, cluster.Inventory{Nodes: many}, nil, false, checks.UserKubeconfig{})
	if all := strings.Join(notes, "\n"); !strings.Contains(all, fmt.Sprintf("for the first %d of %d nodes only", configzLimit, configzLimit+1)) {
		t.Errorf("notes:\n%s", all)
	}
}
