package plugin

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// StartOptions is "kubectl carotate start".
type StartOptions struct {
	*Common
	NewCA, OldCA                     string
	NewFrontProxyCA, OldFrontProxyCA string
	ID                               string
	AllowSameKey                     bool
	Force                            bool
	DryRunFlag                       string
	Output                           string
	dryRun                           DryRun
	now                              func() time.Time
}

// NewCmdStart is "kubectl carotate start".
func NewCmdStart(c *Common) *cobra.Command {
	o := &StartOptions{Common: c, DryRunFlag: string(DryRunNone), now: time.Now}
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
cannot start while one is active (finish or abort it first).`,
		Example: `  # Start rotating to new-ca.crt; the old CA is what the cluster serves today
  kubectl carotate start --new-ca new-ca.crt

  # Name the old CA, and rotate the front-proxy CA too
  kubectl carotate start --old-ca /etc/kubernetes/pki/ca.crt --new-ca new-ca.crt --new-front-proxy-ca new-front-proxy-ca.crt

  # Then
  kubectl carotate status`,
		Args: cobra.NoArgs,
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.StringVar(&o.NewCA, "new-ca", o.NewCA, "PEM file with the new CA certificate (certificate only: a private key is refused)")
	f.StringVar(&o.OldCA, "old-ca", o.OldCA, "PEM file with the CA the cluster runs on today (default: the CA the API server's serving chain verifies against)")
	f.StringVar(&o.NewFrontProxyCA, "new-front-proxy-ca", o.NewFrontProxyCA, "PEM file with a new front-proxy CA, to rotate it in the same rotation")
	f.StringVar(&o.OldFrontProxyCA, "old-front-proxy-ca", o.OldFrontProxyCA, "PEM file with the current front-proxy CA (default: the requestheader CA in kube-system/extension-apiserver-authentication)")
	f.StringVar(&o.ID, "id", o.ID, "Rotation id (default: the date and 6 random hex digits); letters, digits, '-' and '.'")
	f.BoolVar(&o.AllowSameKey, "allow-same-key", o.AllowSameKey, "Accept a new CA that reuses the old CA's key")
	f.BoolVar(&o.Force, "force", o.Force, "Record an --old-ca that does not verify the API server's serving chain (every later step would work from a CA the cluster does not run on)")
	addDryRunFlag(cmd, &o.DryRunFlag, "write nothing")
	addOutputFlag(cmd, &o.Output)
	_ = cmd.MarkFlagFilename("new-ca")
	_ = cmd.MarkFlagFilename("old-ca")
	noNamespace(cmd, "the rotation record is one for the whole cluster, in kube-system/carotate-state")
	return cmd
}

// Validate checks the flags; it reads no file.
func (o *StartOptions) Validate() error {
	if o.NewCA == "" {
		return errors.New("--new-ca is required: the PEM file of the CA that replaces the cluster's CA")
	}
	if o.OldFrontProxyCA != "" && o.NewFrontProxyCA == "" {
		return errors.New("--old-front-proxy-ca needs --new-front-proxy-ca")
	}
	for _, r := range o.ID {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return fmt.Errorf("invalid --id %q: use letters, digits, '-' and '.' (it becomes part of annotation values and file names)", o.ID)
		}
	}
	if len(o.ID) > 63 {
		return fmt.Errorf("invalid --id %q: at most 63 characters", o.ID)
	}
	var err error
	if o.dryRun, err = ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	return validateOutput(o.Output)
}

// startRefuseKeys reads every input file and refuses, before anything else
// happens, one that holds private-key material. The message names the flag
// and the file, never the content.
func startRefuseKeys(files map[string]string) error {
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
	if err := startRefuseKeys(map[string]string{"--new-ca": o.NewCA, "--old-ca": o.OldCA,
		"--new-front-proxy-ca": o.NewFrontProxyCA, "--old-front-proxy-ca": o.OldFrontProxyCA}); err != nil {
		return err
	}
	newCAs, err := readCertFile("--new-ca", o.NewCA)
	if err != nil {
		return err
	}
	var newFP []*x509.Certificate
	if o.NewFrontProxyCA != "" {
		if newFP, err = readCertFile("--new-front-proxy-ca", o.NewFrontProxyCA); err != nil {
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

	rec := &rotationRecord{ID: o.ID, State: rotationActive, StartedAt: o.now().UTC().Truncate(time.Second), NewCAFile: startAbs(o.NewCA)}
	var oldCAs []*x509.Certificate
	if o.OldCA != "" {
		if oldCAs, err = readCertFile("--old-ca", o.OldCA); err != nil {
			return err
		}
		if err := o.checkServedOldCA(ctx, cfg, oldCAs); err != nil {
			return err
		}
		rec.OldCASource, rec.OldCAFile = "--old-ca "+o.OldCA, startAbs(o.OldCA)
	} else {
		var source string
		if oldCAs, source, err = startServedCA(ctx, cfg, client, newCAs); err != nil {
			return err
		}
		rec.OldCASource = source
		fmt.Fprintf(o.ErrOut, "start: old CA %s, from %s\n", checks.DescribeSet(oldCAs, nil), source)
	}
	findings, err := checks.ValidateRotation(oldCAs, newCAs, checks.ValidateOptions{Now: o.now(), AllowSameKey: o.AllowSameKey})
	if err := reportFindings(o.ErrOut, findings, err); err != nil {
		return err
	}
	rec.OldCAs, rec.NewCAs = oldCAs, newCAs
	rec.OldCAPEM, rec.NewCAPEM = checks.EncodePEM(oldCAs), checks.EncodePEM(newCAs)

	if len(newFP) > 0 {
		var oldFP []*x509.Certificate
		if o.OldFrontProxyCA != "" {
			if oldFP, err = readCertFile("--old-front-proxy-ca", o.OldFrontProxyCA); err != nil {
				return err
			}
		} else if oldFP, err = startServedFrontProxyCA(ctx, client); err != nil {
			return err
		}
		findings, err := checks.ValidateRotation(oldFP, newFP, checks.ValidateOptions{Now: o.now(), AllowSameKey: o.AllowSameKey})
		if err := reportFindings(o.ErrOut, startRole(findings, "front-proxy "), err); err != nil {
			return err
		}
		rec.OldFP, rec.NewFP = oldFP, newFP
		rec.OldFrontProxyPEM, rec.NewFrontProxyPEM = checks.EncodePEM(oldFP), checks.EncodePEM(newFP)
	}

	checksNeeded := []AccessCheck{
		{Verb: "get", Resource: "configmaps", Namespace: rotationNamespace},
		{Verb: "create", Resource: "configmaps", Namespace: rotationNamespace},
		{Verb: "update", Resource: "configmaps", Namespace: rotationNamespace},
	}
	if err := Preflight(ctx, client, checksNeeded); err != nil {
		return err
	}
	rec.StartedBy = rotationWhoAmI(ctx, client, o.RawKubeConfigLoader())
	if rec.ID == "" {
		rec.ID = rotationNewID(o.now())
	}

	existing, err := loadRotation(ctx, client)
	if err != nil {
		return err
	}
	switch {
	case existing != nil && existing.Active():
		if checks.SameCertificates(existing.OldCAs, rec.OldCAs) && checks.SameCertificates(existing.NewCAs, rec.NewCAs) &&
			checks.SameCertificates(existing.NewFP, rec.NewFP) && (o.ID == "" || o.ID == existing.ID) {
			fmt.Fprintf(o.ErrOut, "start: rotation %s with these CAs is already recorded (started by %s at %s); nothing was written\n",
				existing.ID, existing.StartedBy, existing.StartedAt.Format(time.RFC3339))
			return printRotation(o.Out, o.Output, existing)
		}
		return fmt.Errorf("rotation %s is active (started by %s at %s) with other CAs: finish it (kubectl carotate finish) "+
			"or abandon it (kubectl carotate abort) before starting another; nothing was written",
			existing.ID, existing.StartedBy, existing.StartedAt.Format(time.RFC3339))
	case existing != nil:
		fmt.Fprintf(o.ErrOut, "start: replacing the record of rotation %s (%s by %s)\n", existing.ID, existing.State, existing.EndedBy)
		rec.ResourceVersion = existing.ResourceVersion
	}

	cm, err := rec.ConfigMap()
	if err != nil {
		return err
	}
	if o.dryRun.Writes() {
		opts := metav1.CreateOptions{FieldManager: fieldManager, DryRun: o.dryRun.Options()}
		err = WithRetry(ctx, func() error {
			var err error
			if existing == nil {
				_, err = client.CoreV1().ConfigMaps(rotationNamespace).Create(ctx, cm, opts)
			} else {
				_, err = client.CoreV1().ConfigMaps(rotationNamespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager, DryRun: opts.DryRun})
			}
			return err
		})
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			return fmt.Errorf("another admin recorded a rotation at the same moment; run kubectl carotate status to see it (nothing was written)")
		}
		if err != nil {
			return fmt.Errorf("writing the rotation record %s/%s: %w", rotationNamespace, rotationConfigMap, err)
		}
	}
	fmt.Fprintf(o.ErrOut, "start: rotation %s recorded in %s/%s%s\nnext: kubectl carotate status\n", rec.ID, rotationNamespace, rotationConfigMap, o.dryRun.Suffix())
	return printRotation(o.Out, o.Output, rec)
}

// checkServedOldCA refuses an --old-ca that is not the CA the API server's
// serving chain verifies against now: bundle, unbundle, instructions and
// status all work from the recorded old CA, and a wrong one ends in a
// bundle that drops the CA every pod trusts today.
func (o *StartOptions) checkServedOldCA(ctx context.Context, cfg *rest.Config, oldCAs []*x509.Certificate) error {
	served, err := servingCAMissing(ctx, cfg, oldCAs)
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

func startRole(findings []checks.Finding, prefix string) []checks.Finding {
	out := make([]checks.Finding, len(findings))
	for i, f := range findings {
		out[i] = checks.Finding{Level: f.Level, Message: prefix + f.Message}
	}
	return out
}

func startAbs(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// startServedCA finds the CA the API server's serving chain verifies
// against today, among the CA certificates the cluster shows: what the
// controller-manager publishes, what the kubeconfig trusts, and the client
// CA the API server publishes.
func startServedCA(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, newCAs []*x509.Certificate) ([]*x509.Certificate, string, error) {
	chain, err := fetchServingChain(ctx, cfg)
	if err != nil {
		return nil, "", fmt.Errorf("cannot tell which CA the cluster runs on (%v): pass --old-ca (nothing was written)", err)
	}
	type candidate struct {
		source string
		data   []byte
	}
	var cands []candidate
	getKey := func(ns, name, key string) []byte {
		var data []byte
		_ = WithRetry(ctx, func() error {
			cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				data = []byte(cm.Data[key])
			}
			return err
		})
		return data
	}
	cands = append(cands, candidate{"kube-system/kube-root-ca.crt", getKey(metav1.NamespaceSystem, rootCAConfigMap, rootCAKey)})
	kc := cfg.TLSClientConfig.CAData
	if len(kc) == 0 && cfg.TLSClientConfig.CAFile != "" {
		kc, _ = os.ReadFile(cfg.TLSClientConfig.CAFile)
	}
	cands = append(cands, candidate{"the kubeconfig's certificate authority", kc})
	cands = append(cands, candidate{"kube-system/extension-apiserver-authentication client-ca-file",
		getKey(metav1.NamespaceSystem, statusExtensionAuth, "client-ca-file")})
	for _, cand := range cands {
		certs, err := checks.ParseCertificates(cand.source, cand.data)
		if err != nil {
			continue
		}
		for _, c := range certs {
			if !c.IsCA || !chainVerifies(chain, []*x509.Certificate{c}) {
				continue
			}
			if checks.Contains(newCAs, c) {
				return nil, "", errors.New("the API server already serves a certificate from the new CA, so the old CA cannot be read from the cluster: pass --old-ca (nothing was written)")
			}
			return []*x509.Certificate{c}, "the CA the API server's serving chain verifies against (found in " + cand.source + ")", nil
		}
	}
	return nil, "", fmt.Errorf("the API server's serving certificate (issued by %s) verifies against no CA the cluster shows: pass --old-ca (nothing was written)", chain[0].Issuer)
}

// startServedFrontProxyCA is the front-proxy CA the API server publishes.
func startServedFrontProxyCA(ctx context.Context, client kubernetes.Interface) ([]*x509.Certificate, error) {
	var data []byte
	err := WithRetry(ctx, func() error {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, statusExtensionAuth, metav1.GetOptions{})
		if err == nil {
			data = []byte(cm.Data["requestheader-client-ca-file"])
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("cannot read the current front-proxy CA (%v): pass --old-front-proxy-ca (nothing was written)", err)
	}
	certs, err := checks.ParseCertificates("kube-system/extension-apiserver-authentication requestheader-client-ca-file", data)
	if err != nil || len(certs) != 1 {
		return nil, errors.New("kube-system/extension-apiserver-authentication does not publish exactly one front-proxy CA: pass --old-front-proxy-ca (nothing was written)")
	}
	return certs, nil
}

// printRotation shows the record: a short table, or the record as data.
func printRotation(w io.Writer, format string, rec *rotationRecord) error {
	v := rotationViewOf(rec)
	if format == outputJSON || format == outputYAML {
		return printStructured(w, format, v)
	}
	rows := [][]string{
		{"rotation", v.ID + " (" + v.State + ")"},
		{"started", v.StartedAt.Format(time.RFC3339) + " by " + v.StartedBy},
	}
	if !v.EndedAt.IsZero() {
		rows = append(rows, []string{v.State, v.EndedAt.Format(time.RFC3339) + " by " + v.EndedBy})
	}
	for _, c := range v.OldCA {
		rows = append(rows, []string{"old CA", startCertLine(c)})
	}
	for _, c := range v.NewCA {
		rows = append(rows, []string{"new CA", startCertLine(c)})
	}
	for _, c := range v.NewFrontProxyCA {
		rows = append(rows, []string{"new front-proxy CA", startCertLine(c)})
	}
	rows = append(rows, []string{"passes", fmt.Sprint(len(v.Passes))})
	return writeTable(w, []string{"field", "value"}, rows)
}

// FinishOptions is "kubectl carotate finish".
type FinishOptions struct {
	*Common
	Force      bool
	DryRunFlag string
	Output     string
	dryRun     DryRun
	now        func() time.Time
}

// NewCmdFinish is "kubectl carotate finish".
func NewCmdFinish(c *Common) *cobra.Command {
	o := &FinishOptions{Common: c, DryRunFlag: string(DryRunNone), now: time.Now}
	cmd := &cobra.Command{
		Use:   "finish",
		Short: "Mark the recorded rotation done, once status shows every step done",
		Long: `Mark the rotation recorded by "kubectl carotate start" as finished. It first
judges the cluster as "kubectl carotate status" does and refuses, writing
nothing, while any step of the upstream procedure is "not done" (--force
marks it finished anyway). Steps that status cannot see through the API
("unknown": files on nodes, other admins' kubeconfigs) are listed as a
reminder and do not block.`,
		Example: `  kubectl carotate status
  kubectl carotate finish`,
		Args: cobra.NoArgs,
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Force, "force", o.Force, "Mark the rotation finished even though status shows steps not done")
	addDryRunFlag(cmd, &o.DryRunFlag, "write nothing")
	addOutputFlag(cmd, &o.Output)
	noNamespace(cmd, "the rotation record is one for the whole cluster, in kube-system/carotate-state")
	return cmd
}

// Validate checks the flags.
func (o *FinishOptions) Validate() error {
	var err error
	if o.dryRun, err = ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	return validateOutput(o.Output)
}

// Run checks the cluster and marks the record finished.
func (o *FinishOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := startActive(ctx, client, "finish")
	if err != nil {
		return err
	}
	st := &StatusOptions{Common: o.Common, now: o.now}
	report, err := st.collect(ctx, client, rec)
	if err != nil {
		return err
	}
	var notDone, unknown []string
	for _, r := range report.Steps {
		switch r.State {
		case statusNotDone:
			notDone = append(notDone, fmt.Sprintf("step %s: %s", r.Step, r.Evidence))
		case statusUnknown:
			unknown = append(unknown, fmt.Sprintf("step %s: %s", r.Step, r.Evidence))
		}
	}
	if len(notDone) > 0 && !o.Force {
		return fmt.Errorf("refusing to finish rotation %s, nothing was written: the cluster shows steps not done:\n  - %s\n(kubectl carotate status shows the next command; --force finishes anyway)",
			rec.ID, strings.Join(notDone, "\n  - "))
	}
	if len(notDone) > 0 {
		fmt.Fprintf(o.ErrOut, "finish: --force: finishing although %d steps are not done\n", len(notDone))
	}
	for _, u := range unknown {
		fmt.Fprintf(o.ErrOut, "finish: not visible through the API, make sure it is done: %s\n", u)
	}
	who := rotationWhoAmI(ctx, client, o.RawKubeConfigLoader())
	rec, err = updateRotation(ctx, client, o.dryRun, func(r *rotationRecord) error {
		if !r.Active() {
			return fmt.Errorf("rotation %s was %s by %s meanwhile; nothing was written", r.ID, r.State, r.EndedBy)
		}
		r.State, r.EndedBy, r.EndedAt = rotationFinished, who, o.now().UTC().Truncate(time.Second)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "finish: rotation %s marked finished%s\n", rec.ID, o.dryRun.Suffix())
	return printRotation(o.Out, o.Output, rec)
}

// startActive loads the record and insists that it is active.
func startActive(ctx context.Context, client kubernetes.Interface, command string) (*rotationRecord, error) {
	rec, err := loadRotation(ctx, client)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, fmt.Errorf("%s: no rotation is recorded in %s/%s (kubectl carotate start records one); nothing was written", command, rotationNamespace, rotationConfigMap)
	}
	if !rec.Active() {
		return nil, fmt.Errorf("%s: rotation %s is already %s (by %s at %s); nothing was written", command, rec.ID, rec.State, rec.EndedBy, rec.EndedAt.Format(time.RFC3339))
	}
	return rec, nil
}

// AbortOptions is "kubectl carotate abort".
type AbortOptions struct {
	*Common
	DryRunFlag string
	Output     string
	dryRun     DryRun
	now        func() time.Time
}

// NewCmdAbort is "kubectl carotate abort".
func NewCmdAbort(c *Common) *cobra.Command {
	o := &AbortOptions{Common: c, DryRunFlag: string(DryRunNone), now: time.Now}
	cmd := &cobra.Command{
		Use:   "abort",
		Short: "Mark the recorded rotation abandoned and print what to undo",
		Long: `Mark the rotation recorded by "kubectl carotate start" as aborted, and print
what was changed and how to put it back, judged from the cluster as status
judges it: first kube-controller-manager's --root-ca-file when it publishes
the new CA (it rewrites every kube-root-ca.crt to that file, so nothing else
sticks before it is back), then the control-plane flags that still point at
transition files, the undo files of the passes logged in the record (newest
first, for "kubectl carotate undo"), and where the node steps kept their
backups. It changes nothing but the record; the printed steps are for
you to run.`,
		Example: `  kubectl carotate abort`,
		Args:    cobra.NoArgs,
		RunE:    runOptions(o, nil),
	}
	addDryRunFlag(cmd, &o.DryRunFlag, "write nothing")
	addOutputFlag(cmd, &o.Output)
	noNamespace(cmd, "the rotation record is one for the whole cluster, in kube-system/carotate-state")
	return cmd
}

// Validate checks the flags.
func (o *AbortOptions) Validate() error {
	var err error
	if o.dryRun, err = ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	return validateOutput(o.Output)
}

// Run marks the record aborted and prints the undo plan.
func (o *AbortOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	if _, err := startActive(ctx, client, "abort"); err != nil {
		return err
	}
	who := rotationWhoAmI(ctx, client, o.RawKubeConfigLoader())
	rec, err := updateRotation(ctx, client, o.dryRun, func(r *rotationRecord) error {
		if !r.Active() {
			return fmt.Errorf("rotation %s was %s by %s meanwhile; nothing was written", r.ID, r.State, r.EndedBy)
		}
		r.State, r.EndedBy, r.EndedAt = rotationAborted, who, o.now().UTC().Truncate(time.Second)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(o.ErrOut, "abort: rotation %s marked aborted%s\n", rec.ID, o.dryRun.Suffix())
	cp, _ := instructionsControlPlane(ctx, client)
	fmt.Fprint(o.ErrOut, abortPlan(rec, cp, abortReadPublished(ctx, client, rec)))
	return printRotation(o.Out, o.Output, rec)
}

// abortPublished is what kube-controller-manager publishes in
// kube-system/kube-root-ca.crt, judged against the rotation's CAs: its
// --root-ca-file, when it is the last writer of ca.crt there.
type abortPublished struct {
	state  checks.BundleState
	writer string
	err    error
}

func abortReadPublished(ctx context.Context, client kubernetes.Interface, rec *rotationRecord) abortPublished {
	var cm *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, rootCAConfigMap, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return abortPublished{err: err}
	}
	_, writer := verifyCAChange(cm.ManagedFields, rootCAKey, cm.CreationTimestamp.Time)
	st := checks.Classify("kube-system/"+rootCAConfigMap, []byte(cm.Data[rootCAKey]), rec.OldCAs, rec.NewCAs).State
	return abortPublished{state: st, writer: writer}
}

// abortPlan says what the rotation changed and how to revert each part,
// from the same evidence status judges by. The controller-manager comes
// first: while its --root-ca-file holds the new CA it rewrites every
// kube-root-ca.crt and legacy token Secret to it, so no undo file of ours
// can put them back before that flag is.
func abortPlan(rec *rotationRecord, cp []instructionsMirrorPod, pub abortPublished) string {
	var b strings.Builder
	b.WriteString("\nTo put the cluster back as it was before the rotation:\n")
	n := 0
	item := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. %s\n", n, fmt.Sprintf(format, args...))
	}
	backups := "/var/backups/carotate-" + rec.ID
	var kcm []instructionsMirrorPod
	for _, p := range cp {
		if p.Mirror && p.Component == checks.ComponentControllerManager {
			kcm = append(kcm, p)
		}
	}
	kcmFirst := false
	switch {
	case pub.err != nil:
		item("Could not read kube-system/%s (%v): if kube-controller-manager's --root-ca-file holds the new CA (steps 2, 12.1), point it back at the old CA first, as below.", rootCAConfigMap, pub.err)
	case pub.writer == controllerManagerFieldManager && (pub.state == checks.BundleHasBoth || pub.state == checks.BundleOnlyNew):
		var lines []string
		for _, p := range kcm {
			v := p.Command.Value("root-ca-file")
			if o := checks.OriginalPath(v); o != v && strings.HasPrefix(v, "/") {
				lines = append(lines, fmt.Sprintf("   %s on %s: --root-ca-file=%s  ->  --root-ca-file=%s (%s must hold the old CA alone; restore it from %s/step-12.1 if the finish phase rewrote it)",
					p.Component, p.Node, v, o, o, backups))
			} else {
				lines = append(lines, fmt.Sprintf("   %s on %s: --root-ca-file=%s holds %s: put the old CA alone back into it (its copy is under %s/step-2, or: kubectl -n %s get configmap %s -o jsonpath='{.data.old-ca\\.crt}')",
					p.Component, p.Node, v, statusWords(pub.state), backups, rotationNamespace, rotationConfigMap))
			}
		}
		if len(kcm) == 0 {
			lines = append(lines, fmt.Sprintf("   no kube-controller-manager mirror pod is visible: on every control-plane node, point its --root-ca-file (kubeadm: %s/ca.crt) at a file holding the old CA alone", checks.KubeadmPKIDir))
		}
		kcmFirst = true
		item("kube-controller-manager publishes %s (it last wrote kube-system/%s): its --root-ca-file holds the new CA, and it rewrites every kube-root-ca.crt and legacy token Secret to that file. Point it back at the old CA first and restart it, node by node:\n%s\n   Then check that kube-system/%s holds the old CA alone again: kubectl carotate inspect configmap/kube-system/%s",
			statusWords(pub.state), rootCAConfigMap, strings.Join(lines, "\n"), rootCAConfigMap, rootCAConfigMap)
	}
	var moved []string
	for _, p := range cp {
		for _, f := range p.Command.Flags {
			if kcmFirst && p.Component == checks.ComponentControllerManager && f.Name == "root-ca-file" {
				continue // step 1 covers it
			}
			if o := checks.OriginalPath(f.Value); o != f.Value && strings.HasPrefix(f.Value, "/") {
				moved = append(moved, fmt.Sprintf("   %s on %s: --%s=%s  ->  --%s=%s", p.Component, p.Node, f.Name, f.Value, f.Name, o))
			}
		}
	}
	if len(moved) > 0 {
		item("Point these control-plane flags back at the original files (the node steps' backups are under %s/step-*):\n%s", backups, strings.Join(moved, "\n"))
		item("If the finish phase already rewrote an original file (ca.crt, ca.key, ...), restore it from %s/step-12.1 first.", backups)
	} else {
		item("No other control-plane flag visible through the API points at a transition file. Node files changed by hand are backed up under %s/step-*.", backups)
	}
	var undos []string
	for i := len(rec.Passes) - 1; i >= 0; i-- {
		// A restart pass's undo puts old annotation values back, which only
		// rolls the workloads once more: the abort pass below rolls them.
		if p := rec.Passes[i]; p.UndoFile != "" && p.Kind != "restart-workloads" {
			undos = append(undos, fmt.Sprintf("   kubectl carotate undo %s   # %s at %s by %s", p.UndoFile, p.Kind, p.At.Format(time.RFC3339), p.By))
		}
	}
	switch {
	case len(undos) > 0:
		item("Then restore what the passes wrote, newest first (each undo file is on the machine of the admin who ran the pass; where the controller-manager runs with the old CA it republishes kube-root-ca.crt by itself, and undo skips what it already put back):\n%s", strings.Join(undos, "\n"))
	default:
		item("No pass in the record left an undo file. If kube-root-ca.crt holds the bundle, the controller-manager put it there: once its --root-ca-file is the old CA again it publishes the old CA by itself.")
	}
	item("Roll the workloads so no pod keeps the bundle: kubectl carotate restart-workloads --value %s --wait", checks.RestartValue(rec.ID, "abort"))
	item("Check: kubectl carotate inspect --cluster")
	return b.String()
}
