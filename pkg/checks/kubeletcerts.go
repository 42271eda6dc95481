package checks

import (
	"crypto/x509"
	"fmt"
	"sort"
	"time"
)

// KubeletCertEvidence is which CA issued the client certificate each
// kubelet got last, as the CertificateSigningRequests of signer
// KubeletClientSigner show it: the kubelets' own rotations and step 9.2's
// renewals. kube-controller-manager deletes issued requests after an hour,
// so a node without one is not visible, not wrong.
type KubeletCertEvidence struct {
	// Err: the requests could not be listed.
	Err error
	// Newest is each node's newest issued kubelet client certificate, by
	// node name (the certificate's CN, system:node:<name>).
	Newest map[string]KubeletCert
}

// KubeletCert is one kubelet client certificate a CSR returned.
type KubeletCert struct {
	// CSR is the request's name; Created when it was made.
	CSR     string
	Created time.Time
	Cert    *x509.Certificate
}

// IssuerOf says which of the rotation's CAs signed c: IssuedByNew,
// IssuedByOld or IssuedByOther.
func IssuerOf(c *x509.Certificate, oldCAs, newCAs []*x509.Certificate) string {
	switch {
	case c == nil:
		return IssuedByOther
	case SignedBy(c, newCAs):
		return IssuedByNew
	case SignedBy(c, oldCAs):
		return IssuedByOld
	}
	return IssuedByOther
}

// KubeletIssuers sorts nodes by who issued their newest kubelet client
// certificate: IssuedByNew, IssuedByOld, IssuedByOther, or "" (no request
// left to show it). Each node is named "name (CSR csr-name)" where a
// request shows it.
func KubeletIssuers(k KubeletCertEvidence, nodes []string, oldCAs, newCAs []*x509.Certificate) map[string][]string {
	out := map[string][]string{}
	for _, n := range nodes {
		c, ok := k.Newest[n]
		if !ok {
			out[""] = append(out[""], n)
			continue
		}
		by := IssuerOf(c.Cert, oldCAs, newCAs)
		out[by] = append(out[by], n+" (CSR "+c.CSR+")")
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// kubeletUnknownWords says what a node without a request means, and how
// to see it on the node.
func kubeletUnknownWords(nodes []string, total int) string {
	return fmt.Sprintf("%d of %d nodes have no issued request of signer %s left (%s; kube-controller-manager deletes them an hour after they are issued): "+
		"which CA issued their kubelet's client certificate is not visible through the API. On each: %s. "+
		"A kubelet that still presents an old-CA certificate gets 401 at step 12.2 and its node goes NotReady",
		len(nodes), total, KubeletClientSigner, sample(nodes), KubeletIssuerCommand)
}
