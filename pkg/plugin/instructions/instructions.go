// Package instructions is "kubectl carotate instructions": the node
// steps of the rotation rendered for this cluster (checks.Render), with
// the real paths its control plane shows.
package instructions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// Options is "kubectl carotate instructions".
type Options struct {
	*cmdutil.Env
	Step, Phase, Node string
	CA                rotation.CAFlags
	Output            string
	// Target is --target: cluster-ca's steps or sa-key's.
	Target string
	// hostname is this machine's name, for the node a script is for.
	hostname func() (string, error)
}

// outputScript is -o script.
const outputScript = "script"

// NewCmdInstructions is "kubectl carotate instructions".
func NewCmdInstructions(env *cmdutil.Env) *cobra.Command {
	o := &Options{Env: env, hostname: os.Hostname}
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

Step 9.2 gives every kubelet a client certificate from the new CA, whether
it rotates its certificate or not (a rotating kubelet renews only at 70-90%
of the certificate's lifetime, perhaps after step 12.2, when an old-CA
certificate gets 401): each node sends a CertificateSigningRequest made with
its kubelet's current key and credentials, you approve it from your
workstation once it shows to come from that node for its own name, and the
node installs the certificate as kubelet-client-current.pem before its
kubelet restarts. (A bootstrap token would need bootstrap-kubelet.conf,
which kubeadm deletes after the join.)

Every node step backs up what it changes under /var/backups/carotate-<id>/
first and ends with the kubectl carotate check that confirms it. -o json
gives the same steps as data (node, component, action, flag, file, content,
command); docs/instructions-schema.md describes the fields. The CAs come from
the rotation record ("kubectl carotate start"), or from --old-ca/--new-ca.

-o script prints the same steps as a bash script to run as root on a node
(set -euo pipefail). Each step runs only if its check shows it is not done
(the manifest has the flag, the file holds the certificates, the kubeconfig
trusts the bundle, the component restarted after its files changed), and
its check must pass after it: the script stops at the first step that did
not take, naming the file, and a re-run resumes there. Waits for restarts
poll with a timeout (CAROTATE_TIMEOUT, 300 s). The new CA's private key is
read from $NEW_CA_KEY (default ./new-ca.key) on the node; kubectl carotate
never reads it. With --node NAME the script holds that node's steps and
records each step it finishes on the node's Node object (annotation
carotate.io/step-N, with the kubelet's credentials). Without --node it is
the script of this machine when it is a control-plane node, else of the
only control-plane node, and it holds the workstation steps too (the
kubectl carotate commands, run with your kubeconfig there): at each other
node's turn it says which script to run there and waits until that node
has recorded it (CAROTATE_NODE_TIMEOUT, 3600 s). On a cluster with one
control-plane node, the scripts of --phase bundle, serve and finish, run
one after the other there (and the other nodes' scripts when they are
waited for), rotate the whole cluster.

--target sa-key prints the steps of the ServiceAccount signing key
rotation recorded by "kubectl carotate start --target sa-key" (phases
trust, sign, finish; steps 1, 2, 3.1, 3.2, 4): the old and new public keys
into a file beside kube-apiserver's --service-account-key-file, the new
private key installed beside the signing key from $NEW_SA_KEY (the
operator's file: kubectl carotate never reads it), the API server and the
controller-manager switched to it, the tokens the old key signed
replaced (kubectl carotate resign-tokens, restart-workloads), a check that
none is left (verify --target sa-key), and the old public key dropped with
the new pair copied over kubeadm's sa.pub and sa.key.

--target front-proxy-ca prints the steps of the front-proxy CA rotation
recorded by "kubectl carotate start --target front-proxy-ca" (phases bundle,
serve, finish; steps 1, 2, 3), read from the control plane's static pods:
old and new front-proxy CA into a file beside --requestheader-client-ca-file
(kube-apiserver and kube-controller-manager), the proxy client certificate
re-issued from the new CA with openssl on the node (same key, subject and
extensions; the new CA's key from $NEW_FRONT_PROXY_CA_KEY, never read by
kubectl carotate), a check that every API server uses it (verify --target
front-proxy-ca), then the new CA, key and certificate copied over kubeadm's
files, the flags pointed back at them and
kube-system/extension-apiserver-authentication published afresh.

--target etcd-ca prints the steps of the etcd CA rotation recorded by
"kubectl carotate start --target etcd-ca" (phases bundle, serve, finish;
steps 1, 2, 3), read from the etcd and kube-apiserver static pods, node by
node, etcd before the API server: old and new etcd CA into a file beside
etcd/ca.crt (never into it: kubeadm signs with etcd/ca.key) for etcd's
--trusted-ca-file and --peer-trusted-ca-file and kube-apiserver's
--etcd-cafile, then etcd's server, peer and healthcheck-client certificates
and apiserver-etcd-client re-issued from the new CA with openssl on the node
(the new CA's key from $NEW_ETCD_CA_KEY), a check that they are in use
(verify --target etcd-ca), then the new CA, key and certificates copied over
kubeadm's files and the flags pointed back at them. Each node step ends with
checks (etcd /health over TLS, /readyz's etcd line) and records on the
node's Node object that they passed, which status judges by.`,
		Example: `  # Everything, for the recorded rotation
  kubectl carotate instructions

  # One step, or one phase, as data for automation
  kubectl carotate instructions --step 2
  kubectl carotate instructions --phase serve -o json

  # Without a recorded rotation
  kubectl carotate instructions --old-ca ca.crt --new-ca new-ca.crt --phase bundle

  # As scripts: on the control-plane node (with the workstation steps), and for a worker
  kubectl carotate instructions -o script --phase serve > serve.sh && sudo NEW_CA_KEY=/root/new-ca.key bash serve.sh
  kubectl carotate instructions -o script --phase serve --node worker-1 > serve-worker-1.sh

  # The ServiceAccount signing key rotation (kubectl carotate start --target sa-key)
  kubectl carotate instructions --target sa-key
  kubectl carotate instructions --target sa-key -o script --phase trust > trust.sh && sudo NEW_SA_KEY=/root/new-sa.key bash trust.sh

  # The front-proxy CA rotation (kubectl carotate start --target front-proxy-ca)
  kubectl carotate instructions --target front-proxy-ca --step 2
  kubectl carotate instructions --target front-proxy-ca -o script --phase serve > serve.sh && sudo NEW_FRONT_PROXY_CA_KEY=/root/new-front-proxy-ca.key bash serve.sh

  # The etcd CA rotation (kubectl carotate start --target etcd-ca)
  kubectl carotate instructions --target etcd-ca --step 1 --node cp-1
  kubectl carotate instructions --target etcd-ca -o script --phase serve > serve.sh && sudo NEW_ETCD_CA_KEY=/root/new-etcd-ca.key bash serve.sh`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	f := cmd.Flags()
	f.StringVar(&o.Step, "step", o.Step, "Only this upstream step (1, 2, 3, 4, 5, 6, 7, 8, 9.1, 9.2, 9.3, 9.4, 10, 11, 12.1, 12.2, 12.3)")
	f.StringVar(&o.Phase, "phase", o.Phase, "Only this phase: bundle (steps 1-9.1), serve (9.2-11) or finish (12.x); with --target sa-key: trust (1), sign (2-3.2) or finish (4); with --target front-proxy-ca or etcd-ca: bundle (1), serve (2) or finish (3)")
	f.StringVar(&o.Node, "node", o.Node, "Only the steps of this node (and the in-cluster steps)")
	o.CA.AddFlags(cmd)
	f.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text (default), json, yaml or script (bash, to run on a node)")
	steps := make([]string, 0, len(checks.UpstreamSteps))
	for _, s := range checks.UpstreamSteps {
		steps = append(steps, s.Step)
	}
	_ = cmd.RegisterFlagCompletionFunc("step", cmdutil.CompleteFixed(steps...))
	_ = cmd.RegisterFlagCompletionFunc("phase", cmdutil.CompleteFixed(checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish, checks.SAPhaseTrust, checks.SAPhaseSign))
	cmdutil.AddTargetFlag(cmd, &o.Target)
	_ = cmd.RegisterFlagCompletionFunc("output", cmdutil.CompleteFixed("text", cmdutil.OutputJSON, cmdutil.OutputYAML, outputScript))
	cmdutil.NoNamespace(cmd, "the instructions cover the whole control plane and every node")
	return cmd
}

// Validate checks the flags; it reads no file.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateTarget(o.Target); err != nil {
		return err
	}
	if o.Step != "" && o.Phase != "" {
		return errors.New("--step and --phase are exclusive: a step belongs to one phase")
	}
	if checks.OtherTarget(o.Target) {
		return o.validateTarget()
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
	if err := o.CA.Validate(); err != nil {
		return err
	}
	return o.validateOutput()
}

// validateOutput checks -o: text (the table), script, or one of
// kubectl's formats.
func (o *Options) validateOutput() error {
	if o.Output == "text" {
		o.Output = cmdutil.OutputTable
	}
	if o.Output == outputScript {
		return nil
	}
	return cmdutil.ValidateOutput(o.Output)
}

// Run reads the cluster and prints the steps.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if checks.OtherTarget(o.Target) {
		return o.runTarget(ctx)
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rot, err := rotation.Resolve(ctx, client, o.CA.OldCA, o.CA.NewCA)
	if err != nil {
		return err
	}
	dyn, err := o.DynamicClient()
	if err != nil {
		return err
	}
	d, notes, err := o.describe(ctx, client, dyn, rot)
	if err != nil {
		return err
	}
	return o.emit(d, checks.Render(d), notes, rotation.ExportNote(rot, d.Files.Bundle))
}

// emit prints the steps in the format asked for.
func (o *Options) emit(d checks.ClusterDescription, all []checks.Step, notes []string, export string) error {
	if o.Node != "" && !hasNode(all, o.Node) {
		return fmt.Errorf("no step for node %q: the nodes are %s", o.Node, strings.Join(nodeNames(all), ", "))
	}
	if o.Output == outputScript {
		return o.printScript(d, all, notes, export)
	}
	steps := checks.FilterSteps(all, o.Step, o.Phase, o.Node)
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		if steps == nil {
			steps = []checks.Step{}
		}
		return cmdutil.PrintStructured(o.Out, o.Output, checks.InstructionsDoc{Rotation: d.RotationID, Target: d.Target, Source: d.Source, Notes: notes, Contents: d.Contents, Steps: steps})
	}
	_, err := fmt.Fprint(o.Out, checks.RenderText(d, steps, notes))
	return err
}

// printScript prints the script of one node: --node's, or this
// machine's, or the only control-plane node's, with the workstation steps.
func (o *Options) printScript(d checks.ClusterDescription, all []checks.Step, notes []string, export string) error {
	so := checks.ScriptOptions{Node: o.Node}
	switch {
	case o.Phase != "":
		so.Selection = []string{"--phase", o.Phase}
	case o.Step != "":
		so.Selection = []string{"--step", o.Step}
	}
	if checks.OtherTarget(d.Target) {
		so.Selection = append([]string{"--target", d.Target}, so.Selection...)
	}
	if so.Node == "" {
		node, err := o.scriptNode(d)
		if err != nil {
			return err
		}
		so.Node, so.Workstation = node, true
	}
	// The script writes the CA files it lacks from the rotation itself.
	for _, n := range notes {
		if n != export {
			so.Notes = append(so.Notes, n)
		}
	}
	steps := checks.FilterSteps(all, o.Step, o.Phase, "")
	if !hasNode(steps, so.Node) && !so.Workstation {
		return fmt.Errorf("node %s has no step in this selection: nothing to script", so.Node)
	}
	script, err := checks.RenderScript(d, steps, so)
	if err != nil {
		return fmt.Errorf("-o script: %w", err)
	}
	_, err = fmt.Fprint(o.Out, script)
	return err
}

// scriptNode is the node a script without --node is for: this machine
// when it is a control-plane node, else the only control-plane node.
func (o *Options) scriptNode(d checks.ClusterDescription) (string, error) {
	var hosts []string
	for _, h := range d.ControlPlane {
		if h.Node != "*" {
			hosts = append(hosts, h.Node)
		}
	}
	if name, err := o.hostname(); err == nil && slices.Contains(hosts, name) {
		return name, nil
	}
	switch len(hosts) {
	case 1:
		return hosts[0], nil
	case 0:
		return "", errors.New("-o script: no control-plane node is known (no mirror pod, no node labelled control-plane): pass --node NAME for the node the script runs on")
	}
	return "", fmt.Errorf("-o script: this machine is not a control-plane node and there are %d (%s): pass --node NAME, and run the script without --node on the control-plane node that also does the workstation steps",
		len(hosts), strings.Join(hosts, ", "))
}

func hasNode(steps []checks.Step, node string) bool {
	for _, s := range steps {
		if s.Node == node {
			return true
		}
	}
	return false
}

func nodeNames(steps []checks.Step) []string {
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
