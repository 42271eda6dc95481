// Package status is "kubectl carotate status" (alias plan): every upstream
// step of the rotation, judged from what the cluster shows
// (cluster.Judge: cluster.ReadEvidence, then checks.JudgeSteps), and the next command.
package status

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// Options is "kubectl carotate status".
type Options struct {
	*cmdutil.Env
	CA     rotation.CAFlags
	Step   string
	Output string
	// Fleet reads several clusters at once: one row each (fleet.go).
	// FailWithin makes a CA that expires within that many days exit 1.
	Fleet      cmdutil.ContextFlags
	FailWithin int
	// Target is --target; targetGiven tells whether it was given (without
	// it, status adds a line per other active record).
	Target      string
	targetGiven bool
	now         func() time.Time
}

// NewCmdStatus is "kubectl carotate status" (alias plan).
func NewCmdStatus(env *cmdutil.Env) *cobra.Command {
	o := &Options{Env: env, now: time.Now}
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

Three rows are not upstream steps of their own: 3-ctb (after step 3: the
ClusterTrustBundle kube-controller-manager publishes for
kubernetes.io/kube-apiserver-serving, and every user-made ClusterTrustBundle
that holds the old CA, also hold the new one), 12.1-ctb (after step 12.1: none
of them holds the old CA any more), and 11-copies (unknown: copies of the old
CA in Secrets and ConfigMaps, which status does not read; its next command is
kubectl carotate verify --only copies). --step 3 shows step 3 and 3-ctb.

--target sa-key shows the ServiceAccount signing key rotation instead
(its record kube-system/carotate-state-sa-key, its steps 1, 2, 3.1, 3.2
and 4): the key ids /openid/v1/jwks lists, the key id of a token issued
now (a TokenRequest for default/default, decoded for its header only),
the key id of every legacy token Secret's token, and the pods with a
projected token that started before the switch within their token
lifetime. --target front-proxy-ca shows the front-proxy CA rotation (its
record kube-system/carotate-state-front-proxy-ca, its steps 1, 2 and 3):
the requestheader-client-ca-file kube-apiserver publishes in
kube-system/extension-apiserver-authentication (old, new or both), the
API servers' --requestheader-client-ca-file and --proxy-client-cert-file,
and whether each APIService served from the cluster is Available (the
aggregator calls it with the proxy client certificate). --target etcd-ca
shows the etcd CA rotation (its record kube-system/carotate-state-etcd-ca,
its steps 1, 2 and 3): the files etcd's and kube-apiserver's flags name,
when those static pods last started, kube-apiserver's /readyz/etcd, and the
record each node step's checks leave on its Node object; without that
record a step is unknown, since the API cannot show the files. Without --target,
status shows the cluster CA rotation and one line for each other active
rotation record.

The evidence is read, never written: the control plane's static pods'
flags through their mirror pods, what the controller-manager publishes in
kube-root-ca.crt of every namespace (and legacy token Secrets), which pods
started before their CA source last changed, the client CA the API server
publishes in kube-system/extension-apiserver-authentication, the API
server's serving chain against the new CA, kube-public/cluster-info, the
current kubeconfig, and the nodes' Lease renewals.

The CAs come from the rotation record ("kubectl carotate start"), or from
--old-ca and --new-ca. Exit status: 0 when the report was produced, whatever
the states; 1 when it could not be.

With --all-contexts (or --contexts a,b,c), status reads every context of the
kubeconfig at once and prints one row per cluster: its API server, the CA
its serving chain verifies against and its days left, the days left of the
ServiceAccount root CA (kube-system/kube-root-ca.crt), the rotation under
way (id, target, phase, next step) or none, and how long the row took. Each
context gets --request-timeout, or 10s when it is not given; a cluster that
does not answer, or refuses, is a row saying so. Exit status: 0 when every
cluster was read; 2 when one could not be; with --fail-within DAYS, 1 when a
serving or root CA expires within DAYS (2 wins when both hold).`,
		Example: `  kubectl carotate status
  kubectl carotate status --step 9.3
  kubectl carotate status -o json

  # Without a recorded rotation
  kubectl carotate status --old-ca ca.crt --new-ca new-ca.crt

  # The ServiceAccount signing key rotation (kubectl carotate start --target sa-key)
  kubectl carotate status --target sa-key

  # The front-proxy CA rotation (kubectl carotate start --target front-proxy-ca)
  kubectl carotate status --target front-proxy-ca --step 2

  # Every cluster of the kubeconfig; exit 1 when a CA expires within 90 days (for cron)
  kubectl carotate status --all-contexts --fail-within 90
  kubectl carotate status --contexts prod-eu,prod-us -o json`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	f := cmd.Flags()
	o.CA.AddFlags(cmd)
	f.StringVar(&o.Step, "step", o.Step, "Show only this upstream step (1 ... 12.3)")
	o.Fleet.AddFlags(cmd, "one row per cluster with its CA, the days left and the rotation under way")
	cmdutil.AddTargetFlag(cmd, &o.Target)
	f.IntVar(&o.FailWithin, "fail-within", o.FailWithin, "With --all-contexts or --contexts: exit 1 when a cluster's serving CA or ServiceAccount root CA expires within this many days")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.NoNamespace(cmd, "status judges every namespace of the cluster (kubectl carotate verify -n NAMESPACE checks one namespace's pods and root CA)")
	return cmd
}

// Complete notes whether --target was given.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	o.targetGiven = cmd.Flags().Changed("target")
	return nil
}

// fleet tells whether status reads several clusters.
func (o *Options) fleet() bool { return o.Fleet.Set() }

// Validate checks the flags; it reads no file.
func (o *Options) Validate() error {
	if err := cmdutil.ValidateTarget(o.Target); err != nil {
		return err
	}
	if checks.OtherTarget(o.Target) {
		return o.validateTarget()
	}
	if err := o.Fleet.Validate(); err != nil {
		return err
	}
	switch {
	case o.fleet() && (o.Step != "" || o.CA.OldCA != "" || o.CA.NewCA != ""):
		return errors.New("--all-contexts and --contexts show one row per cluster: --step, --old-ca and --new-ca are for one cluster")
	case o.FailWithin < 0:
		return fmt.Errorf("--fail-within must not be negative, got %d", o.FailWithin)
	case o.FailWithin > 0 && !o.fleet():
		return errors.New("--fail-within goes with --all-contexts or --contexts")
	}
	if err := o.CA.Validate(); err != nil {
		return err
	}
	if o.Step != "" {
		if _, ok := checks.LookupStep(o.Step); !ok {
			return fmt.Errorf("unknown --step %q: use one of 1, 2, 3, 4, 5, 6, 7, 8, 9.1, 9.2, 9.3, 9.4, 10, 11, 12.1, 12.2, 12.3", o.Step)
		}
	}
	return cmdutil.ValidateOutput(o.Output)
}

// report is the whole status (-o json|yaml).
type report struct {
	Rotation *rotation.View `json:"rotation,omitempty"`
	// Source says where the CAs come from: the record, or the flags.
	Source string             `json:"source"`
	Steps  []checks.StepState `json:"steps"`
	// NextStep and Next are the first step not done and its command.
	NextStep string   `json:"nextStep,omitempty"`
	Next     string   `json:"next,omitempty"`
	Notes    []string `json:"notes"`
	// Others are the other targets' active rotations, one line each
	// (status --target T shows one).
	Others []otherRotation `json:"otherRotations,omitempty"`
}

// Run reads the cluster, judges every step and prints the table.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.fleet() {
		return o.runFleet(ctx)
	}
	if checks.OtherTarget(o.Target) {
		return o.runTarget(ctx)
	}
	defer cluster.SoftMemoryLimit(cluster.ReadMemoryLimit)()
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	r := &report{Notes: []string{}}
	if !o.targetGiven && o.Step == "" {
		dyn, err := o.DynamicClient()
		if err != nil {
			return err
		}
		r.Others = otherRotations(ctx, client, dyn, o.now())
	}
	var rot *rotation.CAs
	switch {
	case o.CA.OldCA != "":
		if rot, err = rotation.Resolve(ctx, client, o.CA.OldCA, o.CA.NewCA); err != nil {
			return err
		}
		r.Source = "--old-ca " + o.CA.OldCA + " --new-ca " + o.CA.NewCA
	default:
		rec, err := rotation.Load(ctx, client)
		if err != nil {
			return err
		}
		if rec == nil {
			none := noRotation()
			none.Others = r.Others
			return o.print(none)
		}
		rot = rotation.FromRecord(rec)
		v := rotation.ViewOf(rec)
		r.Rotation = &v
		r.Source = "the rotation record " + rotation.Namespace + "/" + rotation.ConfigMapName
		if !rec.Active() {
			r.Notes = append(r.Notes, fmt.Sprintf("Rotation %s is %s: the states below are today's cluster judged against its CAs.", rec.ID, rec.State))
		}
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	if r.Steps, err = cluster.Judge(ctx, client, cfg, rot.Facts(), o.now()); err != nil {
		return err
	}
	r.Steps = checks.WithTrustSurfaces(r.Steps, trustSurfaces(ctx, client, rot))
	if rot.ExportOld || rot.ExportNew {
		r.Notes = append(r.Notes, rotation.ExportNote(rot, "ca-bundle.crt"))
	}
	var notes []string
	r.NextStep, r.Next, notes = checks.PickNext(r.Steps, rot.Record.Active())
	r.Notes = append(r.Notes, notes...)
	return o.print(r)
}

// trustSurfaces are the rows status adds to the upstream steps: the
// ClusterTrustBundles, judged here (few and small), and the copies of the
// old CA in Secrets and ConfigMaps, which only verify --only copies reads.
func trustSurfaces(ctx context.Context, client kubernetes.Interface, rot *rotation.CAs) []checks.StepState {
	published := cluster.ReadPublishedRootCA(ctx, client, rot.Old, rot.New)
	kubeSystem := published.KubeSystem
	if published.Err != nil || !published.PublishedByControllerManager() {
		kubeSystem = ""
	}
	ev := cluster.ReadTrustBundles(ctx, client).Evidence(rot.Old, rot.New)
	next := "kubectl carotate verify --only copies"
	if rot.Record == nil {
		next = fmt.Sprintf("kubectl carotate verify --ca %s --old-ca %s --expect bundle --only copies", checks.ShellQuote(rot.NewFile), checks.ShellQuote(rot.OldFile))
	}
	return append(checks.JudgeTrustBundleRows(ev, kubeSystem), checks.CopiesRow(next))
}

// noRotation is the report when neither a record nor flags name the CAs.
func noRotation() *report {
	return &report{Source: "none", Notes: []string{"No rotation is recorded in " + rotation.Namespace + "/" + rotation.ConfigMapName +
		", and --old-ca/--new-ca were not given: which CA is new is not known, so no step can be judged."},
		Steps:    checks.UnjudgedSteps("no rotation recorded"),
		NextStep: "start", Next: "kubectl carotate start --new-ca new-ca.crt"}
}

// print writes the report, narrowed to --step.
func (o *Options) print(r *report) error {
	if o.Step != "" {
		var rows []checks.StepState
		for _, s := range r.Steps {
			if s.Step == o.Step || strings.HasPrefix(s.Step, o.Step+"-") {
				rows = append(rows, s)
			}
		}
		r.Steps = rows
	}
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(o.Out, o.Output, r)
	}
	return printTable(o.Out, r)
}
