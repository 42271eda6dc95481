// Package undo is "kubectl carotate undo FILE": it puts back what a
// mutating command changed, from the undo file that command wrote.
package undo

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// Options is "kubectl carotate undo".
type Options struct {
	*cmdutil.Env
	File       string
	Force      bool
	DryRunFlag string
	Output     string
	// Pacing is --concurrency and the rate limit, as every cluster-wide
	// writer has them.
	Pacing cmdutil.Pacing
	dryRun cmdutil.DryRun
	now    func() time.Time
}

// NewCmdUndo is "kubectl carotate undo FILE".
func NewCmdUndo(env *cmdutil.Env) *cobra.Command {
	o := &Options{Env: env, DryRunFlag: string(cmdutil.DryRunNone), now: time.Now}
	cmd := &cobra.Command{
		Use:   "undo FILE",
		Short: "Restore what a command changed, from its undo file",
		Long: `Restore what a kubectl carotate command changed, from the undo file it wrote
(bundle, unbundle, update-cluster-info, restart-workloads, ...; the command
prints the file's path, by default under ~/.kube/carotate/). ConfigMaps,
Secrets, user-made ClusterTrustBundles (--trust-bundles) and workloads.

Each ConfigMap and Secret is restored only if it has not changed since the
command wrote it (same resourceVersion); each workload only while its pod
template still carries the annotation value the pass set (a restored
annotation rolls the workload again). An object changed since, by a
controller or a person, is skipped and reported, never overwritten; one
that holds its values from before the command again (put back by the
controller-manager, or by an earlier undo) is reported "nothing to undo". Objects
the command created are deleted. Only the recorded keys are touched. The values replaced by the undo
go to a new undo file next to FILE, so an undo can itself be undone (a
deletion excepted). Writes are paced as restart-workloads paces its patches
(--concurrency).

Exit status: 0 when nothing failed (skipped objects are reported, not
errors); 1 on a bad file, missing RBAC, or a failed write.`,
		Example: `  kubectl carotate undo ~/.kube/carotate/no-rotation/bundle-20250601T120000.000Z.undo.jsonl

  # What would be restored, validated by the API server
  kubectl carotate undo --dry-run=server FILE`,
		Args: cobra.ExactArgs(1),
		RunE: cmdutil.Run(o, nil),
	}
	cmdutil.AddForceFlag(cmd, &o.Force, "Restore even though the undo file was written for another API server URL")
	cmdutil.AddDryRunFlag(cmd, &o.DryRunFlag, "send no writes")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.AddConcurrencyFlag(cmd, &o.Pacing)
	cmdutil.NoNamespace(cmd, "the undo file names the namespace of every object it restores")
	return cmd
}

// Complete takes FILE from the arguments and sets the pacing.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	o.File = args[0]
	o.Pacing.Complete(cmd, o.Factory)
	return nil
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var err error
	if o.dryRun, err = cmdutil.ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	if err := o.Pacing.Validate(); err != nil {
		return err
	}
	return cmdutil.ValidateOutput(o.Output)
}

// result is one object's line in the report.
type result struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Keys      []string `json:"keys"`
	Result    string   `json:"result"` // restored, deleted, skipped, failed
	Reason    string   `json:"reason,omitempty"`
	// asBefore marks a skipped object that holds its values from before
	// the command again: nothing to undo, as opposed to changed since.
	asBefore bool
}

// report is the summary (-o json|yaml).
type report struct {
	UndoFile    string         `json:"undoFile"`
	Command     string         `json:"command"`
	DryRun      cmdutil.DryRun `json:"dryRun"`
	NewUndoFile string         `json:"newUndoFile,omitempty"`
	Restored    int            `json:"restored"`
	Deleted     int            `json:"deleted"`
	Skipped     int            `json:"skipped"`
	Failed      int            `json:"failed"`
	Objects     []result       `json:"objects"`
}

// Run restores the file's objects.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// As bundle's pass, which writes the biggest undo files (11,004
	// changes over 10,000 namespaces): the changes are held for the pass,
	// answers decoded and dropped by the hundred. Undo of such a file
	// peaked at 61 MiB at the runtime's default, 53 MiB at this target.
	defer cluster.CollectSooner(cluster.PassGCPercent)()
	header, changes, err := undofile.Read(o.File)
	if err != nil {
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	if header.Server != "" && header.Server != cfg.Host && !o.Force {
		return fmt.Errorf("%s was written for the API server %s, but the current context uses %s; choose the right --context, or pass --force if it is the same cluster (nothing was changed)",
			o.File, header.Server, cfg.Host)
	}
	objects := group(changes)
	rep := &report{UndoFile: o.File, Command: header.Command, DryRun: o.dryRun, Objects: []result{}}
	if len(objects) == 0 {
		fmt.Fprintf(o.ErrOut, "undo: %s records no change; nothing to do\n", o.File)
		return printReport(o.Out, o.Output, rep)
	}
	for _, obj := range objects {
		if obj.Kind != "ConfigMap" && obj.Kind != "Secret" && obj.Kind != kindTrustBundle && !isWorkloadKind(obj.Kind) {
			return fmt.Errorf("%s: unsupported kind %q for %s/%s (nothing was changed)", o.File, obj.Kind, obj.Namespace, obj.Name)
		}
		if c, ok := obj.prev(cluster.TrustBundleKey); obj.Kind == kindTrustBundle && (len(obj.keys) != 1 || !ok || c.Absent || obj.Created) {
			return fmt.Errorf("%s: ClusterTrustBundle %s: only a previous spec.trustBundle can be restored (nothing was changed)", o.File, obj.Name)
		}
	}
	client, err := o.Pacing.Clientset(o.Factory)
	if err != nil {
		return err
	}
	if err := cmdutil.Preflight(ctx, client, accessChecks(objects, o.dryRun, false)); err != nil {
		// A user may hold the rights per namespace only.
		if err2 := cmdutil.Preflight(ctx, client, accessChecks(objects, o.dryRun, true)); err2 != nil {
			return err2
		}
	}

	u := &restorer{client: client, dryRun: o.dryRun, errOut: o.ErrOut, pace: o.Pacing.Pace()}
	if header.RootCASet != "" {
		u.rootCASet = []byte(header.RootCASet)
	}
	if o.dryRun == cmdutil.DryRunNone {
		u.newUndo = func() (*undofile.Writer, error) {
			return undofile.Create(filepath.Dir(o.File), undofile.Header{Command: "undo", RotationID: header.RotationID, Server: cfg.Host, CreatedAt: o.now()})
		}
	}
	rep.Objects = u.run(ctx, objects)
	o.Pacing.Report(o.ErrOut, "undo")
	if u.undo != nil {
		rep.NewUndoFile = u.undo.Path
		_ = u.undo.Close()
	}
	asBefore := 0
	for _, r := range rep.Objects {
		switch r.Result {
		case "restored":
			rep.Restored++
		case "deleted":
			rep.Deleted++
		case "skipped":
			rep.Skipped++
			if r.asBefore {
				asBefore++
			}
		default:
			rep.Failed++
		}
	}
	if err := printReport(o.Out, o.Output, rep); err != nil {
		return err
	}
	if asBefore > 0 {
		fmt.Fprintf(o.ErrOut, "undo: %d objects already hold their values from before %s: nothing to undo there (see the REASON column)\n", asBefore, header.Command)
	}
	if n := rep.Skipped - asBefore; n > 0 {
		fmt.Fprintf(o.ErrOut, "undo: %d objects changed since %s wrote them and were left as they are (see the REASON column)\n", n, header.Command)
	}
	if rep.NewUndoFile != "" {
		fmt.Fprintf(o.ErrOut, "undo: the replaced values are in %s\n", rep.NewUndoFile)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d objects could not be restored (see the RESULT column)", rep.Failed)
	}
	return nil
}

// accessChecks lists the rights undo needs, cluster-wide or per
// namespace of the file.
func accessChecks(objects []*object, dry cmdutil.DryRun, perNamespace bool) []cmdutil.AccessCheck {
	type need struct{ verb, group, resource, ns string }
	seen := map[need]bool{}
	var out []cmdutil.AccessCheck
	var group string
	add := func(verb, resource, namespace string) {
		if !perNamespace {
			namespace = ""
		}
		n := need{verb, group, resource, namespace}
		if !seen[n] {
			seen[n] = true
			out = append(out, cmdutil.AccessCheck{Verb: verb, Group: group, Resource: resource, Namespace: namespace})
		}
	}
	for _, o := range objects {
		res := strings.ToLower(o.Kind) + "s"
		group = ""
		switch {
		case isWorkloadKind(o.Kind):
			group = "apps"
		case o.Kind == kindTrustBundle:
			group = "certificates.k8s.io"
		}
		add("get", res, o.Namespace)
		if !dry.Writes() {
			continue
		}
		if o.Created {
			add("delete", res, o.Namespace)
		} else {
			add("patch", res, o.Namespace)
		}
	}
	return out
}

func printReport(w io.Writer, format string, r *report) error {
	if format == cmdutil.OutputJSON || format == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(w, format, r)
	}
	if len(r.Objects) > 0 {
		rows := make([][]string, 0, len(r.Objects))
		for _, o := range r.Objects {
			rows = append(rows, []string{o.Kind, o.Namespace, o.Name, strings.Join(o.Keys, ","), o.Result, o.Reason})
		}
		if err := cmdutil.WriteTable(w, []string{"kind", "namespace", "name", "keys", "result", "reason"}, rows); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d restored, %d deleted, %d skipped, %d failed%s\n", r.Restored, r.Deleted, r.Skipped, r.Failed, r.DryRun.Suffix())
	return err
}
