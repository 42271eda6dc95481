package checks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSAKey(t *testing.T) (crypto.PublicKey, []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k.Public(), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParsePublicKeys(t *testing.T) {
	pub, priv := testSAKey(t)
	pubPEM := EncodePublicKeys([]crypto.PublicKey{pub})
	keys, err := ParsePublicKeys("sa.pub", pubPEM)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ParsePublicKeys: %v %v", keys, err)
	}
	_, err = ParsePublicKeys("sa.key", priv)
	if err == nil || !strings.Contains(err.Error(), "contains a private key") {
		t.Errorf("a private key: want refused, got %v", err)
	}
	if strings.Contains(err.Error(), "MI") {
		t.Errorf("the error echoes key material: %v", err)
	}
	if _, err := ParsePublicKeys("x", []byte("not pem")); err == nil {
		t.Errorf("no PEM: want an error")
	}
	if _, err := ParsePublicKeys("x", []byte("-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n")); err == nil {
		t.Errorf("a FOO block: want an error")
	}
}

func TestTokenKeyID(t *testing.T) {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"abc"}`))
	for _, c := range []struct {
		token, kid string
		err        bool
	}{
		{h + ".payload.sig", "abc", false},
		{"nodots", "", true},
		{"!!!.x.y", "", true},
		{base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256"}`)) + ".x.y", "", true},
	} {
		kid, err := TokenKeyID(c.token)
		if kid != c.kid || (err != nil) != c.err {
			t.Errorf("TokenKeyID(%q) = %q, %v; want %q, error %v", c.token, kid, err, c.kid, c.err)
		}
	}
}

func TestCheckTarget(t *testing.T) {
	for _, c := range []struct{ target, want string }{
		{"", ""}, {"cluster-ca", ""}, {"sa-key", ""}, {"front-proxy-ca", ""}, {"etcd-ca", ""},
		{"bogus", `unknown --target "bogus": use one of cluster-ca, front-proxy-ca, etcd-ca, sa-key (this version rotates cluster-ca, front-proxy-ca, etcd-ca and sa-key)`},
	} {
		err := CheckTarget(c.target)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.target, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: got %v, want %q", c.target, err, c.want)
		}
	}
}

func TestJudgeSAKey(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	switched := now.Add(-10 * time.Minute)
	base := func() SAKeyEvidence {
		return SAKeyEvidence{ID: "r1", OldKIDs: []string{"old"}, NewKIDs: []string{"new"}, Now: now,
			ControlPlane: []ControlPlanePod{{Node: "cp-1", Component: ComponentControllerManager, Mirror: true,
				Command: CommandLine{Flags: []Flag{{Name: "service-account-private-key-file", Value: "/etc/kubernetes/pki/sa-new.key"}}}}}}
	}
	cases := []struct {
		name  string
		ev    func(*SAKeyEvidence)
		step  string
		state string
		want  string
	}{
		{"1 jwks unreadable", func(e *SAKeyEvidence) { e.JWKSErr = errors.New("forbidden") }, "1", StateUnknown, "cannot read /openid/v1/jwks: forbidden"},
		{"1 old only", func(e *SAKeyEvidence) { e.JWKS = []string{"old"} }, "1", StateNotDone, "/openid/v1/jwks lists old (old): not the new key new"},
		{"1 both", func(e *SAKeyEvidence) { e.JWKS = []string{"old", "new"} }, "1", StateDone, "/openid/v1/jwks lists old (old), new (new)"},
		{"2 token old", func(e *SAKeyEvidence) { e.TokenKID = "old" }, "2", StateNotDone, "a token issued now (TokenRequest) is signed by kid old (old)"},
		{"2 token other", func(e *SAKeyEvidence) { e.TokenKID = "zzz" }, "2", StateNotDone, "kid zzz (neither old nor new)"},
		{"2 token error", func(e *SAKeyEvidence) { e.TokenErr = errors.New("denied") }, "2", StateUnknown, "cannot issue a token"},
		{"2 token new, kcm flag", func(e *SAKeyEvidence) { e.TokenKID = "new" }, "2", StateDone, "kube-controller-manager on cp-1: --service-account-private-key-file=/etc/kubernetes/pki/sa-new.key (which key that file holds the API cannot show"},
		{"2 token new, secret new", func(e *SAKeyEvidence) {
			e.TokenKID = "new"
			e.Secrets = []LegacyTokenSecret{{Namespace: "ns", Name: "s", KID: "new"}}
		}, "2", StateDone, "legacy token Secret ns/s is signed by the new key"},
		{"3.1 none", func(e *SAKeyEvidence) {}, "3.1", StateNotApplicable, "no legacy token Secret"},
		{"3.1 secrets error", func(e *SAKeyEvidence) { e.SecretsErr = errors.New("forbidden") }, "3.1", StateUnknown, "cannot list legacy token Secrets: forbidden"},
		{"3.1 old left", func(e *SAKeyEvidence) {
			e.TokenKID = "new"
			e.Secrets = []LegacyTokenSecret{{Namespace: "a", Name: "s1", KID: "old"}, {Namespace: "a", Name: "s2", KID: "new"}, {Namespace: "a", Name: "s3"}}
		}, "3.1", StateNotDone, "1 legacy token Secret signed by the old key (a/s1); 1 legacy token Secret with no token yet (a/s3): the tokens controller fills it; 1 signed by the new key"},
		{"3.1 old before switch", func(e *SAKeyEvidence) {
			e.TokenKID = "old"
			e.Secrets = []LegacyTokenSecret{{Namespace: "a", Name: "s1", KID: "old"}}
		}, "3.1", StateNotDone, "do step 2 first"},
		{"3.1 all new", func(e *SAKeyEvidence) {
			e.Secrets = []LegacyTokenSecret{{Namespace: "a", Name: "s1", KID: "new"}}
		}, "3.1", StateDone, "every legacy token Secret (1) is signed by the new key"},
		{"3.2 pods error", func(e *SAKeyEvidence) { e.PodsErr = errors.New("x") }, "3.2", StateUnknown, "cannot list pods: x"},
		{"3.2 not switched", func(e *SAKeyEvidence) { e.TokenKID = "old" }, "3.2", StateNotDone, "does not sign with the new key yet"},
		{"3.2 switch not recorded", func(e *SAKeyEvidence) { e.TokenKID = "new" }, "3.2", StateNotDone, "the switch to the new key is not recorded yet"},
		{"3.2 pod at risk", func(e *SAKeyEvidence) {
			e.SwitchedAt = switched
			e.Pods = []TokenPod{{Namespace: "a", Name: "p", Started: switched.Add(-time.Hour), Lifetime: time.Hour}}
		}, "3.2", StateNotDone, "1 pod started before the switch was seen (2026-12-02T11:50:00Z) and may hold a token from the old key (a/p): restart them, or wait until 2026-12-02T12:50:00Z"},
		{"3.2 pod after switch", func(e *SAKeyEvidence) {
			e.SwitchedAt = switched
			e.Pods = []TokenPod{{Namespace: "a", Name: "p", Started: switched.Add(time.Minute), Lifetime: time.Hour}}
		}, "3.2", StateDone, "no pod with a projected token started before the switch was seen"},
		{"3.2 lifetime passed", func(e *SAKeyEvidence) {
			e.SwitchedAt = switched
			e.Pods = []TokenPod{{Namespace: "a", Name: "p", Started: switched.Add(-time.Hour), Lifetime: 5 * time.Minute}}
		}, "3.2", StateDone, "no pod"},
		{"4 old still", func(e *SAKeyEvidence) { e.JWKS = []string{"old", "new"} }, "4", StateNotDone, "the old key is still accepted"},
		{"4 done", func(e *SAKeyEvidence) { e.JWKS = []string{"new"} }, "4", StateDone, "/openid/v1/jwks lists new (new): the old key is no longer accepted"},
		{"4 neither", func(e *SAKeyEvidence) { e.JWKS = []string{"zzz"} }, "4", StateNotDone, "not the new key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev := base()
			c.ev(&ev)
			for _, s := range JudgeSAKey(ev) {
				if s.Step != c.step {
					continue
				}
				if s.State != c.state || !strings.Contains(s.Evidence, c.want) {
					t.Errorf("step %s: %s: %q; want %s containing %q", s.Step, s.State, s.Evidence, c.state, c.want)
				}
				if s.State != StateDone && s.State != StateNotApplicable && s.Next == "" {
					t.Errorf("step %s: no next command", s.Step)
				}
				return
			}
			t.Fatalf("no step %s", c.step)
		})
	}
}

func TestTargetNext(t *testing.T) {
	steps := []StepState{{UpstreamStep: UpstreamStep{Step: "1"}, State: StateDone}, {UpstreamStep: UpstreamStep{Step: "2"}, State: StateNotDone, Next: "n2"}}
	if s, c := TargetNext(TargetSAKey, steps, true); s != "2" || c != "n2" {
		t.Errorf("got %s %s", s, c)
	}
	if s, c := TargetNext(TargetSAKey, steps[:1], true); s != "finish" || c != "kubectl carotate finish --target sa-key" {
		t.Errorf("got %s %s", s, c)
	}
	if s, _ := TargetNext(TargetSAKey, steps[:1], false); s != "" {
		t.Errorf("inactive: got %s", s)
	}
}
