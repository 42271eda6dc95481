package checks

import (
	"strings"
	"testing"
)

func TestCARuleJudge(t *testing.T) {
	oldCA, newCA, stranger := newCA(t, "old"), newCA(t, "new"), newCA(t, "stranger")
	// An intermediate the old CA signed: a caBundle holding it trusts what
	// the old CA's hierarchy issues.
	oldInter := makeCert(t, certSpec{cn: "old-intermediate", parent: &oldCA})
	strangerShort := "CN=stranger (" + Fingerprint(stranger.cert)[:16] + ")"
	interShort := "CN=old-intermediate (" + Fingerprint(oldInter.cert)[:16] + ")"

	bundle := NewCARule(ExpectBundle, certs(newCA, oldCA), certs(oldCA))
	final := NewCARule(ExpectNew, certs(newCA), certs(oldCA))
	finalNoOld := NewCARule(ExpectNew, certs(newCA), nil)

	cases := []struct {
		name    string
		rule    CARule
		data    []byte
		reason  string
		holds   string
		problem string
		note    string
		related bool
		hasOld  bool
	}{
		{"bundle: bundle ok", bundle, concat(oldCA.pem, newCA.pem), CAHoldsExpected, "old+new", "", "", true, true},
		{"bundle: old only lacks new", bundle, oldCA.pem, CALacks, "old", "does not hold new", "", true, true},
		{"bundle: bundle plus stranger ok with note", bundle, concat(newCA.pem, oldCA.pem, stranger.pem), CAHoldsExpected, "new+old+" + strangerShort, "", "also holds " + strangerShort + ", outside --ca", true, true},
		{"bundle: stranger only is unrelated", bundle, stranger.pem, CALacks, strangerShort, "does not hold new+old", "", false, false},
		{"new: new ok", final, newCA.pem, CAHoldsExpected, "new", "", "", true, false},
		{"new: bundle still old", final, concat(newCA.pem, oldCA.pem), CAStillOld, "new+old", "still holds old", "", true, true},
		{"new: old only lacks new", final, oldCA.pem, CALacks, "old", "does not hold new", "", true, true},
		{"new: signed by old", final, concat(newCA.pem, oldInter.pem), CAStillOld, "new+" + interShort, "still holds " + interShort + ", signed by the old CA", "", true, true},
		{"new: stranger outside", final, concat(newCA.pem, stranger.pem), CAOutside, "new+" + strangerShort, "also holds " + strangerShort + ", outside --ca", "", true, false},
		{"new without --old-ca: the old CA is just outside", finalNoOld, concat(newCA.pem, oldCA.pem), CAOutside, "new+CN=old (" + Fingerprint(oldCA.cert)[:16] + ")", "outside --ca", "", true, false},
		{"empty", final, []byte("\n"), CAEmpty, "empty", "holds no certificate", "", false, false},
		{"garbage", final, []byte("nope"), CAUnparsable, "unparsable", "src: not PEM", "", false, false},
		{"private key is not echoed", final, keyPEM(t, oldCA.key), CAPrivateKey, "private key", "private-key material", "", false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := c.rule.Judge("src", c.data)
			if v.Reason != c.reason || v.OK != (c.reason == CAHoldsExpected) || v.Holds != c.holds || v.Note != c.note ||
				v.Related != c.related || v.HasOld != c.hasOld {
				t.Fatalf("got %+v\nwant reason %s holds %q note %q related %v hasOld %v", v, c.reason, c.holds, c.note, c.related, c.hasOld)
			}
			if c.problem == "" && v.Problem != "" || !strings.Contains(v.Problem, c.problem) {
				t.Fatalf("problem %q, want %q", v.Problem, c.problem)
			}
			if strings.Contains(v.Problem, "KEY-----") || strings.Contains(v.Holds, "KEY-----") {
				t.Fatalf("verdict echoes PEM: %+v", v)
			}
		})
	}
}

func TestCARuleLabelsAndNew(t *testing.T) {
	oldCA, newCA := newCA(t, "old"), newCA(t, "new")
	r := NewCARule(ExpectBundle, certs(newCA, oldCA), nil)
	if got := r.New(); got != nil {
		t.Fatalf("bundle without --old-ca cannot tell new: %v", got)
	}
	if got := r.Describe(certs(newCA)); got != "CN=new ("+Fingerprint(newCA.cert)[:16]+")" {
		t.Fatalf("unlabelled: %q", got)
	}
	r = NewCARule(ExpectBundle, certs(newCA, oldCA, newCA), certs(oldCA))
	if got := r.New(); len(got) != 1 || got[0] != newCA.cert {
		t.Fatalf("New: %v", got)
	}
	if got := r.Describe(certs(oldCA, newCA)); got != "old+new" {
		t.Fatalf("labels: %q", got)
	}
	if got := NewCARule(ExpectNew, certs(newCA), nil).Describe(certs(newCA)); got != "new" {
		t.Fatalf("--expect new labels --ca as new: %q", got)
	}
}
