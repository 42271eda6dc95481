package start

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

// StartOptions is "kubectl carotate start".
type StartOptions struct {
	recordCommand
	NewCA, OldCA                     string
	NewFrontProxyCA, OldFrontProxyCA string
	ID                               string
	// NewPublicKey and OldPublicKey are the sa-key target's keys.
	NewPublicKey, OldPublicKey string
	AllowSameKey               bool
	Force                      bool
}

// NewCmdStart is "kubectl carotate start".
func NewCmdStart(env *cmdutil.Env) *cobra.Command {
	o := &StartOptions{recordCommand: newRecordCommand(env)}
	cmd := &cobra.Command{
		Use:   "start --new-ca FILE [--old-ca FILE]",
		Short: "Record a CA rotation in the cluster so any admin can follow and resume it",
		Long: `Record the start of a CA rotation (the whole upstream procedure "Manually
Rotate CA Certificates") in the ConfigMap kube-system/carotate-state: a
rotation id, the old and new CA certificates, who started it and when, and a
log of the passes done. status, instructions, finish and abort read it, so a
second admin, or the same admin after a crash, carries on without flags.

--old-ca defaults to the CA the API server's serving chain verifies against
today (taken from kube-system/kube-root-ca.crt, the kubeconfig, or
kube-system/extension-apiserver-authentication); an --old-ca given must be
that CA (--force records another). Only public certificates are
recorded: an input that contains a private key is refused and nothing is
written. Starting again with the same CAs is a no-op; a different rotation
cannot start while one is active (finish or abort it first).

--target front-proxy-ca records a rotation of the front-proxy CA alone in
kube-system/carotate-state-front-proxy-ca: --new-ca is the new front-proxy
CA, --old-ca defaults to the requestheader CA that
kube-system/extension-apiserver-authentication publishes. It is the same
change as --new-front-proxy-ca, which rotates the front-proxy CA inside the
cluster CA rotation: one refuses while the other is active.

--target etcd-ca records a rotation of a kubeadm-style stacked etcd's CA in
kube-system/carotate-state-etcd-ca: --new-ca is the new etcd CA and
--old-ca, required, the one etcd runs on today (no API shows it; kubeadm
keeps it in /etc/kubernetes/pki/etcd/ca.crt). Certificates only, as above.`,
		Example: `  # Start rotating to new-ca.crt; the old CA is what the cluster serves today
  kubectl carotate start --new-ca new-ca.crt

  # Name the old CA, and rotate the front-proxy CA too
  kubectl carotate start --old-ca /etc/kubernetes/pki/ca.crt --new-ca new-ca.crt --new-front-proxy-ca new-front-proxy-ca.crt

  # Rotate the ServiceAccount signing key instead (its own record and steps):
  # the public half of the new key; the private key stays with you
  kubectl carotate start --target sa-key --new-public-key new-sa.pub

  # Rotate the front-proxy CA alone (its own record and steps); the old
  # front-proxy CA is what kube-system/extension-apiserver-authentication publishes
  kubectl carotate start --target front-proxy-ca --new-ca new-front-proxy-ca.crt

  # Rotate the etcd CA (its own record and steps); the API cannot show the
  # etcd CA, so --old-ca is required
  kubectl carotate start --target etcd-ca --new-ca new-etcd-ca.crt --old-ca etcd-ca.crt

  # Then
  kubectl carotate status`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	f := cmd.Flags()
	cmdutil.AddFileFlag(cmd, &o.NewCA, "new-ca", "PEM file with the new CA certificate (certificate only: a private key is refused)")
	cmdutil.AddFileFlag(cmd, &o.OldCA, "old-ca", "PEM file with the CA the cluster runs on today (default: the CA the API server's serving chain verifies against)")
	cmdutil.AddFileFlag(cmd, &o.NewFrontProxyCA, "new-front-proxy-ca", "PEM file with a new front-proxy CA, to rotate it in the same rotation")
	cmdutil.AddFileFlag(cmd, &o.OldFrontProxyCA, "old-front-proxy-ca", "PEM file with the current front-proxy CA (default: the requestheader CA in kube-system/extension-apiserver-authentication)")
	f.StringVar(&o.ID, "id", o.ID, "Rotation id (default: the date and 6 random hex digits); letters, digits, '-' and '.'")
	cmdutil.AddFileFlag(cmd, &o.NewPublicKey, "new-public-key", "With --target sa-key: PEM file with the new ServiceAccount signing key's public key (a private key is refused)")
	cmdutil.AddFileFlag(cmd, &o.OldPublicKey, "old-public-key", "With --target sa-key: PEM file with the public key(s) the API server verifies tokens with today (default: the keys /openid/v1/jwks lists)")
	cmdutil.AddAllowSameKeyFlag(cmd, &o.AllowSameKey)
	cmdutil.AddForceFlag(cmd, &o.Force, "Record an --old-ca that does not verify the API server's serving chain (every later step would work from a CA the cluster does not run on)")
	o.addFlags(cmd)
	return cmd
}

// Validate checks the flags; it reads no file.
func (o *StartOptions) Validate() error {
	if err := cmdutil.ValidateTarget(o.Target); err != nil {
		return err
	}
	if checks.OtherTarget(o.Target) {
		validate := o.validateSAKey
		switch o.Target {
		case checks.TargetFrontProxyCA:
			validate = o.validateFrontProxy
		case checks.TargetEtcdCA:
			validate = o.validateEtcdCA
		}
		if err := validate(); err != nil {
			return err
		}
		if err := o.validateID(); err != nil {
			return err
		}
		return o.recordCommand.Validate()
	}
	if o.NewPublicKey != "" || o.OldPublicKey != "" {
		return errors.New("--new-public-key and --old-public-key are for --target sa-key; nothing was written")
	}
	if o.NewCA == "" {
		return errors.New("--new-ca is required: the PEM file of the CA that replaces the cluster's CA")
	}
	if o.OldFrontProxyCA != "" && o.NewFrontProxyCA == "" {
		return errors.New("--old-front-proxy-ca needs --new-front-proxy-ca")
	}
	if err := o.validateID(); err != nil {
		return err
	}
	return o.recordCommand.Validate()
}

// validateID checks --id: it becomes part of annotation values and file
// names.
func (o *StartOptions) validateID() error {
	for _, r := range o.ID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("invalid --id %q: use letters, digits, '-' and '.' (it becomes part of annotation values and file names)", o.ID)
		}
	}
	if len(o.ID) > 63 {
		return fmt.Errorf("invalid --id %q: at most 63 characters", o.ID)
	}
	return nil
}

// refuseKeys reads every input file and refuses, before anything else
// happens, one that holds private-key material. The message names the flag
// and the file, never the content.
func refuseKeys(files map[string]string) error {
	for _, flag := range []string{"--new-ca", "--old-ca", "--new-front-proxy-ca", "--old-front-proxy-ca"} {
		path := files[flag]
		if path == "" {
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("%s: %w (nothing was written)", flag, err)
		}
		if checks.ContainsPrivateKey(data) {
			return fmt.Errorf("%s %s contains a private key: the rotation record holds public certificates only, "+
				"so pass the certificate alone (nothing was written)", flag, path)
		}
	}
	return nil
}

// Run validates the CAs and records the rotation.
func (o *StartOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	switch o.Target {
	case checks.TargetSAKey:
		return o.runSAKey(ctx)
	case checks.TargetFrontProxyCA:
		return o.runFrontProxy(ctx)
	case checks.TargetEtcdCA:
		return o.runEtcdCA(ctx)
	}
	if err := refuseKeys(map[string]string{"--new-ca": o.NewCA, "--old-ca": o.OldCA,
		"--new-front-proxy-ca": o.NewFrontProxyCA, "--old-front-proxy-ca": o.OldFrontProxyCA}); err != nil {
		return err
	}
	newCAs, err := cmdutil.ReadCertFile("--new-ca", o.NewCA)
	if err != nil {
		return err
	}
	var newFP []*x509.Certificate
	if o.NewFrontProxyCA != "" {
		if newFP, err = cmdutil.ReadCertFile("--new-front-proxy-ca", o.NewFrontProxyCA); err != nil {
			return err
		}
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	if len(newFP) > 0 {
		if err := refuseFrontProxyTwice(ctx, client); err != nil {
			return err
		}
	}

	rec := &rotation.Record{Lifecycle: rotation.Started(o.ID, o.now()), NewCAFile: absPath(o.NewCA)}
	var oldCAs []*x509.Certificate
	if o.OldCA != "" {
		if oldCAs, err = cmdutil.ReadCertFile("--old-ca", o.OldCA); err != nil {
			return err
		}
		if err := o.checkServedOldCA(ctx, cfg, oldCAs); err != nil {
			return err
		}
		rec.OldCASource, rec.OldCAFile = "--old-ca "+o.OldCA, absPath(o.OldCA)
	} else {
		var source string
		if oldCAs, source, err = servedCA(ctx, cfg, client, newCAs); err != nil {
			return err
		}
		rec.OldCASource = source
		fmt.Fprintf(o.ErrOut, "start: old CA %s, from %s\n", checks.DescribeSet(oldCAs, nil), source)
	}
	findings, err := checks.ValidateRotation(oldCAs, newCAs, checks.ValidateOptions{Now: o.now(), AllowSameKey: o.AllowSameKey})
	if err := cmdutil.ReportFindings(o.ErrOut, findings, err); err != nil {
		return err
	}
	rec.OldCAs, rec.NewCAs = oldCAs, newCAs
	rec.OldCAPEM, rec.NewCAPEM = checks.EncodePEM(oldCAs), checks.EncodePEM(newCAs)

	if len(newFP) > 0 {
		var oldFP []*x509.Certificate
		if o.OldFrontProxyCA != "" {
			if oldFP, err = cmdutil.ReadCertFile("--old-front-proxy-ca", o.OldFrontProxyCA); err != nil {
				return err
			}
		} else if oldFP, err = servedFrontProxyCA(ctx, client, "--old-front-proxy-ca"); err != nil {
			return err
		}
		findings, err := checks.ValidateRotation(oldFP, newFP, checks.ValidateOptions{Now: o.now(), AllowSameKey: o.AllowSameKey})
		if err := cmdutil.ReportFindings(o.ErrOut, withRole(findings, "front-proxy "), err); err != nil {
			return err
		}
		rec.OldFP, rec.NewFP = oldFP, newFP
		rec.OldFrontProxyPEM, rec.NewFrontProxyPEM = checks.EncodePEM(oldFP), checks.EncodePEM(newFP)
	}

	checksNeeded := []cmdutil.AccessCheck{
		{Verb: "get", Resource: "configmaps", Namespace: rotation.Namespace},
		{Verb: "create", Resource: "configmaps", Namespace: rotation.Namespace},
		{Verb: "update", Resource: "configmaps", Namespace: rotation.Namespace},
	}
	if err := cmdutil.Preflight(ctx, client, checksNeeded); err != nil {
		return err
	}
	rec.StartedBy = rotation.WhoAmI(ctx, client, o.RawKubeConfigLoader())
	if rec.ID == "" {
		rec.ID = rotation.NewID(o.now())
	}

	existing, err := rotation.Load(ctx, client)
	if err != nil {
		return err
	}
	switch {
	case existing != nil && existing.Active():
		if checks.SameCertificates(existing.OldCAs, rec.OldCAs) && checks.SameCertificates(existing.NewCAs, rec.NewCAs) &&
			checks.SameCertificates(existing.NewFP, rec.NewFP) && (o.ID == "" || o.ID == existing.ID) {
			fmt.Fprintf(o.ErrOut, "start: rotation %s with these CAs is already recorded (started by %s at %s); nothing was written\n",
				existing.ID, existing.StartedBy, existing.StartedAt.Format(time.RFC3339))
			return printRecord(o.Out, o.Output, existing)
		}
		return fmt.Errorf("rotation %s is active (started by %s at %s) with other CAs: finish it (kubectl carotate finish) "+
			"or abandon it (kubectl carotate abort) before starting another; nothing was written",
			existing.ID, existing.StartedBy, existing.StartedAt.Format(time.RFC3339))
	case existing != nil:
		fmt.Fprintf(o.ErrOut, "start: replacing the record of rotation %s (%s by %s)\n", existing.ID, existing.State, existing.EndedBy)
		rec.ResourceVersion = existing.ResourceVersion
	}

	if err := o.writeRecord(ctx, client, rec, existing); err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "start: rotation %s recorded in %s/%s%s\nnext: kubectl carotate status\n", rec.ID, rotation.Namespace, rotation.ConfigMapName, o.dryRun.Suffix())
	return printRecord(o.Out, o.Output, rec)
}

// writeRecord creates the record, or replaces the ended one existing.
func (o *recordCommand) writeRecord(ctx context.Context, client kubernetes.Interface, rec, existing *rotation.Record) error {
	cm, err := rec.ConfigMap()
	if err != nil {
		return err
	}
	if !o.dryRun.Writes() {
		return nil
	}
	opts := metav1.CreateOptions{FieldManager: cmdutil.FieldManager, DryRun: o.dryRun.Options()}
	mayHaveWritten, err := cluster.WithRetryWrite(ctx, func() (err error) {
		if existing == nil {
			_, err = client.CoreV1().ConfigMaps(rotation.Namespace).Create(ctx, cm, opts)
		} else {
			_, err = client.CoreV1().ConfigMaps(rotation.Namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: cmdutil.FieldManager, DryRun: opts.DryRun})
		}
		return err
	})
	conflict := apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err)
	if conflict && mayHaveWritten {
		// An answer was lost: the write sent again met the record the
		// first one wrote, not another admin's.
		if _, ours := rotation.Holds(ctx, client, cm); ours {
			return nil
		}
	}
	if conflict {
		return fmt.Errorf("another admin recorded a rotation at the same moment; run kubectl carotate status%s to see it (nothing was written)", targetArg(rec.Target))
	}
	if err != nil {
		return fmt.Errorf("writing the rotation record %s/%s: %w", rotation.Namespace, cm.Name, err)
	}
	return nil
}

// targetArg is " --target T" for a target other than cluster-ca.
func targetArg(target string) string {
	if target == "" || target == checks.TargetClusterCA {
		return ""
	}
	return " --target " + target
}

// checkServedOldCA refuses an --old-ca that is not the CA the API server's
// serving chain verifies against now: bundle, unbundle, instructions and
// status all work from the recorded old CA, and a wrong one ends in a
// bundle that drops the CA every pod trusts today.
func (o *StartOptions) checkServedOldCA(ctx context.Context, cfg *rest.Config, oldCAs []*x509.Certificate) error {
	served, err := cluster.ServingCAMissing(ctx, cfg, oldCAs)
	switch {
	case err != nil && o.Force:
		fmt.Fprintf(o.ErrOut, "warning: --force: recording --old-ca %s without checking it against the API server's serving chain (%v)\n", o.OldCA, err)
		return nil
	case err != nil:
		return fmt.Errorf("cannot check --old-ca against the API server's serving chain, nothing was written (--force records it unchecked): %w", err)
	case served == "":
		return nil
	case o.Force:
		fmt.Fprintf(o.ErrOut, "warning: --force: recording --old-ca %s although it does not verify the API server's serving certificate (%s): every later step works from it\n", o.OldCA, served)
		return nil
	}
	return fmt.Errorf("--old-ca %s (%s) does not verify the API server's serving certificate (%s): it is not the CA the cluster runs on, "+
		"and a bundle built from it would drop the CA every pod trusts today; nothing was written. Pass the cluster's CA, or leave --old-ca out "+
		"to take it from the cluster (--force records it anyway)", o.OldCA, checks.DescribeSet(oldCAs, nil), served)
}

func withRole(findings []checks.Finding, prefix string) []checks.Finding {
	out := make([]checks.Finding, len(findings))
	for i, f := range findings {
		out[i] = checks.Finding{Level: f.Level, Message: prefix + f.Message}
	}
	return out
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// servedCA finds the CA the API server's serving chain verifies
// against today, among the CA certificates the cluster shows: what the
// controller-manager publishes, what the kubeconfig trusts, and the client
// CA the API server publishes.
func servedCA(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, newCAs []*x509.Certificate) ([]*x509.Certificate, string, error) {
	served, err := cluster.ReadServed(ctx, cfg, client)
	switch {
	case err != nil:
		return nil, "", fmt.Errorf("cannot tell which CA the cluster runs on (%v): pass --old-ca (nothing was written)", err)
	case served.CA == nil:
		return nil, "", fmt.Errorf("the API server's serving certificate (issued by %s) verifies against no CA the cluster shows: pass --old-ca (nothing was written)", served.Chain[0].Issuer)
	case checks.Contains(newCAs, served.CA):
		return nil, "", errors.New("the API server already serves a certificate from the new CA, so the old CA cannot be read from the cluster: pass --old-ca (nothing was written)")
	}
	return []*x509.Certificate{served.CA}, "the CA the API server's serving chain verifies against (found in " + served.Source + ")", nil
}

// servedFrontProxyCA is the front-proxy CA the API server publishes; flag
// is the flag that names it instead.
func servedFrontProxyCA(ctx context.Context, client kubernetes.Interface, flag string) ([]*x509.Certificate, error) {
	ext, err := cluster.ExtensionAuth(ctx, client)
	if err != nil {
		return nil, fmt.Errorf("cannot read the current front-proxy CA (%v): pass %s (nothing was written)", err, flag)
	}
	certs, err := checks.ParseCertificates("kube-system/extension-apiserver-authentication requestheader-client-ca-file", []byte(ext["requestheader-client-ca-file"]))
	if err != nil || len(certs) != 1 {
		return nil, fmt.Errorf("kube-system/extension-apiserver-authentication does not publish exactly one front-proxy CA (requestheader-client-ca-file): pass %s (nothing was written)", flag)
	}
	return certs, nil
}
