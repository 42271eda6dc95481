// Package satokens is "kubectl carotate resign-tokens": step 3.1 of the
// sa-key target. Every legacy ServiceAccount token Secret whose token the
// new key did not sign gets its data.token cleared, for the
// controller-manager's tokens controller to sign afresh with the key it
// runs with (since Kubernetes 1.24 a deleted token Secret is not
// re-created, so the Secret is kept and only its token goes).
package satokens

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// Options is "kubectl carotate resign-tokens".
type Options struct {
	*cmdutil.Env
	DryRunFlag string
	UndoDir    string
	Output     string
	Timeout    time.Duration
	dryRun     cmdutil.DryRun
	now        func() time.Time
}

// NewCmdResignTokens is "kubectl carotate resign-tokens".
func NewCmdResignTokens(env *cmdutil.Env) *cobra.Command {
	o := &Options{Env: env, DryRunFlag: string(cmdutil.DryRunNone), Timeout: 2 * time.Minute, now: time.Now}
	cmd := &cobra.Command{
		Use:   "resign-tokens",
		Short: "sa-key step 3.1: have every legacy token Secret re-signed with the new ServiceAccount key",
		Long: `Step 3.1 of the ServiceAccount signing key rotation (kubectl carotate start
--target sa-key): every legacy token Secret (type
kubernetes.io/service-account-token) whose token the new key did not sign
gets its data.token cleared, conflict-safe, and the controller-manager's
tokens controller fills it again, signed with the key it now runs with. The
Secret itself stays (since Kubernetes 1.24 a deleted one is not re-created).
It then waits until each is signed by the new key.

It refuses, writing nothing, until a token issued now (TokenRequest) is
signed by the new key: before step 2 the tokens controller would sign with
the old key again. It records in the sa-key record when it saw the switch,
which step 3.2 counts projected tokens' lifetimes from.

The undo file lists the Secrets it cleared and never holds token data: a
token cannot be put back, and undo skips these entries saying so. Pods
that mount a re-signed Secret see the new token when the kubelet next
syncs the volume (a subPath mount never does: restart those pods).`,
		Example: `  kubectl carotate resign-tokens
  kubectl carotate resign-tokens --dry-run=server`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	cmdutil.AddDryRunFlag(cmd, &o.DryRunFlag, "list the Secrets it would clear")
	cmdutil.AddUndoDirFlag(cmd, &o.UndoDir)
	cmdutil.AddOutputFlag(cmd, &o.Output)
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the tokens controller to re-sign the cleared Secrets")
	cmdutil.NoNamespace(cmd, "a token signed by the old key in any namespace gets 401 once step 4 removes the key")
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	var err error
	if o.dryRun, err = cmdutil.ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	if o.Timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	}
	return cmdutil.ValidateOutput(o.Output)
}

// Result is one Secret as the pass left it.
type Result struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// OldKID is the kid of the token that was cleared ("" for none).
	OldKID string `json:"oldKeyID"`
	NewKID string `json:"newKeyID,omitempty"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
}

// Report is the pass (-o json|yaml).
type Report struct {
	Rotation   string    `json:"rotation"`
	SwitchedAt time.Time `json:"switchedAt"`
	Secrets    []Result  `json:"secrets"`
	UndoFile   string    `json:"undoFile,omitempty"`
}

// Run clears the old tokens and waits for the new ones.
func (o *Options) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	rec, err := rotation.LoadTarget(ctx, client, checks.TargetSAKey)
	if err != nil {
		return err
	}
	if !rec.Active() {
		return fmt.Errorf("no active sa-key rotation is recorded in %s/%s (kubectl carotate start --target sa-key records one); nothing was written",
			rotation.Namespace, rotation.NameOf(checks.TargetSAKey))
	}
	if o.dryRun != cmdutil.DryRunClient {
		err := cmdutil.Preflight(ctx, client, []cmdutil.AccessCheck{
			{Verb: "list", Resource: "secrets"}, {Verb: "patch", Resource: "secrets"},
			{Verb: "create", Resource: "serviceaccounts", Subresource: "token", Namespace: metav1.NamespaceDefault},
			{Verb: "update", Resource: "configmaps", Namespace: rotation.Namespace},
		})
		if err != nil {
			return err
		}
	}
	newKIDs := checks.KeyIDs(rec.NewSAKeys)
	kid, err := cluster.IssuedTokenKID(ctx, client)
	if err != nil {
		return fmt.Errorf("cannot tell which key the API server signs with (%v); nothing was written", err)
	}
	if !slices.Contains(newKIDs, kid) {
		return fmt.Errorf("the API server signs tokens with kid %s, not the new key %s: do step 2 first (kubectl carotate instructions --target sa-key --step 2), "+
			"or the tokens controller signs the cleared Secrets with the old key again; nothing was written", kid, newKIDs[0])
	}
	// When the switch was seen: now. The real switch may be earlier (a
	// mirror pod's age does not show it: a restart that kept the manifest
	// keeps the mirror pod), so step 3.2 counts every pod started before
	// now as possibly holding an old token: never too few.
	switched := o.now().UTC().Truncate(time.Second)
	rep := &Report{Rotation: rec.ID, SwitchedAt: switched, Secrets: []Result{}}
	var stale []*corev1.Secret
	err = cluster.EachLegacyTokenSecret(ctx, client, "", func() { stale = nil }, func(s *corev1.Secret) {
		ev := cluster.LegacyTokenSecret(s)
		if ev.KID != "" && slices.Contains(newKIDs, ev.KID) {
			return
		}
		if ev.KID == "" && ev.KIDErr == "" {
			return // no token yet: the tokens controller fills it with the key it runs with
		}
		stale = append(stale, s.DeepCopy())
	})
	if err != nil {
		return fmt.Errorf("listing legacy token Secrets: %w", err)
	}
	var undo *undofile.Writer
	if len(stale) > 0 && o.dryRun == cmdutil.DryRunNone {
		dir := o.UndoDir
		if dir == "" {
			if dir, err = undofile.DefaultDir(rec.ID); err != nil {
				return err
			}
		}
		cfg, err := o.RESTConfig()
		if err != nil {
			return err
		}
		if undo, err = undofile.Create(dir, undofile.Header{Command: "resign-tokens", RotationID: rec.ID, Server: cfg.Host, CreatedAt: o.now()}); err != nil {
			return fmt.Errorf("creating the undo file (nothing was written): %w", err)
		}
		defer undo.Close()
		rep.UndoFile = undo.Path
	}
	var failed []string
	for _, s := range stale {
		r := o.clear(ctx, client, s, newKIDs, undo)
		if r.Result == "failed" {
			failed = append(failed, r.Namespace+"/"+r.Name+": "+r.Reason)
		}
		rep.Secrets = append(rep.Secrets, r)
	}
	if o.dryRun == cmdutil.DryRunNone {
		o.waitResigned(ctx, client, rep, newKIDs)
	}
	for _, r := range rep.Secrets {
		if r.Result == "cleared" { // never re-signed in time
			failed = append(failed, fmt.Sprintf("%s/%s: not re-signed within %s (is the tokens controller running, with --service-account-private-key-file?)", r.Namespace, r.Name, o.Timeout))
		}
	}
	result := "ok"
	if len(failed) > 0 {
		result = "failed"
	}
	pass := rotation.Pass{Kind: rotation.PassResignTokens, Started: switched, Result: result,
		Detail: fmt.Sprintf("%d legacy token Secrets cleared for re-signing", len(stale)), UndoFile: rep.UndoFile}
	if o.dryRun == cmdutil.DryRunNone {
		pass.By = rotation.WhoAmI(ctx, client, o.RawKubeConfigLoader())
		if err := rotation.AppendTargetPass(ctx, client, checks.TargetSAKey, pass); err != nil {
			fmt.Fprintf(o.ErrOut, "warning: the pass is done but could not be logged in the sa-key record: %v\n", err)
		}
	}
	if err := o.print(rep); err != nil {
		return err
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d legacy token Secrets are not signed by the new key:\n  %s", len(failed), strings.Join(failed, "\n  "))
	}
	fmt.Fprintf(o.ErrOut, "resign-tokens: %d legacy token Secrets re-signed with the new key%s\n", len(stale), o.dryRun.Suffix())
	return nil
}

// clear removes data.token of one Secret, conflict-safe: on a conflict it
// reads the Secret again and clears it only if the new key still did not
// sign it.
func (o *Options) clear(ctx context.Context, client kubernetes.Interface, s *corev1.Secret, newKIDs []string, undo *undofile.Writer) Result {
	r := Result{Namespace: s.Namespace, Name: s.Name, OldKID: cluster.LegacyTokenSecret(s).KID}
	if !o.dryRun.Writes() {
		r.Result = "would clear" + o.dryRun.Suffix()
		return r
	}
	secrets := client.CoreV1().Secrets(s.Namespace)
	for attempt := 0; attempt < 3; attempt++ {
		body, _ := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": s.ResourceVersion}, "data": map[string]any{corev1.ServiceAccountTokenKey: nil}})
		var out *corev1.Secret
		mayHaveApplied, err := cluster.WithRetryWrite(ctx, func() (err error) {
			out, err = secrets.Patch(ctx, s.Name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: cmdutil.FieldManager, DryRun: o.dryRun.Options()})
			return err
		})
		switch {
		case err == nil:
			return o.cleared(r, s, out.ResourceVersion, undo)
		case apierrors.IsNotFound(err):
			r.Result, r.Reason = "skipped", "deleted meanwhile"
			return r
		case apierrors.IsConflict(err):
			var cur *corev1.Secret
			gerr := cluster.WithRetry(ctx, func() (err error) {
				cur, err = secrets.Get(ctx, s.Name, metav1.GetOptions{})
				return err
			})
			if gerr != nil {
				r.Result, r.Reason = "failed", gerr.Error()
				return r
			}
			tok := cluster.LegacyTokenSecret(cur)
			resigned := slices.Contains(newKIDs, tok.KID)
			if !resigned && len(cur.Data[corev1.ServiceAccountTokenKey]) > 0 {
				s = cur // it holds another token now: clear that one
				continue
			}
			// The old token is gone. A clear of ours sent again after its
			// answer was lost meets its own effect: it is ours, recorded
			// in the undo file, and said so. Otherwise another writer
			// cleared it: not ours to record. The tokens controller
			// only fills an empty token, so it never clears one.
			r.Reason = reasonClearedLostAnswer
			if !mayHaveApplied {
				r.Reason, undo = reasonClearedByOther, nil
			}
			if resigned {
				r.Result, r.NewKID = "re-signed", tok.KID
				o.recordCleared(s, cur.ResourceVersion, undo)
				return r
			}
			// Not signed again yet: wait for the tokens controller as
			// for any clear.
			return o.cleared(r, s, cur.ResourceVersion, undo)
		default:
			r.Result, r.Reason = "failed", err.Error()
			return r
		}
	}
	r.Result, r.Reason = "failed", "it kept changing under us"
	return r
}

// Reasons of a Secret found without its old token when its clear met a
// conflict.
const (
	reasonClearedLostAnswer = "found cleared when its clear was sent again after the API server's answer was lost"
	reasonClearedByOther    = "cleared meanwhile by another writer"
)

// cleared is the result of a Secret whose token is now cleared, recorded
// in the undo file at resourceVersion rv (undo nil: not recorded).
func (o *Options) cleared(r Result, s *corev1.Secret, rv string, undo *undofile.Writer) Result {
	r.Result = "cleared" + o.dryRun.Suffix()
	o.recordCleared(s, rv, undo)
	if o.dryRun != cmdutil.DryRunNone {
		r.Result = "would clear" + o.dryRun.Suffix()
	}
	return r
}

// recordCleared records in the undo file that s lost its token. The token
// is not kept: the entry says which Secret lost it, so undo can say why
// it cannot put it back.
func (o *Options) recordCleared(s *corev1.Secret, rv string, undo *undofile.Writer) {
	if undo == nil {
		return
	}
	if err := undo.Record(undofile.Change{Kind: "Secret", Namespace: s.Namespace, Name: s.Name, Key: corev1.ServiceAccountTokenKey,
		Removed: true, ResourceVersion: rv}); err != nil {
		fmt.Fprintf(o.ErrOut, "warning: the undo file misses %s/%s: %v\n", s.Namespace, s.Name, err)
	}
}

// waitResigned polls the cleared Secrets until the tokens controller has
// signed each with the new key, or --timeout passes.
func (o *Options) waitResigned(ctx context.Context, client kubernetes.Interface, rep *Report, newKIDs []string) {
	pending := func() int {
		n := 0
		for i := range rep.Secrets {
			if rep.Secrets[i].Result == "cleared" {
				n++
			}
		}
		return n
	}
	if pending() == 0 {
		return
	}
	fmt.Fprintf(o.ErrOut, "resign-tokens: waiting for the tokens controller to sign %d Secrets with the new key\n", pending())
	_ = wait.PollUntilContextTimeout(ctx, time.Second, o.Timeout, true, func(ctx context.Context) (bool, error) {
		for i := range rep.Secrets {
			r := &rep.Secrets[i]
			if r.Result != "cleared" {
				continue
			}
			var s *corev1.Secret
			err := cluster.WithRetry(ctx, func() (err error) {
				s, err = client.CoreV1().Secrets(r.Namespace).Get(ctx, r.Name, metav1.GetOptions{})
				return err
			})
			switch {
			case apierrors.IsNotFound(err):
				r.Result, r.Reason = "skipped", "deleted meanwhile"
			case err != nil:
				continue
			default:
				ev := cluster.LegacyTokenSecret(s)
				switch {
				case slices.Contains(newKIDs, ev.KID):
					r.Result, r.NewKID = "re-signed", ev.KID
				case ev.KID != "":
					r.Result, r.NewKID, r.Reason = "failed", ev.KID, "re-signed by kid "+ev.KID+", not the new key: the controller-manager does not run with the new key (step 2)"
				}
			}
		}
		return pending() == 0, nil
	})
}

func (o *Options) print(rep *Report) error {
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(o.Out, o.Output, rep)
	}
	if len(rep.Secrets) == 0 {
		fmt.Fprintln(o.ErrOut, "resign-tokens: no legacy token Secret is signed by another key than the new one")
		return nil
	}
	rows := make([][]string, 0, len(rep.Secrets))
	for _, r := range rep.Secrets {
		rows = append(rows, []string{r.Namespace, r.Name, r.OldKID, r.Result, r.NewKID, r.Reason})
	}
	if err := cmdutil.WriteTable(o.Out, []string{"namespace", "secret", "old key id", "result", "new key id", "reason"}, rows); err != nil {
		return err
	}
	if rep.UndoFile != "" {
		fmt.Fprintf(o.ErrOut, "undo file: %s (it lists the Secrets, never their tokens)\n", rep.UndoFile)
	}
	return nil
}
