package checks

import "crypto/x509"

// UnbundleSource judges one ServiceAccount root CA object (a namespace's
// kube-root-ca.crt or a legacy token Secret) as a pod's trust source for
// unbundle's pods check, which asks: which running pods may trust the old
// CA alone? src carries the object's existence and write history; value is
// its ca.crt, present whether the key exists.
//
//   - A source that holds every kept CA is OK: a pod that started after its
//     last write holds the kept CA too, one that started before it may hold
//     what it held before (the old CA alone, before bundle).
//   - A source that holds the kept CAs and nothing else was already
//     unbundled by an earlier pass, whose check judged its pods then: a pod
//     that started before that write may hold the bundle, which the times
//     cannot tell from the old CA alone, so it is not blamed (Unchanged).
//     A re-run finishes the work without refusing for what it did itself.
//   - A source without every kept CA is not OK: its pods trust something
//     that does not verify the API server once it serves from the kept CA.
func UnbundleSource(src PodSource, value []byte, present bool, kept []*x509.Certificate) PodSource {
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
		src.Holds, src.Unchanged = "the kept CA alone", true
	default:
		src.Holds = "the kept CA and others"
	}
	// The write at ChangedAt gave the source the kept CA only when the
	// source holds it; only then does a start in that same second tell
	// that the pod may have read the content before.
	src.ContentChanged = src.ContentChanged && holdsKept
	return src
}
