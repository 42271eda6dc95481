package rootca

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// BundleOptions is "kubectl carotate bundle".
type BundleOptions struct {
	*cmdutil.Env
	passOptions
	OldCA, NewCA   string
	OutFile        string
	Force          bool
	AllowSameKey   bool
	ExpiryWarning  time.Duration
	oldCAs, newCAs []*x509.Certificate
}

// NewCmdBundle is "kubectl carotate bundle".
func NewCmdBundle(env *cmdutil.Env) *cobra.Command {
	o := &BundleOptions{Env: env, passOptions: newPassOptions(), ExpiryWarning: checks.DefaultWarnWithin}
	cmd := &cobra.Command{
		Use:   "bundle [--old-ca FILE --new-ca FILE] [--out FILE]",
		Short: "Make every ServiceAccount root CA hold the old and the new CA (steps 2 and 3)",
		Long: `Make every ServiceAccount root CA object hold the bundle of the old and the
new CA: the kube-root-ca.crt ConfigMap of every namespace (what projected
ServiceAccount token volumes mount as ca.crt) and the ca.crt key of legacy
kubernetes.io/service-account-token Secrets. Steps 2 and 3 of the upstream
procedure "Manually Rotate CA Certificates".

Both CA files are validated first (each one CA certificate, not expired,
distinct keys); --out writes the bundle (new CA first, then old) for the
controller-manager's --root-ca-file. Every write changes only ca.crt and is
conditional on the object not having changed since it was read; the previous
values go to an undo file ("kubectl carotate undo FILE" restores them).
Writes are paced as restart-workloads paces its patches: requests in
flight adapted to the API server unless --concurrency pins them, the
client rate limit a ceiling unless --qps/--burst are given.

The controller-manager owns these objects: it puts its --root-ca-file back
into them moments after any other change. So after writing, the command
watches them for --settle; if the old content comes back, the
controller-manager's --root-ca-file is not yet the bundle, and the command
says which node step fixes that and exits 1. Once the controller-manager runs
with the bundle, the command finds everything in place and writes nothing.

The bundle must hold the CA that verifies the API server's serving chain now
(the old CA before step 9.3, the new one after): a bundle without it would cut
every pod restarted after the write off the API server, so it is refused
(--force writes it anyway). -n NAMESPACE narrows the pass to that namespace's
kube-root-ca.crt and legacy token Secrets, for a one-off fix; such a pass does
not complete step 3 in the rotation's log.

--trust-bundles also adds the new CA to every user-made ClusterTrustBundle
(one without spec.signerName) that holds the old CA, right before the old
one, keeping whatever else it holds: pods may project those instead of
kube-root-ca.crt, and nothing else updates them. Only spec.trustBundle is
written, conditional on the version read, and recorded in the undo file. A
signer's bundles are never written: kube-controller-manager publishes the
kubernetes.io/kube-apiserver-serving one from its --root-ca-file.

Exit status: 0 when every object holds the bundle (or, in a dry run, would);
1 on bad input, missing RBAC, failed or reverted writes, or objects left alone.`,
		Example: `  # Validate the CAs, write the bundle file and bundle every namespace
  kubectl carotate bundle --old-ca /etc/kubernetes/pki/ca.crt --new-ca new-ca.crt --out ca-bundle.crt

  # See what would change, asking the API server to validate every write
  kubectl carotate bundle --old-ca ca.crt --new-ca new-ca.crt --dry-run=server

  # One namespace only
  kubectl carotate bundle -n payments

  # Also the user-made ClusterTrustBundles that hold the old CA
  kubectl carotate bundle --trust-bundles

  # Also create kube-root-ca.crt where the root CA publisher has not, and report as JSON
  kubectl carotate bundle --old-ca ca.crt --new-ca new-ca.crt --create-missing -o json`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	f := cmd.Flags()
	cmdutil.AddFileFlag(cmd, &o.OldCA, "old-ca", "PEM file with the CA the cluster runs on today (one certificate); default: the recorded rotation's")
	cmdutil.AddFileFlag(cmd, &o.NewCA, "new-ca", "PEM file with the CA that replaces it (one certificate); default: the recorded rotation's")
	f.StringVar(&o.OutFile, "out", o.OutFile, "Write the bundle (new CA, then old) to this file, mode 0644")
	cmdutil.AddForceFlag(cmd, &o.Force, "Overwrite an --out file that holds something else, and write a bundle that does not verify the API server's serving chain (pods restarted after that could not reach the API server)")
	cmdutil.AddAllowSameKeyFlag(cmd, &o.AllowSameKey)
	f.DurationVar(&o.ExpiryWarning, "expiry-warning", o.ExpiryWarning, "Warn when a CA expires within this period")
	o.addFlags(cmd, "hold certificates outside this rotation", "old content")
	o.addTrustBundlesFlag(cmd, "adds the new CA right before the old one")
	return cmd
}

// Complete sets the pass's pacing.
func (o *BundleOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.complete(cmd, o.Env)
	return nil
}

// Validate checks the flags; it reads no file.
func (o *BundleOptions) Validate() error {
	// Both, or neither: then they come from the rotation record.
	switch {
	case o.OldCA == "" && o.NewCA != "":
		return errors.New("--old-ca is required with --new-ca: the PEM file of the CA the cluster runs on")
	case o.NewCA == "" && o.OldCA != "":
		return errors.New("--new-ca is required with --old-ca: the PEM file of the CA that replaces the old one")
	}
	return o.validate(o.Env)
}

// Run validates the CAs and does the pass.
func (o *BundleOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, client, err := o.connect(ctx, o.Env)
	if err != nil {
		return err
	}
	bundle, err := o.readCAs(ctx, client)
	if err != nil {
		return err
	}
	if err := o.checkServingCA(ctx, cfg); err != nil {
		return err
	}
	outSame, err := checkOut(o.OutFile, bundle, o.Force)
	if err != nil {
		return err
	}
	labels := map[string]string{}
	for _, c := range o.oldCAs {
		labels[checks.Fingerprint(c)] = "old"
	}
	for _, c := range o.newCAs {
		labels[checks.Fingerprint(c)] = "new"
	}
	target := checks.RootCATarget{Want: append(append([]*x509.Certificate{}, o.newCAs...), o.oldCAs...), Labels: labels}
	var tb *trustBundleCAs
	if o.TrustBundles {
		tb = &trustBundleCAs{old: o.oldCAs, new: o.newCAs}
	}
	p, err := o.newPass(ctx, o.Env, "bundle", client, cfg.Host, target, bundle, tb)
	if err != nil {
		return err
	}

	if o.OutFile != "" {
		switch {
		case outSame:
			fmt.Fprintf(o.ErrOut, "bundle: %s already holds this bundle\n", o.OutFile)
		case o.dryRun != cmdutil.DryRunNone:
			fmt.Fprintf(o.ErrOut, "bundle: would write the bundle to %s%s\n", o.OutFile, o.dryRun.Suffix())
		default:
			if err := writeOut(o.OutFile, bundle); err != nil {
				return err
			}
			fmt.Fprintf(o.ErrOut, "bundle: wrote the bundle (new CA, then old) to %s\n", o.OutFile)
		}
	}

	return o.runPass(ctx, o.Env, p, o.OutFile, bundleInstruction(o.OutFile, o.OldCA, o.NewCA), rotation.Pass{Kind: "bundle", Phase: "bundle"})
}

// checkServingCA refuses a bundle without the CA that verifies the API
// server's serving chain now: pods restarted after the write would trust
// neither CA of it and lose the API server. A wrong --old-ca is the usual
// cause; --replace-other would then spread the damage to every namespace.
func (o *BundleOptions) checkServingCA(ctx context.Context, cfg *rest.Config) error {
	want := append(append([]*x509.Certificate{}, o.newCAs...), o.oldCAs...)
	served, err := cluster.ServingCAMissing(ctx, cfg, want)
	switch {
	case err != nil && o.Force:
		fmt.Fprintf(o.ErrOut, "warning: --force: writing the bundle without checking it against the API server's serving chain (%v)\n", err)
		return nil
	case err != nil:
		return fmt.Errorf("cannot check the bundle against the API server's serving chain, nothing was changed (--force skips this check): %w", err)
	case served == "":
		return nil
	case o.Force:
		fmt.Fprintf(o.ErrOut, "warning: --force: the bundle holds no CA that verifies the API server's serving certificate (%s): pods restarted after this write cannot reach the API server\n", served)
		return nil
	}
	return fmt.Errorf("refusing to write the bundle, nothing was changed: it holds no CA that verifies the API server's serving certificate (%s), "+
		"so every pod restarted after the write would lose the API server. The old CA (%s) is not the CA the cluster runs on: "+
		"pass the cluster's CA as --old-ca, or record the rotation with kubectl carotate start, which reads it from the cluster (--force writes it anyway)",
		served, checks.DescribeSet(o.oldCAs, nil))
}

// readCAs parses and validates both CA files, or takes the CAs of the
// recorded rotation when no file is given, and returns the bundle.
func (o *BundleOptions) readCAs(ctx context.Context, client kubernetes.Interface) ([]byte, error) {
	var err error
	if o.OldCA == "" {
		rec, err := rotation.Recorded(ctx, client, "--old-ca/--new-ca")
		if err != nil {
			return nil, err
		}
		o.oldCAs, o.newCAs = rec.OldCAs, rec.NewCAs
		o.OldCA, o.NewCA = rec.OldCAFile, rec.NewCAFile // hints for printed instructions
		fmt.Fprintf(o.ErrOut, "bundle: old and new CA from rotation %s\n", rec.ID)
	} else {
		if o.oldCAs, err = cmdutil.ReadCertFile("--old-ca", o.OldCA); err != nil {
			return nil, err
		}
		if o.newCAs, err = cmdutil.ReadCertFile("--new-ca", o.NewCA); err != nil {
			return nil, err
		}
	}
	warn := o.ExpiryWarning
	if warn == 0 {
		warn = -1 // the flag's 0 means "no warning", checks' 0 means "default"
	}
	findings, err := checks.ValidateRotation(o.oldCAs, o.newCAs, checks.ValidateOptions{Now: o.now(), WarnWithin: warn, AllowSameKey: o.AllowSameKey})
	if err := cmdutil.ReportFindings(o.ErrOut, findings, err); err != nil {
		return nil, err
	}
	return checks.BuildBundle(o.newCAs, o.oldCAs), nil
}

// checkOut tells whether path already holds exactly the bundle, and
// refuses a file with other content unless forced.
func checkOut(path string, bundle []byte, force bool) (same bool, err error) {
	if path == "" {
		return false, nil
	}
	cur, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("--out: %w", err)
	case bytes.Equal(cur, bundle):
		return true, nil
	case !force:
		return false, fmt.Errorf("--out %s exists and holds something else; pass --force to overwrite it (nothing was changed)", path)
	}
	return false, nil
}

// writeOut writes the bundle through a temporary file and a rename,
// so a component that reads the file never sees half of it.
func writeOut(path string, bundle []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, bundle, 0o644); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	// WriteFile keeps the mode of an existing file and applies the umask.
	if err := os.Chmod(tmp, 0o644); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--out: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("--out: %w", err)
	}
	return nil
}

// bundleInstruction is upstream step 2, printed when the controller-manager
// reverted our writes.
func bundleInstruction(out, oldCA, newCA string) string {
	file := out
	create := ""
	if file == "" {
		file = "ca-bundle.crt"
		create = fmt.Sprintf("     (write it with: kubectl carotate bundle --old-ca %s --new-ca %s --out ca-bundle.crt)\n", oldCA, newCA)
	}
	return fmt.Sprintf(`
The controller-manager put its old content back: its --root-ca-file is not yet
the bundle, and it rewrites every kube-root-ca.crt and legacy token Secret to
that file. Do step 2 of the upstream procedure on every control-plane node:
  1. Copy the bundle %s to the node, e.g. /etc/kubernetes/pki/ca-bundle.crt.
%s  2. Point kube-controller-manager's --root-ca-file at it and restart kube-controller-manager.
  3. Do not point --cluster-signing-cert-file or --client-ca-file at the bundle: they
     need a file with one CA. If they share a file with --root-ca-file, copy the new
     CA alone to a separate file for them, and point them back once ca.crt is no
     longer a bundle.
Then run this command again: it will find every object bundled and write nothing.
`, file, create)
}
