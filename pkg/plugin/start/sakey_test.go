package start

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

func TestStartSAKeyFlags(t *testing.T) {
	for _, c := range []struct {
		o    StartOptions
		want string
	}{
		{StartOptions{NewPublicKey: "new.pub", NewCA: "new.crt"}, "--target sa-key rotates the ServiceAccount signing key, not a CA: --new-ca do not apply"},
		{StartOptions{}, "--target sa-key needs --new-public-key"},
	} {
		c.o.Target = checks.TargetSAKey
		if err := c.o.validateSAKey(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	bad := StartOptions{NewPublicKey: "new.pub", ID: "bad id", recordCommand: recordCommand{Target: checks.TargetSAKey, DryRunFlag: "none"}}
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `invalid --id "bad id"`) {
		t.Errorf("a bad --id with --target sa-key: %v", err)
	}
	o := StartOptions{NewPublicKey: "new.pub", recordCommand: recordCommand{Target: checks.TargetClusterCA}, NewCA: "x"}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "are for --target sa-key") {
		t.Errorf("--new-public-key without --target sa-key: %v", err)
	}
}

// A private key given as a public key is refused by flag and file, and
// its content is not in the message.
func TestReadPublicKeysRefusesAPrivateKey(t *testing.T) {
	_, _, _, keyPEM, err := checks.GenerateCA("k", 0)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "new-sa.key")
	if err := os.WriteFile(p, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = readPublicKeys("--new-public-key", p)
	if err == nil || !strings.Contains(err.Error(), "--new-public-key "+p+" contains a private key") || !strings.Contains(err.Error(), "nothing was written") {
		t.Fatalf("got %v", err)
	}
	if body := strings.Split(string(keyPEM), "\n")[1]; strings.Contains(err.Error(), body) {
		t.Errorf("the error echoes key material")
	}
}

func TestAbortSAKeyPlan(t *testing.T) {
	rec := &rotation.Record{Lifecycle: rotation.Lifecycle{ID: "r1"}}
	base := checks.SAKeyEvidence{OldKIDs: []string{"old"}, NewKIDs: []string{"new"}}
	signing := base
	signing.TokenKID, signing.JWKS = "new", []string{"old", "new"}
	done := base
	done.TokenKID, done.JWKS = "new", []string{"new"}
	before := base
	before.TokenKID, before.JWKS = "old", []string{"old"}
	broken := base
	broken.TokenErr, broken.JWKSErr = errors.New("x"), errors.New("x")
	for name, c := range map[string]struct {
		ev        checks.SAKeyEvidence
		want, not string
	}{
		"signs with the new key": {signing, "Sign with the old key again, and keep the API server accepting both keys", "no longer accepts the old key"},
		"old key removed":        {done, "no longer accepts the old key", ""},
		"before the switch":      {before, "No control-plane flag names a transition file", "Sign with the old key again"},
		"nothing readable":       {broken, "Could not tell which key the API server signs with (x)", "No control-plane flag names"},
	} {
		plan := abortSAKeyPlan(rec, c.ev)
		if !strings.Contains(plan, c.want) || (c.not != "" && strings.Contains(plan, c.not)) {
			t.Errorf("%s:\n%s\nwant %q, not %q", name, plan, c.want, c.not)
		}
	}
}
