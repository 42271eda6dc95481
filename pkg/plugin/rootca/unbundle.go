package rootca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// UnbundleOptions is "kubectl carotate unbundle".
type UnbundleOptions struct {
	*cmdutil.Env
	passOptions
	Keep  string
	OldCA string
	Force bool
	kept  []*x509.Certificate
	// old is the CA being retired, for the copies check and
	// --trust-bundles; oldFrom says where it came from.
	old     []*x509.Certificate
	oldFrom string
	// rec is the rotation record once read (recRead), nil when none.
	rec     *rotation.Record
	recRead bool
}

// Complete sets the pass's pacing, which the copies check's pages share.
func (o *UnbundleOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.complete(cmd, o.Env)
	return nil
}

// NewCmdUnbundle is "kubectl carotate unbundle".
func NewCmdUnbundle(env *cmdutil.Env) *cobra.Command {
	o := &UnbundleOptions{Env: env, passOptions: newPassOptions()}
	cmd := &cobra.Command{
		Use:   "unbundle [--keep FILE]",
		Short: "Leave only the new CA in every ServiceAccount root CA (step 12.1)",
		Long: `Leave only the kept CA (the new one) in every ServiceAccount root CA object:
the kube-root-ca.crt ConfigMap of every namespace and the ca.crt key of legacy
kubernetes.io/service-account-token Secrets. Step 12.1 of the upstream
procedure "Manually Rotate CA Certificates", the reverse of "bundle".

It refuses, writing nothing, while
  - the API server's serving chain does not verify against the kept CA (pods
    trusting only the kept CA could not reach it: do step 9.3 first), or
  - the controller-manager would put the bundle back: kube-system's
    kube-root-ca.crt was last written by kube-controller-manager and holds
    something else, so its --root-ca-file is not yet the kept CA alone, or
  - a running pod may still trust the old CA alone: it started before the
    recorded rotation's bundle pass ended (without a record: before its
    namespace's kube-root-ca.crt or legacy token Secret last changed, where
    that still holds the bundle), or it mounts a source that does not hold
    the kept CA. Such a pod was missed by the restart passes (steps 4 and
    9.4) and has not reached the API server since it began serving from the
    new CA (9.3). Pods are judged as verify judges them, or
  - a copy of the old CA trusts it alone: a Secret or ConfigMap (a stored
    kubeconfig's certificate-authority-data, a CA file, a TLS Secret's ca.crt)
    or a user-made ClusterTrustBundle, found by the pass of
    "kubectl carotate verify --only copies" and named in the refusal; its
    readers break once the old CA is retired. The old CA is --old-ca, the
    recorded rotation's, or what kube-system/kube-root-ca.crt holds besides
    the kept CA; when none of these tells it, the check is skipped with a
    warning.
--force skips all four checks. Writes are conditional on the object not having
changed since it was read, touch only ca.crt, and are recorded in an undo
file; afterwards the written objects are watched for --settle as in bundle.
Writes are paced as in bundle (--concurrency).

--trust-bundles also removes the old CA from every user-made
ClusterTrustBundle (no spec.signerName) that holds it next to the new one; one
that trusts the old CA without the new one is left alone and reported (run
bundle --trust-bundles first; --replace-other swaps the old CA for the new one).

-n NAMESPACE narrows the pass (and the copies check) to one namespace; such a
pass does not complete step 12.1 in the rotation's log.

Exit status: 0 when every object holds the kept CA only (or, in a dry run,
would); 1 on bad input, a refusal, missing RBAC, failed or reverted writes,
or objects left alone.`,
		Example: `  # After the API servers serve a certificate from the new CA and the
  # controller-manager's --root-ca-file is the new CA alone
  kubectl carotate unbundle --keep new-ca.crt

  # What would change, validated by the API server
  kubectl carotate unbundle --keep new-ca.crt --dry-run=server -o yaml

  # Also remove the old CA from the user-made ClusterTrustBundles
  kubectl carotate unbundle --keep new-ca.crt --old-ca old-ca.crt --trust-bundles`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	cmdutil.AddFileFlag(cmd, &o.Keep, "keep", "PEM file with the CA to keep (the new CA; a bundle of several CAs is accepted); default: the recorded rotation's new CA")
	cmdutil.AddFileFlag(cmd, &o.OldCA, "old-ca", "PEM file with the CA being retired, for the copies check and --trust-bundles; default: the recorded rotation's, else what kube-system/kube-root-ca.crt holds besides the kept CA")
	cmdutil.AddForceFlag(cmd, &o.Force, "Skip the serving-chain, controller-manager, pods and copies checks")
	o.addFlags(cmd, "do not hold the kept CA", "the bundle")
	o.addTrustBundlesFlag(cmd, "removes the old CA from those that also hold the new one")
	return cmd
}

// Validate checks the flags; it reads no file.
func (o *UnbundleOptions) Validate() error { return o.validate(o.Env) }

// Run checks that unbundling is safe now and does the pass.
func (o *UnbundleOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	cfg, client, err := o.connect(ctx, o.Env)
	if err != nil {
		return err
	}
	if o.Keep == "" {
		rec, err := rotation.Recorded(ctx, client, "--keep")
		if err != nil {
			return err
		}
		o.rec, o.recRead = rec, true
		o.kept, o.Keep = rec.NewCAs, rec.NewCAFile
		o.old, o.oldFrom = rec.OldCAs, "rotation "+rec.ID
		fmt.Fprintf(o.ErrOut, "unbundle: keeping the new CA of rotation %s\n", rec.ID)
	} else if o.kept, err = cmdutil.ReadCertFile("--keep", o.Keep); err != nil {
		return err
	}
	if o.OldCA != "" {
		if o.old, err = cmdutil.ReadCertFile("--old-ca", o.OldCA); err != nil {
			return err
		}
		o.oldFrom = "--old-ca " + o.OldCA
		for _, c := range o.old {
			if checks.Contains(o.kept, c) {
				return fmt.Errorf("--old-ca %s holds %s, which is also kept: the old CA is the one unbundle removes (nothing was changed)", o.OldCA, c.Subject)
			}
		}
	}
	if o.Keep == "" {
		o.Keep = "new-ca.crt" // only a name for printed instructions
	}
	findings, err := checks.ValidateCA("kept CA", o.kept, checks.ValidateOptions{Now: o.now()})
	if err := cmdutil.ReportFindings(o.ErrOut, findings, err); err != nil {
		return err
	}
	labels := map[string]string{}
	for _, c := range o.kept {
		labels[checks.Fingerprint(c)] = "kept"
	}
	target := checks.RootCATarget{Want: o.kept, Labels: labels, AllowRemove: true}
	if len(o.old) == 0 {
		o.old, o.oldFrom = o.findOld(ctx, client)
	}
	var tb *trustBundleCAs
	if o.TrustBundles {
		if len(o.old) == 0 {
			return errors.New("--trust-bundles needs the old CA to remove, and it is not known here: pass --old-ca FILE (nothing was changed)")
		}
		tb = &trustBundleCAs{old: o.old, new: o.kept, remove: true}
	}
	p, err := o.newPass(ctx, o.Env, "unbundle", client, cfg.Host, target, checks.EncodePEM(o.kept), tb)
	if err != nil {
		return err
	}
	if o.Force {
		fmt.Fprintln(o.ErrOut, "unbundle: --force: skipping the serving-chain, controller-manager, pods and copies checks")
	} else {
		if err := checkServingChain(ctx, cfg, o.kept, o.Keep); err != nil {
			return err
		}
		if err := checkControllerManager(ctx, client, target, o.Keep); err != nil {
			return err
		}
		if err := o.checkPods(ctx, client); err != nil {
			return err
		}
		if err := o.checkCopies(ctx, client); err != nil {
			return err
		}
	}

	return o.runPass(ctx, o.Env, p, "", unbundleInstruction(o.Keep), rotation.Pass{Kind: "unbundle", Phase: "finish"})
}

// checkServingChain refuses while the API server serves a chain
// the kept CA does not verify: after unbundling, pods trust only the kept CA.
func checkServingChain(ctx context.Context, cfg *rest.Config, kept []*x509.Certificate, keepFile string) error {
	chain, err := cluster.FetchServingChain(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot check the API server's serving chain, nothing was changed (--force skips this check): %w", err)
	}
	if checks.ChainVerifies(chain, kept) {
		return nil
	}
	leaf := chain[0]
	return fmt.Errorf(`refusing to unbundle, nothing was changed: the API server's serving certificate
(%s, issued by %s) does not verify against the kept CA in %s, so pods that
trust only the kept CA could not reach the API server. Re-issue the API servers'
serving certificates from the new CA and restart them first (upstream step 9.3),
then run this command again (--force skips this check)`,
		leaf.Subject, leaf.Issuer, keepFile)
}

// checkControllerManager refuses while the controller-manager
// publishes something other than the kept CA. Its root CA publisher
// rewrites kube-system/kube-root-ca.crt within moments of any change, so
// when kube-controller-manager is the last writer of ca.crt there, that
// content is its --root-ca-file: writing anything else would be reverted.
// This reads managedFields instead of writing a probe, so a refusal
// changes nothing; who wrote last is decided as status decides it.
func checkControllerManager(ctx context.Context, client kubernetes.Interface, target checks.RootCATarget, keepFile string) error {
	cm, err := cluster.GetRootCAConfigMap(ctx, client, metav1.NamespaceSystem)
	if apierrors.IsNotFound(err) {
		return nil // no publisher output to judge by; the settle check still runs
	}
	if err != nil {
		return fmt.Errorf("reading kube-system/kube-root-ca.crt: %w", err)
	}
	d := checks.DecideRootCA(source(cm.Kind, cm.Namespace, cm.Name), cm.Value, cm.Present, target)
	if d.Action == checks.RootCAInPlace || cm.ChangedBy != cluster.ControllerManagerFieldManager {
		return nil
	}
	return fmt.Errorf(`refusing to unbundle, nothing was changed: kube-system/kube-root-ca.crt holds %s and
was last written by kube-controller-manager, so its --root-ca-file is not yet
the kept CA alone and it would put that content back everywhere.%s
(--force skips this check)`, d.Found, unbundleInstruction(keepFile))
}

// bundledAt is when the recorded rotation's first bundle pass ended, if
// the rotation keeps the CA this run keeps; zero, with a warning, when no
// log tells: pods are then judged by their source's last write, which after
// the controller-manager's switch at step 12.1 shows nothing of the bundle.
func (o *UnbundleOptions) bundledAt(ctx context.Context, client kubernetes.Interface) time.Time {
	if rec := o.record(ctx, client); rec.Active() && o.keepsRecorded(rec) {
		if at := rec.BundledAt(); !at.IsZero() {
			return at
		}
	}
	fmt.Fprintln(o.ErrOut, "warning: pods in namespaces whose kube-root-ca.crt already holds the kept CA alone were not checked: no rotation record logs when the bundle was published (record the rotation with kubectl carotate start and run bundle)")
	return time.Time{}
}

// maxNamedPods is how many pods a refusal names; verify names them all.
const maxNamedPods = 10

// checkPods refuses while a running pod may still trust the old CA alone
// (cluster.PodsOnTheOldCA). Such a pod shows that a restart pass missed its
// workload; step 12.1 begins retiring the old CA, so this is the last
// point at which the admin can find out why while the rotation can still
// be aborted.
func (o *UnbundleOptions) checkPods(ctx context.Context, client kubernetes.Interface) error {
	bundledAt := o.bundledAt(ctx, client)
	ev, err := cluster.PodsOnTheOldCA(ctx, client, o.namespace, o.kept, bundledAt)
	if err != nil {
		return fmt.Errorf("cannot check which pods trust the old CA, nothing was changed (--force skips this check): %w", err)
	}
	if len(ev.Maybe) > 0 {
		fmt.Fprintf(o.ErrOut, "warning: %d pods started in the same second as their CA source last changed and may hold either content: %s (kubectl carotate verify tells more)\n",
			len(ev.Maybe), namePods(ev.Maybe))
	}
	if len(ev.Restart) == 0 && len(ev.Lacking) == 0 {
		return nil
	}
	var b strings.Builder
	fmt.Fprintf(&b, "refusing to unbundle, nothing was changed: %d running pods may still trust the old CA alone.\n", len(ev.Restart)+len(ev.Lacking))
	if len(ev.Restart) > 0 {
		fmt.Fprintf(&b, "Started before their CA source held the kept CA, so they hold the old CA in memory:\n  %s\n", namePods(ev.Restart))
	}
	if len(ev.Lacking) > 0 {
		fmt.Fprintf(&b, "Mounting a CA source that does not hold the kept CA (or none at all):\n  %s\n", namePods(ev.Lacking))
	}
	b.WriteString(`The restart passes missed them (steps 4 and 9.4): they cannot verify the API
server's new serving certificate. Restart them: kubectl carotate verify names
each one's workload and why its pass did not roll it (paused, OnDelete, a bare
pod, left out by a selector). Then run this command again. --force skips this
check (for pods known not to call the API server).`)
	return errors.New(b.String())
}

// namePods names the first maxNamedPods of refs.
func namePods(refs []string) string {
	if len(refs) <= maxNamedPods {
		return strings.Join(refs, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(refs[:maxNamedPods], ", "), len(refs)-maxNamedPods)
}

// unbundleInstruction is upstream step 12.1 for the controller-manager.
func unbundleInstruction(keepFile string) string {
	return fmt.Sprintf(`
Do step 12.1 of the upstream procedure on every control-plane node:
  1. Point kube-controller-manager's --root-ca-file at a file holding the kept CA
     alone (the content of %s) and restart kube-controller-manager.
  2. If --cluster-signing-cert-file or --client-ca-file were given a separate copy
     of the new CA during the rotation, point them back at ca.crt now that it is
     no longer a bundle.
Then run this command again.
`, keepFile)
}
