// Package inspect holds inspect: the certificates in files, in a key of a
// ConfigMap or Secret, and in the places of the cluster a rotation changes.
package inspect

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// InspectOptions is "kubectl carotate inspect".
type InspectOptions struct {
	*cmdutil.Env
	// Live reads the places of the cluster a rotation changes; Fleet does
	// so for several kubeconfig contexts at once.
	Live    bool
	Fleet   cmdutil.ContextFlags
	Key     string
	Output  string
	sources []string
	now     func() time.Time
}

// NewCmdInspect is "kubectl carotate inspect".
func NewCmdInspect(env *cmdutil.Env) *cobra.Command {
	o := &InspectOptions{Env: env, Key: cluster.RootCAKey, now: time.Now}
	cmd := &cobra.Command{
		Use:   "inspect [FILE | configmap/NS/NAME | secret/NS/NAME]... [--live [--all-contexts | --contexts NAME,...]]",
		Short: "Show the certificates in a file, a ConfigMap, a Secret or the live cluster",
		Long: `Show every certificate found in PEM files ("-" reads stdin), in a key of a
ConfigMap or Secret (--key, default ca.crt), or with --live in the places a
rotation changes: the CA of the current kubeconfig context, kube-system's
kube-root-ca.crt (what the controller-manager publishes to pods), and the
chain the API server presents in a TLS handshake, with whether that chain
verifies against the other two. Useful at any step of the upstream procedure
"Manually Rotate CA Certificates".

With --all-contexts (or --contexts a,b,c) --live reads every context of the
kubeconfig at once, each within --request-timeout (10s when not given), and
the table gains a CONTEXT column. --cluster is kubectl's flag, as everywhere:
it selects the kubeconfig cluster to talk to.

The table shortens fingerprints (SHA-256 of the certificate) to 16 hex
digits; -o json|yaml gives them in full with serials, key types and dates.
Private keys are never printed: a key given as input is an error.

Exit status: 0 when every source was read and parsed; 1 otherwise (the
sources that could be read are still shown).`,
		Example: `  kubectl carotate inspect new-ca.crt
  kubectl carotate inspect configmap/kube-system/kube-root-ca.crt secret/default/legacy-token
  kubectl carotate inspect --live
  kubectl carotate inspect --live -o json
  kubectl carotate inspect --live --all-contexts
  kubectl carotate inspect --live --contexts prod-eu,prod-us --request-timeout 5s`,
		RunE: cmdutil.Run(o, nil),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Live, "live", o.Live, "Show the kubeconfig CA, kube-system/kube-root-ca.crt and the API server's serving chain")
	o.Fleet.AddFlags(cmd, "with --live, the live certificates of each cluster")
	f.StringVar(&o.Key, "key", o.Key, "The ConfigMap or Secret key to read")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.NoNamespace(cmd, "name the namespace in the argument: configmap/NAMESPACE/NAME or secret/NAMESPACE/NAME")
	return cmd
}

// Complete takes the sources from the arguments.
func (o *InspectOptions) Complete(_ *cobra.Command, args []string) error {
	o.sources = args
	return nil
}

// Validate checks the flags and sources.
func (o *InspectOptions) Validate() error {
	if err := o.Fleet.Validate(); err != nil {
		return err
	}
	switch {
	case o.Fleet.Set() && !o.Live:
		return errors.New("--all-contexts and --contexts go with --live: they read the live certificates of each cluster")
	case o.Fleet.Set() && len(o.sources) > 0:
		return errors.New("--all-contexts and --contexts read the live clusters only: inspect files and objects in a run of their own")
	case len(o.sources) == 0 && !o.Live:
		return errors.New("nothing to inspect: give a FILE, configmap/NS/NAME, secret/NS/NAME, or --live")
	}
	if o.Key == "" {
		return errors.New("--key must not be empty")
	}
	for _, s := range o.sources {
		if _, _, _, isObj, err := parseObject(s); isObj && err != nil {
			return err
		}
	}
	return cmdutil.ValidateOutput(o.Output)
}

// certLine is one certificate with its days left at the time of the
// run.
type certLine struct {
	checks.CertInfo
	DaysLeft int `json:"daysLeft"`
}

// sourceResult is one input and what it held.
type sourceResult struct {
	// Context is the kubeconfig context read, with --all-contexts or
	// --contexts only.
	Context      string     `json:"context,omitempty"`
	Source       string     `json:"source"`
	Certificates []certLine `json:"certificates"`
	Error        string     `json:"error,omitempty"`
	certs        []*x509.Certificate
}

// verification says whether the serving chain verifies against a source.
type verification struct {
	Context  string `json:"context,omitempty"`
	Chain    string `json:"chain"`
	Against  string `json:"against"`
	Verifies bool   `json:"verifies"`
}

type report struct {
	Sources      []sourceResult `json:"sources"`
	Verification []verification `json:"verification,omitempty"`
}

// Run reads every source; one that fails does not hide the others.
func (o *InspectOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	now := o.now()
	report := &report{}
	var client kubernetes.Interface
	getClient := func() (kubernetes.Interface, error) {
		if client != nil {
			return client, nil
		}
		var err error
		client, err = o.Clientset()
		return client, err
	}
	for _, s := range o.sources {
		report.Sources = append(report.Sources, o.readSource(ctx, s, getClient))
	}
	switch {
	case o.Fleet.Set():
		names, err := o.Fleet.Select(o.Env)
		if err != nil {
			return err
		}
		type read struct {
			sources []sourceResult
			verify  []verification
		}
		reads := make([]read, len(names))
		cmdutil.EachContext(ctx, o.Env, names, func(ctx context.Context, i int, f cmdutil.Factory, timeout time.Duration) {
			sources, verify := readLive(ctx, f, timeout)
			for j := range sources {
				sources[j].Context = names[i]
			}
			for j := range verify {
				verify[j].Context = names[i]
			}
			reads[i] = read{sources, verify}
		})
		for _, r := range reads {
			report.Sources = append(report.Sources, r.sources...)
			report.Verification = append(report.Verification, r.verify...)
		}
	case o.Live:
		sources, verify := readLive(ctx, o.Env, 0)
		report.Sources = append(report.Sources, sources...)
		report.Verification = verify
	}
	failed := 0
	for i := range report.Sources {
		src := &report.Sources[i]
		src.Certificates = []certLine{}
		for _, c := range src.certs {
			src.Certificates = append(src.Certificates, certLine{CertInfo: checks.Describe(c), DaysLeft: checks.DaysLeft(c, now)})
		}
		if src.Error != "" {
			failed++
			if src.Context != "" {
				fmt.Fprintf(o.ErrOut, "error: context %s: %s\n", src.Context, src.Error)
			} else {
				fmt.Fprintf(o.ErrOut, "error: %s\n", src.Error)
			}
		}
	}
	if err := printReport(o.Out, o.Output, report); err != nil {
		return err
	}
	if failed > 0 {
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("%d of %d sources could not be read", failed, len(report.Sources))}
	}
	return nil
}
