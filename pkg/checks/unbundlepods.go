package checks

import (
	"crypto/x509"
	"time"
)

// UnbundleSource judges one ServiceAccount root CA object (a namespace's
// kube-root-ca.crt or a legacy token Secret) as a pod's trust source for
// unbundle's pods check, which asks: which running pods may trust the old
// CA alone? src carries the object's existence and write history; value is
// its ca.crt, present whether the key exists; bundledAt is when the
// rotation's bundle pass ended (zero when no log tells).
//
//   - A source without every kept CA is not OK: its pods trust something
//     that does not verify the API server once it serves from the kept CA.
//   - With bundledAt known, a source that holds the kept CA is judged as
//     if its content changed then: a pod that started before it may hold
//     the old CA alone, one that started after holds the kept CA, one that
//     started in that second is a "maybe" (the pass's end is when the
//     bundle was there at the latest). Its last
//     write does not tell: by step 12.1 the controller-manager has written
//     the kept CA alone over the bundle, and an earlier unbundle pass may
//     have too.
//   - Without it, the last write is all there is. A source that holds the
//     kept CAs and nothing else then says nothing of its pods (a pod that
//     started before that write may hold the bundle or the old CA alone),
//     so it is not held against them (Unchanged); one that holds the
//     bundle is judged by its last write, as verify judges it.
func UnbundleSource(src PodSource, value []byte, present bool, kept []*x509.Certificate, bundledAt time.Time) PodSource {
	var certs []*x509.Certificate
	var err error
	if present {
		certs, err = ParseCertificates("ca.crt", value)
	}
	holdsKept := present && err == nil && len(kept) > 0
	for _, c := range kept {
		holdsKept = holdsKept && Contains(certs, c)
	}
	src.OK = holdsKept
	switch {
	case !present:
		src.Holds, src.Problem = "nothing", "has no ca.crt"
	case err != nil:
		src.Holds, src.Problem = "unreadable", "holds no readable certificate"
	case !holdsKept:
		src.Holds, src.Problem = DescribeSet(certs, nil), "does not hold the kept CA"
	case SameCertificates(certs, kept):
		src.Holds = "the kept CA alone"
	default:
		src.Holds = "the kept CA and others"
	}
	switch {
	case !holdsKept:
		src.ContentChanged = false
	case !bundledAt.IsZero():
		// The pass ended at bundledAt: the bundle was there by then, maybe
		// earlier, so a pod that started in that same second most likely
		// read it (restart-maybe, a warning), not certainly the old CA.
		src.ChangedAt, src.ChangedBy, src.Unchanged, src.ContentChanged = bundledAt, "the rotation's bundle pass", false, false
	case SameCertificates(certs, kept):
		src.Unchanged = true
	}
	return src
}
