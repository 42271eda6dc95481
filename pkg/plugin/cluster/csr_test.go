package cluster

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
)

// TestKubeletClientCerts: which of the kubelet client certificate requests
// count, and that each node's newest wins. (The real list, its field
// selector and its paging, run in test/e2e/drill.)
func TestKubeletClientCerts(t *testing.T) {
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	t0 := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	csr := func(name, signer string, created time.Time, cert []byte) runtime.Object {
		return &certificatesv1.CertificateSigningRequest{
			ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(created)},
			Spec:       certificatesv1.CertificateSigningRequestSpec{SignerName: signer},
			Status:     certificatesv1.CertificateSigningRequestStatus{Certificate: cert},
		}
	}
	node := func(ca testca.CA, name string) []byte {
		return testca.Client(t, ca, "system:node:"+name, "system:nodes")
	}
	client := fake.NewClientset(
		csr("csr-n1-rotated", checks.KubeletClientSigner, t0, node(oldCA, "n1")),
		csr("carotate-r1-n1", checks.KubeletClientSigner, t0.Add(time.Hour), node(newCA, "n1")),
		csr("carotate-r1-n2", checks.KubeletClientSigner, t0.Add(time.Hour), node(newCA, "n2")),
		csr("csr-n2-later", checks.KubeletClientSigner, t0.Add(2*time.Hour), node(oldCA, "n2")),
		csr("pending-n3", checks.KubeletClientSigner, t0.Add(time.Hour), nil),
		csr("serving-n3", "kubernetes.io/kubelet-serving", t0.Add(time.Hour), node(newCA, "n3")),
		csr("admin", checks.KubeletClientSigner, t0.Add(time.Hour), testca.Client(t, newCA, "kubernetes-admin", "system:masters")),
		csr("garbage", checks.KubeletClientSigner, t0.Add(time.Hour), []byte("not a certificate")),
	)
	ev := KubeletClientCerts(context.Background(), client)
	if ev.Err != nil {
		t.Fatal(ev.Err)
	}
	got := map[string]string{}
	for n, c := range ev.Newest {
		got[n] = c.CSR + " " + checks.IssuerOf(c.Cert, []*x509.Certificate{oldCA.Cert}, []*x509.Certificate{newCA.Cert})
	}
	want := map[string]string{"n1": "carotate-r1-n1 new", "n2": "csr-n2-later old"}
	if len(got) != len(want) || got["n1"] != want["n1"] || got["n2"] != want["n2"] {
		t.Errorf("newest per node: got %v, want %v", got, want)
	}
}
