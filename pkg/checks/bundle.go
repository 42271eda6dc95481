package checks

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
)

// BuildBundle returns the PEM bundle for the transition phase: new CA(s)
// first, then old, deduplicated by fingerprint. New comes first so that
// tools reading only the first block (openssl x509, code calling pem.Decode
// once) see the CA that will remain. The encoding is fixed, so
// re-runs produce identical bytes and "already applied" is a byte compare.
func BuildBundle(newCAs, oldCAs []*x509.Certificate) []byte {
	all := make([]*x509.Certificate, 0, len(newCAs)+len(oldCAs))
	all = append(all, newCAs...)
	all = append(all, oldCAs...)
	return EncodePEM(all)
}

// EncodePEM encodes certs as consecutive CERTIFICATE blocks, in order,
// skipping repeats of a fingerprint already written.
func EncodePEM(certs []*x509.Certificate) []byte {
	var buf bytes.Buffer
	for _, c := range uniq(certs) {
		// Encoding to a bytes.Buffer cannot fail.
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.Bytes()
}

// BundleState is what a CA bundle found in the cluster holds relative to
// the rotation's old and new CA sets.
type BundleState string

// There is no "identical" state: whether a bundle is what a phase expects
// depends on the phase, so callers compare with SameCertificates or with
// the bytes of BuildBundle.
const (
	// BundleHasBoth: every old and every new certificate, nothing else.
	BundleHasBoth BundleState = "both"
	// BundleOnlyOld: every old certificate, no new one, nothing else.
	BundleOnlyOld BundleState = "only-old"
	// BundleOnlyNew: every new certificate, no old one, nothing else.
	BundleOnlyNew BundleState = "only-new"
	// BundleOther: unknown certificates, or only part of the old or new set.
	BundleOther BundleState = "other"
	// BundleInvalid: the bundle could not be parsed.
	BundleInvalid BundleState = "invalid"
)

// Comparison is the result of Classify.
type Comparison struct {
	State BundleState
	// Unknown lists certificates that are neither old nor new, in the order
	// found, without repeats.
	Unknown []CertInfo
	// Missing lists old and new certificates the bundle lacks, old first;
	// it tells the user what a partial bundle is short of.
	Missing []CertInfo
	// Err is the parse error when State is BundleInvalid.
	Err error
}

// Classify tells what a CA bundle found in the cluster holds relative to
// the rotation's old and new CA sets. Order and duplicates are ignored.
//
// A set counts only when complete and the other set is wholly absent:
// reporting "only-new" for a bundle that still carries part of the old set
// would let a caller declare the old CA gone while some of it is trusted.
func Classify(source string, found []byte, oldCAs, newCAs []*x509.Certificate) Comparison {
	certs, err := ParseCertificates(source, found)
	if err != nil {
		return Comparison{State: BundleInvalid, Err: err}
	}
	inFound := fingerprints(certs)
	oldSet := fingerprints(oldCAs)
	newSet := fingerprints(newCAs)

	var cmp Comparison
	seen := map[string]bool{}
	for _, c := range certs {
		fp := Fingerprint(c)
		if seen[fp] || oldSet[fp] || newSet[fp] {
			continue
		}
		seen[fp] = true
		cmp.Unknown = append(cmp.Unknown, Describe(c))
	}

	hasAllOld, hasAnyOld := coverage(oldCAs, inFound, &cmp.Missing)
	hasAllNew, hasAnyNew := coverage(newCAs, inFound, &cmp.Missing)
	switch {
	case len(cmp.Unknown) > 0:
		cmp.State = BundleOther
	case hasAllOld && hasAllNew:
		cmp.State = BundleHasBoth
	case hasAllOld && !hasAnyNew:
		cmp.State = BundleOnlyOld
	case hasAllNew && !hasAnyOld:
		cmp.State = BundleOnlyNew
	default:
		cmp.State = BundleOther
	}
	return cmp
}

// coverage reports whether found holds all and any of set, appending the
// absent ones to missing. An empty set is never "all present": otherwise a
// caller passing no old CA would get "both" for a bundle of new CAs.
func coverage(set []*x509.Certificate, found map[string]bool, missing *[]CertInfo) (hasAll, hasAny bool) {
	hasAll = true
	counted := false
	done := map[string]bool{}
	for _, c := range set {
		if c == nil {
			continue
		}
		fp := Fingerprint(c)
		if done[fp] {
			continue
		}
		done[fp] = true
		counted = true
		if found[fp] {
			hasAny = true
		} else {
			hasAll = false
			*missing = append(*missing, Describe(c))
		}
	}
	return hasAll && counted, hasAny
}

// SameCertificates reports whether a and b hold the same certificates,
// ignoring order and duplicates.
func SameCertificates(a, b []*x509.Certificate) bool {
	fa, fb := fingerprints(a), fingerprints(b)
	if len(fa) != len(fb) {
		return false
	}
	for fp := range fa {
		if !fb[fp] {
			return false
		}
	}
	return true
}

// Contains reports whether set holds c, byte for byte.
func Contains(set []*x509.Certificate, c *x509.Certificate) bool {
	if c == nil {
		return false
	}
	return fingerprints(set)[Fingerprint(c)]
}

func fingerprints(certs []*x509.Certificate) map[string]bool {
	m := make(map[string]bool, len(certs))
	for _, c := range certs {
		if c != nil {
			m[Fingerprint(c)] = true
		}
	}
	return m
}

// StateWords names a classification in the table's language.
func StateWords(st BundleState) string {
	switch st {
	case BundleHasBoth:
		return "old+new (the bundle)"
	case BundleOnlyOld:
		return "the old CA only"
	case BundleOnlyNew:
		return "the new CA only"
	case BundleOther:
		return "other certificates"
	case BundleInvalid:
		return "no valid certificate"
	case "system":
		return "the system's CAs"
	case "":
		return "nothing"
	}
	return string(st)
}
