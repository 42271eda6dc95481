package checks

import (
	"crypto/x509"
	"encoding/json"
	"strings"
	"testing"
)

// wantFindings checks findings and err together: every wanted error
// message must be an error finding and appear in err, every wanted warning
// must be a warning finding, and nothing else may be reported.
func wantFindings(t *testing.T, findings []Finding, err error, wantErrs, wantWarns []string) {
	t.Helper()
	if findings == nil {
		t.Error("findings is nil, want an empty list")
	}
	var gotErrs, gotWarns []string
	for _, f := range findings {
		switch f.Level {
		case LevelError:
			gotErrs = append(gotErrs, f.Message)
		case LevelWarning:
			gotWarns = append(gotWarns, f.Message)
		default:
			t.Errorf("finding with level %q: %s", f.Level, f.Message)
		}
	}
	matchAll(t, "error", gotErrs, wantErrs)
	matchAll(t, "warning", gotWarns, wantWarns)
	switch {
	case len(wantErrs) == 0 && err != nil:
		t.Errorf("unexpected error: %v", err)
	case len(wantErrs) > 0 && err == nil:
		t.Errorf("no error, want %q", wantErrs)
	case err != nil:
		for _, w := range wantErrs {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
	}
}

// matchAll pairs each wanted substring with a distinct message.
func matchAll(t *testing.T, kind string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("got %d %ss %q, want %d matching %q", len(got), kind, got, len(want), want)
		return
	}
	used := make([]bool, len(got))
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && strings.Contains(g, w) {
				used[i], found = true, true
				break
			}
		}
		if !found {
			t.Errorf("no %s matches %q in %q", kind, w, got)
		}
	}
}

func TestValidateRotation(t *testing.T) {
	old := newCA(t, "old")
	fresh := newCA(t, "new")
	leaf := makeCert(t, certSpec{cn: "leaf", leaf: true, parent: &old})
	noSign := makeCert(t, certSpec{cn: "nosign", noCertSign: true})
	expired := expiredCA(t, "expired")
	early := notYetValidCA(t, "early")
	expiring := expiringCA(t, "expiring")
	sameKey := reissued(t, old)
	opts := ValidateOptions{Now: testNow}

	tests := []struct {
		name      string
		old, new  []*x509.Certificate
		opts      ValidateOptions
		wantErrs  []string
		wantWarns []string
	}{
		{name: "good pair", old: certs(old), new: certs(fresh), opts: opts},
		{name: "old CA is a bundle", old: certs(old, expiring), new: certs(fresh), opts: opts,
			wantErrs: []string{"old CA holds 2 certificates; pass one CA"}},
		{name: "new CA is a bundle", old: certs(old), new: certs(fresh, old, expiring), opts: opts,
			wantErrs: []string{"new CA holds 3 certificates; pass one CA"}},
		{name: "new CA empty", old: certs(old), new: nil, opts: opts,
			wantErrs: []string{"new CA holds no certificate"}},
		{name: "nil certificate", old: []*x509.Certificate{nil}, new: certs(fresh), opts: opts,
			wantErrs: []string{"old CA is missing (nil)"}},
		{name: "old CA is a leaf", old: certs(leaf), new: certs(fresh), opts: opts,
			wantErrs: []string{"old CA (CN=leaf) is not a CA: missing basicConstraints CA:true and keyUsage certSign"}},
		{name: "new CA lacks certSign", old: certs(old), new: certs(noSign), opts: opts,
			wantErrs: []string{"new CA (CN=nosign) is not a CA: missing keyUsage certSign"}},
		{name: "old CA expired", old: certs(expired), new: certs(fresh), opts: opts,
			wantErrs: []string{"old CA (CN=expired) expired on 2025-05-30T12:00:00Z"}},
		{name: "new CA not yet valid", old: certs(old), new: certs(early), opts: opts,
			wantErrs: []string{"new CA (CN=early) is not valid until 2025-06-04T12:00:00Z"}},
		{name: "old CA expiring soon", old: certs(expiring), new: certs(fresh), opts: opts,
			wantWarns: []string{"old CA (CN=expiring) expires on 2025-06-11T12:00:00Z (in 10 days)"}},
		{name: "new CA expiring soon", old: certs(old), new: certs(expiring), opts: opts,
			wantWarns: []string{"new CA (CN=expiring) expires on"}},
		{name: "custom warning window", old: certs(expiring), new: certs(fresh), opts: ValidateOptions{Now: testNow, WarnWithin: 5 * day}},
		{name: "warning turned off", old: certs(expiring), new: certs(fresh), opts: ValidateOptions{Now: testNow, WarnWithin: -1}},
		{name: "wide warning window", old: certs(old), new: certs(fresh), opts: ValidateOptions{Now: testNow, WarnWithin: 400 * day},
			wantWarns: []string{"old CA (CN=old) expires on", "new CA (CN=new) expires on"}},
		{name: "same certificate", old: certs(old), new: certs(old), opts: opts,
			wantErrs: []string{"old CA and new CA are the same certificate (sha256 " + Fingerprint(old.cert) + ")"}},
		{name: "same key", old: certs(old), new: certs(sameKey), opts: opts,
			wantErrs: []string{"new CA reuses the old CA's key (public key sha256 " + keyFingerprint(old.cert) + ")"}},
		{name: "same key allowed", old: certs(old), new: certs(sameKey), opts: ValidateOptions{Now: testNow, AllowSameKey: true}},
		{name: "all errors reported together", old: certs(expired), new: certs(leaf, expiring), opts: opts,
			wantErrs: []string{"old CA (CN=expired) expired on", "new CA holds 2 certificates"}},
		{name: "errors and warnings together", old: certs(expiring), new: certs(noSign), opts: opts,
			wantErrs:  []string{"new CA (CN=nosign) is not a CA"},
			wantWarns: []string{"old CA (CN=expiring) expires on"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			findings, err := ValidateRotation(tt.old, tt.new, tt.opts)
			wantFindings(t, findings, err, tt.wantErrs, tt.wantWarns)
		})
	}
}

func TestValidateRotationDefaultsToNow(t *testing.T) {
	// GenerateCA is relative to the real clock, unlike the other fixtures.
	oldC, _, _, _, err := GenerateCA("old", 365*day)
	if err != nil {
		t.Fatal(err)
	}
	newC, _, _, _, err := GenerateCA("new", 10*day)
	if err != nil {
		t.Fatal(err)
	}
	findings, err := ValidateRotation([]*x509.Certificate{oldC}, []*x509.Certificate{newC}, ValidateOptions{})
	wantFindings(t, findings, err, nil, []string{"new CA (CN=new) expires on"})
}

func TestValidateCA(t *testing.T) {
	a, b := newCA(t, "a"), newCA(t, "b")
	leaf := makeCert(t, certSpec{cn: "leaf", leaf: true, parent: &a})
	expired := expiredCA(t, "expired")
	early := notYetValidCA(t, "early")
	expiring := expiringCA(t, "expiring")
	opts := ValidateOptions{Now: testNow}

	tests := []struct {
		name      string
		role      string
		certs     []*x509.Certificate
		wantErrs  []string
		wantWarns []string
	}{
		{name: "single CA", role: "--ca", certs: certs(a)},
		{name: "bundle of CAs", role: "--keep", certs: certs(a, b)},
		{name: "empty", role: "--ca", wantErrs: []string{"--ca holds no certificate"}},
		{name: "default role", certs: certs(leaf), wantErrs: []string{"CA (CN=leaf) is not a CA: missing basicConstraints CA:true and keyUsage certSign"}},
		{name: "leaf in bundle", role: "--keep", certs: certs(a, leaf),
			wantErrs: []string{"--keep certificate 2 of 2 (CN=leaf) is not a CA"}},
		{name: "expired in bundle", role: "--keep", certs: certs(expired, a),
			wantErrs: []string{"--keep certificate 1 of 2 (CN=expired) expired on 2025-05-30T12:00:00Z"}},
		{name: "not yet valid", role: "--ca", certs: certs(early),
			wantErrs: []string{"--ca (CN=early) is not valid until 2025-06-04T12:00:00Z"}},
		{name: "expiring", role: "--ca", certs: certs(expiring),
			wantWarns: []string{"--ca (CN=expiring) expires on 2025-06-11T12:00:00Z (in 10 days)"}},
		{name: "duplicate in bundle", role: "--keep", certs: certs(a, b, a),
			wantWarns: []string{"--keep certificate 3 of 3 (CN=a) is a duplicate of certificate 1"}},
		{name: "nil in bundle", role: "--keep", certs: []*x509.Certificate{a.cert, nil},
			wantErrs: []string{"--keep certificate 2 of 2 is missing (nil)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			findings, err := ValidateCA(tt.role, tt.certs, opts)
			wantFindings(t, findings, err, tt.wantErrs, tt.wantWarns)
		})
	}
}

func TestFindingJSON(t *testing.T) {
	b, err := json.Marshal(Finding{Level: LevelWarning, Message: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"level":"warning","message":"m"}` {
		t.Errorf("got %s", b)
	}
}

func TestInDays(t *testing.T) {
	for days, want := range map[int]string{0: "in less than a day", 1: "in 1 day", 29: "in 29 days"} {
		if got := inDays(days); got != want {
			t.Errorf("inDays(%d) = %q, want %q", days, got, want)
		}
	}
}
