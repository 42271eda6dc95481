package start

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// validateSAKey checks the sa-key flags; it reads no file.
func (o *StartOptions) validateSAKey() error {
	var ca []string
	for flag, v := range map[string]string{"--new-ca": o.NewCA, "--old-ca": o.OldCA, "--new-front-proxy-ca": o.NewFrontProxyCA, "--old-front-proxy-ca": o.OldFrontProxyCA} {
		if v != "" {
			ca = append(ca, flag)
		}
	}
	if len(ca) > 0 {
		slices.Sort(ca)
		return fmt.Errorf("--target sa-key rotates the ServiceAccount signing key, not a CA: %s do not apply; nothing was written", strings.Join(ca, ", "))
	}
	if o.NewPublicKey == "" {
		return errors.New("--target sa-key needs --new-public-key: the PEM file of the new signing key's public half (openssl pkey -in new-sa.key -pubout -out new-sa.pub); nothing was written")
	}
	return nil
}

// readPublicKeys reads a public-key flag's file and refuses a private
// key by name, never by content.
func readPublicKeys(flag, path string) ([]crypto.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (nothing was written)", flag, err)
	}
	if checks.ContainsPrivateKey(data) {
		return nil, fmt.Errorf("%s %s contains a private key: the rotation record holds public keys only and kubectl carotate never reads the private one; "+
			"pass the public half (openssl pkey -in new-sa.key -pubout -out new-sa.pub) (nothing was written)", flag, path)
	}
	keys, err := checks.ParsePublicKeys(flag+" "+path, data)
	if err != nil {
		return nil, fmt.Errorf("%w (nothing was written)", err)
	}
	return keys, nil
}

// runSAKey records an sa-key rotation in its own record.
func (o *StartOptions) runSAKey(ctx context.Context) error {
	newKeys, err := readPublicKeys("--new-public-key", o.NewPublicKey)
	if err != nil {
		return err
	}
	if len(newKeys) != 1 {
		return fmt.Errorf("--new-public-key %s holds %d keys: the API server signs with one; nothing was written", o.NewPublicKey, len(newKeys))
	}
	var oldKeys []crypto.PublicKey
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	newKID := checks.KeyIDs(newKeys)
	existing, err := rotation.LoadTarget(ctx, client, checks.TargetSAKey)
	if err != nil {
		return err
	}
	if existing.Active() && slices.Equal(checks.KeyIDs(existing.NewSAKeys), newKID) && (o.ID == "" || o.ID == existing.ID) {
		same := o.OldPublicKey == ""
		if !same {
			old, err := readPublicKeys("--old-public-key", o.OldPublicKey)
			if err != nil {
				return err
			}
			same = slices.Equal(checks.KeyIDs(existing.OldSAKeys), checks.KeyIDs(old))
		}
		if same {
			fmt.Fprintf(o.ErrOut, "start: sa-key rotation %s to this key is already recorded (started by %s at %s); nothing was written\n",
				existing.ID, existing.StartedBy, existing.StartedAt.Format(time.RFC3339))
			return printRecord(o.Out, o.Output, existing)
		}
	}
	rec := &rotation.Record{Lifecycle: rotation.Started(o.ID, o.now()), Target: checks.TargetSAKey, NewCAFile: absPath(o.NewPublicKey)}
	if o.OldPublicKey != "" {
		if oldKeys, err = readPublicKeys("--old-public-key", o.OldPublicKey); err != nil {
			return err
		}
		rec.OldCASource, rec.OldCAFile = "--old-public-key "+o.OldPublicKey, absPath(o.OldPublicKey)
	} else {
		jwks, err := cluster.ReadJWKS(ctx, client)
		switch {
		case err != nil:
			return fmt.Errorf("cannot read the keys the API server verifies tokens with (%s: %v): pass --old-public-key (nothing was written)", cluster.JWKSPath, err)
		case slices.Contains(jwks.KIDs, newKID[0]):
			return fmt.Errorf("the API server already accepts the new key (kid %s in %s), so the old keys cannot be told from it: pass --old-public-key (nothing was written)", newKID[0], cluster.JWKSPath)
		case len(jwks.Keys) == 0:
			return fmt.Errorf("%s lists no key: pass --old-public-key (nothing was written)", cluster.JWKSPath)
		}
		oldKeys = jwks.Keys
		rec.OldCASource = "the keys " + cluster.JWKSPath + " lists"
		fmt.Fprintf(o.ErrOut, "start: old public keys kid %s, from %s\n", strings.Join(checks.KeyIDs(oldKeys), ", "), cluster.JWKSPath)
	}
	if slices.Contains(checks.KeyIDs(oldKeys), newKID[0]) {
		return fmt.Errorf("the new public key (kid %s) is one of the old ones: generate a new key pair; nothing was written", newKID[0])
	}
	rec.OldSAKeys, rec.NewSAKeys = oldKeys, newKeys
	rec.OldSAPEM, rec.NewSAPEM = checks.EncodePublicKeys(oldKeys), checks.EncodePublicKeys(newKeys)

	return o.saveTarget(ctx, client, rec, existing)
}

// abortSAKeyPlan says how to go back to the old key, from what the
// cluster shows: the API server keeps trusting both keys until no token
// from the new key is left, or those tokens get 401.
func abortSAKeyPlan(rec *rotation.Record, ev checks.SAKeyEvidence) string {
	var b strings.Builder
	b.WriteString("\nTo go back to the old ServiceAccount signing key:\n")
	n := 0
	item := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. %s\n", n, fmt.Sprintf(format, args...))
	}
	backups := "/var/backups/carotate-" + rec.ID
	signsNew := ev.TokenErr == nil && slices.Contains(ev.NewKIDs, ev.TokenKID)
	oldGone := ev.JWKSErr == nil && !slices.ContainsFunc(ev.OldKIDs, func(k string) bool { return slices.Contains(ev.JWKS, k) })
	if oldGone {
		item("The API server no longer accepts the old key (%s lists kid %s): tokens from the old key are gone, and going back means a rotation of its own. Consider kubectl carotate start --target sa-key again instead.",
			cluster.JWKSPath, strings.Join(ev.JWKS, ", "))
	}
	var flags []string
	for _, f := range checks.TransitionFlags(ev.ControlPlane) {
		if strings.Contains(f, "service-account") {
			flags = append(flags, "   "+f)
		}
	}
	if ev.TokenErr != nil {
		item("Could not tell which key the API server signs with (%v): the steps below assume the new one; skip those that do not apply.", ev.TokenErr)
	}
	if signsNew || len(flags) > 0 || ev.TokenErr != nil {
		item("Sign with the old key again, and keep the API server accepting both keys for now (tokens from the new key are out there): on every control-plane node, set kube-apiserver's --service-account-signing-key-file and kube-controller-manager's --service-account-private-key-file back to the old private key (kubeadm: %s/sa.key, which holds it until step 4 copies the new key over it; a copy is then under %s/step-4), leave --service-account-key-file on the file with both public keys, and let each restart.",
			checks.KubeadmPKIDir, backups)
		if len(flags) > 0 {
			b.WriteString("   Flags that name a transition file now:\n" + strings.Join(flags, "\n") + "\n")
		}
		item("Re-sign the legacy token Secrets with the old key: kubectl carotate resign-tokens re-signs those the new key did not sign; for those it did, clear their data.token once the controller-manager signs with the old key (kubectl -n NS patch secret NAME --type=json -p '[{\"op\":\"remove\",\"path\":\"/data/token\"}]').")
		item("Restart the pods that started since the switch (or wait their token lifetime): kubectl carotate restart-workloads --value %s --wait", checks.RestartValue(rec.ID, "abort"))
		item("Then point --service-account-key-file back at the old public key alone (kubeadm: %s/sa.pub) and remove the transition files (sa-bundle.pub, sa-new.pub, sa-new.key).", checks.KubeadmPKIDir)
	} else {
		item("No control-plane flag names a transition file and the API server signs with the old key: remove step 1's files (sa-bundle.pub, sa-new.pub, sa-new.key) if they exist; backups are under %s/step-*.", backups)
	}
	item("Check: kubectl carotate status --target sa-key")
	return b.String()
}
