package checks

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"strings"
)

// RootCAAction is what a pass over the ServiceAccount root CA objects
// (kube-root-ca.crt ConfigMaps, legacy token Secrets) should do with one
// object's ca.crt.
type RootCAAction string

const (
	// RootCAInPlace: the object already holds exactly the wanted set.
	RootCAInPlace RootCAAction = "in-place"
	// RootCAWrite: writing the wanted set loses nothing outside the rotation.
	RootCAWrite RootCAAction = "write"
	// RootCAOther: the object holds certificates outside the rotation (or,
	// when removing, lacks a wanted one): writing would silently change
	// trust the rotation does not know about, so it needs an explicit
	// override.
	RootCAOther RootCAAction = "other"
	// RootCAPrivateKey: the value holds private-key material. It is never
	// written over, even when forced, because its previous value could not
	// be saved for undo (undo files never hold keys).
	RootCAPrivateKey RootCAAction = "private-key"
)

// RootCATarget is what one pass wants every root CA object to hold.
type RootCATarget struct {
	// Want is the exact certificate set every object must end up with.
	Want []*x509.Certificate
	// Labels names known certificates by fingerprint ("old", "new",
	// "kept") in descriptions; certificates without a label are shown by
	// subject and short fingerprint.
	Labels map[string]string
	// AllowRemove lets a write drop certificates that are not wanted. The
	// bundle pass only adds (its objects must already be a subset of
	// old+new), the unbundle pass only removes (its objects must already
	// hold every kept certificate).
	AllowRemove bool
}

// RootCADecision is the verdict for one object.
type RootCADecision struct {
	Action RootCAAction
	// Found describes what the object holds now, e.g. "old", "new+old",
	// "absent", "unparsable".
	Found string
	// Reason explains a write ("adds new") or a refusal.
	Reason string
}

// DecideRootCA decides what to do with one object's ca.crt. value is the
// current value, present whether the key exists at all. source names the
// object in parse errors.
//
// Sets are compared by fingerprint, ignoring order and duplicates: the
// controller-manager publishes its --root-ca-file byte for byte, and a
// bundle file written by hand in another order is just as good. Treating it
// as different would make us rewrite it, and the controller-manager would
// then "revert" our write, which we would misreport.
func DecideRootCA(source string, value []byte, present bool, t RootCATarget) RootCADecision {
	if !present {
		return RootCADecision{Action: RootCAWrite, Found: "absent", Reason: "ca.crt is missing"}
	}
	if len(bytes.TrimSpace(value)) == 0 {
		return RootCADecision{Action: RootCAWrite, Found: "empty", Reason: "ca.crt is empty"}
	}
	if ContainsPrivateKey(value) {
		return RootCADecision{Action: RootCAPrivateKey, Found: "private key",
			Reason: "ca.crt holds private-key material; left alone (remove the key by hand)"}
	}
	certs, err := ParseCertificates(source, value)
	if err != nil {
		// Nothing in an unparsable value can be trusted by a client
		// (client-go refuses the whole file), so replacing it loses nothing.
		return RootCADecision{Action: RootCAWrite, Found: CAUnparsable, Reason: err.Error()}
	}
	found := DescribeSet(certs, t.Labels)
	have := fingerprints(certs)
	want := fingerprints(t.Want)
	var adds, drops []*x509.Certificate
	for _, c := range uniq(t.Want) {
		if !have[Fingerprint(c)] {
			adds = append(adds, c)
		}
	}
	for _, c := range uniq(certs) {
		if !want[Fingerprint(c)] {
			drops = append(drops, c)
		}
	}
	switch {
	case len(adds) == 0 && len(drops) == 0:
		return RootCADecision{Action: RootCAInPlace, Found: found}
	case len(drops) == 0:
		return RootCADecision{Action: RootCAWrite, Found: found, Reason: "adds " + DescribeSet(adds, t.Labels)}
	case len(adds) == 0 && t.AllowRemove:
		return RootCADecision{Action: RootCAWrite, Found: found, Reason: "removes " + DescribeSet(drops, t.Labels)}
	case t.AllowRemove:
		return RootCADecision{Action: RootCAOther, Found: found,
			Reason: "does not hold " + DescribeSet(adds, t.Labels) + ": it never carried the bundle"}
	default:
		return RootCADecision{Action: RootCAOther, Found: found,
			Reason: "holds certificates outside this rotation: " + DescribeSet(drops, t.Labels)}
	}
}

// DescribeSet names certs in order, without repeats, joined by "+": labelled
// ones by label, the others by subject and the first 16 hex digits of their
// fingerprint.
func DescribeSet(certs []*x509.Certificate, labels map[string]string) string {
	var parts []string
	for _, c := range uniq(certs) {
		fp := Fingerprint(c)
		if l, ok := labels[fp]; ok && l != "" {
			parts = append(parts, l)
			continue
		}
		name := c.Subject.String()
		if name == "" {
			name = "serial " + serialHex(c)
		}
		parts = append(parts, fmt.Sprintf("%s (%s)", name, ShortFingerprint(fp)))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// ShortFingerprint is the first 16 hex digits of a fingerprint: enough to
// tell CAs apart on screen (64 bits), short enough for a table column.
func ShortFingerprint(fp string) string {
	if len(fp) > 16 {
		return fp[:16]
	}
	return fp
}

// Unique drops repeated certificates (by fingerprint), keeping the order.
func Unique(certs []*x509.Certificate) []*x509.Certificate { return uniq(certs) }

func uniq(certs []*x509.Certificate) []*x509.Certificate {
	seen := map[string]bool{}
	var out []*x509.Certificate
	for _, c := range certs {
		if c == nil {
			continue
		}
		fp := Fingerprint(c)
		if seen[fp] {
			continue
		}
		seen[fp] = true
		out = append(out, c)
	}
	return out
}
