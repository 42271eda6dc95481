package checks

import (
	"bytes"
	"crypto/x509"
)

// ChainVerifies tells whether a serving chain (leaf first, then what the
// server sent as intermediates) verifies, for server authentication and
// now, against roots alone. Host names are not checked: clients reach the
// API server under many names (kubernetes.default.svc, a load balancer), and
// the question here is only which CA the chain belongs to.
func ChainVerifies(chain, roots []*x509.Certificate) bool {
	if len(chain) == 0 || len(roots) == 0 {
		return false
	}
	rootPool := x509.NewCertPool()
	for _, r := range roots {
		if r != nil {
			rootPool.AddCert(r)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err == nil
}

// ChainSignedBy tells which CA issued a chain that does not verify (an
// expired one): by signature, the leaf or the last certificate sent.
func ChainSignedBy(chain []*x509.Certificate, ca *x509.Certificate) bool {
	for _, c := range []*x509.Certificate{chain[0], chain[len(chain)-1]} {
		if bytes.Equal(c.RawIssuer, ca.RawSubject) && c.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}

// SignedBy reports whether c was issued by one of cas (checked by
// signature, not by name: a re-issued CA can share a subject).
func SignedBy(c *x509.Certificate, cas []*x509.Certificate) bool {
	for _, ca := range cas {
		if ca == nil || !bytes.Equal(c.RawIssuer, ca.RawSubject) {
			continue
		}
		if c.CheckSignatureFrom(ca) == nil {
			return true
		}
	}
	return false
}
