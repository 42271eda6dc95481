package start

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// AbortOptions is "kubectl carotate abort".
type AbortOptions struct {
	recordCommand
}

// NewCmdAbort is "kubectl carotate abort".
func NewCmdAbort(env *cmdutil.Env) *cobra.Command {
	o := &AbortOptions{recordCommand: newRecordCommand(env)}
	cmd := &cobra.Command{
		Use:   "abort",
		Short: "Mark the recorded rotation abandoned and print what to undo",
		Long: `Mark the rotation recorded by "kubectl carotate start" as aborted, and print
what was changed and how to put it back, judged from the cluster as status
judges it: first kube-controller-manager's --root-ca-file when it publishes
the new CA (it rewrites every kube-root-ca.crt to that file, so nothing else
sticks before it is back), then the control-plane flags that still point at
transition files, the undo files of the passes logged in the record (newest
first, for "kubectl carotate undo"), and where the node steps kept their
backups. It changes nothing but the record; the printed steps are for
you to run.`,
		Example: `  kubectl carotate abort
  kubectl carotate abort --target sa-key
  kubectl carotate abort --target front-proxy-ca
  kubectl carotate abort --target etcd-ca`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	o.addFlags(cmd)
	return cmd
}

// Run marks the record aborted and prints the undo plan.
func (o *AbortOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if checks.OtherTarget(o.Target) {
		return o.abortTarget(ctx)
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	if _, err := active(ctx, client, "abort"); err != nil {
		return err
	}
	rec, err := o.end(ctx, client, "abort", rotation.StateAborted)
	if err != nil {
		return err
	}
	// The part of status's evidence the plan needs: the control plane's
	// flags, and what the controller-manager publishes.
	cp, _ := cluster.ControlPlane(ctx, client)
	ev := checks.Evidence{ControlPlane: cp, RootCA: cluster.ReadPublishedRootCA(ctx, client, rec.OldCAs, rec.NewCAs)}
	fmt.Fprint(o.ErrOut, abortPlan(rec, ev))
	return printRecord(o.Out, o.Output, rec)
}

// abortPlan says what the rotation changed and how to revert each part,
// from the same evidence status judges by. The controller-manager comes
// first: while its --root-ca-file holds the new CA it rewrites every
// kube-root-ca.crt and legacy token Secret to it, so no undo file of ours
// can put them back before that flag is.
func abortPlan(rec *rotation.Record, ev checks.Evidence) string {
	var b strings.Builder
	b.WriteString("\nTo put the cluster back as it was before the rotation:\n")
	n := 0
	item := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. %s\n", n, fmt.Sprintf(format, args...))
	}
	backups := "/var/backups/carotate-" + rec.ID
	pub := ev.RootCA
	kcmFirst := false
	switch {
	case pub.Err != nil:
		item("Could not read kube-system/%s (%v): if kube-controller-manager's --root-ca-file holds the new CA (steps 2, 12.1), point it back at the old CA first, as below.", cluster.RootCAConfigMap, pub.Err)
	case pub.PublishedByControllerManager() && (pub.KubeSystem == checks.BundleHasBoth || pub.KubeSystem == checks.BundleOnlyNew):
		var lines []string
		kcm := checks.ComponentPods(ev.ControlPlane, checks.ComponentControllerManager)
		for _, p := range kcm {
			v := p.Command.Value("root-ca-file")
			if o := checks.OriginalPath(v); o != v && strings.HasPrefix(v, "/") {
				lines = append(lines, fmt.Sprintf("   %s on %s: --root-ca-file=%s  ->  --root-ca-file=%s (%s must hold the old CA alone; restore it from %s/step-12.1 if the finish phase rewrote it)",
					p.Component, p.Node, v, o, o, backups))
			} else {
				lines = append(lines, fmt.Sprintf("   %s on %s: --root-ca-file=%s holds %s: put the old CA alone back into it (its copy is under %s/step-2, or: kubectl -n %s get configmap %s -o jsonpath='{.data.old-ca\\.crt}')",
					p.Component, p.Node, v, checks.StateWords(pub.KubeSystem), backups, rotation.Namespace, rotation.ConfigMapName))
			}
		}
		if len(kcm) == 0 {
			lines = append(lines, fmt.Sprintf("   no kube-controller-manager mirror pod is visible: on every control-plane node, point its --root-ca-file (kubeadm: %s/ca.crt) at a file holding the old CA alone", checks.KubeadmPKIDir))
		}
		kcmFirst = true
		item("kube-controller-manager publishes %s (it last wrote kube-system/%s): its --root-ca-file holds the new CA, and it rewrites every kube-root-ca.crt and legacy token Secret to that file. Point it back at the old CA first and restart it, node by node:\n%s\n   Then check that kube-system/%s holds the old CA alone again: kubectl carotate inspect configmap/kube-system/%s",
			checks.StateWords(pub.KubeSystem), cluster.RootCAConfigMap, strings.Join(lines, "\n"), cluster.RootCAConfigMap, cluster.RootCAConfigMap)
	}
	var moved []string
	for _, p := range ev.ControlPlane {
		for _, f := range p.Command.Flags {
			if kcmFirst && p.Component == checks.ComponentControllerManager && f.Name == "root-ca-file" {
				continue // step 1 covers it
			}
			if o := checks.OriginalPath(f.Value); o != f.Value && strings.HasPrefix(f.Value, "/") {
				moved = append(moved, fmt.Sprintf("   %s on %s: --%s=%s  ->  --%s=%s", p.Component, p.Node, f.Name, f.Value, f.Name, o))
			}
		}
	}
	if len(moved) > 0 {
		item("Point these control-plane flags back at the original files (the node steps' backups are under %s/step-*):\n%s", backups, strings.Join(moved, "\n"))
		item("If the finish phase already rewrote an original file (ca.crt, ca.key, ...), restore it from %s/step-12.1 first.", backups)
	} else {
		item("No other control-plane flag visible through the API points at a transition file. Node files changed by hand are backed up under %s/step-*.", backups)
	}
	var undos []string
	for i := len(rec.Passes) - 1; i >= 0; i-- {
		// A restart pass's undo puts old annotation values back, which only
		// rolls the workloads once more: the abort pass below rolls them.
		if p := rec.Passes[i]; p.UndoFile != "" && p.Kind != "restart-workloads" {
			undos = append(undos, fmt.Sprintf("   kubectl carotate undo %s   # %s at %s by %s", p.UndoFile, p.Kind, p.At.Format(time.RFC3339), p.By))
		}
	}
	switch {
	case len(undos) > 0:
		item("Then restore what the passes wrote, newest first (each undo file is on the machine of the admin who ran the pass; where the controller-manager runs with the old CA it republishes kube-root-ca.crt by itself, and undo skips what it already put back):\n%s", strings.Join(undos, "\n"))
	default:
		item("No pass in the record left an undo file. If kube-root-ca.crt holds the bundle, the controller-manager put it there: once its --root-ca-file is the old CA again it publishes the old CA by itself.")
	}
	item("Roll the workloads so no pod keeps the bundle: kubectl carotate restart-workloads --value %s --wait", checks.RestartValue(rec.ID, "abort"))
	item("Check: kubectl carotate inspect --live")
	return b.String()
}
