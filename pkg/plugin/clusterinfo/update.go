package clusterinfo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

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

// updateRun is the state of one update.
type updateRun struct {
	o      *UpdateClusterInfoOptions
	caPEM  []byte
	tokens []checks.BootstrapToken
	undo   *undofile.Writer
	// by records who last wrote each signature key during the run.
	by map[string]string
}

func (o *UpdateClusterInfoOptions) runUpdate(ctx context.Context) error {
	certs, err := o.loadCA(ctx)
	if err != nil {
		return err
	}
	rep := ClusterInfoUpdateReport{Namespace: cluster.ClusterInfoNamespace, Name: cluster.ClusterInfoName, CAsBefore: []checks.CertInfo{}, CAsAfter: []checks.CertInfo{}, Signatures: []checks.TokenSignature{}}
	if o.dryRun != cmdutil.DryRunNone {
		rep.DryRun = string(o.dryRun)
	}
	for _, c := range certs {
		rep.CAsAfter = append(rep.CAsAfter, checks.Describe(c))
	}
	r := &updateRun{o: o, caPEM: checks.EncodePEM(certs), by: map[string]string{}}

	cm, err := cluster.GetClusterInfo(ctx, o.client)
	if apierrors.IsNotFound(err) {
		fmt.Fprintln(o.ErrOut, o.notApplicable())
		if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
			if err := cmdutil.PrintStructured(o.Out, o.Output, rep); err != nil {
				return err
			}
		}
		if o.Require {
			return &cmdutil.ExitError{Code: 1, Err: errors.New("cluster-info is required (--require) but does not exist; nothing was changed")}
		}
		return nil
	}
	if err != nil {
		return err
	}
	rep.Present = true
	if err := cmdutil.Preflight(ctx, o.client, access(o.dryRun.Writes(), o.dryRun == cmdutil.DryRunNone && !o.Sign)); err != nil {
		return err
	}
	if err := o.checkServing(ctx, certs); err != nil {
		return err
	}
	if r.tokens, err = cluster.BootstrapTokens(ctx, o.client, o.now()); err != nil {
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
		return fmt.Errorf("%s/%s has no %q key; nothing was changed", cluster.ClusterInfoNamespace, cluster.ClusterInfoName, bootstrapapi.KubeConfigKey)
	}
	newKC, changed, err := checks.ReplaceClusterInfoCA([]byte(cm.Data[bootstrapapi.KubeConfigKey]), r.caPEM)
	if err != nil {
		return fmt.Errorf("%s/%s: %w; nothing was changed", cluster.ClusterInfoNamespace, cluster.ClusterInfoName, err)
	}
	rep.Changed = changed

	if o.dryRun == cmdutil.DryRunClient {
		return r.clientDryRun(cm, string(newKC), rep)
	}

	defer r.closeUndo()
	final := cm
	if changed || o.Sign {
		final, err = r.write(ctx, func(data map[string]string) (map[string]string, []string, error) {
			return r.caChange(data)
		}, byUs)
		if err != nil {
			return err
		}
	}
	if o.dryRun == cmdutil.DryRunNone && !checks.SignaturesSettled(final.Data, r.tokens) {
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
			}, byUs)
			if err != nil {
				return err
			}
		}
	}
	return r.finish(before, final, rep)
}

// caChange rewrites the CA in the current data and, with --sign, signs the
// result in the same write so there is no moment with stale signatures.
func (r *updateRun) caChange(data map[string]string) (map[string]string, []string, error) {
	kc, ok := data[bootstrapapi.KubeConfigKey]
	if !ok {
		return nil, nil, fmt.Errorf("%s/%s lost its %q key", cluster.ClusterInfoNamespace, cluster.ClusterInfoName, bootstrapapi.KubeConfigKey)
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
func (r *updateRun) write(ctx context.Context, change func(map[string]string) (map[string]string, []string, error), by string) (*corev1.ConfigMap, error) {
	o := r.o
	var result *corev1.ConfigMap
	var prev map[string]string
	var set map[string]string
	var remove []string
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		cm, err := cluster.GetClusterInfo(ctx, o.client)
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
		if o.dryRun == cmdutil.DryRunNone && r.undo == nil {
			if err := r.openUndo(ctx); err != nil {
				return err
			}
		}
		return cluster.WithRetry(ctx, func() (err error) {
			result, err = o.client.CoreV1().ConfigMaps(cluster.ClusterInfoNamespace).Update(ctx, next, metav1.UpdateOptions{DryRun: o.dryRun.Options(), FieldManager: "kubectl-carotate"})
			return err
		})
	})
	if err != nil && prev != nil && cluster.MayHaveApplied(err) {
		// The answer was lost, perhaps not the write: if cluster-info now
		// holds the change, the write was ours and undo must know.
		if cm, gerr := cluster.GetClusterInfo(ctx, o.client); gerr == nil {
			if s, rm, cerr := change(cm.Data); cerr == nil && len(s) == 0 && len(rm) == 0 {
				result, err = cm, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("updating %s/%s: %w; run the same command again: a change already made is not made twice", cluster.ClusterInfoNamespace, cluster.ClusterInfoName, err)
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
		err := r.undo.Record(undofile.Change{Kind: "ConfigMap", Namespace: cluster.ClusterInfoNamespace, Name: cluster.ClusterInfoName, Key: k,
			Previous: old, Absent: !had, ResourceVersion: result.ResourceVersion})
		if err != nil {
			return nil, fmt.Errorf("%s/%s was updated but the undo file %s could not record %s: %w", cluster.ClusterInfoNamespace, cluster.ClusterInfoName, r.undo.Path, k, err)
		}
	}
	return result, nil
}

func (r *updateRun) openUndo(ctx context.Context) error {
	dir, err := rotation.UndoDir(ctx, r.o.client, r.o.UndoDir)
	if err != nil {
		return err
	}
	w, err := undofile.Create(dir, undofile.Header{Command: command, Server: r.o.server, CreatedAt: r.o.now()})
	if err != nil {
		return fmt.Errorf("cannot create the undo file in %s (--undo-dir chooses another directory), nothing was changed: %w", dir, err)
	}
	r.undo = w
	return nil
}

// closeUndo closes the undo file, which removes it when the write it was
// opened for failed: nothing to undo.
func (r *updateRun) closeUndo() {
	if r.undo != nil {
		_ = r.undo.Close()
	}
}

// waitForSigner watches cluster-info from our write on until its
// signatures are what the bootstrap signer leaves, or --signer-wait passes.
// A signer that is not running is only detectable by its silence.
func (r *updateRun) waitForSigner(ctx context.Context, cm *corev1.ConfigMap) *corev1.ConfigMap {
	o := r.o
	if o.SignerWait == 0 {
		return cm
	}
	fmt.Fprintf(o.ErrOut, "Waiting up to %s for the bootstrap signer to re-sign cluster-info...\n", o.SignerWait)
	wctx, cancel := context.WithTimeout(ctx, o.SignerWait)
	defer cancel()
	selector := fields.OneTermEqualSelector(metav1.ObjectNameField, cluster.ClusterInfoName).String()
	lw := &cache.ListWatch{WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
		opts.FieldSelector = selector
		return o.client.CoreV1().ConfigMaps(cluster.ClusterInfoNamespace).Watch(ctx, opts)
	}}
	last := cm
	_, err := watchtools.Until(wctx, cm.ResourceVersion, lw, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, fmt.Errorf("%s/%s was deleted", cluster.ClusterInfoNamespace, cluster.ClusterInfoName)
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
				r.by[k] = bySigner
			}
		}
		for k := range cm.Data {
			if _, still := last.Data[k]; !still && strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) {
				r.by[k] = bySigner
			}
		}
	}
	return last
}

func (r *updateRun) clientDryRun(cm *corev1.ConfigMap, newKC string, rep ClusterInfoUpdateReport) error {
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
			rep.SignedBy = byUs
		}
	}
	rep.Signatures = signatureReport(cm.Data, next, r.tokens, func(string) string { return byUs + o.dryRun.Suffix() })
	rep.ResourceVersion = cm.ResourceVersion
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(o.Out, o.Output, rep)
	}
	if rep.Changed {
		fmt.Fprint(o.Out, kubeconfigDiff(cm.Data[bootstrapapi.KubeConfigKey], newKC))
	}
	return printUpdate(o.Out, rep, o.dryRun, o.Sign)
}

// finish reports the signature state at the end, crediting each re-signed
// or removed signature to whoever wrote it.
func (r *updateRun) finish(before map[string]string, final *corev1.ConfigMap, rep ClusterInfoUpdateReport) error {
	o := r.o
	rep.ResourceVersion = final.ResourceVersion
	sigs := signatureReport(before, final.Data, r.tokens, r.byOr)
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
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		if err := cmdutil.PrintStructured(o.Out, o.Output, rep); err != nil {
			return err
		}
	} else if err := printUpdate(o.Out, rep, o.dryRun, o.Sign); err != nil {
		return err
	}
	if o.dryRun == cmdutil.DryRunServer {
		return nil
	}
	var broken []string
	for _, s := range sigs {
		if s.Broken() {
			broken = append(broken, s.TokenID+" ("+string(s.State)+")")
		}
	}
	if len(broken) > 0 {
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("cluster-info signatures are still not valid for token(s) %s: kubeadm join with them fails", strings.Join(broken, ", "))}
	}
	return nil
}

func (r *updateRun) byOr(key string) string {
	if who := r.by[key]; who != "" {
		return who
	}
	return "someone else"
}

// signatureReport judges the signatures of after, crediting
// each one re-signed or removed since before to by(key). Removed signatures
// of tokens that are gone stay in the report, or it would not say what
// happened to them.
func signatureReport(before, after map[string]string, tokens []checks.BootstrapToken, by func(string) string) []checks.TokenSignature {
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

func printUpdate(w io.Writer, rep ClusterInfoUpdateReport, d cmdutil.DryRun, sign bool) error {
	if rep.Changed {
		fmt.Fprintf(w, "configmap/%s in %s: certificate-authority-data replaced%s\n", rep.Name, rep.Namespace, d.Suffix())
		fmt.Fprintf(w, "Was (%d):\n", len(rep.CAsBefore))
		printCAs(w, rep.CAsBefore)
		fmt.Fprintf(w, "Now (%d):\n", len(rep.CAsAfter))
		printCAs(w, rep.CAsAfter)
	} else {
		fmt.Fprintf(w, "configmap/%s in %s already carries this CA (%d certificate(s))%s\n", rep.Name, rep.Namespace, len(rep.CAsAfter), d.Suffix())
	}
	if d != cmdutil.DryRunNone && rep.Changed && !sign {
		// A dry run cannot wait for the signer: say what the table shows.
		fmt.Fprintln(w, "Signatures right after the write, before the bootstrap signer (or, without it, this command) re-signs:")
	}
	return printSignatures(w, rep.Signatures)
}
