package drill

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// Outcome is what the drill did, for the assertions that follow it.
type Outcome struct {
	Dir              string
	RotationID       string
	OldCA, NewCA     *localcluster.CertKey
	OldFile, NewFile string
	BundleFile       string
	Workloads        *Workloads
	// FinalRootCAChange is the last change of any kube-root-ca.crt made by
	// unbundle (the final bundle change): every pod must be younger.
	FinalRootCAChange time.Time
	// Restart reports of the two passes (stdout of restart-workloads).
	RestartReports []string
	// OldAdmin is a client certificate from the old CA, kept for the
	// outside check that the API server rejects it at the end.
	OldAdmin *localcluster.CertKey
	// Passes is what each restart pass wrote, seen from outside.
	Passes []PassWrites
	// Renewed are the nodes whose kubelet client certificate step 9.2
	// renewed (the printed request, approval and install); LeftOut the one
	// node left out of that renewal, a negative control: after step 12.2
	// its client certificate must get 401. Kubeconfigs are where the host
	// finds each node's kubelet.conf.
	Renewed     []string
	LeftOut     string
	Kubeconfigs map[string]string
	// Step92 is what status said of step 9.2 after the renewal, before the
	// API server served from the new CA (the left-out node not visible),
	// and Step92LeftOut after step 12.2 (its Lease stopped).
	Step92, Step92LeftOut StatusStep
	// Clients is what the in-cluster clients saw (Drill.Clients).
	Clients ClientsOutcome
}

// StatusStep is one step as status -o json shows it.
type StatusStep struct {
	State, Evidence string
}

// PassWrites is what one restart pass (its commands, their re-runs)
// changed in the drill's workloads, read from the cluster.
type PassWrites struct {
	Value string
	// Generations is the rise of each workload's metadata.generation over
	// the pass ("Deployment/ns/name"): one per spec change, so one per
	// write that changed anything (a patch sent again with the same value
	// changes nothing and is no write).
	Generations map[string]int64
	// OnDeletePods is every pod (uid) of the OnDelete StatefulSet seen,
	// through a watch, while the pass replaced them, and OnDeleteRevision
	// the revision the pass rolled it to: each pod name must have exactly
	// one pod of an older revision deleted, and none of this revision.
	OnDeletePods     map[types.UID]*PodSeen
	OnDeleteRevision string
}

// Drill is one whole rotation.
type Drill struct {
	Cluster  *localcluster.Cluster
	BinDir   string
	Dir      string
	Narrator Narrator
	// Chaos, when set, kills the API server (SIGKILL) under every
	// restart-workloads and update-cluster-info of the rotation, each at a
	// point observed through a watch (chaosPlan; the seed picks which
	// pass gets which point and how far into a pass), and runs a failed
	// attempt again without --value.
	Chaos *rand.Rand
	// Disruptions records what each chaos kill hit.
	Disruptions []Disruption
	// Clients, when set, runs an in-cluster client (test/clients) for
	// every pod of the drill's workloads and of a few extra ones, counted
	// per step, and a negative control: a Deployment every restart pass
	// leaves out (-l NotControl), whose clients must fail TLS verification
	// once the API server serves from the new CA. It is restarted by hand
	// after the finish pass (step 12.1).
	Clients bool

	op    *Operator
	out   *Outcome
	chaos *chaosRun
	plan  map[string]Kill
	// clients are the simulators (Clients); controlRestarted is set once the
	// control is restarted by hand, broken while the API server serves
	// from the new CA and the control is not restarted.
	clients          *clientRun
	controlRestarted bool
	broken           bool
}

// Run performs the whole rotation on c, narrated to n (nil: silent), with
// the binaries of localcluster.DefaultBinDir and a fresh directory.
func Run(ctx context.Context, c *localcluster.Cluster, n Narrator) (*Outcome, error) {
	bin, err := localcluster.DefaultBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "carotate-drill-")
	if err != nil {
		return nil, err
	}
	return (&Drill{Cluster: c, BinDir: bin, Dir: dir, Narrator: n}).Run(ctx)
}

// step narrates the next step; label, when not empty, is the row the
// in-cluster clients count the requests from now on in.
func (d *Drill) step(label, title, why string) {
	if d.Narrator != nil {
		d.Narrator.Step(title, why)
	}
	if d.clients != nil && label != "" {
		d.clients.setStep(label)
		if d.broken {
			d.out.Clients.Broken = append(d.out.Clients.Broken, label)
		}
	}
}

func (d *Drill) logf(format string, args ...any) {
	if d.Narrator != nil {
		d.Narrator.Logf(format, args...)
	}
}

func (d *Drill) client() (kubernetes.Interface, error) { return d.Cluster.Client() }

func (d *Drill) write(name string, data []byte) (string, error) {
	p := filepath.Join(d.Dir, name)
	return p, os.WriteFile(p, data, 0o600)
}

// Run performs the whole rotation.
func (d *Drill) Run(ctx context.Context) (*Outcome, error) {
	c := d.Cluster
	client, err := d.client()
	if err != nil {
		return nil, err
	}
	out := &Outcome{Dir: d.Dir, OldCA: c.PKI.CA}
	d.out = out
	if d.Chaos != nil {
		if err := d.startChaos(); err != nil {
			return out, err
		}
		defer d.stopChaos()
	}

	if err := d.leaveOut(ctx, client); err != nil {
		return out, err
	}

	d.step("", "Workloads that trust the old CA", "every pod that uses in-cluster config loaded kube-root-ca.crt at start (step 4's audience)")
	if out.Workloads, err = CreateWorkloads(ctx, client, c.PKI.CA.CertPEM); err != nil {
		return out, err
	}
	d.logf("namespaces %s: Deployments web, api, operator; DaemonSet agent; StatefulSets db, queue; paused Deployment frozen; OnDelete StatefulSet ondelete; zero-replica Deployment zero; bare pod bare; CronJob report; legacy token Secret; ValidatingWebhookConfiguration %s (caBundle: the old CA)",
		strings.Join(out.Workloads.Namespaces, ", "), out.Workloads.Webhook)
	if d.Clients {
		if err := createClientWorkloads(ctx, client); err != nil {
			return out, err
		}
		if out.Clients.ControlPods, err = controlPods(ctx, client); err != nil {
			return out, err
		}
		d.logf("namespace %s: Deployment %s (3 pods) and the control, Deployment %s (2 pods) labelled %s=%s, which every restart pass leaves out with -l %s",
			nsClients, extraDeployment, controlDeployment, ControlLabel, ControlValue, NotControl)
	}
	if out.OldAdmin, err = c.PKI.CA.Issue(localcluster.CertSpec{CommonName: "old-admin", Organizations: []string{"system:masters"}, Client: true}); err != nil {
		return out, err
	}

	d.step("", "Generate the new CA", "the new CA replaces the old one; its key stays with the operator")
	if out.NewCA, err = localcluster.NewCA("kubernetes-new", 365*24*time.Hour); err != nil {
		return out, err
	}
	if out.OldFile, err = d.write("old-ca.crt", c.PKI.CA.CertPEM); err != nil {
		return out, err
	}
	if out.NewFile, err = d.write("new-ca.crt", out.NewCA.CertPEM); err != nil {
		return out, err
	}
	bundle := checks.BuildBundle([]*x509.Certificate{out.NewCA.Cert}, []*x509.Certificate{c.PKI.CA.Cert})
	out.BundleFile = filepath.Join(d.Dir, "ca-bundle.crt")
	op := &Operator{Cluster: c, BinDir: d.BinDir, Dir: d.Dir, NewCA: out.NewCA, Narrator: d.Narrator}
	d.op = op
	if d.Clients {
		if d.clients, err = d.startClients(ctx, client, bundle); err != nil {
			return out, err
		}
		defer d.stopClients()
	}

	d.step("start", "Record the rotation", "every later command and a second admin resume from one record")
	r, err := op.MustCarotate(ctx, "start", "--new-ca", out.NewFile, "-o", "json")
	if err != nil {
		return out, err
	}
	var started struct{ ID string }
	if err := json.Unmarshal([]byte(r.Stdout), &started); err != nil || started.ID == "" {
		return out, fmt.Errorf("start -o json: no id in %q (%v)", r.Stdout, err)
	}
	out.RotationID = started.ID
	if d.Chaos != nil {
		d.plan = d.chaosPlan(out.RotationID, out.Workloads)
	}

	d.step("1-2", "Steps 1 and 2 on the control-plane node", "copy the new CA next to the old one; the controller-manager publishes the bundle (--root-ca-file) and signs with the new CA from a separate file")
	if _, err := op.MustCarotate(ctx, "instructions", "--step", "2"); err != nil {
		return out, err
	}
	for _, s := range []string{"1", "2"} {
		if _, err := op.Apply(ctx, s); err != nil {
			return out, err
		}
	}
	if err := d.waitStatus(ctx, map[string]string{"3": "done"}); err != nil {
		return out, err
	}

	d.step("3", "Step 3: bundle", "the controller-manager rewrites every kube-root-ca.crt and legacy token ca.crt to old+new; bundle checks and completes it")
	if _, err := d.op.MustCarotate(ctx, "bundle", "--old-ca", out.OldFile, "--new-ca", out.NewFile, "--out", out.BundleFile, "--settle", "2s"); err != nil {
		return out, err
	}

	d.step("4", "Step 4: restart-workloads --wait", "pods load kube-root-ca.crt at start only: roll every workload so it trusts old+new")
	if err := d.restartPass(ctx, client, checks.PhaseBundle); err != nil {
		return out, err
	}

	d.step("5-7", "Steps 5 and 7 on the control-plane node", "the API server accepts client certificates from both CAs; component kubeconfigs trust the bundle and carry new-CA client certificates")
	for _, s := range []string{"5", "6", "7"} {
		if _, err := op.Apply(ctx, s); err != nil {
			return out, err
		}
	}
	adminNew, err := out.NewCA.Issue(localcluster.CertSpec{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true})
	if err != nil {
		return out, err
	}
	if _, err := c.UseAdminKubeconfig(bundle, adminNew); err != nil {
		return out, err
	}
	d.logf("  [workstation] admin kubeconfig: the bundle as certificate-authority-data, a client certificate from the new CA")

	d.step("9.2", "Step 9.2 on every node", "each kubelet trusts old+new and gets a client certificate from the new CA through a CSR it makes with its own key; "+
		out.LeftOut+" is left out of the renewal, a negative control for step 12.2")
	if _, err := op.ApplyNodes(ctx, "9.2", out.LeftOut); err != nil {
		return out, err
	}
	if out.Step92, err = d.stepState(ctx, "9.2"); err != nil {
		return out, err
	}
	d.logf("  status step 9.2: %s: %s", out.Step92.State, out.Step92.Evidence)
	if d.Clients {
		d.step("", "verify before the switch: the control", "the control's pods started before the bundle and trust the old CA alone; verify must name them before the API server serves from the new CA")
		if err := d.checkControlNamed(ctx); err != nil {
			return out, err
		}
	}

	d.step("9.3", "Step 9.3: serving certificates from the new CA", "the API server's certificate is re-issued from the new CA and it restarts; clients trust old+new by now")
	if _, err := op.Apply(ctx, "9.3"); err != nil {
		return out, err
	}
	if client, err = d.client(); err != nil {
		return out, err
	}
	if d.Clients {
		if err := d.waitControlBroken(ctx, "9.3"); err != nil {
			return out, err
		}
		d.broken = true
	}

	d.step("10", "Step 10: update-cluster-info", "nodes that join with bootstrap tokens must trust the new serving certificate; the bootstrap signer re-signs per token")
	if _, err := d.mutate(ctx, "cluster-info bundle", "update-cluster-info", "--ca", out.BundleFile); err != nil {
		return out, err
	}

	d.step("11", "Step 11: verify", "no component or workload may still depend on the old CA alone before the old CA goes")
	if err := d.verify(ctx, out.BundleFile, "bundle", true); err != nil {
		return out, err
	}

	d.step("12.1", "Step 12.1: the new CA alone for ServiceAccounts", "--root-ca-file becomes the new CA; unbundle rewrites kube-root-ca.crt and token ca.crt; pods restart once more")
	if _, err := op.Apply(ctx, "12.1"); err != nil {
		return out, err
	}
	// The restarted controller-manager publishes the new CA within moments;
	// unbundle refuses while kube-root-ca.crt still shows its old content.
	if err := waitRootCA(ctx, client, out.NewCA.CertPEM); err != nil {
		return out, err
	}
	if err := d.unbundle(ctx); err != nil {
		return out, err
	}
	if out.FinalRootCAChange, err = LastRootCAChange(ctx, client); err != nil {
		return out, err
	}
	if err := d.restartPass(ctx, client, checks.PhaseFinish); err != nil {
		return out, err
	}
	if d.Clients {
		d.broken = false
		d.step("control", "The control restarted by hand", "its clients failed from the switch on, as they must; restarted now, after unbundle, its pods load the new CA alone and the rotation can finish")
		if err := d.restartControl(ctx, client); err != nil {
			return out, err
		}
		d.controlRestarted = true
	}

	d.step("12.2-12.3", "Steps 12.2 and 12.3: the old CA leaves every file and kubeconfig", "the control plane stops accepting old-CA client certificates; kubelets trust the new CA alone")
	for _, s := range []string{"12.2", "12.3"} {
		if _, err := op.Apply(ctx, s); err != nil {
			return out, err
		}
	}
	if _, err := c.UseAdminKubeconfig(out.NewCA.CertPEM, adminNew); err != nil {
		return out, err
	}
	d.logf("  [workstation] admin kubeconfig: the new CA alone")
	if _, err := op.ApplyNodes(ctx, "12.3"); err != nil {
		return out, err
	}
	d.logf("  the API server accepts the new CA's client certificates alone: %s, left out of step 9.2's renewal, presents the old CA's and gets 401", out.LeftOut)
	// Every renewed kubelet renews its Lease since the API server's restart
	// at 12.2; the left-out one cannot.
	stale := fmt.Sprintf("1 of %d nodes have not renewed their Lease since kube-apiserver restarted", len(out.Renewed)+1)
	if out.Step92LeftOut, err = d.waitStepState(ctx, "9.2", func(s StatusStep) bool {
		return s.State == "not done" && strings.Contains(s.Evidence, stale) && strings.Contains(s.Evidence, "("+out.LeftOut+")")
	}); err != nil {
		return out, err
	}
	d.logf("  status step 9.2: %s: %s", out.Step92LeftOut.State, out.Step92LeftOut.Evidence)
	d.logf("  %s cannot authenticate any more; upstream's alternative to renewing a kubelet is replacing its node", out.LeftOut)
	if err := d.replaceLeftOut(ctx, client); err != nil {
		return out, err
	}

	d.step("10 new", "cluster-info: the new CA alone", "joining nodes must not trust the old CA once it is distrusted (step 10 with the new CA)")
	if _, err := d.mutate(ctx, "cluster-info new", "update-cluster-info", "--ca", out.NewFile); err != nil {
		return out, err
	}
	if client, err = d.client(); err != nil {
		return out, err
	}
	d.step("ext-auth", "extension-apiserver-authentication without the old CA", "kube-apiserver merges its --client-ca-file into this ConfigMap and never drops a CA; aggregated API servers read it, so it is published afresh")
	if err := republishExtensionAuth(ctx, client, out.NewCA.CertPEM); err != nil {
		return out, err
	}
	d.logf("  [workstation] kubectl -n kube-system delete configmap extension-apiserver-authentication; kube-apiserver published it again with the new CA alone")

	d.step("verify new", "verify --expect new", "nothing in the cluster may trust the old CA any more")
	if err := d.verify(ctx, out.NewFile, "new", true); err != nil {
		return out, err
	}
	// The old CA left every caBundle (step 12.2) because verify asked for
	// it: the drill only carries out what verify prints.
	if err := d.webhookNewOnly(ctx, client); err != nil {
		return out, err
	}

	d.step("finish", "status and finish", "the record closes once every step is done")
	// Step 9.2's evidence: every node's newest kubelet client certificate
	// from the new CA, and its Lease renewed since the last API server
	// restart (KWOK renews on its own period).
	d.logf("  waiting for every node to renew its Lease with the API server on the new CA (status step 9.2)")
	if err := d.waitStatus(ctx, map[string]string{"9.2": "done"}); err != nil {
		return out, err
	}
	if _, err := op.MustCarotate(ctx, "status"); err != nil {
		return out, err
	}
	if _, err := op.MustCarotate(ctx, "finish"); err != nil {
		return out, err
	}
	if d.Clients {
		d.clients.awaitAnswer()
		d.stopClients()
		d.step("", "What the in-cluster clients saw", "requests per step after client-go's retries; API unreachable is wall-clock seconds in which some client got no answer, merged over clients")
		if d.Narrator != nil {
			var b strings.Builder
			out.Clients.WriteClients(&b)
			d.logf("%s", strings.TrimRight(b.String(), "\n"))
		}
	}
	return out, nil
}

// unbundle is step 12.1's unbundle. With the control not restarted, its
// pods trust the old CA alone: unbundle must refuse naming them (asserted
// by ClientsOutcome.Problems), and the drill then passes --force, since
// the control is left unrestarted on purpose.
func (d *Drill) unbundle(ctx context.Context) error {
	args := []string{"unbundle", "--keep", d.out.NewFile, "--settle", "2s"}
	if !d.Clients {
		_, err := d.op.MustCarotate(ctx, args...)
		return err
	}
	r, err := d.op.Carotate(ctx, args...)
	if err != nil {
		return err
	}
	d.out.Clients.Unbundle = r
	switch {
	case r.Code == 0:
		d.logf("  unbundle did not refuse although the control's pods (%s) still trust the old CA alone", strings.Join(d.out.Clients.ControlPods, ", "))
		return nil
	case !d.out.Clients.UnbundleNamedControl():
		return fmt.Errorf("kubectl carotate %s: exit %d, not a refusal naming the control's pods %v: %s", shellJoin(args), r.Code, d.out.Clients.ControlPods, strings.TrimSpace(r.Stderr))
	}
	d.logf("  unbundle refuses for the control's pods, left unrestarted on purpose (its clients are the negative control): --force")
	_, err = d.op.MustCarotate(ctx, append(args, "--force")...)
	return err
}

// mutate runs one of the in-cluster mutating commands; with Chaos, under
// the kill the plan has for it (by name).
func (d *Drill) mutate(ctx context.Context, name string, args ...string) (Result, error) {
	k, ok := d.plan[name]
	if d.Chaos == nil || !ok {
		return d.op.MustCarotate(ctx, args...)
	}
	return d.disrupt(ctx, k, args)
}

// restartPass rolls every workload (the pass value of phase), resuming the
// paused Deployment and replacing OnDelete pods as the report says, and
// re-creates the bare pod, which nothing else restarts. It records what
// the pass wrote, from outside the plugin.
func (d *Drill) restartPass(ctx context.Context, client kubernetes.Interface, phase string) error {
	v := checks.RestartValue(d.out.RotationID, phase)
	w := d.out.Workloads
	if err := afterRootCAChange(ctx, client); err != nil {
		return err
	}
	before, err := generations(ctx, client, w.Namespaces)
	if err != nil {
		return err
	}
	r, err := d.mutate(ctx, "restart "+phase, d.restartArgs("--value", v, "--wait")...)
	if err != nil {
		return err
	}
	d.out.RestartReports = append(d.out.RestartReports, r.Stdout+r.Stderr)
	d.logf("  the report names the paused Deployment and the OnDelete StatefulSet: doing what it says")
	// The follow-up belongs to the same pass, so it names the value: the
	// first run ended well and was logged, and without --value the record
	// would start the next phase's pass.
	stopUIDs := recordPods(ctx, client, w.OnDelete.Namespace, "app="+w.OnDelete.Name)
	r, err = d.mutate(ctx, "restart "+phase+" edge", d.restartArgs("--value", v, "--wait", "--resume-paused", "--delete-ondelete-pods", "-n", nsEdge)...)
	uids := stopUIDs()
	if err != nil {
		return err
	}
	d.out.RestartReports = append(d.out.RestartReports, r.Stdout+r.Stderr)
	after, err := generations(ctx, client, w.Namespaces)
	if err != nil {
		return err
	}
	sts, err := client.AppsV1().StatefulSets(w.OnDelete.Namespace).Get(ctx, w.OnDelete.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pw := PassWrites{Value: v, Generations: map[string]int64{}, OnDeletePods: uids, OnDeleteRevision: sts.Status.UpdateRevision}
	for k, g := range after {
		pw.Generations[k] = g - before[k]
	}
	d.out.Passes = append(d.out.Passes, pw)
	if err := RecreateBarePod(ctx, client, w.BarePod.Namespace); err != nil {
		return err
	}
	d.logf("  [workstation] bare pod %s/%s deleted and created again (no controller restarts it)", w.BarePod.Namespace, w.BarePod.Name)
	// The drill's paused Deployment stays paused, as its owner wants.
	if err := setPaused(ctx, client, w.Paused.Namespace, w.Paused.Name, true); err != nil {
		return err
	}
	return WaitRolledOut(ctx, client, w.Namespaces)
}

// restartArgs is restart-workloads with args; with the clients, every
// pass leaves the control out by its label.
func (d *Drill) restartArgs(args ...string) []string {
	out := append([]string{"restart-workloads"}, args...)
	if d.Clients {
		out = append(out, "-l", NotControl)
	}
	return out
}

// verifyDoc is verify -o json as far as the drill reads it.
type verifyDoc struct {
	Sections []struct {
		Name  string       `json:"name"`
		Items []VerifyItem `json:"items"`
	} `json:"sections"`
	Result struct {
		ExitCode int `json:"exitCode"`
	} `json:"result"`
}

// verify runs verify, carries out the webhook actions it prints, and runs
// it again until it passes, or, while the control is not restarted, fails
// for the control alone.
func (d *Drill) verify(ctx context.Context, caFile, expect string, withOld bool) error {
	args := []string{"--ca", caFile, "--expect", expect}
	if withOld {
		args = append(args, "--old-ca", d.out.OldFile)
	}
	doc, err := d.verifyJSON(ctx, args...)
	if err != nil {
		return err
	}
	for _, s := range doc.Sections {
		for _, it := range s.Items {
			if !strings.Contains(it.Kind, "Webhook") || it.Action == "" {
				continue
			}
			cmd := it.Action[strings.Index(it.Action, "kubectl "):]
			d.logf("  verify says for %s %s: %s", it.Kind, it.Name, it.Action)
			if err := d.shell(ctx, cmd); err != nil {
				return err
			}
		}
	}
	args = append([]string{"verify"}, args...)
	if !d.Clients || d.controlRestarted {
		_, err = d.op.MustCarotate(ctx, args...)
		return err
	}
	r, err := d.op.Carotate(ctx, args...)
	if err != nil || r.Code == 0 {
		return err
	}
	if doc, err = d.verifyJSON(ctx, args[1:]...); err != nil {
		return err
	}
	if err := onlyControl(doc); err != nil {
		return fmt.Errorf("kubectl carotate %s: exit %d: %w", shellJoin(args), r.Code, err)
	}
	d.logf("  verify fails for the control alone, which is left unrestarted on purpose")
	return nil
}

// shell runs a printed kubectl command line as the admin.
func (d *Drill) shell(ctx context.Context, line string) error { return d.op.shell(ctx, line) }

// StatusDoc is status -o json as far as the drill reads it.
type StatusDoc struct {
	Rotation *struct {
		ID    string `json:"id"`
		State string `json:"state"`
	} `json:"rotation"`
	Steps []struct {
		Step     string `json:"step"`
		State    string `json:"state"`
		Evidence string `json:"evidence"`
		Next     string `json:"next"`
	} `json:"steps"`
}

// State is one step's state.
func (s StatusDoc) State(step string) string {
	for _, x := range s.Steps {
		if x.Step == step {
			return x.State
		}
	}
	return ""
}

// Status is status -o json.
func (o *Operator) Status(ctx context.Context) (StatusDoc, error) {
	var d StatusDoc
	r, err := o.quiet().MustCarotate(ctx, "status", "-o", "json")
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal([]byte(r.Stdout), &d)
}

// waitStatus polls status until the steps show the wanted states: the
// controllers react to a restart within moments, not instantly.
func (d *Drill) waitStatus(ctx context.Context, want map[string]string) error {
	var last StatusDoc
	err := wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		s, err := d.op.Status(ctx)
		if err != nil {
			return false, nil
		}
		last = s
		for step, st := range want {
			if s.State(step) != st {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("status never showed %v: %+v", want, last.Steps)
	}
	return nil
}

// LastRootCAChange is the latest write to any kube-root-ca.crt.
func LastRootCAChange(ctx context.Context, client kubernetes.Interface) (time.Time, error) {
	cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=kube-root-ca.crt"})
	if err != nil {
		return time.Time{}, err
	}
	var last time.Time
	for _, cm := range cms.Items {
		for _, e := range cm.ManagedFields {
			if e.Time != nil && e.Time.After(last) {
				last = e.Time.Time
			}
		}
	}
	return last, nil
}

// afterRootCAChange waits until the wall clock has left the second in which
// any kube-root-ca.crt last changed. Pod start times and managedFields times
// have one-second resolution, and status (like verify) counts a pod started
// in the same second as the change as started before it, the safe side. On
// this fast harness a restart pass can begin in that very second; a real
// operator is never that quick.
func afterRootCAChange(ctx context.Context, client kubernetes.Interface) error {
	last, err := LastRootCAChange(ctx, client)
	if err != nil {
		return err
	}
	if d := time.Until(last.Truncate(time.Second).Add(time.Second)); d > 0 {
		time.Sleep(d)
	}
	return nil
}

// AfterRootCAChange is afterRootCAChange for callers outside the drill.
func AfterRootCAChange(ctx context.Context, client kubernetes.Interface) error {
	return afterRootCAChange(ctx, client)
}

// waitRootCA waits until kube-system/kube-root-ca.crt holds want.
func waitRootCA(ctx context.Context, client kubernetes.Interface, want []byte) error {
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == string(want), nil
	})
	if err != nil {
		return fmt.Errorf("kube-system/kube-root-ca.crt never held the new CA alone: %w", err)
	}
	return nil
}

// republishExtensionAuth deletes kube-system/extension-apiserver-authentication
// and waits until kube-apiserver has written it again with want alone as
// client-ca-file: the API server only ever adds CAs to the one it finds.
func republishExtensionAuth(ctx context.Context, client kubernetes.Interface, want []byte) error {
	const name = "extension-apiserver-authentication"
	if err := client.CoreV1().ConfigMaps("kube-system").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
		return err
	}
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cm, err := client.CoreV1().ConfigMaps("kube-system").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		last = cm.Data["client-ca-file"]
		return strings.TrimSpace(last) == strings.TrimSpace(string(want)), nil
	})
	if err != nil {
		return fmt.Errorf("kube-system/%s was not published again with the new CA alone (client-ca-file %d bytes): %w", name, len(last), err)
	}
	return nil
}

// webhookNewOnly checks that the drill's webhook caBundle holds the new CA
// alone: it held the old CA, and verify must have asked for the fix (its
// actions are carried out in verify), or verify missed it.
func (d *Drill) webhookNewOnly(ctx context.Context, client kubernetes.Interface) error {
	name := d.out.Workloads.Webhook
	vwc, err := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if got := string(vwc.Webhooks[0].ClientConfig.CABundle); got != string(d.out.NewCA.CertPEM) {
		return fmt.Errorf("verify --expect new passed, but ValidatingWebhookConfiguration %s's caBundle is not the new CA alone (%d bytes): verify did not ask for the fix", name, len(got))
	}
	return nil
}
