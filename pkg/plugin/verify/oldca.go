package verify

import (
	"context"
	"crypto/x509"
	"fmt"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// resolveOld finds the old CA when neither --old-ca nor the recorded
// rotation (as the source of --ca) named it, for every check: without
// it, a webhook that trusts the cluster's current CA reads as "of other
// CAs" and copies of the old CA cannot be found. First a rotation record
// whose new CA --ca holds (finished or not), then the CA the API server's
// serving chain verifies against today when --ca does not hold it, as
// start infers it. It says on stderr where the old CA came from, or why
// none could be told; the report carries the same (oldCASource).
func (r *run) resolveOld(ctx context.Context) {
	o := r.o
	if len(o.rule.Old) > 0 {
		return
	}
	var old []*x509.Certificate
	rec, err := rotation.Load(ctx, o.client)
	switch {
	case err == nil && rec != nil && len(rec.NewCAs) > 0 && len(rec.OldCAs) > 0 && holdsAll(o.rule.Want, rec.NewCAs) && oldMayBeIn(o.rule.Want, rec.OldCAs, o.rule.Expect):
		old = rec.OldCAs
		o.oldSource = fmt.Sprintf("rotation %s's old CA (%s/%s, %s), whose new CA --ca holds", rec.ID, rotation.Namespace, rotation.ConfigMapName, rec.State)
	default:
		served, err := cluster.ReadServed(ctx, o.cfg, o.client)
		switch {
		case err != nil:
			o.oldUnknown = fmt.Sprintf("the API server's serving chain could not be read (%v)", err)
		case served.CA == nil:
			o.oldUnknown = fmt.Sprintf("the API server's serving certificate (issued by %s) verifies against no CA the cluster shows", served.Chain[0].Issuer)
		case checks.Contains(o.rule.Want, served.CA):
			// Mid-rotation --ca is the bundle, and the API server serves
			// from its old CA before step 9.3, from its new one after: the
			// chain alone cannot tell them apart. The new CA is the one made
			// for the rotation: the later-issued of the two.
			old, o.oldSource = olderOfTwo(o.rule.Want, served.CA)
			if len(old) == 0 {
				o.oldUnknown = fmt.Sprintf("the API server serves from %s, a CA of --ca, and --ca does not hold exactly two CAs issued at different times", o.rule.Describe([]*x509.Certificate{served.CA}))
			}
		default:
			old = []*x509.Certificate{served.CA}
			o.oldSource = "inferred: the CA the API server's serving chain verifies against today (found in " + served.Source + "), which --ca does not hold"
		}
	}
	if len(old) == 0 {
		fmt.Fprintf(o.ErrOut, "verify: the old CA is not known (%s): checks that need it say so; pass --old-ca FILE\n", o.oldUnknown)
		return
	}
	o.rule = checks.NewCARule(o.rule.Expect, o.rule.Want, old)
	fmt.Fprintf(o.ErrOut, "verify: old CA %s: %s; --old-ca FILE names another\n", checks.DescribeSet(old, nil), o.oldSource)
}

// holdsAll tells whether set holds every certificate of sub.
func holdsAll(set, sub []*x509.Certificate) bool {
	for _, c := range sub {
		if !checks.Contains(set, c) {
			return false
		}
	}
	return true
}

// oldMayBeIn tells whether old fits --ca: mid-rotation --ca is the
// bundle and holds it, at the end (--expect new) it must not.
func oldMayBeIn(want, old []*x509.Certificate, expect checks.Expect) bool {
	if expect != checks.ExpectNew {
		return true
	}
	for _, c := range old {
		if checks.Contains(want, c) {
			return false
		}
	}
	return true
}

// olderOfTwo is the earlier-issued CA of a bundle of two, as the old CA,
// and says how it was told; nothing when want is not two CAs issued at
// different times.
func olderOfTwo(want []*x509.Certificate, served *x509.Certificate) ([]*x509.Certificate, string) {
	u := checks.Unique(want)
	if len(u) != 2 || u[0].NotBefore.Equal(u[1].NotBefore) {
		return nil, ""
	}
	older, newer := u[0], u[1]
	if newer.NotBefore.Before(older.NotBefore) {
		older, newer = newer, older
	}
	serves := "the new one: step 9.3 is done"
	if checks.Fingerprint(served) == checks.Fingerprint(older) {
		serves = "it: step 9.3 is not done yet"
	}
	stamp := "2006-01-02T15:04:05Z"
	return []*x509.Certificate{older}, fmt.Sprintf("inferred: the earlier-issued of the two CAs of --ca (issued %s; the other %s), the API server serves from %s",
		older.NotBefore.UTC().Format(stamp), newer.NotBefore.UTC().Format(stamp), serves)
}
