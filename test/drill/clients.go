package drill

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/test/clients"
)

// The in-cluster clients of the drill (Drill.Clients): a client for every
// pod of the drill's workloads and of a few extra pods, and a negative
// control, a Deployment that every restart pass leaves out by its label.
const (
	// nsClients holds the extra Deployment and the control, apart from the
	// drill's workload namespaces (whose passes the end state counts).
	nsClients = "drill-clients"
	// ControlLabel=ControlValue marks the control Deployment and its pods.
	ControlLabel = "carotate-drill"
	ControlValue = "control"
	// NotControl is the label selector every restart pass of the drill
	// gives with -l: every workload but the control (a workload without
	// the label matches it).
	NotControl = ControlLabel + "!=" + ControlValue
	// controlDeployment and extraDeployment are the two Deployments of
	// nsClients.
	controlDeployment = "control"
	extraDeployment   = "chatty"
	// simulatorSA is the ServiceAccount the simulators watch and request
	// tokens with: a token survives the whole rotation (the ServiceAccount
	// signing key does not change) where a client certificate from either
	// CA does not.
	simulatorSA = "simulator"
	// clientInterval is each client's pace: twice a second.
	clientInterval = 500 * time.Millisecond
)

// ClientsOutcome is what the in-cluster clients saw, for the assertions.
type ClientsOutcome struct {
	// Restarted are the clients of every pod the procedure restarts (the
	// drill's workloads and the extra Deployment): their pods ran before
	// the rotation, or were started by its restart passes.
	Restarted clients.Report
	// Control are the clients of the control Deployment's pods: those it
	// started with, which no pass restarts, and those of its restart by
	// hand after the finish pass.
	Control clients.Report
	// ControlPods are the control's pods the rotation never restarted (by
	// name): their clients must fail TLS verification from step 9.3 on.
	ControlPods []string
	// ControlVerify is what verify said of the control before step 9.3
	// (its pods row in verify -o json), and ControlVerifyExit its exit
	// code then.
	ControlVerify     VerifyItem
	ControlVerifyExit int
	// Broken are the step labels from the API server's switch to the new
	// CA (9.3) until the control's restart by hand: in each of them the
	// control's first pods get no answer but TLS failures.
	Broken []string
	// Unbundle is what unbundle did while the control was not restarted.
	Unbundle Result
}

// VerifyItem is one row of verify -o json, as far as the drill reads it.
type VerifyItem struct {
	Kind, Namespace, Name, Severity, Verdict, Action string
}

// clientRun is the drill's simulators.
type clientRun struct {
	restarted, control *clients.Simulator
}

// answeredSteps are the steps after the API server's switch in which a
// restarted client must have had an answer (ClientsOutcome.Problems).
var answeredSteps = []string{"10", "12.2-12.3", "finish"}

func (r *clientRun) setStep(step string) {
	if r == nil || step == "" {
		return
	}
	r.awaitAnswer()
	r.restarted.SetStep(step)
	r.control.SetStep(step)
}

// awaitAnswer holds the current step, when it is one of answeredSteps,
// until a restarted client has had a request answered in it (a minute at
// most). The clients ask twice a second each, and a step can be shorter
// (finish took well under a second here, 3 to 6 requests in it): it could
// end before any request by chance and fail the drill for nothing. A step
// whose requests fail still fails Problems after the minute.
func (r *clientRun) awaitAnswer() {
	if r == nil {
		return
	}
	step := r.restarted.Step()
	if !slices.Contains(answeredSteps, step) {
		return
	}
	_ = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return r.restarted.Report().Step(step).OK > 0, nil
	})
}

func (r *clientRun) stop() {
	if r == nil {
		return
	}
	r.restarted.Stop()
	r.control.Stop()
}

// createClientWorkloads creates nsClients with the extra Deployment (3
// pods, rolled by every pass) and the control (2 pods, labelled
// ControlLabel=ControlValue on the Deployment, which restart-workloads -l
// reads, and on its pods, which the simulators select by), and the
// simulators' ServiceAccount.
func createClientWorkloads(ctx context.Context, client kubernetes.Interface) error {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nsClients}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if err := waitDefaultSA(ctx, client, nsClients); err != nil {
		return err
	}
	control := deployment(controlDeployment, 2, false)
	control.Labels = map[string]string{ControlLabel: ControlValue}
	control.Spec.Template.Labels[ControlLabel] = ControlValue
	for _, dep := range []*appsv1.Deployment{deployment(extraDeployment, 3, false), control} {
		if _, err := client.AppsV1().Deployments(nsClients).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	if _, err := client.CoreV1().ServiceAccounts(nsClients).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: simulatorSA}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// The simulators do what the kubelet does: watch pods, ConfigMaps and
	// ClusterTrustBundles, request pod-bound tokens. RBAC sees the binding
	// through an informer, tens of milliseconds later: the rollout wait
	// below outlasts that, and the simulators' watches retry anyway.
	_, err := client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "carotate-drill-" + simulatorSA},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: nsClients, Name: simulatorSA}},
	}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	return WaitRolledOut(ctx, client, []string{nsClients})
}

// startClients starts the two simulators: one for every pod but the
// control's in the drill's namespaces and nsClients, one for the
// control's. Their admin trusts bundle (old and new CA) and authenticates
// with a ServiceAccount token, which no step of the rotation invalidates.
func (d *Drill) startClients(ctx context.Context, client kubernetes.Interface, bundle []byte) (*clientRun, error) {
	secs := int64(3 * time.Hour / time.Second)
	tr, err := client.CoreV1().ServiceAccounts(nsClients).CreateToken(ctx, simulatorSA,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("a token for the client simulators: %w", err)
	}
	cfg, err := d.Cluster.RESTConfig()
	if err != nil {
		return nil, err
	}
	admin := rest.AnonymousClientConfig(cfg)
	admin.BearerToken = tr.Status.Token
	admin.CAData, admin.CAFile = bundle, ""
	admin.QPS, admin.Burst = cfg.QPS, cfg.Burst

	namespaces := append(slices.Clone(d.out.Workloads.Namespaces), nsClients)
	base := clients.Config{Admin: admin, Host: d.Cluster.Server, ServerName: cfg.ServerName, Namespaces: namespaces,
		Interval: clientInterval, Step: "before"}
	rc := &clientRun{}
	restarted, control := base, base
	restarted.Selector = NotControl
	control.Selector, control.Name = ControlLabel+"="+ControlValue, "control clients"
	if rc.restarted, err = clients.New(restarted); err != nil {
		return nil, err
	}
	if rc.control, err = clients.New(control); err != nil {
		return nil, err
	}
	for _, s := range []*clients.Simulator{rc.restarted, rc.control} {
		if err := s.Start(ctx); err != nil {
			rc.stop()
			return nil, err
		}
	}
	// Every pod that runs now gets its client (with the CA it started with:
	// the old one) before anything changes.
	pods, err := client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{})
	if err != nil {
		rc.stop()
		return nil, err
	}
	want := 0
	for _, p := range pods.Items {
		if slices.Contains(namespaces, p.Namespace) && p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			want++
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		n := 0
		for _, s := range []*clients.Simulator{rc.restarted, rc.control} {
			for _, p := range s.Report().Pods {
				if p.Total.OK > 0 {
					n++
				}
			}
		}
		return n >= want, nil
	})
	if err != nil {
		rc.stop()
		return nil, fmt.Errorf("the in-cluster clients of the %d running pods did not all get an answer: %w", want, err)
	}
	d.logf("  in-cluster clients: %d pods, each a client-go client with the CA its pod started with and a token bound to it, GET /api twice a second; %s/%s (%s) is the control, left out of every restart pass",
		want, nsClients, controlDeployment, ControlLabel+"="+ControlValue)
	return rc, nil
}

// checkControlNamed runs verify before the API server serves from the new
// CA: it must name the control as "restart-needed", and nothing else as an
// error.
func (d *Drill) checkControlNamed(ctx context.Context) error {
	r, err := d.op.Carotate(ctx, "verify", "--only", "pods", "--ca", d.out.BundleFile, "--expect", "bundle", "--old-ca", d.out.OldFile)
	if err != nil {
		return err
	}
	doc, err := d.verifyJSON(ctx, "--only", "pods", "--ca", d.out.BundleFile, "--expect", "bundle", "--old-ca", d.out.OldFile)
	if err != nil {
		return err
	}
	co := &d.out.Clients
	co.ControlVerifyExit = r.Code
	if err := onlyControl(doc); err != nil {
		return fmt.Errorf("verify before step 9.3 (exit %d): %w", r.Code, err)
	}
	co.ControlVerify, _ = controlItem(doc)
	d.logf("  verify names the control %s %s/%s: %s (%d pods, %s): left out of the pass, it is what breaks at step 9.3",
		co.ControlVerify.Kind, co.ControlVerify.Namespace, co.ControlVerify.Name, co.ControlVerify.Verdict, len(co.ControlPods), strings.Join(co.ControlPods, ", "))
	return nil
}

// verifyJSON is verify -o json with args, not narrated.
func (d *Drill) verifyJSON(ctx context.Context, args ...string) (verifyDoc, error) {
	var doc verifyDoc
	r, err := d.op.quiet().Carotate(ctx, append(append([]string{"verify"}, args...), "-o", "json")...)
	if err != nil {
		return doc, err
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		return doc, fmt.Errorf("verify -o json: %w: %s", err, r.Stderr)
	}
	return doc, nil
}

// controlItem is verify's error row of the control's pods.
func controlItem(doc verifyDoc) (VerifyItem, bool) {
	for _, s := range doc.Sections {
		for _, it := range s.Items {
			if it.Kind == "Deployment" && it.Namespace == nsClients && it.Name == controlDeployment && it.Severity == "error" {
				return it, true
			}
		}
	}
	return VerifyItem{}, false
}

// onlyControl is nil when verify failed for the control alone: exit 1,
// the control's pods "restart-needed", no other error.
func onlyControl(doc verifyDoc) error {
	it, ok := controlItem(doc)
	if !ok || it.Verdict != "restart-needed" {
		return fmt.Errorf("verify does not name the control Deployment %s/%s \"restart-needed\" (exit %d)", nsClients, controlDeployment, doc.Result.ExitCode)
	}
	var others []string
	for _, s := range doc.Sections {
		for _, x := range s.Items {
			if x.Severity == "error" && x != it {
				others = append(others, fmt.Sprintf("%s %s/%s: %s", x.Kind, x.Namespace, x.Name, x.Verdict))
			}
		}
	}
	if len(others) > 0 || doc.Result.ExitCode != 1 {
		return fmt.Errorf("verify exits %d with errors besides the control: %s", doc.Result.ExitCode, strings.Join(others, "; "))
	}
	return nil
}

// controlPods are the names of the control's running pods.
func controlPods(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	pods, err := client.CoreV1().Pods(nsClients).List(ctx, metav1.ListOptions{LabelSelector: ControlLabel + "=" + ControlValue})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	slices.Sort(out)
	return out, nil
}

// waitControlBroken waits until every client of the control's first pods
// has failed TLS verification in step: the API server serves from the new
// CA, and a client that loaded the old CA alone cannot verify it. A control
// that does not fail is a broken measurement: the drill fails.
func (d *Drill) waitControlBroken(ctx context.Context, step string) error {
	var last clients.Report
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		last = d.clients.control.Report()
		for _, name := range d.out.Clients.ControlPods {
			p, ok := last.Pod(nsClients, name)
			if !ok || p.Step(step).TLSFailures == 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		var b bytes.Buffer
		_ = last.WritePods(&b)
		return fmt.Errorf("the control's clients (pods %s, which every restart pass must leave out, so they trust the old CA alone) saw no TLS failure after the API server's switch to the new CA: the measurement is broken\n%s",
			strings.Join(d.out.Clients.ControlPods, ", "), b.String())
	}
	d.logf("  the control's clients fail TLS verification now: %s", firstExample(last, "tls"))
	return nil
}

func firstExample(r clients.Report, outcome string) string {
	for _, p := range r.Pods {
		if e, ok := p.Examples[outcome]; ok {
			return e
		}
	}
	return ""
}

// restartControl restarts the control by hand once its measurement is
// done, so the rotation can finish: its new pods load the new CA alone.
func (d *Drill) restartControl(ctx context.Context, client kubernetes.Interface) error {
	if err := d.shell(ctx, fmt.Sprintf("kubectl -n %s rollout restart deployment %s", nsClients, controlDeployment)); err != nil {
		return err
	}
	if err := WaitRolledOut(ctx, client, []string{nsClients}); err != nil {
		return err
	}
	// Its new pods' clients answer before the drill goes on.
	return wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		n := 0
		for _, p := range d.clients.control.Report().Pods {
			if !slices.Contains(d.out.Clients.ControlPods, p.Name) && p.Total.OK > 0 {
				n++
			}
		}
		return n >= 2, nil
	})
}

// stopClients stops the simulators and keeps their figures.
func (d *Drill) stopClients() {
	if d.clients == nil {
		return
	}
	d.clients.stop()
	d.out.Clients.Restarted = d.clients.restarted.Report()
	d.out.Clients.Control = d.clients.control.Report()
}

// WriteClients writes the per-step table of the restarted clients, the
// control's, then the summary line and the control's line.
func (c ClientsOutcome) WriteClients(w io.Writer) {
	fmt.Fprintln(w, "in-cluster clients, per step (the pods the procedure restarts):")
	_ = c.Restarted.WriteTable(w)
	fmt.Fprintln(w, "control clients, per step (Deployment "+nsClients+"/"+controlDeployment+", left out of every restart pass, restarted by hand after the finish pass):")
	_ = c.Control.WriteTable(w)
	fmt.Fprintln(w, c.Restarted.Summary)
	fmt.Fprintln(w, c.Control.Summary)
}

// UnbundleNamedControl tells whether unbundle refused naming every pod of
// the control as trusting the old CA alone.
func (c ClientsOutcome) UnbundleNamedControl() bool {
	if len(c.ControlPods) == 0 || !strings.Contains(c.Unbundle.Stderr, "refusing to unbundle") || !strings.Contains(c.Unbundle.Stderr, "trust the old CA alone") {
		return false
	}
	for _, name := range c.ControlPods {
		if !strings.Contains(c.Unbundle.Stderr, nsClients+"/"+name) {
			return false
		}
	}
	return true
}

// minClients is the fewest clients of restarted pods a whole drill has:
// the pods before the rotation and those of its two passes.
const minClients = 30

// Problems is what is wrong with the clients' figures, empty when the
// rotation kept every restarted client working and the control failed as
// it must (a drill whose control does not fail measured nothing).
func (c ClientsOutcome) Problems() []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	r := c.Restarted
	if r.Summary.Clients < minClients {
		add("%d clients of restarted pods, want at least %d", r.Summary.Clients, minClients)
	}
	for _, s := range r.Skipped {
		add("pod %s/%s got no client: %s", s.Namespace, s.Name, s.Reason)
	}
	for _, p := range r.Pods {
		switch {
		case p.Error != "":
			add("the client of pod %s/%s (uid %s) never started: %s", p.Namespace, p.Name, p.UID, p.Error)
		case p.Total.TLSFailures > 0:
			add("pod %s/%s, restarted by the procedure: %d TLS failures (%s)", p.Namespace, p.Name, p.Total.TLSFailures, p.Examples["tls"])
		case p.Total.Unauthorized > 0:
			add("pod %s/%s (uid %s, client %s to %s), restarted by the procedure: %d 401s (%s); per step %+v", p.Namespace, p.Name, p.UID,
				p.Started.Format(time.RFC3339Nano), p.Stopped.Format(time.RFC3339Nano), p.Total.Unauthorized, p.Examples["unauthorized"], p.Steps)
		}
	}
	if r.Summary.TLSFailures != 0 || r.Summary.Unauthorized != 0 {
		add("restarted clients: %s, want TLS failures 0, 401s 0", r.Summary)
	}
	// The restarted clients worked once the API server served from the new
	// CA, not merely before.
	for _, step := range answeredSteps {
		if s := r.Step(step); s.OK == 0 {
			add("restarted clients: no answered request in step %s", step)
		}
	}

	ctl := c.Control
	if len(c.ControlPods) != 2 {
		add("control pods %v, want 2", c.ControlPods)
	}
	if it := c.ControlVerify; c.ControlVerifyExit != 1 || it.Kind != "Deployment" || it.Namespace != nsClients || it.Name != controlDeployment || it.Verdict != "restart-needed" {
		add("verify before step 9.3: exit %d, %+v; want exit 1 naming Deployment %s/%s restart-needed", c.ControlVerifyExit, it, nsClients, controlDeployment)
	}
	for _, want := range []string{"10", "11", "12.1"} {
		if !slices.Contains(c.Broken, want) {
			add("step %s is not among the steps the control was measured broken in (%v)", want, c.Broken)
		}
	}
	for _, name := range c.ControlPods {
		p, ok := ctl.Pod(nsClients, name)
		if !ok {
			add("control pod %s had no client", name)
			continue
		}
		broken := 0
		for _, s := range p.Steps {
			switch {
			case slices.Contains(c.Broken, s.Step):
				broken += s.TLSFailures
				if s.OK > 0 {
					add("control pod %s: %d answered requests in step %s, with the API server serving from the new CA and its pod trusting the old CA alone", name, s.OK, s.Step)
				}
			case s.Step == "9.3" || s.Step == "control":
				// The switch, and the restart by hand: both outcomes.
			case s.TLSFailures > 0:
				add("control pod %s: %d TLS failures in step %s, before the API server served from the new CA", name, s.TLSFailures, s.Step)
			}
		}
		if broken == 0 || p.Step("9.3").TLSFailures == 0 {
			add("control pod %s: no TLS failure from step 9.3 on (%d after it): the negative control did not fail", name, broken)
		}
		if p.Total.Unauthorized > 0 {
			add("control pod %s: %d 401s: its failures must be TLS, not its token", name, p.Total.Unauthorized)
		}
	}
	if u := c.Unbundle; u.Code != 1 || !c.UnbundleNamedControl() {
		add("unbundle with the control not restarted: exit %d, want 1 and a refusal naming every control pod %v: %s", u.Code, c.ControlPods, strings.TrimSpace(u.Stderr))
	}
	restarted := 0
	for _, p := range ctl.Pods {
		if slices.Contains(c.ControlPods, p.Name) {
			continue
		}
		restarted++
		if p.Total.OK == 0 || p.Total.TLSFailures > 0 || p.Total.Unauthorized > 0 {
			add("control pod %s, restarted by hand: %+v, want every request answered", p.Name, p.Total)
		}
	}
	if restarted < 2 {
		add("%d control pods restarted by hand had clients, want 2", restarted)
	}
	return out
}
