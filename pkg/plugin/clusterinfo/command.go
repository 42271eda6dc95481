// Package clusterinfo holds update-cluster-info (upstream step 10): the CA
// in kube-public/cluster-info and the bootstrap-token signatures over it.
package clusterinfo

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

const (
	command = "update-cluster-info"
	// The signer re-signs about 0.1 s after a change; ten seconds leaves room
	// for a busy controller-manager without making a cluster that has no
	// signer wait long before we sign ourselves.
	defaultSignerWait = 10 * time.Second
	bySigner          = "the bootstrap signer"
	byUs              = "kubectl carotate"
)

// UpdateClusterInfoOptions is "kubectl carotate update-cluster-info".
type UpdateClusterInfoOptions struct {
	*cmdutil.Env
	CAFile     string
	Check      bool
	Sign       bool
	Require    bool
	DryRunFlag string
	Output     string
	SignerWait time.Duration
	UndoDir    string
	Force      bool

	dryRun cmdutil.DryRun
	client kubernetes.Interface
	server string
	// now is a field so tests can judge expiry at a fixed instant.
	now func() time.Time
}

// NewCmdUpdateClusterInfo is "kubectl carotate update-cluster-info".
func NewCmdUpdateClusterInfo(env *cmdutil.Env) *cobra.Command {
	o := &UpdateClusterInfoOptions{Env: env, DryRunFlag: string(cmdutil.DryRunNone), SignerWait: defaultSignerWait, now: time.Now}
	cmd := &cobra.Command{
		Use:   "update-cluster-info --ca FILE | --check [--ca FILE]",
		Short: "Put the CA into kube-public/cluster-info and keep its bootstrap-token signatures valid (step 10)",
		Long: `Upstream step 10: nodes that join with a bootstrap token ("kubeadm join
--token") trust the CA they find in the kube-public/cluster-info ConfigMap,
after checking its "jws-kubeconfig-<token-id>" signature with the token.

update-cluster-info --ca FILE rewrites certificate-authority-data of the
cluster entry in that ConfigMap's kubeconfig (pass the old+new bundle during
the rotation, the new CA alone at the end), keeping every other field. Then it
makes sure every signature is valid for the new content: when the
controller-manager's bootstrap signer runs, it re-signs within moments and
the command waits for it (--signer-wait); when it does not, or with --sign,
the command signs itself with each bootstrap token that may sign
(usage-bootstrap-signing: "true", not expired) and removes the signatures of
tokens that expired or no longer exist. The report gives each token's
signature state: valid, re-signed, stale, unsigned, expired, no-token or
not-signing.

The previous kubeconfig and signatures are saved in an undo file. Clusters
without cluster-info (no bootstrap-token joins) have nothing to do here: the
command says so and exits 0, unless --require.

--check is read-only: it shows which CA(s) cluster-info carries, whether they
are exactly those of --ca (when given), and each token's signature state.

Exit codes:
  0  done; with --check: cluster-info is consistent (or absent, without --require)
  1  failed, or a signature is still stale; with --check: not consistent
     (CA differs from --ca, a token that may sign has a stale or missing
     signature), or absent with --require
  2  with --check: the check could not run (bad flags or --ca, RBAC, API errors)`,
		Example: `  # During the rotation: the old+new bundle
  kubectl carotate update-cluster-info --ca bundle.crt
  # See the kubeconfig change without writing
  kubectl carotate update-cluster-info --ca bundle.crt --dry-run=client
  # The bootstrap signer is off: sign with the bootstrap tokens right away
  kubectl carotate update-cluster-info --ca new-ca.crt --sign
  # Read-only: does cluster-info carry the new CA, and do the signatures verify?
  kubectl carotate update-cluster-info --check --ca new-ca.crt -o yaml`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, o.checkError),
	}
	f := cmd.Flags()
	cmdutil.AddFileFlag(cmd, &o.CAFile, "ca", "PEM file with the CA certificate(s) cluster-info must carry: the old+new bundle during the rotation, the new CA at the end; default: from the recorded rotation")
	f.BoolVar(&o.Check, "check", o.Check, "Read-only: report the CA(s) and signature states of cluster-info; exit 1 when not consistent")
	f.BoolVar(&o.Sign, "sign", o.Sign, "Sign with the bootstrap tokens in the same write instead of waiting for the bootstrap signer")
	f.BoolVar(&o.Require, "require", o.Require, "Fail (exit 1) when kube-public/cluster-info does not exist")
	f.DurationVar(&o.SignerWait, "signer-wait", o.SignerWait, "How long to wait for the bootstrap signer to re-sign before signing ourselves")
	cmdutil.AddDryRunFlag(cmd, &o.DryRunFlag, "show the kubeconfig diff, send nothing")
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmdutil.AddForceFlag(cmd, &o.Force, "Write --ca even if it does not verify the API server's serving chain")
	cmdutil.AddUndoDirFlag(cmd, &o.UndoDir)
	cmdutil.NoNamespace(cmd, "it changes kube-public/cluster-info only")
	return cmd
}

// checkError gives --check's "could not run" exit code to errors that
// happen before it could judge anything.
func (o *UpdateClusterInfoOptions) checkError(err error) error {
	var ee *cmdutil.ExitError
	if err == nil || !o.Check || errors.As(err, &ee) {
		return err
	}
	return &cmdutil.ExitError{Code: 2, Err: err}
}

// Complete builds the client; it contacts nothing.
func (o *UpdateClusterInfoOptions) Complete(_ *cobra.Command, _ []string) error {
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	o.server = cfg.Host
	if o.client == nil {
		o.client, err = o.Clientset()
		if err != nil {
			return err
		}
	}
	if o.now == nil {
		o.now = time.Now
	}
	return nil
}

// Validate checks the flags, without I/O.
func (o *UpdateClusterInfoOptions) Validate() error {
	if err := cmdutil.ValidateOutput(o.Output); err != nil {
		return err
	}
	d, err := cmdutil.ParseDryRun(o.DryRunFlag)
	if err != nil {
		return err
	}
	o.dryRun = d
	if o.Check {
		if o.Sign || d != cmdutil.DryRunNone {
			return errors.New("--check is read-only: --sign and --dry-run do not apply to it")
		}
		return nil
	}
	if o.SignerWait < 0 {
		return fmt.Errorf("--signer-wait must not be negative, got %s", o.SignerWait)
	}
	return nil
}

// Run does the check or the update.
func (o *UpdateClusterInfoOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Check {
		return o.runCheck(ctx)
	}
	err := o.runUpdate(ctx)
	if err == nil {
		rotation.LogPass(ctx, o.client, o.ErrOut, o.dryRun, rotation.Pass{Kind: command, Result: "ok"})
	}
	return err
}

// loadCA reads --ca with the same rules and messages as bundle:
// strict PEM, CA certificates only, currently valid; warnings go to stderr.
// Without --ca the recorded rotation decides: its bundle until the unbundle
// pass is logged, then its new CA alone.
func (o *UpdateClusterInfoOptions) loadCA(ctx context.Context) ([]*x509.Certificate, error) {
	if o.CAFile == "" {
		rec, err := rotation.Recorded(ctx, o.client, "--ca FILE")
		if err != nil {
			return nil, err
		}
		certs, what := append(append([]*x509.Certificate{}, rec.NewCAs...), rec.OldCAs...), "bundle (new+old)"
		if rec.Unbundled() {
			certs, what = rec.NewCAs, "new CA (the rotation is unbundled)"
		}
		o.CAFile = fmt.Sprintf("rotation %s's %s", rec.ID, what)
		fmt.Fprintf(o.ErrOut, "update-cluster-info: --ca from the %s\n", o.CAFile)
		return certs, nil
	}
	certs, err := cmdutil.ReadCertFile("--ca", o.CAFile)
	if err != nil {
		return nil, err
	}
	findings, err := checks.ValidateCA("CA", certs, checks.ValidateOptions{Now: o.now()})
	if err := cmdutil.ReportFindings(o.ErrOut, findings, err); err != nil {
		return nil, fmt.Errorf("--ca %s: %w", o.CAFile, err)
	}
	return certs, nil
}

// checkServing refuses a CA that does not verify the API
// server's serving chain: kubeadm join checks the server against exactly
// this CA, so such a write breaks every join (--force overrides, e.g. when
// joins go through another endpoint than this kubeconfig's).
func (o *UpdateClusterInfoOptions) checkServing(ctx context.Context, certs []*x509.Certificate) error {
	if o.Force {
		return nil
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	chain, err := cluster.FetchServingChain(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot read the API server's serving chain to check --ca against it (nothing was changed; --force skips the check): %w", err)
	}
	if !checks.ChainVerifies(chain, certs) {
		return fmt.Errorf("--ca %s does not verify the API server's serving certificate (%s, issued by %s): kubeadm join would fail against it; nothing was changed (during the rotation use the old+new bundle; --force overrides)",
			o.CAFile, chain[0].Subject, chain[0].Issuer)
	}
	return nil
}

func (o *UpdateClusterInfoOptions) notApplicable() string {
	return fmt.Sprintf("ConfigMap %s/%s not found: this cluster does not publish cluster-info for bootstrap-token joins (kubeadm join --token), so step 10 does not apply.", cluster.ClusterInfoNamespace, cluster.ClusterInfoName)
}

// access lists the rights a run needs, for the preflight.
func access(update, watchSigner bool) []cmdutil.AccessCheck {
	need := []cmdutil.AccessCheck{
		{Verb: "get", Resource: "configmaps", Namespace: cluster.ClusterInfoNamespace},
		{Verb: "list", Resource: "secrets", Namespace: metav1.NamespaceSystem},
	}
	if update {
		need = append(need, cmdutil.AccessCheck{Verb: "update", Resource: "configmaps", Namespace: cluster.ClusterInfoNamespace})
	}
	if watchSigner {
		need = append(need, cmdutil.AccessCheck{Verb: "watch", Resource: "configmaps", Namespace: cluster.ClusterInfoNamespace})
	}
	return need
}
