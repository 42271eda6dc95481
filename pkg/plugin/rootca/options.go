package rootca

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// The settle period must outlast the controller-manager's reaction (well
// under a second when it runs) plus an API round trip on a loaded cluster.
const defaultSettle = 10 * time.Second

// passOptions are the flags bundle and unbundle share, and what they
// resolve to.
type passOptions struct {
	CreateMissing bool
	ReplaceOther  bool
	Settle        time.Duration
	DryRunFlag    string
	Output        string
	UndoDir       string
	AllNamespaces bool
	// TrustBundles also updates the user-made ClusterTrustBundles that
	// hold the old CA (--trust-bundles).
	TrustBundles bool
	// Pacing is --concurrency and the rate limit, as restart-workloads
	// has them: without it the root's 50 QPS would hold the pass back.
	Pacing    cmdutil.Pacing
	dryRun    cmdutil.DryRun
	namespace string
	now       func() time.Time
}

func newPassOptions() passOptions {
	return passOptions{Settle: defaultSettle, DryRunFlag: string(cmdutil.DryRunNone), now: time.Now}
}

// addFlags binds the shared flags; outside says which ca.crt values
// --replace-other replaces, putBack what the controller-manager would put
// back.
func (o *passOptions) addFlags(cmd *cobra.Command, outside, putBack string) {
	f := cmd.Flags()
	f.BoolVar(&o.CreateMissing, "create-missing", o.CreateMissing, "Create kube-root-ca.crt in namespaces that have none")
	f.BoolVar(&o.ReplaceOther, "replace-other", o.ReplaceOther, "Also replace ca.crt values that "+outside+" (by default they are left alone and reported)")
	f.DurationVar(&o.Settle, "settle", o.Settle, "How long to watch written objects for the controller-manager putting "+putBack+" back (0 skips the check)")
	cmdutil.AddDryRunFlag(cmd, &o.DryRunFlag, "send no writes")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.AddUndoDirFlag(cmd, &o.UndoDir)
	cmdutil.AddAllNamespacesFlag(cmd, &o.AllNamespaces)
	cmdutil.AddConcurrencyFlag(cmd, &o.Pacing)
}

// complete resolves the pass's pacing from the flags.
func (o *passOptions) complete(cmd *cobra.Command, env *cmdutil.Env) {
	var f cmdutil.Factory
	if env != nil {
		f = env.Factory
	}
	o.Pacing.Complete(cmd, f)
}

// addTrustBundlesFlag binds --trust-bundles; does says what it does to a
// user-made ClusterTrustBundle.
func (o *passOptions) addTrustBundlesFlag(cmd *cobra.Command, does string) {
	cmd.Flags().BoolVar(&o.TrustBundles, "trust-bundles", o.TrustBundles,
		"Also update the user-made ClusterTrustBundles (no signerName) that hold the old CA: "+does+" (conflict-safe, recorded in the undo file; a signer's bundles are never written)")
}

// validate checks the shared flags; env may be nil in unit tests.
func (o *passOptions) validate(env *cmdutil.Env) error {
	if o.Settle < 0 {
		return errors.New("--settle must not be negative")
	}
	if err := o.Pacing.Validate(); err != nil {
		return err
	}
	var err error
	if o.dryRun, err = cmdutil.ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	var f cmdutil.Factory
	if env != nil {
		f = env.Factory
	}
	if o.namespace, err = cmdutil.NamespaceScope(f, o.AllNamespaces); err != nil {
		return err
	}
	if o.TrustBundles && o.namespace != "" {
		return fmt.Errorf("--trust-bundles updates ClusterTrustBundles, which belong to no namespace: run it without -n %s", o.namespace)
	}
	return cmdutil.ValidateOutput(o.Output)
}

// connect builds the clients and checks that an -n namespace exists.
// The client is the pass's (Pacing.Clientset): paced, protobuf.
func (o *passOptions) connect(ctx context.Context, env *cmdutil.Env) (*rest.Config, kubernetes.Interface, error) {
	cfg, err := env.RESTConfig()
	if err != nil {
		return nil, nil, err
	}
	client, err := o.Pacing.Clientset(env.Factory)
	if err != nil {
		return nil, nil, err
	}
	if err := cluster.RequireNamespace(ctx, client, o.namespace); err != nil {
		return nil, nil, err
	}
	return cfg, client, nil
}

// newPass is the pass these options describe, once the undo directory
// is known and the user holds the rights it needs.
func (o *passOptions) newPass(ctx context.Context, env *cmdutil.Env, command string, client kubernetes.Interface, server string,
	target checks.RootCATarget, targetPEM []byte, tb *trustBundleCAs) (*pass, error) {
	undoDir, err := rotation.UndoDir(ctx, client, o.UndoDir)
	if err != nil {
		return nil, err
	}
	p := &pass{
		Command: command, Client: client, Server: server, Target: target, TargetPEM: targetPEM,
		DryRun: o.dryRun, ReplaceOther: o.ReplaceOther, CreateMissing: o.CreateMissing,
		Settle: o.Settle, UndoDir: undoDir, ErrOut: env.ErrOut, Now: o.now, Namespace: o.namespace, TrustBundles: tb,
		Pace: o.Pacing.Pace(),
	}
	if err := cmdutil.Preflight(ctx, client, p.accessChecks()); err != nil {
		return nil, err
	}
	return p, nil
}

// runPass does the pass, prints its report, says what to do when the
// controller-manager reverted it (instruction), and logs it in the
// rotation as logged.
func (o *passOptions) runPass(ctx context.Context, env *cmdutil.Env, p *pass, bundleFile, instruction string, logged rotation.Pass) error {
	r, err := p.run(ctx)
	if err != nil {
		return err
	}
	r.BundleFile = bundleFile
	o.Pacing.Report(env.ErrOut, p.Command)
	if err := printReport(env.Out, o.Output, r); err != nil {
		return err
	}
	hint, err := r.outcome(instruction)
	if hint != "" {
		fmt.Fprint(env.ErrOut, hint)
	}
	logged.Result, logged.UndoFile, logged.Scope = rotation.Result(err), r.UndoFile, scope(o.namespace)
	rotation.LogPass(ctx, p.Client, env.ErrOut, o.dryRun, logged)
	if err != nil {
		return err
	}
	conclusion(env.ErrOut, r)
	return nil
}

// scope is a pass's scope for the rotation's log: "" for every
// namespace; a pass over one namespace does not complete its step.
func scope(namespace string) string {
	if namespace == "" {
		return ""
	}
	return "namespace " + namespace
}
