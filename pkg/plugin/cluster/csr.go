package cluster

import (
	"context"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// KubeletClientCerts reads, paged, the certificates that
// CertificateSigningRequests of signer kubernetes.io/kube-apiserver-client-kubelet
// returned, and keeps each node's newest (by the request's creation, then
// the certificate's NotBefore): which CA issued the client certificate
// each kubelet got last, through its own rotation or step 9.2. A request
// not issued yet, or whose certificate is not a node's, is left out.
func KubeletClientCerts(ctx context.Context, client kubernetes.Interface) checks.KubeletCertEvidence {
	ev := checks.KubeletCertEvidence{Newest: map[string]checks.KubeletCert{}}
	csrs := client.CertificatesV1().CertificateSigningRequests()
	_, ev.Err = Each(ctx, PageSize, metav1.ListOptions{FieldSelector: "spec.signerName=" + checks.KubeletClientSigner},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return csrs.List(ctx, lo) },
		func() { ev.Newest = map[string]checks.KubeletCert{} },
		func(csr *certificatesv1.CertificateSigningRequest) {
			if csr.Spec.SignerName != checks.KubeletClientSigner || len(csr.Status.Certificate) == 0 {
				return
			}
			certs, err := checks.ParseCertificates("CertificateSigningRequest "+csr.Name, csr.Status.Certificate)
			if err != nil || len(certs) == 0 {
				return
			}
			node, ok := strings.CutPrefix(certs[0].Subject.CommonName, checks.KubeletNodeUserPrefix)
			if !ok || node == "" {
				return
			}
			c := checks.KubeletCert{CSR: csr.Name, Created: csr.CreationTimestamp.Time, Cert: certs[0]}
			if prev, seen := ev.Newest[node]; seen && !newer(c, prev) {
				return
			}
			ev.Newest[node] = c
		})
	if ev.Err != nil {
		ev.Newest = nil
	}
	return ev
}

func newer(a, b checks.KubeletCert) bool {
	if !a.Created.Equal(b.Created) {
		return a.Created.After(b.Created)
	}
	return a.Cert.NotBefore.After(b.Cert.NotBefore)
}
