package checks

import (
	"bytes"
	"crypto/x509"
	"fmt"
)

// Expect is the phase of the rotation that verify judges the cluster by.
type Expect string

const (
	// ExpectBundle: mid-rotation. Everything must trust every certificate of
	// the expected set (the old+new bundle); other certificates next to
	// them are reported but do not fail the check.
	ExpectBundle Expect = "bundle"
	// ExpectNew: the end. Everything must trust exactly the expected set
	// (the new CA): a certificate outside it, the old CA above all, fails.
	ExpectNew Expect = "new"
)

// Reasons a CA source fails (or passes) a CARule.
const (
	CAHoldsExpected = "ok"
	CAEmpty         = "empty"
	CAUnparsable    = "unparsable"
	CAPrivateKey    = "private-key"
	// CALacks: one or more expected certificates are missing.
	CALacks = "lacks-ca"
	// CAStillOld: with ExpectNew, the old CA (or a certificate it signed) is
	// still there.
	CAStillOld = "still-old"
	// CAOutside: with ExpectNew, a certificate that is neither expected nor
	// known old is there.
	CAOutside = "outside-ca"
)

// CARule is what every CA source in the cluster is judged by.
type CARule struct {
	Expect Expect
	// Want is the expected set (--ca).
	Want []*x509.Certificate
	// Old is the CA being replaced (--old-ca), optional: it names the old
	// certificates in reports and lets caBundles that hold it, or a
	// certificate it signed, be recognised as part of this rotation.
	Old []*x509.Certificate
	// Labels names certificates by fingerprint: "old", "new".
	Labels map[string]string
}

// NewCARule builds the rule and its labels. Old certificates are "old";
// expected ones that are not old are "new" when that is knowable (old given,
// or ExpectNew); otherwise they are shown by subject and fingerprint.
func NewCARule(expect Expect, want, old []*x509.Certificate) CARule {
	r := CARule{Expect: expect, Want: uniq(want), Old: uniq(old), Labels: map[string]string{}}
	oldSet := fingerprints(r.Old)
	for _, c := range r.Old {
		r.Labels[Fingerprint(c)] = "old"
	}
	if len(r.Old) > 0 || expect == ExpectNew {
		for _, c := range r.Want {
			if !oldSet[Fingerprint(c)] {
				r.Labels[Fingerprint(c)] = "new"
			}
		}
	}
	return r
}

// New is the expected certificates that are not old: the CA the rotation
// moves to, when the rule can tell (old given, or ExpectNew).
func (r CARule) New() []*x509.Certificate {
	if len(r.Old) == 0 && r.Expect != ExpectNew {
		return nil
	}
	oldSet := fingerprints(r.Old)
	var out []*x509.Certificate
	for _, c := range r.Want {
		if !oldSet[Fingerprint(c)] {
			out = append(out, c)
		}
	}
	return out
}

// Describe names certs with the rule's labels.
func (r CARule) Describe(certs []*x509.Certificate) string { return DescribeSet(certs, r.Labels) }

// CAVerdict is the judgement of one CA source.
type CAVerdict struct {
	// Reason is CAHoldsExpected or why not.
	Reason string `json:"reason"`
	OK     bool   `json:"ok"`
	// Holds describes the content, e.g. "new+old", "old", "empty".
	Holds string `json:"holds"`
	// Problem says what is wrong in one sentence; empty when OK.
	Problem string `json:"problem,omitempty"`
	// Note mentions what is odd but allowed (a certificate outside the
	// rotation next to the bundle).
	Note string `json:"note,omitempty"`
	// Related: the source holds a certificate of the rotation (expected or
	// old) or one signed by them. Webhook caBundles that are not related
	// belong to some other CA and are none of this rotation's business.
	Related bool `json:"related"`
	// HasOld: an old certificate, or one the old CA signed, is there.
	HasOld bool `json:"hasOld"`
	// Certs is the parsed content, nil when it did not parse.
	Certs []*x509.Certificate `json:"-"`
}

// Judge judges one CA source's PEM content. source names it in parse errors.
// Private-key material is reported, never echoed.
func (r CARule) Judge(source string, data []byte) CAVerdict {
	if len(bytes.TrimSpace(data)) == 0 {
		return CAVerdict{Reason: CAEmpty, Holds: "empty", Problem: "holds no certificate"}
	}
	if ContainsPrivateKey(data) {
		return CAVerdict{Reason: CAPrivateKey, Holds: "private key", Problem: "holds private-key material (remove it by hand)"}
	}
	certs, err := ParseCertificates(source, data)
	if err != nil {
		return CAVerdict{Reason: CAUnparsable, Holds: "unparsable", Problem: err.Error()}
	}
	return r.JudgeCerts(certs)
}

// JudgeCerts is Judge for certificates already parsed.
func (r CARule) JudgeCerts(certs []*x509.Certificate) CAVerdict {
	v := CAVerdict{Holds: r.Describe(certs), Certs: certs}
	if len(certs) == 0 {
		v.Reason, v.Holds, v.Problem = CAEmpty, "empty", "holds no certificate"
		return v
	}
	have := fingerprints(certs)
	want := fingerprints(r.Want)
	old := fingerprints(r.Old)
	var missing, extraOld, extraOther []*x509.Certificate
	for _, c := range r.Want {
		if !have[Fingerprint(c)] {
			missing = append(missing, c)
		}
	}
	for _, c := range uniq(certs) {
		fp := Fingerprint(c)
		switch {
		case want[fp]:
			v.Related = true
			if old[fp] {
				v.HasOld = true
			}
		case old[fp]:
			v.Related, v.HasOld = true, true
			extraOld = append(extraOld, c)
		case SignedBy(c, r.Old):
			v.Related, v.HasOld = true, true
			extraOld = append(extraOld, c)
		case SignedBy(c, r.Want):
			v.Related = true
			extraOther = append(extraOther, c)
		default:
			extraOther = append(extraOther, c)
		}
	}
	switch {
	case len(missing) > 0:
		v.Reason = CALacks
		v.Problem = "does not hold " + r.Describe(missing)
	case r.Expect == ExpectNew && len(extraOld) > 0:
		v.Reason = CAStillOld
		v.Problem = "still holds " + r.describeOld(extraOld)
	case r.Expect == ExpectNew && len(extraOther) > 0:
		v.Reason = CAOutside
		v.Problem = "also holds " + r.Describe(extraOther) + ", outside --ca"
	default:
		v.Reason, v.OK = CAHoldsExpected, true
		if extra := append(extraOld, extraOther...); len(extra) > 0 {
			v.Note = "also holds " + r.Describe(extra) + ", outside --ca"
		}
	}
	return v
}

// describeOld names old certificates, and certificates the old CA signed
// as such.
func (r CARule) describeOld(certs []*x509.Certificate) string {
	old := fingerprints(r.Old)
	var direct, signed []*x509.Certificate
	for _, c := range certs {
		if old[Fingerprint(c)] {
			direct = append(direct, c)
		} else {
			signed = append(signed, c)
		}
	}
	switch {
	case len(signed) == 0:
		return r.Describe(direct)
	case len(direct) == 0:
		return fmt.Sprintf("%s, signed by the old CA", r.Describe(signed))
	}
	return fmt.Sprintf("%s and %s, signed by the old CA", r.Describe(direct), r.Describe(signed))
}
