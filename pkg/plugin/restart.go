package plugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

const (
	restartDefaultAnnotation = "ca-rotation"
	// restartValueLayout is a UTC timestamp that sorts, reads at a glance and
	// is unique per run to the second: enough for passes minutes apart.
	restartValueLayout = "20060102T150405Z"
	// restartMaxValueLen keeps the value readable in a table; the API would
	// accept far more.
	restartMaxValueLen = 253
	// A pass is paced by --concurrency: a fixed number of requests in
	// flight slows down with the API server (a closed loop), where a rate
	// keeps pushing at a struggling one. So unless --qps or --burst is given,
	// the rate limit here is only a ceiling against a runaway, far above the
	// root default (50/100) that would stretch 5000 patches to 100 s.
	restartDefaultQPS   = 1000
	restartDefaultBurst = 1000
)

// restartKind is a workload resource the pass patches.
type restartKind struct {
	Kind     string // checks.KindDeployment ...
	Resource string // deployments ...
}

var restartKinds = []restartKind{
	{checks.KindDeployment, "deployments"},
	{checks.KindDaemonSet, "daemonsets"},
	{checks.KindStatefulSet, "statefulsets"},
}

// RestartWorkloadsOptions is "kubectl carotate restart-workloads".
type RestartWorkloadsOptions struct {
	recorded *rotationRecord // the active rotation the pass value came from
	*Common

	AllNamespaces      bool
	NamespaceSelector  string
	ExcludeNamespaces  []string
	Selector           string
	Kinds              []string
	Annotation         string
	Value              string
	Concurrency        int
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
	// Restarter sends the patch for one workload (see restartPatch).
	Restarter func(ctx context.Context, t *restartTarget, value string) (restartPatchResult, error)
	// NewTracker watches the chosen kinds for --wait.
	NewTracker func(ctx context.Context) (restartTracker, error)

	dryRun DryRun
	// qps and burst override the root's defaults unless --qps/--burst is given.
	qps    float32
	burst  int
	scope  restartScope
	kinds  []restartKind
	client kubernetes.Interface
	server string // the API server URL, for the undo file
	// forced says what a --force pass ran despite, for the rotation's log.
	forced string
}

// NewCmdRestartWorkloads is "kubectl carotate restart-workloads".
func NewCmdRestartWorkloads(c *Common) *cobra.Command {
	o := &RestartWorkloadsOptions{
		Common:      c,
		Kinds:       []string{"deployments", "daemonsets", "statefulsets"},
		Annotation:  restartDefaultAnnotation,
		Concurrency: 10,
		MaxInFlight: 5,
		Timeout:     5 * time.Minute,
		DryRunFlag:  string(DryRunNone),
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

The pass is paced by --concurrency (requests in flight), which slows down
with a struggling API server; --qps and --burst default to 1000 for this
command, a ceiling only, unless given.

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
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "All namespaces (the default unless -n or --namespace-selector narrows it)")
	f.StringVar(&o.NamespaceSelector, "namespace-selector", o.NamespaceSelector, "Only namespaces matching this label selector (e.g. team=infra)")
	f.StringSliceVar(&o.ExcludeNamespaces, "exclude-namespace", o.ExcludeNamespaces, "Leave this namespace out (repeat or comma-separate)")
	f.StringVarP(&o.Selector, "selector", "l", o.Selector, "Only workloads (and pods in the report) matching this label selector")
	f.StringSliceVar(&o.Kinds, "kinds", o.Kinds, "Workload kinds to roll: deployments, daemonsets, statefulsets")
	f.StringVar(&o.Annotation, "annotation", o.Annotation, "Pod-template annotation that carries the pass value")
	f.StringVar(&o.Value, "value", o.Value, "Pass value (default: a UTC timestamp fresh for this run); give the printed value to resume a pass")
	f.IntVar(&o.Concurrency, "concurrency", o.Concurrency, "Requests in flight at once: what paces the pass (--qps/--burst default to 1000 here, a ceiling only; give them to cap the rate)")
	f.BoolVar(&o.Wait, "wait", o.Wait, "Wait for the rollouts, at most --max-in-flight at a time")
	f.IntVar(&o.MaxInFlight, "max-in-flight", o.MaxInFlight, "With --wait: workloads rolling at the same time across the cluster")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "With --wait: how long one workload may take to roll out")
	f.BoolVar(&o.ResumePaused, "resume-paused", o.ResumePaused, "Also set spec.paused=false on paused Deployments so they roll")
	f.BoolVar(&o.DeleteOnDeletePods, "delete-ondelete-pods", o.DeleteOnDeletePods, "With --wait: delete the old pods of OnDelete DaemonSets and StatefulSets one at a time, each after the previous replacement is Ready")
	f.BoolVar(&o.Force, "force", o.Force, "Run a rotation's pass although the step it follows is not done (its pods may miss that change)")
	addDryRunFlag(cmd, &o.DryRunFlag, "send nothing")
	addOutputFlag(cmd, &o.Output)
	addUndoDirFlag(cmd, &o.UndoDir)
	_ = cmd.RegisterFlagCompletionFunc("kinds", completeList("deployments", "daemonsets", "statefulsets"))
	_ = cmd.RegisterFlagCompletionFunc("exclude-namespace", cmdutil.CompleteNamespaces(c.Factory))
	return cmd
}

// Complete fills in the defaults that need no cluster.
func (o *RestartWorkloadsOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.qps, o.burst = restartDefaultQPS, restartDefaultBurst
	if cmd != nil && (cmd.Flags().Changed("qps") || cmd.Flags().Changed("burst")) {
		o.qps, o.burst = o.RateLimit()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ResolveValue == nil {
		o.ResolveValue = o.restartDefaultValue
	}
	if o.NewClient == nil {
		o.NewClient = o.restartClient
	}
	if o.IsTerminal == nil {
		o.IsTerminal = restartIsTerminal
	}
	if o.Restarter == nil {
		o.Restarter = o.restartPatch
	}
	if o.NewTracker == nil {
		o.NewTracker = o.restartInformerTracker
	}
	// Only an explicit -n narrows the scope; the kubeconfig context's
	// namespace does not, since a pass covers the cluster by default.
	if o.Factory != nil {
		o.scope.namespace = o.ExplicitNamespace()
	}
	return nil
}

// Validate checks the flags; it does no I/O.
func (o *RestartWorkloadsOptions) Validate() error {
	var err error
	if o.dryRun, err = ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	if err := validateOutput(o.Output); err != nil {
		return err
	}
	if o.kinds, err = restartParseKinds(o.Kinds); err != nil {
		return err
	}
	if errs := validation.IsQualifiedName(o.Annotation); len(errs) > 0 {
		return fmt.Errorf("invalid --annotation %q: %s", o.Annotation, strings.Join(errs, "; "))
	}
	if o.Value != "" {
		if err := restartValidateValue(o.Value); err != nil {
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
	if o.Concurrency < 1 {
		return fmt.Errorf("--concurrency must be at least 1, got %d", o.Concurrency)
	}
	if o.MaxInFlight < 1 {
		return fmt.Errorf("--max-in-flight must be at least 1, got %d", o.MaxInFlight)
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	if o.Wait && o.dryRun != DryRunNone {
		return fmt.Errorf("--wait cannot be used with --dry-run=%s: nothing would roll", o.dryRun)
	}
	if o.DeleteOnDeletePods && !o.Wait {
		return errors.New("--delete-ondelete-pods needs --wait: each pod is deleted only after the previous replacement is Ready")
	}
	return nil
}

// restartParseKinds accepts kubectl's names for the three kinds (plural,
// singular, short, with or without .apps) and returns them in a fixed order.
func restartParseKinds(in []string) ([]restartKind, error) {
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
	var out []restartKind
	for _, k := range restartKinds {
		if want[k.Kind] {
			out = append(out, k)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--kinds is empty: use deployments, daemonsets or statefulsets")
	}
	return out, nil
}

// restartValidateValue keeps the pass value printable and short: it is
// shown in tables and typed back with --value to resume. It must be valid
// UTF-8: the API server replaces invalid bytes, so a value stored mangled
// would never match itself again and every re-run would patch once more.
func restartValidateValue(v string) error {
	if len(v) > restartMaxValueLen {
		return fmt.Errorf("invalid --value: %d bytes, at most %d", len(v), restartMaxValueLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("invalid --value %q: not valid UTF-8", v)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("invalid --value %q: only printable characters without spaces", v)
		}
	}
	return nil
}

func (o *RestartWorkloadsOptions) restartDefaultValue(ctx context.Context) (string, string, error) {
	var rec *rotationRecord
	if o.client != nil {
		if r, err := loadRotation(ctx, o.client); err == nil && r.Active() {
			rec = r
		}
	}
	if o.Value != "" {
		// A value of the active rotation (as status and instructions print
		// them) is that rotation's pass: it is checked and logged as one.
		if rec != nil && strings.HasPrefix(o.Value, rec.ID+"/") {
			o.recorded = rec
		}
		return o.Value, "flag", nil
	}
	if rec != nil {
		value, why := restartRecordedValue(rec, o.Now())
		o.recorded = rec
		return value, why, nil
	}
	return o.Now().UTC().Format(restartValueLayout), "generated", nil
}

// restartRecordedValue is the pass value of an active rotation: the value
// of the last restart pass if it did not finish (so a re-run resumes it),
// otherwise <id>/<next phase>: bundle, serve, then finish (from the
// unbundle pass on). A phase is done once a pass of it over the whole
// cluster finished; one narrowed by -n, selectors or --kinds does not
// count. Passes beyond those get a timestamp of their own.
func restartRecordedValue(rec *rotationRecord, now time.Time) (value, why string) {
	if last := rec.LastPass("restart-workloads"); last != nil && last.Result != "ok" && last.Value != "" {
		return last.Value, "resuming rotation " + rec.ID + "'s unfinished pass"
	}
	done := map[string]bool{}
	for _, p := range rec.Passes {
		if p.Kind == "restart-workloads" && p.Result == "ok" && p.Scope == "" {
			done[checks.RestartPhaseOf(rec.ID, p.Value)] = true
		}
	}
	phases := []string{checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish}
	if rec.Unbundled() {
		phases = []string{checks.PhaseFinish}
	}
	for _, phase := range phases {
		if !done[phase] {
			return rec.RestartValue(phase), "rotation " + rec.ID + ", " + phase + " pass"
		}
	}
	return rec.RestartValue("extra-" + now.UTC().Format(restartValueLayout)), "rotation " + rec.ID + ", an extra pass"
}

// restartClient speaks protobuf: decoding a page of 500 workloads costs a
// fraction of the JSON equivalent, which is most of the client's CPU in a
// cluster-wide pass. Patches keep their own JSON content type.
func (o *RestartWorkloadsOptions) restartClient() (kubernetes.Interface, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	if o.qps != 0 {
		cfg.QPS, cfg.Burst = o.qps, o.burst
	}
	o.server = cfg.Host
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(cfg)
}

// restartIsTerminal tells a terminal from a pipe or file without x/term,
// which go.mod carries only indirectly.
func restartIsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// restartScope is which namespaces a pass covers.
type restartScope struct {
	namespace  string          // -n: this namespace only
	nsSelector labels.Selector // --namespace-selector, nil when not given
	include    map[string]bool // namespaces matching nsSelector
	exclude    map[string]bool // --exclude-namespace
}

func (s restartScope) covers(ns string) bool {
	if s.exclude[ns] {
		return false
	}
	if s.nsSelector != nil {
		return s.include[ns]
	}
	return s.namespace == "" || s.namespace == ns
}

func (s restartScope) String() string {
	switch {
	case s.namespace != "":
		return "namespace " + s.namespace
	case s.nsSelector != nil:
		return fmt.Sprintf("%d namespace(s) matching %s", len(s.include), s.nsSelector)
	}
	return "all namespaces"
}

// listOptions narrows a cluster-wide list server-side: the label selector,
// and a field selector for the excluded namespaces (every resource supports
// metadata.namespace), so their objects are never sent.
func (o *RestartWorkloadsOptions) restartListOptions(labelSelector string) metav1.ListOptions {
	var sels []fields.Selector
	excluded := make([]string, 0, len(o.scope.exclude))
	for ns := range o.scope.exclude {
		excluded = append(excluded, ns)
	}
	sort.Strings(excluded)
	for _, ns := range excluded {
		sels = append(sels, fields.OneTermNotEqualSelector("metadata.namespace", ns))
	}
	opts := metav1.ListOptions{LabelSelector: labelSelector}
	if len(sels) > 0 {
		opts.FieldSelector = fields.AndSelectors(sels...).String()
	}
	return opts
}

// restartChecks is the RBAC the pass needs, asked before the first write:
// list and patch each kind (watch with --wait), list pods for the report,
// delete and watch pods to replace OnDelete pods, list namespaces for a
// namespace selector. Cluster-wide unless -n names one namespace.
func (o *RestartWorkloadsOptions) restartChecks() []AccessCheck {
	ns := o.scope.namespace
	var out []AccessCheck
	for _, k := range o.kinds {
		out = append(out, AccessCheck{Verb: "list", Group: "apps", Resource: k.Resource, Namespace: ns})
		if o.dryRun.Writes() {
			out = append(out, AccessCheck{Verb: "patch", Group: "apps", Resource: k.Resource, Namespace: ns})
		}
		if o.Wait {
			out = append(out, AccessCheck{Verb: "watch", Group: "apps", Resource: k.Resource, Namespace: ns})
		}
	}
	out = append(out, AccessCheck{Verb: "list", Resource: "pods", Namespace: ns})
	if o.DeleteOnDeletePods {
		out = append(out,
			AccessCheck{Verb: "delete", Resource: "pods", Namespace: ns},
			AccessCheck{Verb: "watch", Resource: "pods", Namespace: ns})
	}
	if o.scope.nsSelector != nil {
		out = append(out, AccessCheck{Verb: "list", Resource: "namespaces"})
	}
	return out
}

// Run does the pass and prints the report.
func (o *RestartWorkloadsOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// The first Ctrl-C stops admitting work and still prints the report
	// (with the value to resume with); a second one kills as usual.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() { <-ctx.Done(); stop() }()

	client, err := o.NewClient()
	if err != nil {
		return err
	}
	o.client = client
	value, source, err := o.ResolveValue(ctx)
	if err != nil {
		return err
	}
	if err := restartValidateValue(value); err != nil {
		return err
	}

	if err := requireNamespace(ctx, client, o.scope.namespace); err != nil {
		return err
	}
	if err := Preflight(ctx, client, o.restartChecks()); err != nil {
		return err
	}
	if o.recorded != nil {
		if value, err = o.restartCheckPhase(ctx, o.recorded, value, source != "flag"); err != nil {
			return err
		}
	}
	run := newRestartRun(o, value, source)
	if source == "generated" {
		fmt.Fprintf(o.ErrOut, "Pass value %s=%s (new for this run; resume this pass with --value %s)%s\n", o.Annotation, value, value, o.dryRun.Suffix())
	} else {
		fmt.Fprintf(o.ErrOut, "Pass value %s=%s (%s)%s\n", o.Annotation, value, source, o.dryRun.Suffix())
	}
	if o.scope.nsSelector != nil {
		if err := o.restartSelectNamespaces(ctx); err != nil {
			return err
		}
	}
	if err := run.list(ctx); err != nil {
		return err
	}
	if len(run.targets) == 0 && len(run.pods) == 0 {
		fmt.Fprintf(o.ErrOut, "No workloads found in %s.\n", o.scope)
		if o.Output == outputJSON || o.Output == outputYAML {
			return printStructured(o.Out, o.Output, run.report())
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
	logPass(ctx, client, o.ErrOut, o.dryRun, run.logEntry(err))
	return err
}

// logEntry is the pass as the rotation's log keeps it: what this process
// changed, not what it found done.
func (r *restartRun) logEntry(err error) rotationPass {
	o := r.o
	t := r.report().Totals
	detail := fmt.Sprintf("%d patched, %d already current, %d failed", t.Patched, t.Current, t.Failed)
	if o.forced != "" {
		detail += "; forced although: " + o.forced
	}
	phase := ""
	if o.recorded != nil {
		phase = checks.RestartPhaseOf(o.recorded.ID, r.value)
	}
	return rotationPass{Kind: "restart-workloads", Phase: phase, Value: r.value, Started: r.started.UTC(), Scope: o.restartScopeNote(),
		Result: passResult(err), Detail: detail, UndoFile: r.undoFile}
}

// restartSelectNamespaces resolves --namespace-selector with one paginated
// list; the workload lists stay cluster-wide and are filtered by it.
func (o *RestartWorkloadsOptions) restartSelectNamespaces(ctx context.Context) error {
	o.scope.include = map[string]bool{}
	opts := metav1.ListOptions{LabelSelector: o.scope.nsSelector.String(), Limit: restartPageSize}
	for {
		var cont string
		err := WithRetry(ctx, func() error {
			list, err := o.client.CoreV1().Namespaces().List(ctx, opts)
			if err != nil {
				return err
			}
			for _, ns := range list.Items {
				o.scope.include[ns.Name] = true
			}
			cont = list.Continue
			return nil
		})
		if err != nil {
			return fmt.Errorf("listing namespaces matching %s: %w", o.scope.nsSelector, err)
		}
		if cont == "" {
			return nil
		}
		opts.Continue = cont
	}
}
