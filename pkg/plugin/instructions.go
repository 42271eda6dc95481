package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// InstructionsOptions is "kubectl carotate instructions".
type InstructionsOptions struct {
	*Common
	Step, Phase, Node string
	OldCA, NewCA      string
	Output            string
	// NewDynamic builds the client for APIServices and CRDs.
	NewDynamic func() (dynamic.Interface, error)
}

// NewCmdInstructions is "kubectl carotate instructions".
func NewCmdInstructions(c *Common) *cobra.Command {
	o := &InstructionsOptions{Common: c}
	o.NewDynamic = func() (dynamic.Interface, error) {
		cfg, err := o.RESTConfig()
		if err != nil {
			return nil, err
		}
		return dynamic.NewForConfig(cfg)
	}
	cmd := &cobra.Command{
		Use:   "instructions [--step N | --phase bundle|serve|finish] [--node NAME]",
		Short: "Print the node steps of the rotation for this cluster: real paths, backups first, a check after each",
		Long: `Print the node work of the upstream procedure "Manually Rotate CA Certificates"
(steps 1, 2, 5, 6, 7, 8, 9.2, 9.3, 12.1, 12.2, 12.3) as copy-pasteable shell
commands for this cluster, with the in-cluster commands in between.

The file paths come from the control plane's static pods, as their mirror
pods in kube-system show them (labels component=kube-apiserver,
kube-controller-manager, kube-scheduler, cloud-controller-manager). When no
mirror pod is visible (a managed control plane, or one not run as static
pods) the paths are kubeadm's defaults under /etc/kubernetes/pki, and the
output says so. Kubelet files are kubeadm's layout; each kubelet's
clientCAFile and client-certificate rotation are read from its configz where
the API allows.

No file is rewritten while a component reads it: the steps write new files
beside the originals (ca-bundle.crt, ca-new.crt, ca-new.key,
apiserver-new.crt), move the flags onto them, and in the finish phase write
the new CA into the originals and point the flags back. Where
kube-controller-manager's --root-ca-file shares its file with
--client-ca-file or --cluster-signing-cert-file (kubeadm does this), those
two get the separate new-CA copy, since they must never hold a bundle.

Every node step backs up what it changes under /var/backups/carotate-<id>/
first and ends with the kubectl carotate check that confirms it. -o json
gives the same steps as data (node, component, action, flag, file, content,
command); docs/instructions-schema.md describes the fields. The CAs come from
the rotation record ("kubectl carotate start"), or from --old-ca/--new-ca.`,
		Example: `  # Everything, for the recorded rotation
  kubectl carotate instructions

  # One step, or one phase, as data for automation
  kubectl carotate instructions --step 2
  kubectl carotate instructions --phase serve -o json

  # Without a recorded rotation
  kubectl carotate instructions --old-ca ca.crt --new-ca new-ca.crt --phase bundle`,
		Args: cobra.NoArgs,
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.StringVar(&o.Step, "step", o.Step, "Only this upstream step (1, 2, 3, 4, 5, 6, 7, 8, 9.1, 9.2, 9.3, 9.4, 10, 11, 12.1, 12.2, 12.3)")
	f.StringVar(&o.Phase, "phase", o.Phase, "Only this phase: bundle (steps 1-9.1), serve (9.2-11) or finish (12.x)")
	f.StringVar(&o.Node, "node", o.Node, "Only the steps of this node (and the in-cluster steps)")
	f.StringVar(&o.OldCA, "old-ca", o.OldCA, "PEM file of the old CA, when no rotation is recorded")
	f.StringVar(&o.NewCA, "new-ca", o.NewCA, "PEM file of the new CA, when no rotation is recorded")
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text (default), json or yaml")
	steps := make([]string, 0, len(checks.UpstreamSteps))
	for _, s := range checks.UpstreamSteps {
		steps = append(steps, s.Number)
	}
	_ = cmd.RegisterFlagCompletionFunc("step", completeFixed(steps...))
	_ = cmd.RegisterFlagCompletionFunc("phase", completeFixed(checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish))
	_ = cmd.RegisterFlagCompletionFunc("output", completeFixed("text", outputJSON, outputYAML))
	noNamespace(cmd, "the instructions cover the whole control plane and every node")
	return cmd
}

// Validate checks the flags; it reads no file.
func (o *InstructionsOptions) Validate() error {
	if o.Step != "" && o.Phase != "" {
		return errors.New("--step and --phase are exclusive: a step belongs to one phase")
	}
	if o.Step != "" {
		if _, ok := checks.LookupStep(o.Step); !ok {
			return fmt.Errorf("unknown --step %q: use one of 1, 2, 3, 4, 5, 6, 7, 8, 9.1, 9.2, 9.3, 9.4, 10, 11, 12.1, 12.2, 12.3", o.Step)
		}
	}
	switch o.Phase {
	case "", checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish:
	default:
		return fmt.Errorf("unknown --phase %q: use bundle, serve or finish", o.Phase)
	}
	if (o.OldCA == "") != (o.NewCA == "") {
		return errors.New("--old-ca and --new-ca go together")
	}
	if o.Output == "text" {
		o.Output = outputTable
	}
	return validateOutput(o.Output)
}

// Run reads the cluster and prints the steps.
func (o *InstructionsOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rot, err := instructionsRotation(ctx, client, o.OldCA, o.NewCA)
	if err != nil {
		return err
	}
	dyn, err := o.NewDynamic()
	if err != nil {
		return err
	}
	d, notes, err := o.describe(ctx, client, dyn, rot)
	if err != nil {
		return err
	}
	all := checks.Render(d)
	if o.Node != "" && !instructionsHasNode(all, o.Node) {
		return fmt.Errorf("no step for node %q: the nodes are %s", o.Node, strings.Join(instructionsNodes(all), ", "))
	}
	steps := checks.FilterSteps(all, o.Step, o.Phase, o.Node)
	if o.Output == outputJSON || o.Output == outputYAML {
		if steps == nil {
			steps = []checks.Step{}
		}
		return printStructured(o.Out, o.Output, checks.InstructionsDoc{Rotation: d.RotationID, Source: d.Source, Notes: notes, Contents: d.Contents, Steps: steps})
	}
	_, err = fmt.Fprint(o.Out, checks.RenderText(d, steps, notes))
	return err
}

func instructionsHasNode(steps []checks.Step, node string) bool {
	for _, s := range steps {
		if s.Node == node {
			return true
		}
	}
	return false
}

func instructionsNodes(steps []checks.Step) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range steps {
		if s.Node != "" && !seen[s.Node] {
			seen[s.Node] = true
			out = append(out, s.Node)
		}
	}
	return out
}

// instructionsConfigzLimit caps the configz requests of one run.
const instructionsConfigzLimit = 200

// describe reads everything Render needs.
func (o *InstructionsOptions) describe(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, rot *instructionsCAs) (checks.ClusterDescription, []string, error) {
	d := checks.ClusterDescription{RotationID: rot.ID, Contents: map[string]string{
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

	cp, err := instructionsControlPlane(ctx, client)
	if err != nil {
		return d, nil, fmt.Errorf("listing the control-plane pods in kube-system: %w", err)
	}
	hosts := map[string]*checks.ControlPlaneHost{}
	var hostOrder []string
	for _, p := range cp {
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
	nodes, err := instructionsListNodes(ctx, client)
	if err != nil {
		return d, nil, err
	}
	if len(hosts) > 0 {
		d.Source = checks.SourceMirrorPods
		for _, n := range hostOrder {
			d.ControlPlane = append(d.ControlPlane, *hosts[n])
		}
		notes = append(notes, fmt.Sprintf("Paths are read from the static pods' mirror pods in kube-system on %s. "+
			"The manifest path (%s/<component>.yaml) is kubeadm's default: the API does not show where a static pod's manifest lives.",
			strings.Join(hostOrder, ", "), checks.KubeadmManifestDir))
	} else {
		d.Source = checks.SourceDefaults
		var cpNodes []string
		for _, n := range nodes {
			if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
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
		notes = append(notes, "No control-plane mirror pods are visible in kube-system (a managed control plane, or one not run as static pods): "+
			"every control-plane path below is kubeadm's default (/etc/kubernetes/pki/..., /etc/kubernetes/manifests/...). "+
			"Check each against your control plane's real flags before running anything.")
	}

	// One request per node: on a big cluster the per-node steps are the
	// same for most nodes anyway, so only the first nodes are asked.
	asked := nodes
	if len(asked) > instructionsConfigzLimit {
		asked = asked[:instructionsConfigzLimit]
		notes = append(notes, fmt.Sprintf("The kubelet configuration was read for the first %d of %d nodes only (--node NAME narrows the output to one node).",
			instructionsConfigzLimit, len(nodes)))
	}
	configz := statusKubeletConfigs(ctx, client, asked)
	readable := 0
	for _, n := range nodes {
		kn := checks.KubeletNode{Name: n.Name}
		if _, ok := hosts[n.Name]; ok {
			kn.ControlPlane = true
		}
		if _, ok := n.Labels["node-role.kubernetes.io/control-plane"]; ok {
			kn.ControlPlane = true
		}
		if c, ok := configz[n.Name]; ok && c.err == nil {
			kn.ClientCAFile, kn.RotateCertificates = c.clientCAFile, c.rotate
			readable++
		}
		d.Nodes = append(d.Nodes, kn)
	}
	notes = append(notes, fmt.Sprintf("Kubelet files (%s, %s) are kubeadm's layout: the API does not show them. "+
		"Each kubelet's clientCAFile and client-certificate rotation come from its configz where readable: %d of %d nodes.",
		checks.KubeletConfigFile, checks.KubeadmKubeletConf, readable, len(nodes)))

	ccm, err := statusCloudControllerWorkloads(ctx, client)
	if err != nil {
		notes = append(notes, "Could not look for a cloud-controller-manager workload: "+err.Error())
	}
	d.CloudControllerManagers = append(d.CloudControllerManagers, ccm...)
	apis, hooks, err := statusServiceBackends(ctx, client, dyn)
	if err != nil {
		notes = append(notes, "Could not list every aggregated API server and webhook: "+err.Error())
	}
	d.AggregatedAPIs, d.Webhooks = apis, hooks
	if _, err := clusterInfoGet(ctx, client); err == nil {
		d.ClusterInfo = true
	} else if !apierrors.IsNotFound(err) {
		return d, nil, fmt.Errorf("reading kube-public/cluster-info: %w", err)
	}

	_, d.UserKubeconfig.Cluster, d.UserKubeconfig.File = o.KubeconfigNames()
	if rot.ExportOld || rot.ExportNew {
		notes = append(notes, instructionsExportNote(rot, d.Files.Bundle))
	}
	notes = append(notes, fmt.Sprintf("Each node step first backs up what it changes under /var/backups/carotate-%s/step-<N>/ (cp -a --parents keeps the full path).", d.RotationID))
	return d, notes, nil
}

// instructionsListNodes lists the nodes, paginated.
func instructionsListNodes(ctx context.Context, client kubernetes.Interface) ([]corev1.Node, error) {
	var out []corev1.Node
	err := restartPages(ctx, metav1.ListOptions{Limit: 500}, func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Node, string, error) {
		var l *corev1.NodeList
		err := WithRetry(ctx, func() (err error) {
			l, err = client.CoreV1().Nodes().List(ctx, lo)
			return err
		})
		if err != nil {
			return nil, "", err
		}
		return l.Items, l.Continue, nil
	}, func(items []corev1.Node) {
		for i := range items {
			n := items[i]
			n.ManagedFields = nil
			n.Status.Images = nil
			out = append(out, n)
		}
	}, func() { out = nil })
	if err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// statusKubeletConfig is what a kubelet's configz says about its trust.
type statusKubeletConfig struct {
	clientCAFile string
	rotate       *bool
	err          error
}

// statusConfigzTimeout bounds one configz request: a node whose kubelet
// does not answer must not hold the whole command up.
const statusConfigzTimeout = 5 * time.Second

// statusKubeletConfigs reads /api/v1/nodes/NAME/proxy/configz of every node,
// a few at a time. (verify_nodes.go reads rotateCertificates the same way;
// this also needs clientCAFile. To merge.)
func statusKubeletConfigs(ctx context.Context, client kubernetes.Interface, nodes []corev1.Node) map[string]statusKubeletConfig {
	out := map[string]statusKubeletConfig{}
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func(name string) {
			defer func() { <-sem; wg.Done() }()
			c := statusKubeletConfigz(ctx, client, name)
			mu.Lock()
			out[name] = c
			mu.Unlock()
		}(n.Name)
	}
	wg.Wait()
	return out
}

func statusKubeletConfigz(ctx context.Context, client kubernetes.Interface, name string) statusKubeletConfig {
	ctx, cancel := context.WithTimeout(ctx, statusConfigzTimeout)
	defer cancel()
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", name, "proxy", "configz").DoRaw(ctx)
	if err != nil {
		return statusKubeletConfig{err: err}
	}
	var cfg struct {
		KubeletConfig *struct {
			RotateCertificates *bool `json:"rotateCertificates"`
			Authentication     struct {
				X509 struct {
					ClientCAFile string `json:"clientCAFile"`
				} `json:"x509"`
			} `json:"authentication"`
		} `json:"kubeletconfig"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil || cfg.KubeletConfig == nil {
		return statusKubeletConfig{err: errors.New("the configz answer is not a kubelet configuration")}
	}
	rotate := cfg.KubeletConfig.RotateCertificates
	if rotate == nil {
		f := false // the kubelet's default
		rotate = &f
	}
	return statusKubeletConfig{clientCAFile: cfg.KubeletConfig.Authentication.X509.ClientCAFile, rotate: rotate}
}

var (
	statusAPIServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	statusCRDGVR        = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)
