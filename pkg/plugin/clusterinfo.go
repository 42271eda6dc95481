package plugin

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

const (
	clusterInfoCommand = "update-cluster-info"
	// The signer re-signs about 0.1 s after a change; ten seconds leaves room
	// for a busy controller-manager without making a cluster that has no
	// signer wait long before we sign ourselves.
	clusterInfoDefaultSignerWait = 10 * time.Second
	clusterInfoBySigner          = "the bootstrap signer"
	clusterInfoByUs              = "kubectl carotate"
)

// UpdateClusterInfoOptions is "kubectl carotate update-cluster-info".
type UpdateClusterInfoOptions struct {
	*Common
	CAFile     string
	Check      bool
	Sign       bool
	Require    bool
	DryRunFlag string
	Output     string
	SignerWait time.Duration
	UndoDir    string
	Force      bool

	dryRun DryRun
	client kubernetes.Interface
	server string
	// now is a field so tests can judge expiry at a fixed instant.
	now func() time.Time
}

// NewCmdUpdateClusterInfo is "kubectl carotate update-cluster-info".
func NewCmdUpdateClusterInfo(c *Common) *cobra.Command {
	o := &UpdateClusterInfoOptions{Common: c, DryRunFlag: string(DryRunNone), SignerWait: clusterInfoDefaultSignerWait, now: time.Now}
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
		RunE: runOptions(o, o.checkError),
	}
	f := cmd.Flags()
	f.StringVar(&o.CAFile, "ca", o.CAFile, "PEM file with the CA certificate(s) cluster-info must carry: the old+new bundle during the rotation, the new CA at the end; default: from the recorded rotation")
	f.BoolVar(&o.Check, "check", o.Check, "Read-only: report the CA(s) and signature states of cluster-info; exit 1 when not consistent")
	f.BoolVar(&o.Sign, "sign", o.Sign, "Sign with the bootstrap tokens in the same write instead of waiting for the bootstrap signer")
	f.BoolVar(&o.Require, "require", o.Require, "Fail (exit 1) when kube-public/cluster-info does not exist")
	f.DurationVar(&o.SignerWait, "signer-wait", o.SignerWait, "How long to wait for the bootstrap signer to re-sign before signing ourselves")
	addDryRunFlag(cmd, &o.DryRunFlag, "show the kubeconfig diff, send nothing")
	addOutputFlag(cmd, &o.Output)
	f.BoolVar(&o.Force, "force", o.Force, "Write --ca even if it does not verify the API server's serving chain")
	addUndoDirFlag(cmd, &o.UndoDir)
	_ = cmd.MarkFlagFilename("ca")
	noNamespace(cmd, "it changes kube-public/cluster-info only")
	return cmd
}

// checkError gives --check's "could not run" exit code to errors that
// happen before it could judge anything.
func (o *UpdateClusterInfoOptions) checkError(err error) error {
	var ee *ExitError
	if err == nil || !o.Check || errors.As(err, &ee) {
		return err
	}
	return &ExitError{Code: 2, Err: err}
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
	if err := validateOutput(o.Output); err != nil {
		return err
	}
	d, err := ParseDryRun(o.DryRunFlag)
	if err != nil {
		return err
	}
	o.dryRun = d
	if o.Check {
		if o.Sign || d != DryRunNone {
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
		logPass(ctx, o.client, o.ErrOut, o.dryRun, rotationPass{Kind: clusterInfoCommand, Result: "ok"})
	}
	return err
}

// clusterInfoLoadCA reads --ca with the same rules and messages as bundle:
// strict PEM, CA certificates only, currently valid; warnings go to stderr.
// Without --ca the recorded rotation decides: its bundle until the unbundle
// pass is logged, then its new CA alone.
func (o *UpdateClusterInfoOptions) clusterInfoLoadCA(ctx context.Context) ([]*x509.Certificate, error) {
	if o.CAFile == "" {
		rec, err := recordedRotation(ctx, o.client, "--ca FILE")
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
	certs, err := readCertFile("--ca", o.CAFile)
	if err != nil {
		return nil, err
	}
	findings, err := checks.ValidateCA("CA", certs, checks.ValidateOptions{Now: o.now()})
	if err := reportFindings(o.ErrOut, findings, err); err != nil {
		return nil, fmt.Errorf("--ca %s: %w", o.CAFile, err)
	}
	return certs, nil
}

// clusterInfoCheckServing refuses a CA that does not verify the API
// server's serving chain: kubeadm join checks the server against exactly
// this CA, so such a write breaks every join (--force overrides, e.g. when
// joins go through another endpoint than this kubeconfig's).
func (o *UpdateClusterInfoOptions) clusterInfoCheckServing(ctx context.Context, certs []*x509.Certificate) error {
	if o.Force {
		return nil
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	chain, err := fetchServingChain(ctx, cfg)
	if err != nil {
		return fmt.Errorf("cannot read the API server's serving chain to check --ca against it (nothing was changed; --force skips the check): %w", err)
	}
	if !chainVerifies(chain, certs) {
		return fmt.Errorf("--ca %s does not verify the API server's serving certificate (%s, issued by %s): kubeadm join would fail against it; nothing was changed (during the rotation use the old+new bundle; --force overrides)",
			o.CAFile, chain[0].Subject, chain[0].Issuer)
	}
	return nil
}

func (o *UpdateClusterInfoOptions) clusterInfoNotApplicable() string {
	return fmt.Sprintf("ConfigMap %s/%s not found: this cluster does not publish cluster-info for bootstrap-token joins (kubeadm join --token), so step 10 does not apply.", clusterInfoNamespace, clusterInfoName)
}

func (o *UpdateClusterInfoOptions) runCheck(ctx context.Context) error {
	var want []*x509.Certificate
	if o.CAFile != "" {
		var err error
		if want, err = o.clusterInfoLoadCA(ctx); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
	}
	if _, err := clusterInfoGet(ctx, o.client); err != nil && !apierrors.IsNotFound(err) {
		return &ExitError{Code: 2, Err: err}
	}
	if err := Preflight(ctx, o.client, clusterInfoAccess(false, false)); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	st, err := CheckClusterInfo(ctx, o.client, want, o.now())
	if err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	if o.Output == outputJSON || o.Output == outputYAML {
		if err := printStructured(o.Out, o.Output, st); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
	}
	if !st.Present {
		fmt.Fprintln(o.ErrOut, o.clusterInfoNotApplicable())
		if o.Require {
			return &ExitError{Code: 1, Err: errors.New("cluster-info is required (--require) but does not exist")}
		}
		return nil
	}
	if o.Output != outputJSON && o.Output != outputYAML {
		if err := clusterInfoPrintStatus(o.Out, st, o.CAFile); err != nil {
			return &ExitError{Code: 2, Err: err}
		}
	}
	if !st.Consistent {
		return &ExitError{Code: 1, Err: fmt.Errorf("cluster-info is not consistent: %s", strings.Join(st.Problems, "; "))}
	}
	return nil
}

// clusterInfoAccess lists the rights a run needs, for the preflight.
func clusterInfoAccess(update, watchSigner bool) []AccessCheck {
	need := []AccessCheck{
		{Verb: "get", Resource: "configmaps", Namespace: clusterInfoNamespace},
		{Verb: "list", Resource: "secrets", Namespace: metav1.NamespaceSystem},
	}
	if update {
		need = append(need, AccessCheck{Verb: "update", Resource: "configmaps", Namespace: clusterInfoNamespace})
	}
	if watchSigner {
		need = append(need, AccessCheck{Verb: "watch", Resource: "configmaps", Namespace: clusterInfoNamespace})
	}
	return need
}

func clusterInfoPrintStatus(w io.Writer, st ClusterInfoStatus, caFile string) error {
	fmt.Fprintf(w, "ConfigMap %s/%s (resourceVersion %s), cluster %q at %s\n", st.Namespace, st.Name, st.ResourceVersion, st.Cluster, st.Server)
	fmt.Fprintf(w, "CA certificates (%d):\n", len(st.CAs))
	clusterInfoPrintCAs(w, st.CAs)
	if st.MatchesCA != nil {
		answer := "no"
		if *st.MatchesCA {
			answer = "yes"
		}
		fmt.Fprintf(w, "Same certificates as %s: %s\n", caFile, answer)
	}
	if err := clusterInfoPrintSignatures(w, st.Signatures); err != nil {
		return err
	}
	if st.Consistent {
		fmt.Fprintln(w, "Consistent: yes")
		return nil
	}
	fmt.Fprintln(w, "Consistent: no")
	for _, p := range st.Problems {
		fmt.Fprintf(w, "  - %s\n", p)
	}
	return nil
}

func clusterInfoPrintCAs(w io.Writer, cas []checks.CertInfo) {
	for _, c := range cas {
		fmt.Fprintf(w, "  - %s (sha256 %s, expires %s)\n", c.Subject, c.Fingerprint, c.NotAfter.UTC().Format(time.RFC3339))
	}
}

func clusterInfoPrintSignatures(w io.Writer, sigs []checks.TokenSignature) error {
	if len(sigs) == 0 {
		_, err := fmt.Fprintln(w, "No bootstrap token may sign cluster-info, and it carries no signature.")
		return err
	}
	rows := make([][]string, 0, len(sigs))
	for _, s := range sigs {
		signed := "no"
		if s.Signed {
			signed = "yes"
		}
		rows = append(rows, []string{s.TokenID, string(s.State), signed, s.Detail})
	}
	return writeTable(w, []string{"TOKEN", "SIGNATURE", "SIGNED", "DETAIL"}, rows)
}

// ClusterInfoUpdateReport is what update-cluster-info did (or would do).
type ClusterInfoUpdateReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Present   bool   `json:"present"`
	DryRun    string `json:"dryRun,omitempty"`
	// Changed tells whether certificate-authority-data was (or would be)
	// rewritten; false when cluster-info already carried the CA.
	Changed    bool                    `json:"changed"`
	Cluster    string                  `json:"cluster"`
	CAsBefore  []checks.CertInfo       `json:"casBefore"`
	CAsAfter   []checks.CertInfo       `json:"casAfter"`
	SignedBy   string                  `json:"signedBy,omitempty"`
	Signatures []checks.TokenSignature `json:"signatures"`
	// ResourceVersion is cluster-info's version at the end.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	UndoFile        string `json:"undoFile,omitempty"`
}

// clusterInfoRun is the state of one update.
type clusterInfoRun struct {
	o      *UpdateClusterInfoOptions
	caPEM  []byte
	tokens []checks.BootstrapToken
	undo   *UndoWriter
	// by records who last wrote each signature key during the run.
	by map[string]string
}

func (o *UpdateClusterInfoOptions) runUpdate(ctx context.Context) error {
	certs, err := o.clusterInfoLoadCA(ctx)
	if err != nil {
		return err
	}
	rep := ClusterInfoUpdateReport{Namespace: clusterInfoNamespace, Name: clusterInfoName, CAsBefore: []checks.CertInfo{}, CAsAfter: []checks.CertInfo{}, Signatures: []checks.TokenSignature{}}
	if o.dryRun != DryRunNone {
		rep.DryRun = string(o.dryRun)
	}
	for _, c := range certs {
		rep.CAsAfter = append(rep.CAsAfter, checks.Describe(c))
	}
	r := &clusterInfoRun{o: o, caPEM: checks.EncodePEM(certs), by: map[string]string{}}

	cm, err := clusterInfoGet(ctx, o.client)
	if apierrors.IsNotFound(err) {
		fmt.Fprintln(o.ErrOut, o.clusterInfoNotApplicable())
		if o.Output == outputJSON || o.Output == outputYAML {
			if err := printStructured(o.Out, o.Output, rep); err != nil {
				return err
			}
		}
		if o.Require {
			return &ExitError{Code: 1, Err: errors.New("cluster-info is required (--require) but does not exist; nothing was changed")}
		}
		return nil
	}
	if err != nil {
		return err
	}
	rep.Present = true
	if err := Preflight(ctx, o.client, clusterInfoAccess(o.dryRun.Writes(), o.dryRun == DryRunNone && !o.Sign)); err != nil {
		return err
	}
	if err := o.clusterInfoCheckServing(ctx, certs); err != nil {
		return err
	}
	if r.tokens, err = clusterInfoTokens(ctx, o.client, o.now()); err != nil {
		return err
	}
	before := maps.Clone(cm.Data)
	if kc, err := checks.ParseClusterInfoKubeconfig([]byte(cm.Data[bootstrapapi.KubeConfigKey])); err == nil {
		rep.Cluster = kc.Cluster
		if cas, err := checks.ParseCertificates("cluster-info", kc.CAData); err == nil {
			for _, c := range cas {
				rep.CAsBefore = append(rep.CAsBefore, checks.Describe(c))
			}
		}
	}
	// Checked before any write so that a kubeconfig we cannot rewrite
	// faithfully stops the run with nothing changed.
	if _, ok := cm.Data[bootstrapapi.KubeConfigKey]; !ok {
		return fmt.Errorf("%s/%s has no %q key; nothing was changed", clusterInfoNamespace, clusterInfoName, bootstrapapi.KubeConfigKey)
	}
	newKC, changed, err := checks.ReplaceClusterInfoCA([]byte(cm.Data[bootstrapapi.KubeConfigKey]), r.caPEM)
	if err != nil {
		return fmt.Errorf("%s/%s: %w; nothing was changed", clusterInfoNamespace, clusterInfoName, err)
	}
	rep.Changed = changed

	if o.dryRun == DryRunClient {
		return r.clientDryRun(cm, string(newKC), rep)
	}

	defer r.closeUndo()
	final := cm
	if changed || o.Sign {
		final, err = r.write(ctx, func(data map[string]string) (map[string]string, []string, error) {
			return r.caChange(data)
		}, clusterInfoByUs)
		if err != nil {
			return err
		}
	}
	if o.dryRun == DryRunNone && !checks.SignaturesSettled(final.Data, r.tokens) {
		if changed && !o.Sign {
			final = r.waitForSigner(ctx, final)
		}
		if !checks.SignaturesSettled(final.Data, r.tokens) {
			if !o.Sign {
				if changed {
					fmt.Fprintf(o.ErrOut, "The bootstrap signer did not re-sign cluster-info within %s (is bootstrapsigner in the controller-manager's --controllers?); signing with the bootstrap tokens.\n", o.SignerWait)
				} else {
					fmt.Fprintln(o.ErrOut, "cluster-info already carries this CA but its signatures are not up to date; signing with the bootstrap tokens.")
				}
			}
			final, err = r.write(ctx, func(data map[string]string) (map[string]string, []string, error) {
				return checks.SignClusterInfo(data, r.tokens)
			}, clusterInfoByUs)
			if err != nil {
				return err
			}
		}
	}
	return r.finish(before, final, rep)
}

// caChange rewrites the CA in the current data and, with --sign, signs the
// result in the same write so there is no moment with stale signatures.
func (r *clusterInfoRun) caChange(data map[string]string) (map[string]string, []string, error) {
	kc, ok := data[bootstrapapi.KubeConfigKey]
	if !ok {
		return nil, nil, fmt.Errorf("%s/%s lost its %q key", clusterInfoNamespace, clusterInfoName, bootstrapapi.KubeConfigKey)
	}
	newKC, changed, err := checks.ReplaceClusterInfoCA([]byte(kc), r.caPEM)
	if err != nil {
		return nil, nil, err
	}
	set := map[string]string{}
	if changed {
		set[bootstrapapi.KubeConfigKey] = string(newKC)
	}
	if !r.o.Sign {
		return set, nil, nil
	}
	next := maps.Clone(data)
	maps.Copy(next, set)
	sigs, remove, err := checks.SignClusterInfo(next, r.tokens)
	if err != nil {
		return nil, nil, err
	}
	maps.Copy(set, sigs)
	return set, remove, nil
}

// write applies change to the current cluster-info with an Update carrying
// its resourceVersion; on a conflict it re-reads and recomputes, so someone
// else's edit (the bootstrap signer's, say) is never overwritten. Only the
// keys change returns are touched, and their previous values go to the
// undo file.
func (r *clusterInfoRun) write(ctx context.Context, change func(map[string]string) (map[string]string, []string, error), by string) (*corev1.ConfigMap, error) {
	o := r.o
	var result *corev1.ConfigMap
	var prev map[string]string
	var set map[string]string
	var remove []string
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cm, err := clusterInfoGet(ctx, o.client)
		if err != nil {
			return err
		}
		s, rm, err := change(cm.Data)
		if err != nil {
			return err
		}
		if len(s) == 0 && len(rm) == 0 {
			// Possibly our own earlier attempt, applied although its
			// response was lost: its set, remove and prev still describe
			// the change and are recorded below.
			result = cm
			return nil
		}
		set, remove, prev = s, rm, maps.Clone(cm.Data)
		next := cm.DeepCopy()
		if next.Data == nil {
			next.Data = map[string]string{}
		}
		maps.Copy(next.Data, set)
		for _, k := range remove {
			delete(next.Data, k)
		}
		if o.dryRun == DryRunNone && r.undo == nil {
			if err := r.openUndo(ctx); err != nil {
				return err
			}
		}
		return WithRetry(ctx, func() (err error) {
			result, err = o.client.CoreV1().ConfigMaps(clusterInfoNamespace).Update(ctx, next, metav1.UpdateOptions{DryRun: o.dryRun.Options(), FieldManager: "kubectl-carotate"})
			return err
		})
	})
	if err != nil {
		return nil, fmt.Errorf("updating %s/%s: %w", clusterInfoNamespace, clusterInfoName, err)
	}
	if prev == nil {
		return result, nil
	}
	keys := make([]string, 0, len(set)+len(remove))
	for k := range set {
		keys = append(keys, k)
	}
	keys = append(keys, remove...)
	sort.Strings(keys)
	for _, k := range keys {
		r.by[k] = by
		if r.undo == nil {
			continue
		}
		old, had := prev[k]
		err := r.undo.Record(UndoChange{Kind: "ConfigMap", Namespace: clusterInfoNamespace, Name: clusterInfoName, Key: k,
			Previous: old, Absent: !had, ResourceVersion: result.ResourceVersion})
		if err != nil {
			return nil, fmt.Errorf("%s/%s was updated but the undo file %s could not record %s: %w", clusterInfoNamespace, clusterInfoName, r.undo.Path, k, err)
		}
	}
	return result, nil
}

func (r *clusterInfoRun) openUndo(ctx context.Context) error {
	dir, err := undoDirFor(ctx, r.o.client, r.o.UndoDir)
	if err != nil {
		return err
	}
	w, err := CreateUndoFile(dir, UndoHeader{Command: clusterInfoCommand, Server: r.o.server, CreatedAt: r.o.now()})
	if err != nil {
		return fmt.Errorf("cannot create the undo file in %s (--undo-dir chooses another directory), nothing was changed: %w", dir, err)
	}
	r.undo = w
	return nil
}

// closeUndo closes the undo file, which removes it when the write it was
// opened for failed: nothing to undo.
func (r *clusterInfoRun) closeUndo() {
	if r.undo != nil {
		_ = r.undo.Close()
	}
}

// waitForSigner watches cluster-info from our write on until its
// signatures are what the bootstrap signer leaves, or --signer-wait passes.
// A signer that is not running is only detectable by its silence.
func (r *clusterInfoRun) waitForSigner(ctx context.Context, cm *corev1.ConfigMap) *corev1.ConfigMap {
	o := r.o
	if o.SignerWait == 0 {
		return cm
	}
	fmt.Fprintf(o.ErrOut, "Waiting up to %s for the bootstrap signer to re-sign cluster-info...\n", o.SignerWait)
	wctx, cancel := context.WithTimeout(ctx, o.SignerWait)
	defer cancel()
	selector := fields.OneTermEqualSelector(metav1.ObjectNameField, clusterInfoName).String()
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.FieldSelector = selector
		return o.client.CoreV1().ConfigMaps(clusterInfoNamespace).Watch(ctx, opts)
	}}
	last := cm
	_, err := watchtools.Until(wctx, cm.ResourceVersion, lw, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, fmt.Errorf("%s/%s was deleted", clusterInfoNamespace, clusterInfoName)
		case watch.Added, watch.Modified:
			if next, ok := ev.Object.(*corev1.ConfigMap); ok {
				last = next
				return checks.SignaturesSettled(next.Data, r.tokens), nil
			}
		}
		return false, nil
	})
	if err != nil && wctx.Err() == nil {
		fmt.Fprintf(o.ErrOut, "Warning: watching cluster-info: %v\n", err)
	}
	if checks.SignaturesSettled(last.Data, r.tokens) {
		for k, v := range last.Data {
			if strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) && cm.Data[k] != v {
				r.by[k] = clusterInfoBySigner
			}
		}
		for k := range cm.Data {
			if _, still := last.Data[k]; !still && strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) {
				r.by[k] = clusterInfoBySigner
			}
		}
	}
	return last
}

func (r *clusterInfoRun) clientDryRun(cm *corev1.ConfigMap, newKC string, rep ClusterInfoUpdateReport) error {
	o := r.o
	next := maps.Clone(cm.Data)
	next[bootstrapapi.KubeConfigKey] = newKC
	// Without a CA change there is nothing for the signer to react to, so a
	// real run signs at once; with one, it first gives the signer its chance.
	if o.Sign || !rep.Changed {
		if set, remove, err := checks.SignClusterInfo(next, r.tokens); err == nil && len(set)+len(remove) > 0 {
			maps.Copy(next, set)
			for _, k := range remove {
				delete(next, k)
			}
			rep.SignedBy = clusterInfoByUs
		}
	}
	rep.Signatures = clusterInfoSignatureReport(cm.Data, next, r.tokens, func(string) string { return clusterInfoByUs + o.dryRun.Suffix() })
	rep.ResourceVersion = cm.ResourceVersion
	if o.Output == outputJSON || o.Output == outputYAML {
		return printStructured(o.Out, o.Output, rep)
	}
	if rep.Changed {
		fmt.Fprint(o.Out, clusterInfoDiff(cm.Data[bootstrapapi.KubeConfigKey], newKC))
	}
	return clusterInfoPrintUpdate(o.Out, rep, o.dryRun, o.Sign)
}

// finish reports the signature state at the end, crediting each re-signed
// or removed signature to whoever wrote it.
func (r *clusterInfoRun) finish(before map[string]string, final *corev1.ConfigMap, rep ClusterInfoUpdateReport) error {
	o := r.o
	rep.ResourceVersion = final.ResourceVersion
	sigs := clusterInfoSignatureReport(before, final.Data, r.tokens, r.byOr)
	rep.Signatures = sigs
	signers := map[string]bool{}
	for k, who := range r.by {
		if strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) {
			signers[who] = true
		}
	}
	var names []string
	for who := range signers {
		names = append(names, who)
	}
	sort.Strings(names)
	rep.SignedBy = strings.Join(names, ", ")
	if r.undo != nil && r.undo.Changes() > 0 {
		rep.UndoFile = r.undo.Path
		fmt.Fprintf(o.ErrOut, "Undo file: %s\n", r.undo.Path)
	}
	if o.Output == outputJSON || o.Output == outputYAML {
		if err := printStructured(o.Out, o.Output, rep); err != nil {
			return err
		}
	} else if err := clusterInfoPrintUpdate(o.Out, rep, o.dryRun, o.Sign); err != nil {
		return err
	}
	if o.dryRun == DryRunServer {
		return nil
	}
	var broken []string
	for _, s := range sigs {
		if s.Broken() {
			broken = append(broken, s.TokenID+" ("+string(s.State)+")")
		}
	}
	if len(broken) > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("cluster-info signatures are still not valid for token(s) %s: kubeadm join with them fails", strings.Join(broken, ", "))}
	}
	return nil
}

func (r *clusterInfoRun) byOr(key string) string {
	if who := r.by[key]; who != "" {
		return who
	}
	return "someone else"
}

// clusterInfoSignatureReport judges the signatures of after, crediting
// each one re-signed or removed since before to by(key). Removed signatures
// of tokens that are gone stay in the report, or it would not say what
// happened to them.
func clusterInfoSignatureReport(before, after map[string]string, tokens []checks.BootstrapToken, by func(string) string) []checks.TokenSignature {
	sigs := checks.MarkResigned(checks.CheckSignatures(after, tokens), before, after, "")
	listed := map[string]int{}
	for i, s := range sigs {
		listed[s.TokenID] = i
		if s.State == checks.SignatureResigned {
			sigs[i].Detail = "signed by " + by(checks.SignatureKey(s.TokenID))
		}
	}
	for _, s := range checks.CheckSignatures(before, tokens) {
		key := checks.SignatureKey(s.TokenID)
		_, had := before[key]
		if _, has := after[key]; !had || has {
			continue
		}
		removed := "signature removed by " + by(key)
		if i, ok := listed[s.TokenID]; ok {
			sigs[i].Detail = strings.TrimPrefix(sigs[i].Detail+"; ", "; ") + removed
			continue
		}
		s.Signed = false
		s.Detail = strings.TrimPrefix(s.Detail+"; ", "; ") + removed
		sigs = append(sigs, s)
	}
	sort.Slice(sigs, func(i, j int) bool { return sigs[i].TokenID < sigs[j].TokenID })
	return sigs
}

func clusterInfoPrintUpdate(w io.Writer, rep ClusterInfoUpdateReport, d DryRun, sign bool) error {
	if rep.Changed {
		fmt.Fprintf(w, "configmap/%s in %s: certificate-authority-data replaced%s\n", rep.Name, rep.Namespace, d.Suffix())
		fmt.Fprintf(w, "Was (%d):\n", len(rep.CAsBefore))
		clusterInfoPrintCAs(w, rep.CAsBefore)
		fmt.Fprintf(w, "Now (%d):\n", len(rep.CAsAfter))
		clusterInfoPrintCAs(w, rep.CAsAfter)
	} else {
		fmt.Fprintf(w, "configmap/%s in %s already carries this CA (%d certificate(s))%s\n", rep.Name, rep.Namespace, len(rep.CAsAfter), d.Suffix())
	}
	if d != DryRunNone && rep.Changed && !sign {
		// A dry run cannot wait for the signer: say what the table shows.
		fmt.Fprintln(w, "Signatures right after the write, before the bootstrap signer (or, without it, this command) re-signs:")
	}
	return clusterInfoPrintSignatures(w, rep.Signatures)
}

// clusterInfoDiff is a line diff of two kubeconfig texts, unified-style
// with the whole (short) file as context.
func clusterInfoDiff(a, b string) string {
	al := strings.Split(strings.TrimSuffix(a, "\n"), "\n")
	bl := strings.Split(strings.TrimSuffix(b, "\n"), "\n")
	// lcs[i][j] is the longest common subsequence of al[i:] and bl[j:].
	lcs := make([][]int, len(al)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(bl)+1)
	}
	for i := len(al) - 1; i >= 0; i-- {
		for j := len(bl) - 1; j >= 0; j-- {
			if al[i] == bl[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	sb.WriteString("--- " + clusterInfoNamespace + "/" + clusterInfoName + " kubeconfig (current)\n")
	sb.WriteString("+++ " + clusterInfoNamespace + "/" + clusterInfoName + " kubeconfig (after update)\n")
	i, j := 0, 0
	for i < len(al) || j < len(bl) {
		switch {
		case i < len(al) && j < len(bl) && al[i] == bl[j]:
			sb.WriteString(" " + al[i] + "\n")
			i, j = i+1, j+1
		case j == len(bl) || (i < len(al) && lcs[i+1][j] >= lcs[i][j+1]):
			sb.WriteString("-" + al[i] + "\n")
			i++
		default:
			sb.WriteString("+" + bl[j] + "\n")
			j++
		}
	}
	return sb.String()
}
