package drill

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// renewal are the actions of step 9.2 that renew a kubelet's client
// certificate: what a node left out of the renewal does not do.
var renewal = []string{checks.ActionRequestCert, checks.ActionApproveCSR, checks.ActionInstallCert}

// ApplyNodes follows the kubelet steps of instructions -o json for one
// step on every node whose kubelet the harness gave its own files
// (localcluster's KubeletNodes), as the operator: each printed command
// runs on its node (Cluster.RunOnNode), "systemctl restart kubelet"
// restarts that node's kubelet, and the workstation's steps for those
// nodes (approving their certificate requests) run as the admin. The
// nodes in noRenewal keep their client certificate: their request,
// approval and install are left out, everything else is done. It returns
// the steps it acted on.
func (o *Operator) ApplyNodes(ctx context.Context, step string, noRenewal ...string) ([]checks.Step, error) {
	d, err := o.Instructions(ctx, "--step", step)
	if err != nil {
		return nil, err
	}
	kubelets := o.Cluster.KubeletNodes()
	var done []checks.Step
	for _, s := range d.Steps {
		node := s.Node
		if node == "" {
			node = s.ForNode
		}
		if !slices.Contains(kubelets, node) || s.Action == checks.ActionSkip {
			continue
		}
		if slices.Contains(noRenewal, node) && (slices.Contains(renewal, s.Action) || s.Action == checks.ActionWriteFile && strings.HasPrefix(s.File, "/var/lib/carotate/")) {
			continue // the request, its approval, the CA the certificate is checked with, the install
		}
		var err error
		switch {
		case s.Action == checks.ActionRestart && s.Restart == checks.ComponentKubelet:
			err = o.Cluster.RestartKubelet(ctx, node)
		case s.Node == "":
			err = o.shell(ctx, s.Command)
		default:
			var stdout, stderr string
			stdout, stderr, err = o.Cluster.RunOnNode(ctx, node, s.Command)
			if err != nil {
				err = fmt.Errorf("%w\n%s%s", err, stdout, stderr)
			}
		}
		if err != nil {
			return done, fmt.Errorf("step %s on %s (%s %s): %w", s.Step, or(s.Node, "the workstation for "+node), s.Action, s.Description, err)
		}
		done = append(done, s)
		if o.Narrator != nil {
			o.Narrator.Logf("  [%s] %s: %s", or(s.Node, "workstation"), s.Action, s.Description)
		}
	}
	return done, nil
}

// shell runs a printed kubectl command line as the admin.
func (o *Operator) shell(ctx context.Context, line string) error {
	kc := o.Kubeconfig
	if kc == "" {
		kc = o.Cluster.Kubeconfig
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", line)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc,
		"PATH="+o.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+o.Dir)
	out, err := cmd.CombinedOutput()
	if o.Narrator != nil {
		code := 0
		if err != nil {
			code = 1
		}
		if rest, ok := strings.CutPrefix(line, "kubectl "); ok {
			o.Narrator.Command(rest, Result{Stdout: string(out), Code: code})
		} else {
			o.Narrator.Logf("$ %s -> exit %d\n%s", line, code, out)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %v: %s", line, err, out)
	}
	return nil
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// leftOutTaint keeps workloads off the node left out of step 9.2's
// renewal, which stops authenticating at step 12.2 and is replaced.
const leftOutTaint = "carotate.example/left-out-of-9.2"

// leaveOut picks the node left out of step 9.2's renewal (the last worker
// with its own kubelet) and taints it so no workload lands there.
func (d *Drill) leaveOut(ctx context.Context, client kubernetes.Interface) error {
	kubelets := d.Cluster.KubeletNodes()
	d.out.Kubeconfigs = map[string]string{}
	for _, n := range kubelets {
		d.out.Kubeconfigs[n] = d.Cluster.NodePath(n, "/etc/kubernetes/kubelet.conf")
	}
	var workers []string
	for _, n := range kubelets {
		if n != localcluster.ControlPlaneNode && n != localcluster.KubeadmNode {
			workers = append(workers, n)
		}
	}
	if len(workers) < 2 {
		return fmt.Errorf("the drill needs at least two worker nodes whose kubelet authenticates as the node (localcluster.Options.NodeKubelets), got %v", kubelets)
	}
	d.out.LeftOut = workers[len(workers)-1]
	for _, n := range kubelets {
		if n != d.out.LeftOut {
			d.out.Renewed = append(d.out.Renewed, n)
		}
	}
	// The node's own kubelet (and KWOK, for the simulated nodes) writes
	// its status meanwhile, so the read-modify-write is retried on a
	// conflict.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node, err := client.CoreV1().Nodes().Get(ctx, d.out.LeftOut, metav1.GetOptions{})
		if err != nil {
			return err
		}
		node.Spec.Taints = append(node.Spec.Taints, corev1.Taint{Key: leftOutTaint, Effect: corev1.TaintEffectNoSchedule})
		_, err = client.CoreV1().Nodes().Update(ctx, node, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("tainting node %s: %w", d.out.LeftOut, err)
	}
	d.logf("nodes %s: each kubelet authenticates as its node; %s (tainted, no workload) will be left out of step 9.2's client certificate renewal",
		strings.Join(kubelets, ", "), d.out.LeftOut)
	return nil
}

// replaceLeftOut stops the left-out node's kubelet and deletes the node,
// as an admin replaces a node that cannot authenticate.
func (d *Drill) replaceLeftOut(ctx context.Context, client kubernetes.Interface) error {
	if err := d.Cluster.StopKubelet(ctx, d.out.LeftOut); err != nil {
		return err
	}
	if err := client.CoreV1().Nodes().Delete(ctx, d.out.LeftOut, metav1.DeleteOptions{}); err != nil {
		return err
	}
	d.logf("  [workstation] kubectl delete node %s (its kubelet stopped)", d.out.LeftOut)
	return nil
}

// stepState is one step as status -o json shows it now.
func (d *Drill) stepState(ctx context.Context, step string) (StatusStep, error) {
	s, err := d.op.Status(ctx)
	if err != nil {
		return StatusStep{}, err
	}
	for _, x := range s.Steps {
		if x.Step == step {
			return StatusStep{State: x.State, Evidence: x.Evidence}, nil
		}
	}
	return StatusStep{}, fmt.Errorf("status shows no step %s", step)
}

// waitStepState polls status until step shows what ok wants.
func (d *Drill) waitStepState(ctx context.Context, step string, ok func(StatusStep) bool) (StatusStep, error) {
	var last StatusStep
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := d.stepState(ctx, step)
		if err != nil {
			return false, nil
		}
		last = s
		return ok(s), nil
	})
	if err != nil {
		return last, fmt.Errorf("status never showed step %s as expected; last: %s: %s", step, last.State, last.Evidence)
	}
	return last, nil
}
