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
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// Step states.
const (
	statusDone          = "done"
	statusNotDone       = "not done"
	statusUnknown       = "unknown"
	statusNotApplicable = "not applicable"

	// statusSampleNames is how many object names an evidence cell lists.
	statusSampleNames = 3
)

// StatusOptions is "kubectl carotate status".
type StatusOptions struct {
	*Common
	OldCA, NewCA string
	Step         string
	Output       string
	// NewDynamic builds the client for APIServices and CRDs.
	NewDynamic func() (dynamic.Interface, error)
	now        func() time.Time
}

// NewCmdStatus is "kubectl carotate status" (alias plan).
func NewCmdStatus(c *Common) *cobra.Command {
	o := &StatusOptions{Common: c, now: time.Now}
	cmd := &cobra.Command{
		Use:     "status",
		Aliases: []string{"plan"},
		Short:   "One table: every step of the rotation, whether the cluster shows it done, and the next command",
		Long: `Show every step of the upstream procedure "Manually Rotate CA Certificates"
(numbered 1 to 12.3 as in the procedure) with its state, judged from what
the API shows, and the exact command for the next step:

  done            the cluster shows the step's effect
  not done        the cluster shows it is not done yet
  unknown         the API cannot show it (files on nodes, other people's
                  kubeconfigs); the step's instructions say what to do
  not applicable  nothing in this cluster needs it (no cloud-controller-manager,
                  no cluster-info, no aggregated API server or webhook)

The evidence is read, never written: the control plane's static pods'
flags through their mirror pods, what the controller-manager publishes in
kube-root-ca.crt of every namespace (and legacy token Secrets), which pods
started before their CA source last changed, the client CA the API server
publishes in kube-system/extension-apiserver-authentication, the API
server's serving chain against the new CA, kube-public/cluster-info, the
current kubeconfig, and the nodes' Lease renewals.

The CAs come from the rotation record ("kubectl carotate start"), or from
--old-ca and --new-ca. Exit status: 0 when the report was produced, whatever
the states; 1 when it could not be.`,
		Example: `  kubectl carotate status
  kubectl carotate status --step 9.3
  kubectl carotate status -o json

  # Without a recorded rotation
  kubectl carotate status --old-ca ca.crt --new-ca new-ca.crt`,
		Args: cobra.NoArgs,
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.StringVar(&o.OldCA, "old-ca", o.OldCA, "PEM file of the old CA, when no rotation is recorded")
	f.StringVar(&o.NewCA, "new-ca", o.NewCA, "PEM file of the new CA, when no rotation is recorded")
	f.StringVar(&o.Step, "step", o.Step, "Show only this upstream step (1 ... 12.3)")
	addOutputFlag(cmd, &o.Output)
	noNamespace(cmd, "status judges every namespace of the cluster (kubectl carotate verify -n NAMESPACE checks one namespace's pods and root CA)")
	return cmd
}

// Validate checks the flags; it reads no file.
func (o *StatusOptions) Validate() error {
	if (o.OldCA == "") != (o.NewCA == "") {
		return errors.New("--old-ca and --new-ca go together")
	}
	if o.Step != "" {
		if _, ok := checks.LookupStep(o.Step); !ok {
			return fmt.Errorf("unknown --step %q: use one of 1, 2, 3, 4, 5, 6, 7, 8, 9.1, 9.2, 9.3, 9.4, 10, 11, 12.1, 12.2, 12.3", o.Step)
		}
	}
	return validateOutput(o.Output)
}

// statusRow is one step's line.
type statusRow struct {
	Step     string `json:"step"`
	Title    string `json:"title"`
	Kind     string `json:"kind"`
	Phase    string `json:"phase"`
	State    string `json:"state"`
	Evidence string `json:"evidence"`
	Next     string `json:"next,omitempty"`
}

// statusReport is the whole status (-o json|yaml).
type statusReport struct {
	Rotation *rotationView `json:"rotation,omitempty"`
	// Source says where the CAs come from: the record, or the flags.
	Source string      `json:"source"`
	Steps  []statusRow `json:"steps"`
	// NextStep and Next are the first step not done and its command.
	NextStep string   `json:"nextStep,omitempty"`
	Next     string   `json:"next,omitempty"`
	Notes    []string `json:"notes"`
}

// Run collects the evidence and prints the table.
func (o *StatusOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	var rec *rotationRecord
	if o.OldCA == "" {
		if rec, err = loadRotation(ctx, client); err != nil {
			return err
		}
	}
	report, err := o.collect(ctx, client, rec)
	if err != nil {
		return err
	}
	if o.Step != "" {
		var rows []statusRow
		for _, r := range report.Steps {
			if r.Step == o.Step {
				rows = append(rows, r)
			}
		}
		report.Steps = rows
	}
	if o.Output == outputJSON || o.Output == outputYAML {
		return printStructured(o.Out, o.Output, report)
	}
	return printStatus(o.Out, report)
}

// statusEvidence is everything read from the cluster, judged once.
type statusEvidence struct {
	rot *instructionsCAs
	now time.Time

	cp    []instructionsMirrorPod
	cpErr error

	// ServiceAccount root CA objects, by what they hold.
	*cluster.RootCAState

	// Pods that use the ServiceAccount CA.
	podsWithCA      int
	podsRestart     []string // restart needed: started before their source last changed
	podsMaybe       []string // started in the same second as their source was written
	podsLacking     []string // their source lacks the new CA
	podsBeforeServe []string // started before the API server last restarted
	podErr          error
	backendPods     map[string]*statusBackend

	extClientCA, extFrontProxy checks.BundleState
	extErr                     error

	chain    []*x509.Certificate
	chainErr error

	kubeconfigCA     checks.BundleState
	kubeconfigClient string // "", "old", "new", "other"

	clusterInfo    ClusterInfoStatus
	clusterInfoErr error

	nodes    []corev1.Node
	leases   map[string]time.Time
	nodesErr error

	apis, hooks []checks.ServiceRef
	backendErr  error
	ccm         []string
}

// statusBackend is one aggregated API server or webhook service.
type statusBackend struct {
	ref      string
	selector labels.Selector
	pods     int
	restart  []string
}

// collect reads the cluster and judges every step.
func (o *StatusOptions) collect(ctx context.Context, client kubernetes.Interface, rec *rotationRecord) (*statusReport, error) {
	if o.now == nil {
		o.now = time.Now
	}
	report := &statusReport{Notes: []string{}}
	var rot *instructionsCAs
	var err error
	switch {
	case o.OldCA != "":
		if rot, err = instructionsRotation(ctx, client, o.OldCA, o.NewCA); err != nil {
			return nil, err
		}
		report.Source = "--old-ca " + o.OldCA + " --new-ca " + o.NewCA
	case rec != nil:
		rot = rotation.FromRecord(rec)
		v := rotationViewOf(rec)
		report.Rotation = &v
		report.Source = "the rotation record " + rotationNamespace + "/" + rotationConfigMap
		if !rec.Active() {
			report.Notes = append(report.Notes, fmt.Sprintf("Rotation %s is %s: the states below are today's cluster judged against its CAs.", rec.ID, rec.State))
		}
	default:
		return o.noRotation(), nil
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	var dyn dynamic.Interface
	if o.NewDynamic != nil {
		dyn, err = o.NewDynamic()
	} else {
		dyn, err = dynamic.NewForConfig(cfg)
	}
	if err != nil {
		return nil, err
	}
	ev := &statusEvidence{rot: rot, now: o.now()}
	ev.read(ctx, client, dyn, cfg)
	report.Steps = ev.judge()
	if rot.ExportOld || rot.ExportNew {
		report.Notes = append(report.Notes, instructionsExportNote(rot, "ca-bundle.crt"))
	}
	statusPickNext(report, rec)
	return report, nil
}

// noRotation is the report when neither a record nor flags name the CAs.
func (o *StatusOptions) noRotation() *statusReport {
	r := &statusReport{Source: "none", Notes: []string{"No rotation is recorded in " + rotationNamespace + "/" + rotationConfigMap +
		", and --old-ca/--new-ca were not given: which CA is new is not known, so no step can be judged."}}
	for _, s := range checks.UpstreamSteps {
		r.Steps = append(r.Steps, statusRow{Step: s.Number, Title: s.Title, Kind: s.Kind, Phase: s.Phase, State: statusUnknown,
			Evidence: "no rotation recorded"})
	}
	r.NextStep, r.Next = "start", "kubectl carotate start --new-ca new-ca.crt"
	return r
}

// statusPickNext sets the report's next step: the first one not done. The
// unknown ones before it (node files) are named so they are not skipped.
func statusPickNext(r *statusReport, rec *rotationRecord) {
	var unknownBefore []string
	for _, row := range r.Steps {
		switch row.State {
		case statusNotDone:
			r.NextStep, r.Next = row.Step, row.Next
			if len(unknownBefore) > 0 {
				r.Notes = append(r.Notes, "Before step "+row.Step+", make sure of step(s) "+strings.Join(unknownBefore, ", ")+
					": the API cannot show them (kubectl carotate instructions --step N prints them).")
			}
			return
		case statusUnknown:
			unknownBefore = append(unknownBefore, row.Step)
		}
	}
	if rec != nil && rec.Active() {
		r.NextStep, r.Next = "finish", "kubectl carotate finish"
		if len(unknownBefore) > 0 {
			r.Notes = append(r.Notes, "Every step the API can show is done; make sure of step(s) "+strings.Join(unknownBefore, ", ")+" before finishing.")
		}
	}
}

// read gathers the evidence; a failed read makes the steps that need it
// unknown rather than failing the whole report.
func (ev *statusEvidence) read(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, cfg *rest.Config) {
	ev.cp, ev.cpErr = instructionsControlPlane(ctx, client)
	ev.RootCAState = readRootCAState(ctx, client, ev.rot.Old, ev.rot.New)
	ev.apis, ev.hooks, ev.backendErr = statusServiceBackends(ctx, client, dyn)
	ev.readBackends(ctx, client)
	ev.readPods(ctx, client)
	ev.readExtensionAuth(ctx, client)
	ev.chain, ev.chainErr = fetchServingChain(ctx, cfg)
	ev.readKubeconfig(cfg)
	ev.clusterInfo, ev.clusterInfoErr = CheckClusterInfo(ctx, client, nil, ev.now)
	ev.readNodes(ctx, client)
	ev.ccm, _ = statusCloudControllerWorkloads(ctx, client)
}

func (ev *statusEvidence) classify(source string, data []byte) checks.BundleState {
	return checks.Classify(source, data, ev.rot.Old, ev.rot.New).State
}

// readBackends resolves the services behind aggregated APIs and webhooks
// to pod selectors, so the pod pass can judge their pods.
func (ev *statusEvidence) readBackends(ctx context.Context, client kubernetes.Interface) {
	ev.backendPods = map[string]*statusBackend{}
	for _, r := range append(append([]checks.ServiceRef{}, ev.apis...), ev.hooks...) {
		if r.Service == "" {
			continue
		}
		key := r.Namespace + "/" + r.Service
		if _, ok := ev.backendPods[key]; ok {
			continue
		}
		svc, err := client.CoreV1().Services(r.Namespace).Get(ctx, r.Service, metav1.GetOptions{})
		if err != nil || len(svc.Spec.Selector) == 0 {
			ev.backendPods[key] = &statusBackend{ref: r.Name}
			continue
		}
		ev.backendPods[key] = &statusBackend{ref: r.Name, selector: labels.SelectorFromSet(svc.Spec.Selector)}
	}
}

// readPods judges every running pod's trust source with verify's rules
// (checks.JudgePod): a pod whose container started before its namespace's
// kube-root-ca.crt (or legacy token Secret) last changed may hold the
// previous CA in memory.
func (ev *statusEvidence) readPods(ctx context.Context, client kubernetes.Interface) {
	load := func(ns, kind, name string) (checks.PodSource, bool) {
		switch kind {
		case checks.SourceRootCA:
			if name != rootCAConfigMap {
				return checks.PodSource{}, false
			}
			if ev.CMErr != nil {
				// Unknown is not missing: do not blame the pod for a
				// failed list.
				return checks.PodSource{Exists: true, OK: true, Holds: "unknown"}, true
			}
			return ev.RootSrc[ns], true
		case checks.SourceSecret:
			src, ok := ev.SecretSrc[ns+"/"+name]
			return src, ok
		}
		return checks.PodSource{}, false
	}
	serveTime := ev.apiserverStarted()
	ev.podErr = restartPages(ctx, metav1.ListOptions{Limit: 500, FieldSelector: "status.phase=Running"},
		func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Pod, string, error) {
			var l *corev1.PodList
			err := WithRetry(ctx, func() (err error) {
				l, err = client.CoreV1().Pods("").List(ctx, lo)
				return err
			})
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []corev1.Pod) {
			for i := range items {
				p := &items[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				in := verifyPodInput(p)
				t := checks.JudgePod(in, func(kind, name string) (checks.PodSource, bool) { return load(p.Namespace, kind, name) })
				if t.Verdict == checks.PodNoAPICA {
					continue
				}
				ev.podsWithCA++
				ref := p.Namespace + "/" + p.Name
				switch t.Verdict {
				case checks.PodRestartNeeded:
					ev.podsRestart = append(ev.podsRestart, ref)
				case checks.PodRestartMaybe:
					ev.podsMaybe = append(ev.podsMaybe, ref)
				case checks.PodSourceLacksCA, checks.PodSourceMissing:
					ev.podsLacking = append(ev.podsLacking, ref)
				}
				if !serveTime.IsZero() && statusPodStart(in).Truncate(time.Second).Before(serveTime.Truncate(time.Second)) {
					ev.podsBeforeServe = append(ev.podsBeforeServe, ref)
				}
				for key, b := range ev.backendPods {
					if b.selector != nil && strings.HasPrefix(key, p.Namespace+"/") && b.selector.Matches(labels.Set(p.Labels)) {
						b.pods++
						if t.Verdict == checks.PodRestartNeeded || t.Verdict == checks.PodSourceLacksCA {
							b.restart = append(b.restart, ref)
						}
					}
				}
			}
		}, func() {
			ev.podsWithCA, ev.podsRestart, ev.podsMaybe, ev.podsLacking, ev.podsBeforeServe = 0, nil, nil, nil, nil
			for _, b := range ev.backendPods {
				b.pods, b.restart = 0, nil
			}
		})
}

// apiserverStarted is when an API server last started serving its
// current certificate (see cluster.APIServerStarted).
func (ev *statusEvidence) apiserverStarted() time.Time { return apiserverStarted(ev.cp) }

func (ev *statusEvidence) readExtensionAuth(ctx context.Context, client kubernetes.Interface) {
	var cm *corev1.ConfigMap
	ev.extErr = WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, statusExtensionAuth, metav1.GetOptions{})
		return err
	})
	if ev.extErr != nil {
		return
	}
	ev.extClientCA = ev.classify("client-ca-file", []byte(cm.Data["client-ca-file"]))
	if len(ev.rot.NewFP) > 0 {
		ev.extFrontProxy = checks.Classify("requestheader-client-ca-file", []byte(cm.Data["requestheader-client-ca-file"]), ev.rot.OldFP, ev.rot.NewFP).State
	}
}

func (ev *statusEvidence) readKubeconfig(cfg *rest.Config) {
	ca := cfg.TLSClientConfig.CAData
	if len(ca) == 0 && cfg.TLSClientConfig.CAFile != "" {
		ca, _ = os.ReadFile(cfg.TLSClientConfig.CAFile)
	}
	if len(ca) == 0 {
		ev.kubeconfigCA = "system"
	} else {
		ev.kubeconfigCA = ev.classify("kubeconfig", ca)
	}
	cert := cfg.TLSClientConfig.CertData
	if len(cert) == 0 && cfg.TLSClientConfig.CertFile != "" {
		cert, _ = os.ReadFile(cfg.TLSClientConfig.CertFile)
	}
	if len(cert) == 0 {
		return
	}
	certs, err := checks.ParseCertificates("kubeconfig client certificate", cert)
	if err != nil || len(certs) == 0 {
		ev.kubeconfigClient = "other"
		return
	}
	switch {
	case statusSignedBy(certs[0], ev.rot.New):
		ev.kubeconfigClient = "new"
	case statusSignedBy(certs[0], ev.rot.Old):
		ev.kubeconfigClient = "old"
	default:
		ev.kubeconfigClient = "other"
	}
}

func statusSignedBy(c *x509.Certificate, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if c.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

func (ev *statusEvidence) readNodes(ctx context.Context, client kubernetes.Interface) {
	ev.nodes, ev.nodesErr = instructionsListNodes(ctx, client)
	ev.leases = map[string]time.Time{}
	if ev.nodesErr != nil {
		return
	}
	var l *coordinationv1.LeaseList
	err := WithRetry(ctx, func() (err error) {
		l, err = client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		ev.nodesErr = err
		return
	}
	for _, le := range l.Items {
		if le.Spec.RenewTime != nil {
			ev.leases[le.Name] = le.Spec.RenewTime.Time
		}
	}
}

// judge turns the evidence into one row per upstream step.
func (ev *statusEvidence) judge() []statusRow {
	cmds := ev.inClusterCommands()
	inCluster := map[string]string{}
	for step, list := range cmds {
		inCluster[step] = list[0]
		if len(list) > 1 && step != "12.1" {
			// Several commands (one per namespace): instructions lists them.
			inCluster[step] = "kubectl carotate instructions --step " + step
		}
	}
	instr := func(step string) string { return "kubectl carotate instructions --step " + step }
	rows := map[string]*statusRow{}
	for _, s := range checks.UpstreamSteps {
		rows[s.Number] = &statusRow{Step: s.Number, Title: s.Title, Kind: s.Kind, Phase: s.Phase}
	}
	set := func(step, state, evidence, next string) {
		r := rows[step]
		r.State, r.Evidence = state, evidence
		if state != statusDone && state != statusNotApplicable {
			r.Next = next
		}
	}

	// Where the ServiceAccount root CA stands decides the phase.
	allBundled, allNew := ev.Bundled(), ev.Unbundled()
	kcmPublishes := ev.KubeSystemCMWriter == controllerManagerFieldManager

	// Step 2: what the controller-manager publishes is its --root-ca-file.
	kcm := ev.component(checks.ComponentControllerManager)
	flags := ""
	if len(kcm) > 0 {
		flags = fmt.Sprintf(" (mirror pod %s: --root-ca-file=%s)", kcm[0].Name, kcm[0].Command.Value("root-ca-file"))
	}
	switch {
	case ev.CMErr != nil:
		set("2", statusUnknown, "cannot read kube-root-ca.crt: "+ev.CMErr.Error(), instr("2"))
	case ev.KubeSystemCM == "":
		set("2", statusUnknown, "kube-system has no kube-root-ca.crt: the controller-manager's root CA publisher does not run", instr("2"))
	case kcmPublishes && (ev.KubeSystemCM == checks.BundleHasBoth || ev.KubeSystemCM == checks.BundleOnlyNew):
		set("2", statusDone, fmt.Sprintf("kube-controller-manager publishes %s in kube-system/kube-root-ca.crt%s", statusWords(ev.KubeSystemCM), flags), "")
	case kcmPublishes:
		set("2", statusNotDone, fmt.Sprintf("kube-controller-manager publishes %s: its --root-ca-file is not the bundle yet%s", statusWords(ev.KubeSystemCM), flags), instr("2"))
	default:
		set("2", statusUnknown, fmt.Sprintf("kube-system/kube-root-ca.crt holds %s, last written by %s, not the controller-manager: its --root-ca-file cannot be told%s",
			statusWords(ev.KubeSystemCM), statusOr(ev.KubeSystemCMWriter, "an unknown writer"), flags), instr("2"))
	}
	if caveat := ev.sharedBundleCaveat(); caveat != "" && rows["2"].State == statusDone {
		rows["2"].State, rows["2"].Evidence, rows["2"].Next = statusNotDone, caveat, instr("2")
	}

	// Step 5: the API server publishes its --client-ca-file.
	apis := ev.component(checks.ComponentAPIServer)
	switch {
	case ev.extErr != nil:
		set("5", statusUnknown, "cannot read kube-system/"+statusExtensionAuth+": "+ev.extErr.Error(), instr("5"))
	case ev.extClientCA == checks.BundleHasBoth || ev.extClientCA == checks.BundleOnlyNew:
		e := "kube-apiserver's --client-ca-file holds " + statusWords(ev.extClientCA) + " (published in kube-system/" + statusExtensionAuth + ")"
		state := statusDone
		if len(ev.rot.NewFP) > 0 && ev.extFrontProxy != checks.BundleHasBoth && ev.extFrontProxy != checks.BundleOnlyNew {
			state, e = statusNotDone, e+"; but --requestheader-client-ca-file holds "+string(ev.extFrontProxy)+" of the front-proxy CAs"
		}
		for _, p := range apis {
			if v := p.Command.Value("kubelet-certificate-authority"); v != "" {
				e += fmt.Sprintf("; %s --kubelet-certificate-authority=%s is not visible through the API", p.Name, v)
			}
		}
		set("5", state, e, instr("5"))
	default:
		set("5", statusNotDone, "kube-apiserver's --client-ca-file holds "+statusWords(ev.extClientCA)+" (published in kube-system/"+statusExtensionAuth+")", instr("5"))
	}

	// Step 1: the new CA files are on the nodes when a component reads them.
	if rows["2"].State == statusDone || rows["5"].State == statusDone {
		set("1", statusDone, "control-plane components read files that hold the new CA (steps 2 and 5)", "")
	} else {
		set("1", statusUnknown, "files on control-plane nodes are not visible through the API; they show once a component reads them (steps 2, 5)", instr("1"))
	}

	// Step 3: every kube-root-ca.crt and legacy token Secret.
	cmLine := ev.Line()
	switch {
	case ev.CMErr != nil:
		set("3", statusUnknown, "cannot list kube-root-ca.crt: "+ev.CMErr.Error(), inCluster["3"])
	case allBundled:
		set("3", statusDone, cmLine, "")
	default:
		set("3", statusNotDone, cmLine, inCluster["3"])
	}

	// Step 4 and 12.1's restart: pods started before their source changed.
	podLine := func() string {
		if ev.podErr != nil {
			return "cannot list pods: " + ev.podErr.Error()
		}
		var parts []string
		if n := len(ev.podsRestart); n > 0 {
			parts = append(parts, fmt.Sprintf("%s started before their CA source last changed (%s)", plural(n, "pod"), statusSample(ev.podsRestart)))
		}
		if n := len(ev.podsLacking); n > 0 {
			parts = append(parts, fmt.Sprintf("%s mount a CA source without the new CA (%s)", plural(n, "pod"), statusSample(ev.podsLacking)))
		}
		maybe := ""
		if n := len(ev.podsMaybe); n > 0 {
			maybe = fmt.Sprintf("; %s started in the same second as their CA source was written, which cannot be told apart (%s; kubectl carotate verify --only pods names them)",
				plural(n, "pod"), statusSample(ev.podsMaybe))
		}
		if len(parts) == 0 {
			return fmt.Sprintf("%s using the ServiceAccount CA, all started after it last changed", plural(ev.podsWithCA, "running pod")) + maybe
		}
		return strings.Join(parts, "; ") + maybe
	}
	podsCurrent := ev.podErr == nil && len(ev.podsRestart) == 0 && len(ev.podsLacking) == 0
	switch {
	case allNew:
		set("4", statusDone, "superseded: the old CA is gone from every kube-root-ca.crt (step 12.1)", "")
	case ev.podErr != nil:
		set("4", statusUnknown, podLine(), inCluster["4"])
	case !allBundled:
		set("4", statusNotDone, "waits for step 3: "+podLine(), inCluster["4"])
	case podsCurrent:
		set("4", statusDone, podLine(), "")
	default:
		set("4", statusNotDone, podLine(), inCluster["4"])
	}

	// Step 6: the scheduler's own client CA file.
	sched := ev.component(checks.ComponentScheduler)
	var schedFiles []string
	for _, p := range sched {
		if v := p.Command.Value("client-ca-file"); v != "" {
			schedFiles = append(schedFiles, p.Name+" --client-ca-file="+v)
		}
	}
	switch {
	case len(sched) == 0:
		set("6", statusUnknown, "no kube-scheduler mirror pod is visible: its flags cannot be read", instr("6"))
	case len(schedFiles) == 0:
		set("6", statusNotApplicable, "kube-scheduler has no --client-ca-file: it reads the client CA the API server publishes (step 5)", "")
	default:
		set("6", statusUnknown, strings.Join(schedFiles, ", ")+": the file's content is not visible through the API", instr("6"))
	}

	// Step 7: this kubeconfig; others are not visible.
	kcLine := "this kubeconfig trusts " + statusWords(ev.kubeconfigCA)
	switch ev.kubeconfigClient {
	case "new":
		kcLine += ", its client certificate is issued by the new CA"
	case "old":
		kcLine += ", its client certificate is issued by the old CA (it stops working at step 12.2)"
	case "other":
		kcLine += ", its client certificate is issued by neither CA"
	}
	kcLine += "; other kubeconfigs are not visible through the API"
	switch {
	case (ev.kubeconfigCA == checks.BundleHasBoth || ev.kubeconfigCA == checks.BundleOnlyNew) && ev.kubeconfigClient != "old":
		set("7", statusDone, kcLine, "")
	case ev.kubeconfigCA == "system":
		set("7", statusUnknown, "this kubeconfig trusts the system's CAs; other kubeconfigs are not visible through the API", instr("7"))
	default:
		set("7", statusNotDone, kcLine, instr("7"))
	}

	// Step 8: cloud-controller-manager.
	var ccmStatic []string
	for _, p := range ev.component(checks.ComponentCloudController) {
		ccmStatic = append(ccmStatic, p.Name+" --root-ca-file="+p.Command.Value("root-ca-file"))
	}
	switch {
	case len(ccmStatic) > 0:
		set("8", statusUnknown, strings.Join(ccmStatic, ", ")+": the file's content is not visible through the API", instr("8"))
	case len(ev.ccm) > 0:
		set("8", rows["4"].State, strings.Join(ev.ccm, ", ")+" runs as a workload: it trusts the ServiceAccount root CA, like step 4", inCluster["4"])
	default:
		set("8", statusNotApplicable, "no cloud-controller-manager (no static pod, Deployment or DaemonSet by that name in kube-system)", "")
	}

	// Step 9.1: the servers behind aggregated APIs and webhooks.
	ev.judgeBackends(set, allBundled, allNew, inCluster["9.1"])

	// Step 9.3: the serving chain against the new CA.
	servesNew := false
	switch {
	case ev.chainErr != nil:
		set("9.3", statusUnknown, "cannot fetch the serving chain: "+ev.chainErr.Error(), instr("9.3"))
	case chainVerifies(ev.chain, ev.rot.New):
		servesNew = true
		set("9.3", statusDone, "the API server's serving chain verifies against the new CA (leaf issued by "+ev.chain[0].Issuer.String()+")", "")
	case chainVerifies(ev.chain, ev.rot.Old):
		set("9.3", statusNotDone, "the API server's serving chain verifies against the old CA only", instr("9.3"))
	default:
		set("9.3", statusNotDone, "the API server's serving chain verifies against neither CA (leaf issued by "+ev.chain[0].Issuer.String()+")", instr("9.3"))
	}

	// Step 9.2: a kubelet that does not trust the new CA stops renewing
	// its Lease once the API server serves from it.
	ev.judgeKubelets(set, servesNew, instr("9.2"))

	// Step 9.4: pods started after the API server began serving from the
	// new CA.
	serveTime := ev.apiserverStarted()
	podsNewCurrent := allNew && podsCurrent
	switch {
	case podsNewCurrent:
		set("9.4", statusDone, "superseded: every pod that uses the ServiceAccount CA started after the old CA was removed (step 12.1)", "")
	case !servesNew:
		set("9.4", statusNotDone, "waits for step 9.3", inCluster["9.4"])
	case ev.podErr != nil:
		set("9.4", statusUnknown, "cannot list pods: "+ev.podErr.Error(), inCluster["9.4"])
	case serveTime.IsZero():
		set("9.4", statusUnknown, "no kube-apiserver mirror pod: when the API server switched certificates is not visible", inCluster["9.4"])
	case len(ev.podsBeforeServe) > 0:
		set("9.4", statusNotDone, fmt.Sprintf("%s started before kube-apiserver's last restart at %s (%s)", plural(len(ev.podsBeforeServe), "pod"),
			serveTime.UTC().Format(time.RFC3339), statusSample(ev.podsBeforeServe)), inCluster["9.4"])
	default:
		set("9.4", statusDone, fmt.Sprintf("%s using the ServiceAccount CA, all started after kube-apiserver's last restart at %s",
			plural(ev.podsWithCA, "running pod"), serveTime.UTC().Format(time.RFC3339)), "")
	}

	// Step 10: cluster-info.
	ciState, ciLine := ev.clusterInfoState()
	switch {
	case ev.clusterInfoErr != nil:
		set("10", statusUnknown, "cannot read kube-public/cluster-info: "+ev.clusterInfoErr.Error(), inCluster["10"])
	case !ev.clusterInfo.Present:
		set("10", statusNotApplicable, "kube-public/cluster-info does not exist: nodes do not join with bootstrap tokens", "")
	case (ciState == checks.BundleHasBoth || ciState == checks.BundleOnlyNew) && ev.clusterInfo.Consistent:
		set("10", statusDone, ciLine, "")
	default:
		set("10", statusNotDone, ciLine, inCluster["10"])
	}

	// Step 11: verify reads the logs; status does not.
	if rec := ev.rot.Record; rec != nil {
		if p := rec.LastPass("verify"); p != nil && p.Result == "ok" {
			set("11", statusDone, fmt.Sprintf("kubectl carotate verify passed at %s (by %s)", p.At.UTC().Format(time.RFC3339), p.By), "")
		}
	}
	if rows["11"].State == "" {
		set("11", statusUnknown, "status does not read logs; kubectl carotate verify checks pods, webhooks and TLS errors", inCluster["11"])
	}

	// Step 12.1: the new CA alone everywhere pods look, published by the
	// controller-manager, and no pod from before.
	// The controller-manager's flag first (node), then unbundle, then the
	// restart pass: the next command is the first of these not done.
	unbundle, finishRestart := "", ""
	if list := cmds["12.1"]; len(list) == 2 {
		unbundle, finishRestart = list[0], list[1]
	}
	switch {
	case ev.CMErr != nil:
		set("12.1", statusUnknown, "cannot list kube-root-ca.crt: "+ev.CMErr.Error(), instr("12.1"))
	case !allNew && kcmPublishes && ev.KubeSystemCM != checks.BundleOnlyNew:
		set("12.1", statusNotDone, cmLine+"; kube-controller-manager still publishes "+statusWords(ev.KubeSystemCM), instr("12.1"))
	case !allNew:
		set("12.1", statusNotDone, cmLine, statusOr(unbundle, instr("12.1")))
	case !kcmPublishes:
		set("12.1", statusNotDone, cmLine+"; but kube-system/kube-root-ca.crt was last written by "+statusOr(ev.KubeSystemCMWriter, "an unknown writer")+
			", not the controller-manager: its --root-ca-file is not shown to be the new CA alone", instr("12.1"))
	case !podsCurrent:
		set("12.1", statusNotDone, podLine(), statusOr(finishRestart, instr("12.1")))
	default:
		set("12.1", statusDone, cmLine+", published by kube-controller-manager; "+podLine(), "")
	}

	// Step 12.2: the old CA gone from what the API shows.
	var left []string
	if ev.extErr == nil && ev.extClientCA != checks.BundleOnlyNew {
		left = append(left, "kube-apiserver's --client-ca-file holds "+statusWords(ev.extClientCA))
	}
	if ev.kubeconfigCA != checks.BundleOnlyNew && ev.kubeconfigCA != "system" {
		left = append(left, "this kubeconfig trusts "+statusWords(ev.kubeconfigCA))
	}
	if ev.clusterInfo.Present && ciState != checks.BundleOnlyNew {
		left = append(left, "cluster-info carries "+statusWords(ciState))
	}
	if moved := ev.transitionFlags(); len(moved) > 0 {
		left = append(left, fmt.Sprintf("%s still name transition files (%s)", plural(len(moved), "control-plane flag"), statusSample(moved)))
	}
	if len(left) > 0 {
		set("12.2", statusNotDone, strings.Join(left, "; "), instr("12.2"))
	} else {
		set("12.2", statusDone, "the API server's client CA, this kubeconfig and cluster-info hold the new CA alone; no control-plane flag points at a transition file", "")
	}

	// Step 12.3: kubelet files.
	set("12.3", statusUnknown, "kubelet files (clientCAFile, kubelet.conf) are not visible through the API", instr("12.3"))

	out := make([]statusRow, 0, len(checks.UpstreamSteps))
	for _, s := range checks.UpstreamSteps {
		out = append(out, *rows[s.Number])
	}
	return out
}

// sharedBundleCaveat reports a controller-manager whose signing or client
// CA flag names the same file as its --root-ca-file while that file is the
// bundle: kubeadm issue 1350.
func (ev *statusEvidence) sharedBundleCaveat() string {
	if ev.KubeSystemCM != checks.BundleHasBoth {
		return ""
	}
	for _, p := range ev.component(checks.ComponentControllerManager) {
		root := p.Command.Value("root-ca-file")
		for _, f := range []string{"cluster-signing-cert-file", "client-ca-file"} {
			if v := p.Command.Value(f); v != "" && v == root {
				return fmt.Sprintf("%s: --%s names the same file as --root-ca-file (%s), which is now the bundle: it must hold one CA; give it the separate new-CA copy (caveat of step 2)",
					p.Name, f, root)
			}
		}
	}
	return ""
}

func (ev *statusEvidence) judgeBackends(set func(step, state, evidence, next string), allBundled, allNew bool, next string) {
	if ev.backendErr != nil && len(ev.apis)+len(ev.hooks) == 0 {
		set("9.1", statusUnknown, "cannot list APIServices and webhooks: "+ev.backendErr.Error(), next)
		return
	}
	if len(ev.apis)+len(ev.hooks) == 0 {
		set("9.1", statusNotApplicable, "no aggregated API server (APIService with a service) and no webhook", "")
		return
	}
	var restart, noPods, urls []string
	total := 0
	keys := make([]string, 0, len(ev.backendPods))
	for k := range ev.backendPods {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b := ev.backendPods[k]
		total++
		switch {
		case len(b.restart) > 0:
			restart = append(restart, fmt.Sprintf("%s (%s)", k, statusSample(b.restart)))
		case b.pods == 0:
			noPods = append(noPods, k)
		}
	}
	for _, h := range ev.hooks {
		if h.Service == "" && h.URL != "" {
			urls = append(urls, h.Name)
		}
	}
	e := fmt.Sprintf("%d services behind %d APIServices and %d webhooks", total, len(ev.apis), len(ev.hooks))
	switch {
	case len(restart) > 0:
		set("9.1", statusNotDone, e+"; pods to restart: "+strings.Join(restart, ", "), next)
	case !allBundled && !allNew:
		set("9.1", statusNotDone, e+"; waits for step 3", next)
	case len(urls) > 0:
		set("9.1", statusUnknown, e+"; served outside the cluster (not visible): "+strings.Join(urls, ", "), next)
	default:
		if len(noPods) > 0 {
			e += "; no running pod behind " + strings.Join(noPods, ", ")
		}
		set("9.1", statusDone, e+"; their pods started after the CA last changed", "")
	}
}

func (ev *statusEvidence) judgeKubelets(set func(step, state, evidence, next string), servesNew bool, next string) {
	if ev.nodesErr != nil {
		set("9.2", statusUnknown, "cannot read nodes and their Leases: "+ev.nodesErr.Error(), next)
		return
	}
	if !servesNew {
		set("9.2", statusUnknown, "kubelet files are not visible through the API; they show once the API server serves from the new CA (step 9.3): "+
			"a kubelet that does not trust it stops renewing its Lease. Do this step before 9.3", next)
		return
	}
	since := ev.apiserverStarted()
	if since.IsZero() {
		set("9.2", statusUnknown, "no kube-apiserver mirror pod: when the API server switched certificates is not visible", next)
		return
	}
	var stale []string
	for _, n := range ev.nodes {
		if renew, ok := ev.leases[n.Name]; !ok || !renew.After(since) {
			stale = append(stale, n.Name)
		}
	}
	if len(stale) > 0 {
		set("9.2", statusNotDone, fmt.Sprintf("%d of %d nodes have not renewed their Lease since kube-apiserver restarted at %s (%s): their kubelet.conf may not trust the new CA",
			len(stale), len(ev.nodes), since.UTC().Format(time.RFC3339), statusSample(stale)), next)
		return
	}
	set("9.2", statusDone, fmt.Sprintf("all %d nodes renewed their Lease since kube-apiserver restarted at %s, so their kubelet.conf trusts the new CA; clientCAFile is not visible through the API",
		len(ev.nodes), since.UTC().Format(time.RFC3339)), "")
}

// clusterInfoState classifies the CA cluster-info carries.
func (ev *statusEvidence) clusterInfoState() (checks.BundleState, string) {
	if ev.clusterInfoErr != nil || !ev.clusterInfo.Present {
		return "", ""
	}
	var certs []*x509.Certificate
	byFP := map[string]*x509.Certificate{}
	for _, c := range append(append([]*x509.Certificate{}, ev.rot.Old...), ev.rot.New...) {
		byFP[checks.Fingerprint(c)] = c
	}
	unknown := 0
	for _, ci := range ev.clusterInfo.CAs {
		if c, ok := byFP[ci.Fingerprint]; ok {
			certs = append(certs, c)
		} else {
			unknown++
		}
	}
	st := checks.Classify("cluster-info", checks.EncodePEM(certs), ev.rot.Old, ev.rot.New).State
	if unknown > 0 || len(ev.clusterInfo.CAs) == 0 {
		st = checks.BundleOther
	}
	valid, signing := 0, 0
	for _, s := range ev.clusterInfo.Signatures {
		if s.Broken() {
			signing++
			continue
		}
		if s.State == checks.SignatureValid {
			valid++
			signing++
		}
	}
	sig := fmt.Sprintf("signed for %d/%d tokens", valid, signing)
	if !ev.clusterInfo.Consistent {
		sig = "not consistent: " + strings.Join(ev.clusterInfo.Problems, "; ")
	}
	return st, fmt.Sprintf("cluster-info: %s, carries %s", sig, statusWords(st))
}

// transitionFlags lists the control-plane flags that still name a
// transition file (ca-bundle.crt, ca-new.crt, apiserver-new.crt, ...).
func (ev *statusEvidence) transitionFlags() []string {
	var out []string
	for _, p := range ev.cp {
		if !p.Mirror {
			continue
		}
		for _, f := range p.Command.Flags {
			if strings.HasPrefix(f.Value, "/") && checks.OriginalPath(f.Value) != f.Value {
				out = append(out, fmt.Sprintf("%s --%s=%s", p.Component, f.Name, f.Value))
			}
		}
	}
	return out
}

func (ev *statusEvidence) component(name string) []instructionsMirrorPod {
	var out []instructionsMirrorPod
	for _, p := range ev.cp {
		if p.Mirror && p.Component == name {
			out = append(out, p)
		}
	}
	return out
}

// inClusterCommands are the in-cluster steps' commands exactly as
// instructions prints them.
func (ev *statusEvidence) inClusterCommands() map[string][]string {
	// A cluster-info that could not be read may exist: keep its command.
	d := checks.ClusterDescription{RotationID: ev.rot.ID, ClusterInfo: ev.clusterInfo.Present || ev.clusterInfoErr != nil,
		AggregatedAPIs: ev.apis, Webhooks: ev.hooks,
		Files:      checks.LocalFiles{OldCA: ev.rot.OldFile, NewCA: ev.rot.NewFile, Bundle: "ca-bundle.crt"},
		PassValues: ev.passValues()}
	out := map[string][]string{}
	for _, s := range checks.Render(d) {
		if s.Action == checks.ActionInCluster {
			out[s.Step] = append(out[s.Step], s.Command)
		}
	}
	return out
}

// passValues are the restart pass values status recommends: a phase's
// pass is resumed with its value, unless it ran before the change it
// follows (then its value is on every template already and would roll
// nothing: the pods older than the change stay). See checks.NextPassValue.
func (ev *statusEvidence) passValues() map[string]string {
	rec := ev.rot.Record
	if rec == nil {
		return nil
	}
	runs := rec.PassRuns()
	return map[string]string{
		checks.PhaseBundle: checks.NextPassValue(rec.ID, checks.PhaseBundle, runs, ev.LastChange),
		checks.PhaseServe:  checks.NextPassValue(rec.ID, checks.PhaseServe, runs, ev.apiserverStarted()),
		checks.PhaseFinish: checks.NextPassValue(rec.ID, checks.PhaseFinish, runs, ev.LastChange),
	}
}

func statusShortErr(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return err.Error()
}

// printStatus writes the header, the table and the next step.
func printStatus(w io.Writer, r *statusReport) error {
	if v := r.Rotation; v != nil {
		fmt.Fprintf(w, "Rotation %s (%s), started %s by %s\n", v.ID, v.State, v.StartedAt.UTC().Format(time.RFC3339), v.StartedBy)
		for _, c := range v.OldCA {
			fmt.Fprintf(w, "  old CA: %s\n", startCertLine(c))
		}
		for _, c := range v.NewCA {
			fmt.Fprintf(w, "  new CA: %s\n", startCertLine(c))
		}
		if n := len(v.Passes); n > 0 {
			p := v.Passes[n-1]
			fmt.Fprintf(w, "  passes: %d, last %s (%s) at %s by %s\n", n, p.Kind, p.Result, p.At.UTC().Format(time.RFC3339), p.By)
		}
	} else if r.Source == "none" {
		fmt.Fprintln(w, "No rotation recorded")
	} else {
		fmt.Fprintf(w, "CAs from %s\n", r.Source)
	}
	fmt.Fprintln(w)
	rows := make([][]string, 0, len(r.Steps))
	for _, s := range r.Steps {
		rows = append(rows, []string{s.Step, s.State, s.Next, s.Evidence})
	}
	// The evidence is the longest cell: last, like kubectl's last column.
	if err := writeTable(w, []string{"step", "state", "next", "evidence"}, rows); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nNote: %s\n", n)
	}
	switch {
	case r.Next == "":
	case checks.IsStep(r.NextStep):
		_, err := fmt.Fprintf(w, "\nNext (step %s): %s\n", r.NextStep, r.Next)
		return err
	default:
		_, err := fmt.Fprintf(w, "\nNext: %s\n", r.Next)
		return err
	}
	return nil
}
