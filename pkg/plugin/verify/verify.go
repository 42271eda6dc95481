// Package verify is "kubectl carotate verify": it proves from the cluster
// that everything trusts the expected CA and lists what does not. It reads
// through package cluster and writes nothing.
package verify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// caFile is how a printed command names the CA everything must trust: the
// --ca file, or, when the CAs come from the rotation record, a file that
// prep (a command line ending in "&& ") first writes from the record.
func (o *Options) caFile() (prep, file string) {
	if o.CAFile != "" {
		return "", checks.ShellQuote(o.CAFile)
	}
	file = o.caKey
	return rotation.ExportCommand(o.caKey, file) + " && ", file
}

// The sections of a verify run, in the order they run and print. Each is one
// check of the issue: "--only" names them.
const (
	sectionPods     = "pods"
	sectionSA       = "sa"
	sectionServing  = "serving"
	sectionClients  = "clients"
	sectionWebhooks = "webhooks"
	sectionLogs     = "logs"
	sectionNodes    = "nodes"
	// ClusterTrustBundles and copies of the old CA outside kube-root-ca.crt.
	sectionTrustBundles = "trustbundles"
	sectionCopies       = "copies"
)

var sectionNames = []string{sectionPods, sectionSA, sectionTrustBundles, sectionServing, sectionClients, sectionWebhooks, sectionCopies, sectionLogs, sectionNodes}

var titles = map[string]string{
	sectionPods:     "Pods: where each pod's API trust comes from (steps 3, 4, 9.4, 12.1)",
	sectionSA:       "ServiceAccount root CA objects: kube-root-ca.crt, legacy token Secrets (step 3)",
	sectionServing:  "API server serving chain (step 9.3)",
	sectionClients:  "Client configuration: kubeconfig, kube-public/cluster-info (steps 7, 10)",
	sectionWebhooks: "Webhooks, aggregated APIs, CRD conversion, extension-apiserver-authentication (steps 5, 9.1)",
	sectionLogs:     "TLS errors in logs (step 11)",
	sectionNodes:    "Nodes: the CA of each kubelet's client certificate, and its rotation (step 9.2)",

	sectionTrustBundles: "ClusterTrustBundles: the kube-apiserver-serving bundle the controller-manager publishes, other signers' bundles (steps 3, 12.1)",
	sectionCopies:       "Copies of the old CA outside kube-root-ca.crt: Secrets, ConfigMaps, kubeconfigs stored in them, user-made ClusterTrustBundles (steps 11, 12)",
}

const (
	// Requests in flight for per-container reads (exec, logs); the
	// client's QPS limit still paces them.
	workers       = 8
	progressEvery = 2 * time.Second
	// listCap caps the names listed per grouped row, so a row for a
	// 5,000-pod Deployment stays one row.
	listCap = 10
)

// Options is "kubectl carotate verify".
type Options struct {
	*cmdutil.Env
	CAFile    string
	OldCAFile string
	recorded  *rotation.Record // when --ca is not given
	// oldSource says where the old CA came from when neither --old-ca
	// nor the record as --ca's source named it; oldUnknown why none could
	// be told (resolveOld).
	oldSource, oldUnknown string
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
	// Target is --target: the cluster CA's checks, or sa-key's (sakey.go).
	Target string

	// Function fields so tests swap one piece without faking the world.

	// Now is the clock for expiry checks and cluster-info token expiry.
	Now func() time.Time
	// ExecCat reads a file in a container (pods/exec); see execCat.
	ExecCat func(ctx context.Context, namespace, pod, container, file string) ([]byte, error)

	rule      checks.CARule
	sections  map[string]bool
	namespace string // "" for the whole cluster
	logsFor   []workloadRef
	cfg       *rest.Config
	client    kubernetes.Interface
	// pageClient is client with a rate limit for a self-paced pass.
	pageClient kubernetes.Interface
	dyn        dynamic.Interface
	meta       metadata.Interface
}

// NewCmdVerify is "kubectl carotate verify".
func NewCmdVerify(env *cmdutil.Env) *cobra.Command {
	o := &Options{Env: env, Since: time.Hour, Only: append([]string{}, sectionNames...)}
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
certificate it signed) are recognised as part of this rotation. Without it,
the old CA is the recorded rotation's (when its new CA is in --ca), or else
inferred as start infers it: the CA the API server's serving chain verifies
against today, when --ca does not hold it. The report says which.

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
            A projected clusterTrustBundle source (by name, or by signerName and
            labelSelector) is a trust source too, judged the same way.
  sa        kube-root-ca.crt in every namespace, ca.crt of legacy token Secrets
  trustbundles
            ClusterTrustBundles: the one(s) kube-controller-manager publishes
            for kubernetes.io/kube-apiserver-serving from its --root-ca-file
            must hold --ca (old+new after step 2, the new CA alone after
            12.1); when it lags behind kube-system/kube-root-ca.crt, the
            report says so. Other signers' bundles that hold a CA of this
            rotation are listed (their controller owns them).
  serving   TLS handshake with the kubeconfig's API server and the
            default/kubernetes EndpointSlice addresses reachable from here:
            does the chain verify against the new CA, the old, both
  clients   the kubeconfig's certificate-authority(-data); kube-public/cluster-info
            (CA and bootstrap-token signatures, as update-cluster-info --check)
  webhooks  caBundles of Validating/MutatingWebhookConfigurations, APIServices
            and CRD conversion webhooks; the client CA and requestheader CA in
            kube-system/extension-apiserver-authentication
  copies    copies of the old CA outside kube-root-ca.crt: one paginated pass
            over every ConfigMap and Secret (values read a page at a time and
            forgotten), and the user-made ClusterTrustBundles (no signerName),
            found by fingerprint in PEM blocks of any key (a CA file, a TLS
            Secret's ca.crt) and in base64 PEMs (a stored kubeconfig's
            certificate-authority-data, Argo CD's caData). Each finding names
            the object and key and whether it trusts the old CA alone (a
            warning before step 9.3, an error once the API server serves from
            the new CA or at --expect new) or next to the new one. Not read:
            kube-root-ca.crt and token Secrets (sa), cluster-info and
            extension-apiserver-authentication (clients, webhooks), Helm
            release Secrets (compressed), the rotation record. Only subjects
            and fingerprints are printed. Needs the old CA (see --old-ca);
            listing Secrets forbidden: the check says so (exit 2). unbundle
            refuses while a copy trusts the old CA alone.
  logs      the last --since of logs of control-plane mirror pods, kube-proxy,
            CoreDNS and --logs-for workloads, read through the API: lines with
            known TLS failures, one sample each
  nodes     which CA issued each kubelet's newest client certificate (the
            CertificateSigningRequests of signer
            kubernetes.io/kube-apiserver-client-kubelet; deleted an hour after
            they are issued, so a node without one is "unknown", with the
            command that shows it on the node); an old-CA one gets 401 at step
            12.2. And whether each kubelet rotates its certificate (nodes/proxy
            configz; skipped with a note where not readable)

--target sa-key checks the ServiceAccount signing key rotation recorded by
"kubectl carotate start --target sa-key" instead: whether anything still
depends on the old key before step 4 removes it (the API server signs with
the new key, no legacy token Secret is signed by the old one, no pod with
a projected token started before the switch within its token lifetime).
It takes no other check flag and reads the whole cluster.

--target front-proxy-ca checks the front-proxy CA rotation recorded by
"kubectl carotate start --target front-proxy-ca": whether anything still
depends on the old front-proxy CA before step 3 drops it (every API server
trusts both CAs and runs with step 2's proxy client certificate, every
APIService served from the cluster is Available). Which CA issued that
certificate the API cannot show: the script of step 2 checked it on the node.

--target etcd-ca checks the etcd CA rotation recorded by "kubectl carotate
start --target etcd-ca": whether anything still depends on the old etcd CA
before step 3 drops it (every etcd member and API server trusts both CAs and
runs with step 2's certificates, and each node recorded that step 2's checks
passed there).

-n narrows pods, sa, copies and logs to one namespace. Severities: error blocks the
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

  # Before unbundling: does a Secret, ConfigMap or ClusterTrustBundle still pin the old CA?
  kubectl carotate verify --ca bundle.crt --old-ca old-ca.crt --only trustbundles,copies

  # Read the mounted ca.crt inside each container too, and scan a workload's logs
  kubectl carotate verify --ca bundle.crt --exec --logs-for monitoring/deployment/prometheus --since 15m

  # ServiceAccount signing key rotation: is any token from the old key left?
  kubectl carotate verify --target sa-key

  # Front-proxy CA rotation: can the old front-proxy CA go?
  kubectl carotate verify --target front-proxy-ca

  # etcd CA rotation: can the old etcd CA go?
  kubectl carotate verify --target etcd-ca`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, cannotRun),
	}
	f := cmd.Flags()
	cmdutil.AddFileFlag(cmd, &o.CAFile, "ca", "PEM file with what everything must trust: the old+new bundle mid-rotation, the new CA at the end; default: from the recorded rotation")
	f.StringVar(&o.Expect, "expect", o.Expect, `"bundle" (every --ca certificate present) or "new" (exactly --ca); default: bundle when --ca holds several certificates, new when one`)
	cmdutil.AddFileFlag(cmd, &o.OldCAFile, "old-ca", "PEM file with the CA being replaced (optional): names it in reports and finds caBundles that still hold it")
	f.StringSliceVar(&o.Only, "only", o.Only, "Checks to run: "+strings.Join(sectionNames, ","))
	f.BoolVar(&o.Exec, "exec", o.Exec, "Also read each mounted ca.crt inside the containers (pods/exec, cat); skipped with a note where forbidden or failing")
	f.DurationVar(&o.Since, "since", o.Since, "How much recent log to scan for TLS errors")
	f.StringArrayVar(&o.LogsFor, "logs-for", o.LogsFor, "Also scan the logs of this workload's pods: [NAMESPACE/]KIND/NAME, KIND one of deployment, daemonset, statefulset, pod (repeatable)")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.AddTargetFlag(cmd, &o.Target)
	cmdutil.AddAllNamespacesFlag(cmd, &o.AllNamespaces)
	_ = cmd.RegisterFlagCompletionFunc("expect", cmdutil.CompleteFixed(string(checks.ExpectBundle), string(checks.ExpectNew)))
	_ = cmd.RegisterFlagCompletionFunc("only", cmdutil.CompleteList(sectionNames...))
	return cmd
}

// cannotRun gives errors that stop verify before it judged anything
// the "check could not run" exit code.
func cannotRun(err error) error {
	var ee *cmdutil.ExitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return &cmdutil.ExitError{Code: 2, Err: err}
}

// Complete resolves the namespace and builds the clients; it contacts
// nothing.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := cmdutil.ValidateTarget(o.Target); err != nil {
		return err
	}
	if checks.OtherTarget(o.Target) {
		return o.completeTarget(cmd)
	}
	var err error
	if o.namespace, err = cmdutil.NamespaceScope(o.Factory, o.AllNamespaces); err != nil {
		return err
	}
	if o.cfg, err = o.RESTConfig(); err != nil {
		return err
	}
	if o.ExecCat == nil {
		o.ExecCat = func(ctx context.Context, ns, pod, container, file string) ([]byte, error) {
			return execCat(ctx, o.cfg, o.client, ns, pod, container, file)
		}
	}
	// Protobuf where the server offers it: a pass over 20,000 pods decodes
	// several times faster, with less garbage, than JSON.
	if o.client, err = o.ProtobufClientset(0, 0); err != nil {
		return err
	}
	// The copies pass pages through every Secret and ConfigMap in small
	// pages, one request after the other: paced by the API server, with
	// the rate limit a ceiling unless --qps/--burst say otherwise.
	if o.pageClient, err = o.ProtobufClientset(cmdutil.PassRateLimit(cmd, o.Factory)); err != nil {
		return err
	}
	if o.dyn, err = o.DynamicClient(); err != nil {
		return err
	}
	if o.meta, err = o.MetadataClient(); err != nil {
		return err
	}
	// A -n that names no namespace is bad input, not an empty namespace.
	if o.namespace != "" {
		if err := cluster.RequireNamespace(context.Background(), o.client, o.namespace); err != nil {
			return err
		}
	}
	// Without --ca the recorded rotation says what everything must trust.
	if o.CAFile == "" {
		if o.recorded, err = rotation.Recorded(context.Background(), o.client, "--ca FILE"); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks the flags and reads the CA files; it contacts nothing.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output); err != nil {
		return err
	}
	if checks.OtherTarget(o.Target) {
		return nil // completeTarget checked the flags
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
		if !slices.Contains(sectionNames, s) {
			return fmt.Errorf("--only: unknown check %q: use any of %s", s, strings.Join(sectionNames, ","))
		}
		o.sections[s] = true
	}
	if len(o.sections) == 0 {
		return fmt.Errorf("--only names no check: use any of %s", strings.Join(sectionNames, ","))
	}
	if o.Since <= 0 {
		return fmt.Errorf("--since must be positive, got %s", o.Since)
	}
	o.logsFor = nil
	for _, s := range o.LogsFor {
		ref, err := parseWorkloadRef(s)
		if err != nil {
			return err
		}
		o.logsFor = append(o.logsFor, ref)
	}
	var want, old []*x509.Certificate
	var err error
	if o.CAFile == "" {
		want, old = o.recordedCAs()
	} else if want, err = cmdutil.ReadCAFile("--ca", o.CAFile, o.ErrOut, o.now()); err != nil {
		return err
	}
	if o.OldCAFile != "" {
		if old, err = cmdutil.ReadCAFile("--old-ca", o.OldCAFile, o.ErrOut, o.now()); err != nil {
			return err
		}
	}
	expect := checks.Expect(o.Expect)
	switch expect {
	case "":
		expect = checks.ExpectNew
		if len(checks.Unique(want)) > 1 {
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
func (o *Options) recordedCAs() (want, old []*x509.Certificate) {
	rec := o.recorded
	want, what := append(append([]*x509.Certificate{}, rec.NewCAs...), rec.OldCAs...), "bundle (new+old)"
	o.caKey = rotation.KeyBundle
	if checks.Expect(o.Expect) == checks.ExpectNew || (o.Expect == "" && rec.Unbundled()) {
		want, what = rec.NewCAs, "new CA"
		o.caKey = rotation.KeyNewCA
	}
	o.caName = fmt.Sprintf("rotation %s's %s", rec.ID, what)
	fmt.Fprintf(o.ErrOut, "verify: --ca from the %s\n", o.caName)
	return want, rec.OldCAs
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// Run runs the chosen checks one after the other (memory stays that of one
// check), prints the report and turns it into the exit code.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if checks.OtherTarget(o.Target) {
		return o.runTarget(ctx)
	}
	defer cluster.SoftMemoryLimit(cluster.ReadMemoryLimit)()
	r := &run{o: o, progress: &progress{w: o.ErrOut, now: time.Now}}
	r.resolveOld(ctx)
	rep := &report{Expect: string(o.rule.Expect), CA: certsOf(o.rule, o.rule.Want), Old: certsOf(o.rule, o.rule.Old),
		OldSource: o.oldSource, Namespace: o.namespace, Sections: []*section{}}

	// ClusterTrustBundles are few and small: read once for the pods that
	// project them, their own check and the copies check.
	var tb *cluster.TrustBundles
	if o.sections[sectionPods] || o.sections[sectionTrustBundles] || o.sections[sectionCopies] {
		read := cluster.ReadTrustBundles(ctx, o.client)
		tb = &read
	}
	// The pods check judges each pod by its source objects, so the root CA
	// objects are read whenever either check runs.
	var src *sources
	if o.sections[sectionPods] || o.sections[sectionSA] {
		src = r.collectSources(ctx)
		src.trustBundles = tb
	}
	for _, name := range sectionNames {
		if !o.sections[name] {
			continue
		}
		sec := newSection(name)
		switch name {
		case sectionPods:
			r.checkPods(ctx, sec, src)
		case sectionSA:
			src.report(sec)
		case sectionServing:
			r.checkServing(ctx, sec)
		case sectionClients:
			r.checkClients(ctx, sec)
		case sectionWebhooks:
			r.checkWebhooks(ctx, sec)
		case sectionLogs:
			r.checkLogs(ctx, sec)
		case sectionNodes:
			r.checkNodes(ctx, sec)
		case sectionTrustBundles:
			r.checkTrustBundles(ctx, sec, tb)
		case sectionCopies:
			r.checkCopies(ctx, sec, tb)
		}
		sec.finish()
		rep.Sections = append(rep.Sections, sec)
		if ctx.Err() != nil {
			break
		}
	}
	rep.finish()
	var err error
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		err = cmdutil.PrintStructured(o.Out, o.Output, rep)
	} else {
		err = printReport(o.Out, rep)
	}
	if err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	return rep.exitError()
}

// run is the state of one run shared by the checks.
type run struct {
	o        *Options
	progress *progress
}
