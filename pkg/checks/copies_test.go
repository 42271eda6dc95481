package checks

import (
	"bytes"
	"encoding/base64"
	"reflect"
	"strings"
	"testing"
)

func TestScanCopies(t *testing.T) {
	old, newCA, other := newCA(t, "old"), newCA(t, "new"), newCA(t, "other")
	fp := func(tc testCert) string { return Fingerprint(tc.cert) }
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	indent := func(b []byte, pad string) string {
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		return pad + strings.Join(lines, "\n"+pad)
	}
	kubeconfig := func(cas ...[]byte) string {
		var sb strings.Builder
		sb.WriteString("apiVersion: v1\nkind: Config\nclusters:\n")
		for i, ca := range cas {
			sb.WriteString("- name: c" + string(rune('a'+i)) + "\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: " + b64(ca) + "\n")
		}
		sb.WriteString("users:\n- name: u\n  user:\n    token: abcdefghijklmnop\n")
		return sb.String()
	}
	type want struct {
		field string
		fps   []string
	}
	cases := []struct {
		name  string
		value string
		want  []want
	}{
		{"a CA file", string(old.pem), []want{{CopyFieldPEM, []string{fp(old)}}}},
		{"a bundle, repeats dropped", string(concat(newCA.pem, old.pem, newCA.pem)), []want{{CopyFieldPEM, []string{fp(newCA), fp(old)}}}},
		{"PEM indented in YAML", "ca.pem: |\n" + indent(old.pem, "    ") + "\nother: x\n", []want{{CopyFieldPEM, []string{fp(old)}}}},
		{"PEM in JSON with escaped newlines", `{"ca":"` + strings.ReplaceAll(string(old.pem), "\n", `\n`) + `"}`, []want{{CopyFieldPEM, []string{fp(old)}}}},
		{"kubeconfig", kubeconfig(old.pem), []want{{CopyFieldCAData, []string{fp(old)}}}},
		{"kubeconfig with two clusters", kubeconfig(old.pem, concat(newCA.pem, old.pem)),
			[]want{{CopyFieldCAData, []string{fp(old)}}, {CopyFieldCAData + " #2", []string{fp(newCA), fp(old)}}}},
		{"kubeconfig in JSON", `{"clusters":[{"cluster":{"certificate-authority-data":"` + b64(old.pem) + `"}}]}`, []want{{CopyFieldCAData, []string{fp(old)}}}},
		{"Argo CD cluster config", `{"bearerToken":"x","tlsClientConfig":{"insecure":false,"caData":"` + b64(old.pem) + `"}}`, []want{{CopyFieldArgoCD, []string{fp(old)}}}},
		{"base64 PEM under another name", "ca_b64=" + b64(other.pem) + "\n", []want{{CopyFieldBase64, []string{fp(other)}}}},
		{"base64 without padding", "x: " + strings.TrimRight(b64(old.pem), "=") + "\n", []want{{CopyFieldBase64, []string{fp(old)}}}},
		{"a key next to the certificate", string(concat(keyPEM(t, old.key), old.pem)), []want{{CopyFieldPEM, []string{fp(old)}}}},
		{"a certificate block that does not decode", "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", nil},
		{"a BEGIN without END", "-----BEGIN CERTIFICATE-----\nMIIB\n", nil},
		{"nothing of the kind", "hello: world\n", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := ScanCopies([]byte(tc.value))
			var gotW []want
			for _, p := range got {
				gotW = append(gotW, want{p.Field, p.Fingerprints})
				if len(p.DER) != len(p.Fingerprints) {
					t.Errorf("%d DER for %d fingerprints", len(p.DER), len(p.Fingerprints))
				}
			}
			if !reflect.DeepEqual(gotW, tc.want) {
				t.Fatalf("got %+v, want %+v", gotW, tc.want)
			}
			if MayHoldCopy(tc.value) != (len(tc.want) > 0) && len(tc.want) > 0 {
				t.Errorf("MayHoldCopy says no to a value with a copy")
			}
		})
	}
	// Nothing of the key is kept: every DER found is a certificate's.
	for _, p := range ScanCopies(concat(keyPEM(t, old.key), old.pem)) {
		for _, der := range p.DER {
			if !bytes.Equal(der, old.cert.Raw) {
				t.Fatalf("kept %d bytes that are not the certificate", len(der))
			}
		}
	}
	if MayHoldCopy("hello: world") {
		t.Error("MayHoldCopy says yes to a value without a PEM")
	}
}

func TestJudgeCopy(t *testing.T) {
	old, newCA, other := newCA(t, "old"), newCA(t, "new"), newCA(t, "other")
	cas := NewCopyCAs(certs(old), certs(newCA, old))
	place := func(tcs ...testCert) CopyPlace {
		var p CopyPlace
		for _, tc := range tcs {
			p.Fingerprints = append(p.Fingerprints, Fingerprint(tc.cert))
		}
		return p
	}
	cases := []struct {
		name                   string
		place                  CopyPlace
		phase                  CopyPhase
		ok                     bool
		verdict, severity, hld string
		detail                 string
	}{
		{"new alone is not a copy of the old CA", place(newCA), CopyBeforeServe, false, "", "", "", ""},
		{"another CA alone", place(other), CopyEnd, false, "", "", "", ""},
		{"old alone before step 9.3", place(old), CopyBeforeServe, true, CopyOldAlone, SeverityWarning, "old", "its readers fail once the API server serves from the new CA"},
		{"old alone once the API server serves from the new CA", place(old), CopyServesNew, true, CopyOldAlone, SeverityError, "old", "a reader that checks the API server with it fails now"},
		{"old alone at the end", place(old), CopyEnd, true, CopyOldAlone, SeverityError, "old", "its readers fail once the old CA is retired"},
		{"old and another CA, no new", place(other, old), CopyServesNew, true, CopyOldAlone, SeverityError, "old+1 other", "without the new one"},
		{"old and new mid-rotation", place(newCA, old), CopyServesNew, true, CopyOldAndNew, SeverityInfo, "new+old", "fine while the rotation runs"},
		{"old and new at the end", place(old, newCA, other, other), CopyEnd, true, CopyOldAndNew, SeverityWarning, "new+old+2 others", "remove the old CA before the rotation ends"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, ok := cas.JudgeCopy(tc.place, tc.phase)
			if ok != tc.ok || v.Verdict != tc.verdict || v.Severity != tc.severity || v.Holds != tc.hld || !strings.Contains(v.Detail, tc.detail) {
				t.Fatalf("got %v %+v", ok, v)
			}
			if ok && !strings.Contains(v.Detail, "CN=old, sha256 "+ShortFingerprint(Fingerprint(old.cert))) {
				t.Errorf("detail does not name the old CA by subject and fingerprint: %q", v.Detail)
			}
			if cas.HoldsOld(tc.place) != tc.ok {
				t.Errorf("HoldsOld = %v", !tc.ok)
			}
		})
	}
	if (CopyCAs{}).Known() || !cas.Known() {
		t.Error("Known")
	}
}

func TestDecideTrustBundle(t *testing.T) {
	old, newCA, other := newCA(t, "old"), newCA(t, "new"), newCA(t, "other")
	oldC, newC := certs(old), certs(newCA)
	cases := []struct {
		name     string
		value    []byte
		remove   bool
		relevant bool
		action   RootCAAction
		reason   string
		value2   []byte
	}{
		{"bundle: old alone gets the new CA first", old.pem, false, true, RootCAWrite, "adds new", concat(newCA.pem, old.pem)},
		{"bundle: the new CA goes before the old, others stay", concat(other.pem, old.pem), false, true, RootCAWrite, "adds new", concat(other.pem, newCA.pem, old.pem)},
		{"bundle: already there", concat(old.pem, newCA.pem), false, true, RootCAInPlace, "", nil},
		{"bundle: no old CA, none of ours", concat(other.pem, newCA.pem), false, false, "", "", nil},
		{"unbundle: new+old loses the old", concat(newCA.pem, old.pem, other.pem), true, true, RootCAWrite, "removes old", concat(newCA.pem, other.pem)},
		{"unbundle: old alone is left, --replace-other swaps", concat(other.pem, old.pem), true, true, RootCAOther, "trusts the old CA without the new one", concat(newCA.pem, other.pem)},
		{"unbundle: nothing old", newCA.pem, true, false, "", "", nil},
		{"unparsable is not ours", []byte("junk"), false, false, "", "", nil},
		{"a private key is never written", concat(old.pem, keyPEM(t, old.key)), false, true, RootCAPrivateKey, "private-key material", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := DecideTrustBundle("ctb", tc.value, oldC, newC, tc.remove)
			if ch.Relevant != tc.relevant || ch.Decision.Action != tc.action || !strings.Contains(ch.Decision.Reason, tc.reason) || !bytes.Equal(ch.Value, tc.value2) {
				t.Fatalf("got %+v (value %q)", ch.Decision, ch.Value)
			}
		})
	}
}

func TestJudgeTrustBundleRows(t *testing.T) {
	pub := func(st BundleState, hasOld, hasNew bool) TrustBundleFact {
		return TrustBundleFact{Name: "kubernetes.io:kube-apiserver-serving:abc", State: st, HoldsOld: hasOld, HoldsNew: hasNew}
	}
	user := func(name string, hasOld, hasNew bool) TrustBundleFact {
		return TrustBundleFact{Name: name, HoldsOld: hasOld, HoldsNew: hasNew}
	}
	cases := []struct {
		name                     string
		ev                       TrustBundleEvidence
		kubeSystem               BundleState
		bundleState, finishState string
		bundleEv, finishEv       string
		bundleNext, finishNext   string
	}{
		{"before step 2: the controller-manager still on the old CA", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleOnlyOld, true, false)}}, BundleOnlyOld,
			StateNotDone, StateNotDone, "holds the old CA only too: the controller-manager's --root-ca-file is not the bundle yet", "still holds the old CA",
			"kubectl carotate instructions --step 2", "kubectl carotate instructions --step 12.1"},
		{"the publisher lags behind kube-root-ca.crt", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleOnlyOld, true, false)}}, BundleHasBoth,
			StateNotDone, StateNotDone, "its ClusterTrustBundle publisher lags", "", "kubectl carotate instructions --step 2", "kubectl carotate instructions --step 12.1"},
		{"bundled, a user bundle with the old CA alone", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleHasBoth, true, true)}, User: []TrustBundleFact{user("corp", true, false)}}, BundleHasBoth,
			StateNotDone, StateNotDone, "user-made ClusterTrustBundle(s) trust the old CA without the new one: corp", "the kube-apiserver-serving ClusterTrustBundle still holds the old CA",
			"kubectl carotate bundle --trust-bundles", "kubectl carotate instructions --step 12.1"},
		{"bundled everywhere", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleHasBoth, true, true)}, User: []TrustBundleFact{user("corp", true, true)}}, BundleHasBoth,
			StateDone, StateNotDone, "holds the new CA; 1 user-made bundle(s)", "", "", "kubectl carotate instructions --step 12.1"},
		{"finished but a user bundle keeps the old", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleOnlyNew, false, true)}, User: []TrustBundleFact{user("corp", true, true)}}, BundleOnlyNew,
			StateDone, StateNotDone, "", "still trust the old CA: corp", "", "kubectl carotate unbundle --trust-bundles"},
		{"finished: the publisher lags", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleHasBoth, true, true)}}, BundleOnlyNew,
			StateDone, StateNotDone, "", "publisher lags", "", "kubectl carotate instructions --step 12.1"},
		{"all done", TrustBundleEvidence{Published: []TrustBundleFact{pub(BundleOnlyNew, false, true)}}, BundleOnlyNew,
			StateDone, StateDone, "", "is free of the old CA; no user-made bundle trusts the old CA", "", ""},
		{"no publisher, no user bundle", TrustBundleEvidence{}, BundleHasBoth, StateNotApplicable, StateNotApplicable, "does not run", "does not run", "", ""},
		{"not served", TrustBundleEvidence{NotServed: true}, BundleHasBoth, StateNotApplicable, StateNotApplicable, "does not serve", "does not serve", "", ""},
		{"cannot list", TrustBundleEvidence{Err: errTest("forbidden")}, BundleHasBoth, StateUnknown, StateUnknown, "cannot list ClusterTrustBundles: forbidden", "forbidden",
			"kubectl carotate verify --only trustbundles,copies", "kubectl carotate verify --only trustbundles,copies"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rows := JudgeTrustBundleRows(tc.ev, tc.kubeSystem)
			if len(rows) != 2 || rows[0].Step != StepTrustBundlesBundle || rows[1].Step != StepTrustBundlesFinish {
				t.Fatalf("rows %+v", rows)
			}
			b, f := rows[0], rows[1]
			if b.State != tc.bundleState || !strings.Contains(b.Evidence, tc.bundleEv) || b.Next != tc.bundleNext {
				t.Errorf("bundle row: %+v", b)
			}
			if f.State != tc.finishState || !strings.Contains(f.Evidence, tc.finishEv) || f.Next != tc.finishNext {
				t.Errorf("finish row: %+v", f)
			}
		})
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }

func TestWithTrustSurfaces(t *testing.T) {
	steps := []StepState{{UpstreamStep: UpstreamStep{Step: "3"}}, {UpstreamStep: UpstreamStep{Step: "4"}}, {UpstreamStep: UpstreamStep{Step: "11"}}, {UpstreamStep: UpstreamStep{Step: "12.1"}}, {UpstreamStep: UpstreamStep{Step: "12.2"}}}
	extra := append(JudgeTrustBundleRows(TrustBundleEvidence{NotServed: true}, ""), CopiesRow("kubectl carotate verify --only copies"))
	var got []string
	for _, s := range WithTrustSurfaces(steps, extra) {
		got = append(got, s.Step)
	}
	if want := []string{"3", "3-ctb", "4", "11", "11-copies", "12.1", "12.1-ctb", "12.2"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
