// Package restart is "kubectl carotate restart-workloads": one pass that
// sets a pod-template annotation on every Deployment, DaemonSet and
// StatefulSet so their pods load the CA again, optionally waiting for the
// rollouts, and a report of what did not or could not roll.
package restart

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

const (
	defaultAnnotation = "ca-rotation"
	// valueLayout is a UTC timestamp that sorts, reads at a glance and
	// is unique per run to the second: enough for passes minutes apart.
	valueLayout = "20060102T150405Z"
	// maxValueLen keeps the value readable in a table; the API would
	// accept far more.
	maxValueLen = 253
	// restartGCPercent is the collector's target during the pass (see
	// Run): below cluster.PassGCPercent, measured at 50,000 workloads.
	restartGCPercent = 15
)

// Options is "kubectl carotate restart-workloads".
type Options struct {
	recorded *rotation.Record // the active rotation the pass value came from
	// active is the active rotation as the pass value's lookup read it
	// (nil: none); activeRead says it was read, so the undo file's
	// directory needs no second read.
	active     *rotation.Record
	activeRead bool
	*cmdutil.Env

	AllNamespaces     bool
	NamespaceSelector string
	ExcludeNamespaces []string
	Selector          string
	Kinds             []string
	Annotation        string
	Value             string
	// Pacing is --concurrency and the rate limit: the policy every
	// cluster-wide writer shares.
	Pacing             cmdutil.Pacing
	Wait               bool
	MaxInFlight        int
	Timeout            time.Duration
	ResumePaused       bool
	DeleteOnDeletePods bool
	Force              bool
	DryRunFlag         string
	Output             string
	UndoDir            string

	// Function fields, as in kubectl rollout restart: a test swaps one piece
	// without faking the world.

	// ResolveValue picks the pass value and says where it came from. The
	// default takes --value, else a timestamp fresh for this run; a rotation
	// record can supply "<rotation id>/<phase>" here instead.
	ResolveValue func(ctx context.Context) (value, source string, err error)
	// Now is the clock behind the generated value.
	Now func() time.Time
	// NewClient builds the API client (a typed clientset speaking protobuf).
	NewClient func() (kubernetes.Interface, error)
	// IsTerminal decides between a redrawn progress line and plain lines.
	IsTerminal func(w io.Writer) bool
	// Restarter sends the patch for one workload (see patch).
	Restarter func(ctx context.Context, t *cluster.Workload, value string) (patchResult, error)
	// NewTracker watches the chosen kinds for --wait, keeping the state of
	// the workloads named from its first list.
	NewTracker func(ctx context.Context, watched []*cluster.Workload) (tracker, error)

	dryRun cmdutil.DryRun
	scope  scope
	kinds  []cluster.WorkloadKind
	client kubernetes.Interface
	server string // the API server URL, for the undo file
	// forced says what a --force pass ran despite, for the rotation's log.
	forced string
}

// NewCmdRestartWorkloads is "kubectl carotate restart-workloads".
func NewCmdRestartWorkloads(env *cmdutil.Env) *cobra.Command {
	o := &Options{
		Env:         env,
		Kinds:       []string{"deployments", "daemonsets", "statefulsets"},
		Annotation:  defaultAnnotation,
		MaxInFlight: 5,
		Timeout:     5 * time.Minute,
		DryRunFlag:  string(cmdutil.DryRunNone),
	}
	cmd := &cobra.Command{
		Use:   "restart-workloads",
		Short: "Roll every Deployment, DaemonSet and StatefulSet so their pods load the current CA",
		Long: `Roll the workloads whose pods must load the CA again: upstream steps 4 and 9.4
of "Manually Rotate CA Certificates" (after the bundle is published, and after
the serving certificates change), and 12.1 (after the old CA is removed).

It lists each kind once across the cluster (paginated), then sends one
strategic-merge patch per workload that sets the pod-template annotation
ca-rotation (--annotation) to this pass's value. The value is fresh for every
run (a UTC timestamp such as 20261130T150405Z) unless --value pins it, so each
pass rolls again. Re-running with the same --value patches nothing that
already carries it: a pass interrupted by Ctrl-C, a crash or an API server
restart is finished by running it again with the value it printed.

Without --wait every patched workload starts rolling at once (each
controller still honours its own maxUnavailable). With --wait at most
--max-in-flight workloads roll at the same time across the cluster: the next
one is patched only when a rollout completes by kubectl rollout status's
rules, observed through a watch. A rollout that does not finish within
--timeout is reported and frees its slot.

Nothing is skipped silently. The report lists paused Deployments (patched,
but they roll only when resumed; --resume-paused resumes them), OnDelete
DaemonSets and StatefulSets (patched, but no pod is replaced;
--delete-ondelete-pods deletes their old pods one at a time, each after the
previous replacement is Ready), workloads with 0 replicas (nothing to roll),
and pods no annotation can restart: bare pods, Job and CronJob pods, static
pods, pods of other controllers.

Inside a rotation recorded with "kubectl carotate start" the value is the
rotation's pass (<id>/bundle, then <id>/serve, then <id>/finish; an
unfinished pass is resumed), and the pass first checks that the step it
follows is done: the bundle pass that every kube-root-ca.crt and legacy token
Secret holds the bundle and kube-controller-manager publishes it (steps 2, 3),
the serve pass that the API server serves from the new CA (9.3), the finish
pass that every one holds the new CA alone, published by the controller-manager
(12.1). Otherwise it refuses, patching and logging nothing: the pods it would
roll would miss the change, and its value, then on every template, would make
the pass that is needed later patch nothing. --force runs it anyway. A pass
narrowed by -n, selectors or --kinds does not complete its phase. Each patch
is conditional on the version the pass read: two passes racing on the same
workload do not both patch it, report it or record it for undo.

Before the first patch, the previous value of the annotation on every
workload about to be patched (and spec.paused of what --resume-paused
resumes) goes to an undo file, whose path is printed. "kubectl carotate undo
FILE" puts those values back on the workloads that still carry this pass's
value; that is a change of the pod template too, so they roll again.

The pass is paced by the requests it keeps in flight, which slows down with
a struggling API server: from 10, their number grows while the pass gets
more done (or no less), comes down where fewer get more done, and halves
when the API server answers 429, Retry-After or errors; --concurrency N
pins it. The client has no rate limit here unless --qps or --burst is
given: the requests in flight are the limit. bundle, unbundle and undo are
paced the same way.

Summary columns: PATCHED the patch was sent; CURRENT the template already
carried the value; SKIPPED will not roll by itself, with the reason; FAILED
the patch or the rollout failed; ROLLED OUT the rollout completed (--wait).
Exit status 1 when anything failed or the run was interrupted.`,
		Example: `  # Roll every workload in the cluster; print the pass value to resume with
  kubectl carotate restart-workloads

  # Roll at most 3 workloads at a time and wait for each, 10 minutes each at most
  kubectl carotate restart-workloads --wait --max-in-flight 3 --timeout 10m

  # Resume an interrupted pass: only what does not carry the value yet is patched
  kubectl carotate restart-workloads --value 20261130T150405Z --wait

  # One namespace, Deployments only, labelled workloads only
  kubectl carotate restart-workloads -n payments --kinds deployments -l tier=api

  # Namespaces by label, minus one; see what would change
  kubectl carotate restart-workloads --namespace-selector team=infra --exclude-namespace infra-sandbox --dry-run=server

  # A rotation's pass before the step it follows is done, knowingly
  kubectl carotate restart-workloads --force

  # Also replace the pods of OnDelete workloads and resume paused Deployments
  kubectl carotate restart-workloads --wait --delete-ondelete-pods --resume-paused -o json`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "All namespaces (the default unless -n or --namespace-selector narrows it)")
	f.StringVar(&o.NamespaceSelector, "namespace-selector", o.NamespaceSelector, "Only namespaces matching this label selector (e.g. team=infra)")
	f.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", o.ExcludeNamespaces, "Leave this namespace out (repeat or comma-separate)")
	f.StringVarP(&o.Selector, "selector", "l", o.Selector, "Only workloads (and pods in the report) matching this label selector")
	f.StringSliceVar(&o.Kinds, "kinds", o.Kinds, "Workload kinds to roll: deployments, daemonsets, statefulsets")
	f.StringVar(&o.Annotation, "annotation", o.Annotation, "Pod-template annotation that carries the pass value")
	f.StringVar(&o.Value, "value", o.Value, "Pass value (default: a UTC timestamp fresh for this run); give the printed value to resume a pass")
	cmdutil.AddConcurrencyFlag(cmd, &o.Pacing)
	f.BoolVar(&o.Wait, "wait", o.Wait, "Wait for the rollouts, at most --max-in-flight at a time")
	f.IntVar(&o.MaxInFlight, "max-in-flight", o.MaxInFlight, "With --wait: workloads rolling at the same time across the cluster")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "With --wait: how long one workload may take to roll out")
	f.BoolVar(&o.ResumePaused, "resume-paused", o.ResumePaused, "Also set spec.paused=false on paused Deployments so they roll")
	f.BoolVar(&o.DeleteOnDeletePods, "delete-ondelete-pods", o.DeleteOnDeletePods, "With --wait: delete the old pods of OnDelete DaemonSets and StatefulSets one at a time, each after the previous replacement is Ready")
	cmdutil.AddForceFlag(cmd, &o.Force, "Run a rotation's pass although the step it follows is not done (its pods may miss that change)")
	cmdutil.AddDryRunFlag(cmd, &o.DryRunFlag, "send nothing")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.AddUndoDirFlag(cmd, &o.UndoDir)
	_ = cmd.RegisterFlagCompletionFunc("kinds", cmdutil.CompleteList("deployments", "daemonsets", "statefulsets"))
	_ = cmd.RegisterFlagCompletionFunc("exclude-namespace", cmdutil.CompleteNamespaces(env.Factory))
	return cmd
}

// Complete fills in the defaults that need no cluster.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	// A pass is paced by the requests it keeps in flight (a closed loop):
	// the rate limit is a ceiling unless given; the root default would
	// stretch 5000 patches to 100 s.
	o.Pacing.Complete(cmd, o.Factory)
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ResolveValue == nil {
		o.ResolveValue = o.defaultValue
	}
	if o.NewClient == nil {
		o.NewClient = o.newClient
	}
	if o.IsTerminal == nil {
		o.IsTerminal = isTerminal
	}
	if o.Restarter == nil {
		o.Restarter = o.patch
	}
	if o.NewTracker == nil {
		o.NewTracker = o.workloadTracker
	}
	// Only an explicit -n narrows the scope; the kubeconfig context's
	// namespace does not, since a pass covers the cluster by default.
	if o.Factory != nil {
		o.scope.namespace = o.ExplicitNamespace()
	}
	return nil
}

// Validate checks the flags; it does no I/O.
func (o *Options) Validate() error {
	var err error
	if o.dryRun, err = cmdutil.ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	if err := cmdutil.ValidateOutput(o.Output); err != nil {
		return err
	}
	if o.kinds, err = parseKinds(o.Kinds); err != nil {
		return err
	}
	if errs := validation.IsQualifiedName(o.Annotation); len(errs) > 0 {
		return fmt.Errorf("invalid --annotation %q: %s", o.Annotation, strings.Join(errs, "; "))
	}
	if o.Value != "" {
		if err := validateValue(o.Value); err != nil {
			return err
		}
	}
	if o.scope.namespace != "" {
		switch {
		case o.AllNamespaces:
			return errors.New("-n/--namespace and -A/--all-namespaces cannot be used together")
		case o.NamespaceSelector != "":
			return errors.New("-n/--namespace and --namespace-selector cannot be used together")
		case len(o.ExcludeNamespaces) > 0:
			return errors.New("-n/--namespace and --exclude-namespace cannot be used together")
		}
	}
	if o.NamespaceSelector != "" {
		if o.scope.nsSelector, err = labels.Parse(o.NamespaceSelector); err != nil {
			return fmt.Errorf("invalid --namespace-selector %q: %v", o.NamespaceSelector, err)
		}
	}
	if o.Selector != "" {
		if _, err := labels.Parse(o.Selector); err != nil {
			return fmt.Errorf("invalid -l/--selector %q: %v", o.Selector, err)
		}
	}
	o.scope.exclude = map[string]bool{}
	for _, ns := range o.ExcludeNamespaces {
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return fmt.Errorf("invalid --exclude-namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		o.scope.exclude[ns] = true
	}
	if err := o.Pacing.Validate(); err != nil {
		return err
	}
	if o.MaxInFlight < 1 {
		return fmt.Errorf("--max-in-flight must be at least 1, got %d", o.MaxInFlight)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	if o.Wait && o.dryRun != cmdutil.DryRunNone {
		return fmt.Errorf("--wait cannot be used with --dry-run=%s: nothing would roll", o.dryRun)
	}
	if o.DeleteOnDeletePods && !o.Wait {
		return errors.New("--delete-ondelete-pods needs --wait: each pod is deleted only after the previous replacement is Ready")
	}
	return nil
}

// parseKinds accepts kubectl's names for the three kinds (plural,
// singular, short, with or without .apps) and returns them in a fixed order.
func parseKinds(in []string) ([]cluster.WorkloadKind, error) {
	want := map[string]bool{}
	for _, s := range in {
		for _, name := range strings.Split(s, ",") {
			name = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(name)), ".apps")
			switch name {
			case "deployments", "deployment", "deploy":
				want[checks.KindDeployment] = true
			case "daemonsets", "daemonset", "ds":
				want[checks.KindDaemonSet] = true
			case "statefulsets", "statefulset", "sts":
				want[checks.KindStatefulSet] = true
			case "":
			default:
				return nil, fmt.Errorf("unknown kind %q in --kinds: use deployments, daemonsets or statefulsets", name)
			}
		}
	}
	var out []cluster.WorkloadKind
	for _, k := range cluster.WorkloadKinds {
		if want[k.Kind] {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--kinds is empty: use deployments, daemonsets or statefulsets")
	}
	return out, nil
}

// isTerminal tells a terminal from a pipe or file without x/term,
// which go.mod carries only indirectly.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// accessChecks is the RBAC the pass needs, asked before the first write:
// list and patch each kind (watch with --wait), list pods for the report,
// delete and watch pods to replace OnDelete pods, list namespaces for a
// namespace selector. Cluster-wide unless -n names one namespace.
func (o *Options) accessChecks() []cmdutil.AccessCheck {
	ns := o.scope.namespace
	var out []cmdutil.AccessCheck
	for _, k := range o.kinds {
		out = append(out, cmdutil.AccessCheck{Verb: "list", Group: "apps", Resource: k.Resource, Namespace: ns})
		if o.dryRun.Writes() {
			out = append(out, cmdutil.AccessCheck{Verb: "patch", Group: "apps", Resource: k.Resource, Namespace: ns})
		}
		if o.Wait {
			out = append(out, cmdutil.AccessCheck{Verb: "watch", Group: "apps", Resource: k.Resource, Namespace: ns})
		}
	}
	out = append(out, cmdutil.AccessCheck{Verb: "list", Resource: "pods", Namespace: ns})
	if o.DeleteOnDeletePods {
		out = append(out,
			cmdutil.AccessCheck{Verb: "delete", Resource: "pods", Namespace: ns},
			cmdutil.AccessCheck{Verb: "watch", Resource: "pods", Namespace: ns})
	}
	if o.scope.nsSelector != nil {
		out = append(out, cmdutil.AccessCheck{Verb: "list", Resource: "namespaces"})
	}
	return out
}

// newClient speaks protobuf: decoding a page of 500 workloads costs a
// fraction of the JSON equivalent, which is most of the client's CPU in a
// cluster-wide pass.
func (o *Options) newClient() (kubernetes.Interface, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	o.server = cfg.Host
	return o.Pacing.Clientset(o.Factory)
}

// Run does the pass and prints the report.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// The first Ctrl-C stops admitting work and still prints the report
	// (with the value to resume with); a second one kills as usual.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()

	// Pages of workloads and pods are decoded and dropped by the hundred;
	// at the runtime's default the collector let the heap reach twice
	// what the pass holds (docs/benchmarks.md). Lower than other passes:
	// with up to 256 patches in flight, each answer a whole decoded
	// workload, 50,000 workloads peaked at 64.8-67.2 MiB at GOGC 25.
	defer cluster.CollectSooner(restartGCPercent)()
	client, err := o.NewClient()
	if err != nil {
		return err
	}
	o.client = client
	// The pass value (read from the rotation record), the -n namespace's
	// existence and the preflight's reviews depend on none of one another's
	// answers: they go out together, each round trip paid once. Their
	// errors keep this order.
	var value, source string
	var valueErr error
	var resolved sync.WaitGroup
	resolved.Go(func() { value, source, valueErr = o.ResolveValue(ctx) })
	accessErr := cluster.RequireNamespace(ctx, client, o.scope.namespace)
	if accessErr == nil {
		accessErr = cmdutil.Preflight(ctx, client, o.accessChecks())
	}
	resolved.Wait()
	if valueErr != nil {
		return valueErr
	}
	if err := validateValue(value); err != nil {
		return err
	}
	if accessErr != nil {
		return accessErr
	}
	if o.recorded != nil {
		if value, err = o.checkPhase(ctx, o.recorded, value, source != "flag"); err != nil {
			return err
		}
	}
	run := newPass(o, value, source)
	if source == "generated" {
		fmt.Fprintf(o.ErrOut, "Pass value %s=%s (new for this run; resume this pass with --value %s)%s\n", o.Annotation, value, value, o.dryRun.Suffix())
	} else {
		fmt.Fprintf(o.ErrOut, "Pass value %s=%s (%s)%s\n", o.Annotation, value, source, o.dryRun.Suffix())
	}
	if o.scope.nsSelector != nil {
		if err := o.selectNamespaces(ctx); err != nil {
			return err
		}
	}
	if err := run.list(ctx); err != nil {
		return err
	}
	if len(run.targets) == 0 && run.pods.len() == 0 {
		fmt.Fprintf(o.ErrOut, "No workloads found in %s.\n", o.scope)
		if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
			return cmdutil.PrintStructured(o.Out, o.Output, run.report())
		}
		return nil
	}
	if err := run.writeUndo(ctx); err != nil {
		return err
	}
	run.execute(ctx)
	if err := run.trimUndo(); err != nil {
		fmt.Fprintf(o.ErrOut, "warning: the undo file %s still lists workloads this pass did not change (undo skips what does not carry its value): %v\n", run.undoFile, err)
	}
	err = run.finish(ctx)
	// Logged in the active rotation, if any: the next pass value and
	// status are derived from it.
	rotation.LogPass(ctx, client, o.ErrOut, o.dryRun, run.logEntry(err))
	return err
}

// logEntry is the pass as the rotation's log keeps it: what this process
// changed, not what it found done.
func (r *pass) logEntry(err error) rotation.Pass {
	o := r.o
	var t totals
	if r.totals != nil {
		t = *r.totals
	} else {
		t = r.report().Totals
	}
	detail := fmt.Sprintf("%d patched, %d already current, %d failed", t.Patched, t.Current, t.Failed)
	if o.forced != "" {
		detail += "; forced although: " + o.forced
	}
	phase := ""
	if o.recorded != nil {
		phase = checks.RestartPhaseOf(o.recorded.ID, r.value)
	}
	return rotation.Pass{Kind: "restart-workloads", Phase: phase, Value: r.value, Started: r.started.UTC(), Scope: o.scopeNote(),
		Result: rotation.Result(err), Detail: detail, UndoFile: r.undoFile}
}
