package plugin

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// caFile is how a printed command names the CA everything must trust: the
// --ca file, or, when the CAs come from the rotation record, a file that
// prep (a command line ending in "&& ") first writes from the record.
func (o *VerifyOptions) caFile() (prep, file string) {
	if o.CAFile != "" {
		return "", checks.ShellQuote(o.CAFile)
	}
	file = o.caKey
	return rotationExportCommand(o.caKey, file) + " && ", file
}

// The sections of a verify run, in the order they run and print. Each is one
// check of the issue: "--only" names them.
const (
	verifyPods     = "pods"
	verifySA       = "sa"
	verifyServing  = "serving"
	verifyClients  = "clients"
	verifyWebhooks = "webhooks"
	verifyLogs     = "logs"
	verifyNodes    = "nodes"
)

var verifySectionNames = []string{verifyPods, verifySA, verifyServing, verifyClients, verifyWebhooks, verifyLogs, verifyNodes}

var verifyTitles = map[string]string{
	verifyPods:     "Pods: where each pod's API trust comes from (steps 3, 4, 9.4, 12.1)",
	verifySA:       "ServiceAccount root CA objects: kube-root-ca.crt, legacy token Secrets (step 3)",
	verifyServing:  "API server serving chain (step 9.3)",
	verifyClients:  "Client configuration: kubeconfig, kube-public/cluster-info (steps 7, 10)",
	verifyWebhooks: "Webhooks, aggregated APIs, CRD conversion, extension-apiserver-authentication (steps 5, 9.1)",
	verifyLogs:     "TLS errors in logs (step 11)",
	verifyNodes:    "Nodes: kubelet client-certificate rotation (step 9.2)",
}

const (
	verifyPageSize = 500
	// Requests in flight for per-object reads (exec, logs, configz); the
	// client's QPS limit still paces them.
	verifyWorkers       = 8
	verifyProgressEvery = 2 * time.Second
	// verifyListCap caps the names listed per grouped row, so a row for a
	// 5,000-pod Deployment stays one row.
	verifyListCap = 10
)

// VerifyOptions is "kubectl carotate verify".
type VerifyOptions struct {
	*Common
	CAFile    string
	OldCAFile string
	recorded  *rotationRecord // when --ca is not given
	// caKey is the key of the rotation record that holds what --ca would
	// (when --ca is not given); caName names it in messages.
	caKey, caName string
	Expect        string
	Only          []string
	Exec          bool
	Since         time.Duration
	LogsFor       []string
	Output        string
	// AllNamespaces is -A: the default; it only says so explicitly.
	AllNamespaces bool

	// Function fields so tests swap one piece without faking the world.

	// Now is the clock for expiry checks and cluster-info token expiry.
	Now func() time.Time
	// NewClients builds the typed, dynamic and metadata clients.
	NewClients func() (kubernetes.Interface, dynamic.Interface, metadata.Interface, error)
	// ExecCat reads a file in a container (pods/exec); see verifyExecCat.
	ExecCat func(ctx context.Context, namespace, pod, container, file string) ([]byte, error)

	rule      checks.CARule
	sections  map[string]bool
	namespace string // "" for the whole cluster
	logsFor   []verifyWorkloadRef
	cfg       *rest.Config
	client    kubernetes.Interface
	dyn       dynamic.Interface
	meta      metadata.Interface
}

// NewCmdVerify is "kubectl carotate verify".
func NewCmdVerify(c *Common) *cobra.Command {
	o := &VerifyOptions{Common: c, Since: time.Hour, Only: append([]string{}, verifySectionNames...)}
	cmd := &cobra.Command{
		Use:   "verify [--ca FILE] [--expect bundle|new] [--old-ca FILE]",
		Short: "Prove from the cluster that everything trusts the expected CA, and list what does not (read-only)",
		Long: `Read-only: checks, through the API, that everything that must trust the
cluster CA trusts the expected one, and lists exactly what does not, each with
a severity and the next action. It covers upstream steps 3, 4, 9 and 11 of
"Manually Rotate CA Certificates" and the checks before step 12.

--ca FILE is what everything must trust: the old+new bundle mid-rotation, the
new CA alone at the end. --expect picks the rule:
  bundle  every certificate of --ca must be there; others next to them are
          reported but allowed (the default when --ca holds several certificates)
  new     exactly the certificates of --ca: anything else, the old CA above
          all, is a finding (the default when --ca holds one certificate)
--old-ca FILE (optional) names the CA being replaced: reports call its
certificates "old" and the others "new", the serving chain is checked against
old and new separately, and webhook caBundles that hold the old CA (or a
certificate it signed) are recognised as part of this rotation.

Checks (--only picks a subset; all by default):
  pods      one paginated pass over every pod (no per-pod reads): its trust
            source (the projected ServiceAccount volume = kube-root-ca.crt of
            its namespace; a legacy token Secret's ca.crt; or none), whether the
            source holds the expected CA, and whether the pod started before
            the source's ca.crt last changed (the managedFields time of the
            writer of ca.crt): it may hold the previous CA in memory, "restart
            needed", with the owning workload named. subPath mounts of ca.crt
            are flagged: they never see an update. --exec also reads each
            mounted ca.crt through pods/exec ("cat") and compares.
  sa        kube-root-ca.crt in every namespace, ca.crt of legacy token Secrets
  serving   TLS handshake with the kubeconfig's API server and the
            default/kubernetes EndpointSlice addresses reachable from here:
            does the chain verify against the new CA, the old, both
  clients   the kubeconfig's certificate-authority(-data); kube-public/cluster-info
            (CA and bootstrap-token signatures, as update-cluster-info --check)
  webhooks  caBundles of Validating/MutatingWebhookConfigurations, APIServices
            and CRD conversion webhooks; the client CA and requestheader CA in
            kube-system/extension-apiserver-authentication
  logs      the last --since of logs of control-plane mirror pods, kube-proxy,
            CoreDNS and --logs-for workloads, read through the API: lines with
            known TLS failures, one sample each
  nodes     kubelet client-certificate rotation per node (nodes/proxy configz);
            skipped with a note where not readable

-n narrows pods, sa and logs to one namespace. Severities: error blocks the
next step; warning needs doing before the rotation ends; info is for the
record. Progress goes to stderr.

Exit codes:
  0  every check ran and found nothing that blocks the next step
  1  findings that block the next step (severity error)
  2  a check could not run (bad flags or --ca, RBAC, API errors): the report
     is incomplete, whatever else it found`,
		Example: `  # Mid-rotation (after bundle and restart-workloads): does everything trust old+new?
  kubectl carotate verify --ca bundle.crt --old-ca old-ca.crt

  # At the end (after unbundle): is the old CA gone everywhere?
  kubectl carotate verify --ca new-ca.crt --old-ca old-ca.crt --expect new

  # Only the pods and ServiceAccount objects of one namespace, as JSON
  kubectl carotate verify --ca bundle.crt --only pods,sa -n payments -o json

  # Read the mounted ca.crt inside each container too, and scan a workload's logs
  kubectl carotate verify --ca bundle.crt --exec --logs-for monitoring/deployment/prometheus --since 15m`,
		Args: cobra.NoArgs,
		RunE: runOptions(o, verifyCannotRun),
	}
	f := cmd.Flags()
	f.StringVar(&o.CAFile, "ca", o.CAFile, "PEM file with what everything must trust: the old+new bundle mid-rotation, the new CA at the end; default: from the recorded rotation")
	f.StringVar(&o.Expect, "expect", o.Expect, `"bundle" (every --ca certificate present) or "new" (exactly --ca); default: bundle when --ca holds several certificates, new when one`)
	f.StringVar(&o.OldCAFile, "old-ca", o.OldCAFile, "PEM file with the CA being replaced (optional): names it in reports and finds caBundles that still hold it")
	f.StringSliceVar(&o.Only, "only", o.Only, "Checks to run: "+strings.Join(verifySectionNames, ","))
	f.BoolVar(&o.Exec, "exec", o.Exec, "Also read each mounted ca.crt inside the containers (pods/exec, cat); skipped with a note where forbidden or failing")
	f.DurationVar(&o.Since, "since", o.Since, "How much recent log to scan for TLS errors")
	f.StringArrayVar(&o.LogsFor, "logs-for", o.LogsFor, "Also scan the logs of this workload's pods: [NAMESPACE/]KIND/NAME, KIND one of deployment, daemonset, statefulset, pod (repeatable)")
	addOutputFlag(cmd, &o.Output)
	addAllNamespacesFlag(cmd, &o.AllNamespaces)
	_ = cmd.MarkFlagFilename("ca")
	_ = cmd.MarkFlagFilename("old-ca")
	_ = cmd.RegisterFlagCompletionFunc("expect", completeFixed(string(checks.ExpectBundle), string(checks.ExpectNew)))
	_ = cmd.RegisterFlagCompletionFunc("only", completeList(verifySectionNames...))
	return cmd
}

// verifyCannotRun gives errors that stop verify before it judged anything
// the "check could not run" exit code.
func verifyCannotRun(err error) error {
	var ee *ExitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: 2, Err: err}
}

// Complete resolves the namespace and builds the clients; it contacts
// nothing.
func (o *VerifyOptions) Complete(_ *cobra.Command, _ []string) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	var err error
	if o.namespace, err = namespaceScopeOf(o.Common, o.AllNamespaces); err != nil {
		return err
	}
	if o.cfg, err = o.RESTConfig(); err != nil {
		return err
	}
	if o.NewClients == nil {
		o.NewClients = o.verifyNewClients
	}
	if o.ExecCat == nil {
		o.ExecCat = func(ctx context.Context, ns, pod, container, file string) ([]byte, error) {
			return verifyExecCat(ctx, o.cfg, ns, pod, container, file)
		}
	}
	if o.client, o.dyn, o.meta, err = o.NewClients(); err != nil {
		return err
	}
	// A -n that names no namespace is bad input, not an empty namespace.
	if o.namespace != "" {
		if err := requireNamespace(context.Background(), o.client, o.namespace); err != nil {
			return err
		}
	}
	// Without --ca the recorded rotation says what everything must trust.
	if o.CAFile == "" {
		if o.recorded, err = recordedRotation(context.Background(), o.client, "--ca FILE"); err != nil {
			return err
		}
	}
	return nil
}

// verifyNewClients speaks protobuf where the server offers it: a pass over
// 20,000 pods decodes several times faster, with less garbage, than JSON.
func (o *VerifyOptions) verifyNewClients() (kubernetes.Interface, dynamic.Interface, metadata.Interface, error) {
	pb := rest.CopyConfig(o.cfg)
	pb.ContentType = "application/vnd.kubernetes.protobuf"
	pb.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(pb)
	if err != nil {
		return nil, nil, nil, err
	}
	dyn, err := dynamic.NewForConfig(o.cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	meta, err := metadata.NewForConfig(o.cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	return client, dyn, meta, nil
}

// Validate checks the flags and reads the CA files; it contacts nothing.
func (o *VerifyOptions) Validate() error {
	if err := validateOutput(o.Output); err != nil {
		return err
	}
	if o.CAFile == "" && o.recorded == nil {
		return errors.New("--ca FILE is required: the old+new bundle mid-rotation, the new CA alone at the end")
	}
	o.sections = map[string]bool{}
	for _, s := range o.Only {
		s = strings.TrimSpace(strings.ToLower(s))
		if s == "" {
			continue
		}
		if !containsName(verifySectionNames, s) {
			return fmt.Errorf("--only: unknown check %q: use any of %s", s, strings.Join(verifySectionNames, ","))
		}
		o.sections[s] = true
	}
	if len(o.sections) == 0 {
		return fmt.Errorf("--only names no check: use any of %s", strings.Join(verifySectionNames, ","))
	}
	if o.Since <= 0 {
		return fmt.Errorf("--since must be positive, got %s", o.Since)
	}
	o.logsFor = nil
	for _, s := range o.LogsFor {
		ref, err := parseVerifyWorkloadRef(s)
		if err != nil {
			return err
		}
		o.logsFor = append(o.logsFor, ref)
	}
	var want, old []*x509.Certificate
	var err error
	if o.CAFile == "" {
		want, old = o.recordedCAs()
	} else if want, err = verifyReadCAs("--ca", o.CAFile, o.ErrOut, o.now()); err != nil {
		return err
	}
	if o.OldCAFile != "" {
		if old, err = verifyReadCAs("--old-ca", o.OldCAFile, o.ErrOut, o.now()); err != nil {
			return err
		}
	}
	expect := checks.Expect(o.Expect)
	switch expect {
	case "":
		expect = checks.ExpectNew
		if len(rootCAUniq(want)) > 1 {
			expect = checks.ExpectBundle
		}
	case checks.ExpectBundle, checks.ExpectNew:
	default:
		return fmt.Errorf(`--expect must be "bundle" or "new", got %q`, o.Expect)
	}
	if expect == checks.ExpectNew {
		for _, c := range old {
			if checks.Contains(want, c) {
				return fmt.Errorf("--old-ca certificate %s is also in --ca: with --expect new, --ca must be the new CA alone", c.Subject)
			}
		}
	}
	if expect == checks.ExpectBundle && len(old) > 0 {
		var inBundle int
		for _, c := range old {
			if checks.Contains(want, c) {
				inBundle++
			}
		}
		if inBundle == 0 {
			fmt.Fprintf(o.ErrOut, "warning: --ca %s does not hold the --old-ca certificate: with --expect bundle, --ca is normally old+new\n", o.CAFile)
		}
	}
	o.rule = checks.NewCARule(expect, want, old)
	return nil
}

// recordedCAs are the recorded rotation's bundle mid-rotation and its new
// CA alone once unbundled (or with --expect new), and its old CA.
func (o *VerifyOptions) recordedCAs() (want, old []*x509.Certificate) {
	rec := o.recorded
	want, what := append(append([]*x509.Certificate{}, rec.NewCAs...), rec.OldCAs...), "bundle (new+old)"
	o.caKey = rotationKeyBundle
	if checks.Expect(o.Expect) == checks.ExpectNew || (o.Expect == "" && rec.Unbundled()) {
		want, what = rec.NewCAs, "new CA"
		o.caKey = rotationKeyNewCA
	}
	o.caName = fmt.Sprintf("rotation %s's %s", rec.ID, what)
	fmt.Fprintf(o.ErrOut, "verify: --ca from the %s\n", o.caName)
	return want, rec.OldCAs
}

func (o *VerifyOptions) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// verifyReadCAs reads a CA file strictly: PEM certificates only (a private
// key is refused without being echoed), each one a CA. An expired or not
// yet valid CA is only a warning: a rotation is often done because the old
// CA is about to expire or has.
func verifyReadCAs(flag, path string, warn io.Writer, now time.Time) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	certs, err := checks.ParseCertificates(path, data)
	if err != nil {
		return nil, fmt.Errorf("%s %w", flag, err)
	}
	for i, c := range certs {
		name := fmt.Sprintf("%s %s certificate %d (%s)", flag, path, i+1, c.Subject)
		if !c.BasicConstraintsValid || !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return nil, fmt.Errorf("%s is not a CA (it needs basicConstraints CA:true and keyUsage certSign)", name)
		}
		switch {
		case now.After(c.NotAfter):
			fmt.Fprintf(warn, "warning: %s expired on %s\n", name, c.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(c.NotBefore):
			fmt.Fprintf(warn, "warning: %s is not valid until %s\n", name, c.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	return certs, nil
}

func containsName(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Run runs the chosen checks one after the other (memory stays that of one
// check), prints the report and turns it into the exit code.
func (o *VerifyOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	rep := &verifyReport{Expect: string(o.rule.Expect), CA: verifyCerts(o.rule, o.rule.Want), Old: verifyCerts(o.rule, o.rule.Old),
		Namespace: o.namespace, Sections: []*verifySection{}}
	run := &verifyRun{o: o, progress: &verifyProgress{w: o.ErrOut, now: time.Now}}

	// The pods check judges each pod by its source objects, so the root CA
	// objects are read whenever either check runs.
	var src *verifySources
	if o.sections[verifyPods] || o.sections[verifySA] {
		src = run.collectSources(ctx)
	}
	for _, name := range verifySectionNames {
		if !o.sections[name] {
			continue
		}
		sec := newVerifySection(name)
		switch name {
		case verifyPods:
			run.checkPods(ctx, sec, src)
		case verifySA:
			src.report(sec, o)
		case verifyServing:
			run.checkServing(ctx, sec)
		case verifyClients:
			run.checkClients(ctx, sec)
		case verifyWebhooks:
			run.checkWebhooks(ctx, sec)
		case verifyLogs:
			run.checkLogs(ctx, sec)
		case verifyNodes:
			run.checkNodes(ctx, sec)
		}
		sec.finish()
		rep.Sections = append(rep.Sections, sec)
		if ctx.Err() != nil {
			break
		}
	}
	rep.finish()
	var err error
	if o.Output == outputJSON || o.Output == outputYAML {
		err = printStructured(o.Out, o.Output, rep)
	} else {
		err = printVerifyReport(o.Out, rep)
	}
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	return rep.exitError()
}

// verifyRun is the state of one run shared by the checks.
type verifyRun struct {
	o        *VerifyOptions
	progress *verifyProgress
}

// verifyCert names one certificate of --ca or --old-ca.
type verifyCert struct {
	Label       string    `json:"label,omitempty"`
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
}

func verifyCerts(rule checks.CARule, certs []*x509.Certificate) []verifyCert {
	out := []verifyCert{}
	for _, c := range certs {
		fp := checks.Fingerprint(c)
		out = append(out, verifyCert{Label: rule.Labels[fp], Subject: c.Subject.String(), Fingerprint: fp, NotAfter: c.NotAfter.UTC()})
	}
	return out
}

// verifyItem is one row of a check: an object (or a group of pods or nodes
// that share a verdict) and what was found.
type verifyItem struct {
	Severity  string `json:"severity"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	// Where is the field or trust source that was judged.
	Where   string `json:"where,omitempty"`
	Holds   string `json:"holds,omitempty"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
	// Action is the next step as a command line a shell runs as printed,
	// empty when there is none.
	Action string `json:"action,omitempty"`
	// Fix says in words what to do where no command can (node files,
	// another controller's objects), or what the command is for.
	Fix string `json:"fix,omitempty"`
	// Count is the number of pods or nodes in a grouped row; Members names
	// the first verifyListCap of them.
	Count   int               `json:"count,omitempty"`
	Members []string          `json:"members,omitempty"`
	Matches []checks.LogMatch `json:"matches,omitempty"`
}

func (it verifyItem) object() string {
	name := it.Name
	if it.Namespace != "" {
		name = it.Namespace + "/" + name
	}
	if it.Kind == "" {
		return name
	}
	return it.Kind + " " + name
}

// verifySection is the result of one check.
type verifySection struct {
	Name  string `json:"name"`
	Title string `json:"title"`
	// Status is "passed", "findings" (an error-severity item) or "failed"
	// (the check could not run, wholly or in part: Error says why).
	Status   string       `json:"status"`
	Summary  string       `json:"summary"`
	Error    string       `json:"error,omitempty"`
	Errors   int          `json:"errors"`
	Warnings int          `json:"warnings"`
	Notes    []string     `json:"notes,omitempty"`
	Items    []verifyItem `json:"items"`
	// Actions are the distinct next commands of the items, merged where
	// one command covers several; Fixes the distinct fixes in words.
	Actions []string `json:"actions,omitempty"`
	Fixes   []string `json:"fixes,omitempty"`

	errs []string
}

func newVerifySection(name string) *verifySection {
	return &verifySection{Name: name, Title: verifyTitles[name], Items: []verifyItem{}}
}

func (s *verifySection) add(it verifyItem) { s.Items = append(s.Items, it) }

func (s *verifySection) notef(format string, args ...any) {
	s.Notes = append(s.Notes, fmt.Sprintf(format, args...))
}

// fail records that (part of) the check could not run.
func (s *verifySection) fail(format string, args ...any) {
	s.errs = append(s.errs, fmt.Sprintf(format, args...))
}

func (s *verifySection) action(a string) {
	if a != "" && !containsName(s.Actions, a) {
		s.Actions = append(s.Actions, a)
	}
}

// fix records an item's fix in words, once per section.
func (s *verifySection) fix(f string) {
	if f != "" && !containsName(s.Fixes, f) {
		s.Fixes = append(s.Fixes, f)
	}
}

// take records an item's next command and fix.
func (s *verifySection) take(it verifyItem) {
	s.action(it.Action)
	s.fix(it.Fix)
}

// finish sorts the items worst first and sets the status and counts.
func (s *verifySection) finish() {
	sort.SliceStable(s.Items, func(i, j int) bool {
		a, b := s.Items[i], s.Items[j]
		if ra, rb := checks.SeverityRank(a.Severity), checks.SeverityRank(b.Severity); ra != rb {
			return ra > rb
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.Where < b.Where
	})
	s.Errors, s.Warnings = 0, 0
	for _, it := range s.Items {
		switch it.Severity {
		case checks.SeverityError:
			s.Errors++
		case checks.SeverityWarning:
			s.Warnings++
		}
	}
	switch {
	case len(s.errs) > 0:
		s.Status, s.Error = "failed", strings.Join(s.errs, "; ")
	case s.Errors > 0:
		s.Status = "findings"
	default:
		s.Status = "passed"
	}
}

// verifyReport is the whole run (-o json|yaml).
type verifyReport struct {
	Expect    string           `json:"expect"`
	CA        []verifyCert     `json:"ca"`
	Old       []verifyCert     `json:"oldCA,omitempty"`
	Namespace string           `json:"namespace,omitempty"`
	Sections  []*verifySection `json:"sections"`
	Result    verifyResult     `json:"result"`
}

// verifyResult is the summary line and the exit code.
type verifyResult struct {
	ExitCode int      `json:"exitCode"`
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Failed   []string `json:"failedChecks"`
	Summary  string   `json:"summary"`
}

func (r *verifyReport) finish() {
	res := verifyResult{Failed: []string{}}
	var withErrors, withWarnings []string
	for _, s := range r.Sections {
		res.Errors += s.Errors
		res.Warnings += s.Warnings
		if s.Status == "failed" {
			res.Failed = append(res.Failed, s.Name)
		}
		if s.Errors > 0 {
			withErrors = append(withErrors, s.Name)
		}
		if s.Warnings > 0 {
			withWarnings = append(withWarnings, s.Name)
		}
	}
	count := func(n int, what string, in []string) string {
		s := plural(n, what)
		if len(in) > 0 {
			s += " (" + strings.Join(in, ", ") + ")"
		}
		return s
	}
	findings := count(res.Errors, "error", withErrors) + ", " + count(res.Warnings, "warning", withWarnings)
	switch {
	case len(res.Failed) > 0:
		res.ExitCode = 2
		res.Summary = fmt.Sprintf("INCOMPLETE: %s could not run; %s", plural(len(res.Failed), "check")+" ("+strings.Join(res.Failed, ", ")+")", findings)
	case res.Errors > 0:
		res.ExitCode = 1
		res.Summary = "NOT READY: " + findings + "; fix the errors before the next step"
	default:
		res.Summary = fmt.Sprintf("OK: %s passed, %s", plural(len(r.Sections), "check"), findings)
	}
	r.Result = res
}

func (r *verifyReport) exitError() error {
	switch r.Result.ExitCode {
	case 0:
		return nil
	case 2:
		var why []string
		for _, s := range r.Sections {
			if s.Status == "failed" {
				why = append(why, s.Name+": "+s.Error)
			}
		}
		return &ExitError{Code: 2, Err: fmt.Errorf("verify is incomplete: %s", strings.Join(why, "; "))}
	}
	verb := "block"
	if r.Result.Errors == 1 {
		verb = "blocks"
	}
	return &ExitError{Code: r.Result.ExitCode, Err: fmt.Errorf("verify found %s that %s the next step", plural(r.Result.Errors, "error"), verb)}
}

// verifyProgress prints "verify: pods: 5000 read" to stderr at most every
// verifyProgressEvery, so a large cluster shows life and a small one stays
// quiet.
type verifyProgress struct {
	w    io.Writer
	now  func() time.Time
	last time.Time
}

func (p *verifyProgress) start() { p.last = p.now() }

func (p *verifyProgress) tick(format string, args ...any) {
	if now := p.now(); now.Sub(p.last) >= verifyProgressEvery {
		p.last = now
		fmt.Fprintf(p.w, "verify: "+format+"\n", args...)
	}
}
