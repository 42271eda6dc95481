package cluster

import (
	"context"
	"crypto/x509"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Served is what a cluster shows of the CA it runs on.
type Served struct {
	// Chain is what the API server of cfg presents, leaf first.
	Chain []*x509.Certificate
	// CA is the CA certificate the chain verifies against, among those the
	// cluster shows (kube-system/kube-root-ca.crt, the kubeconfig's
	// certificate authority, the client CA the API server publishes); nil
	// when none does. Source says where it was found.
	CA     *x509.Certificate
	Source string
	// RootCA is what kube-system/kube-root-ca.crt holds (what pods trust);
	// empty when it could not be read.
	RootCA []*x509.Certificate
}

// ReadServed fetches the serving chain of cfg's API server and finds the CA
// it verifies against. The error says the chain could not be fetched; the
// other reads failing leave their part empty.
func ReadServed(ctx context.Context, cfg *rest.Config, client kubernetes.Interface) (Served, error) {
	var s Served
	var err error
	if s.Chain, err = FetchServingChain(ctx, cfg); err != nil {
		return s, err
	}
	var rootCA []byte
	_ = WithRetry(ctx, func() error {
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, RootCAConfigMap, metav1.GetOptions{})
		if err == nil {
			rootCA = []byte(cm.Data[RootCAKey])
		}
		return err
	})
	s.RootCA, _ = checks.ParseCertificates("kube-system/"+RootCAConfigMap, rootCA)
	ext, _ := ExtensionAuth(ctx, client)
	cands := []struct {
		source string
		data   []byte
	}{
		{"kube-system/kube-root-ca.crt", rootCA},
		{"the kubeconfig's certificate authority", KubeconfigCA(cfg)},
		{"kube-system/extension-apiserver-authentication client-ca-file", []byte(ext["client-ca-file"])},
	}
	for _, cand := range cands {
		certs, err := checks.ParseCertificates(cand.source, cand.data)
		if err != nil {
			continue
		}
		for _, c := range certs {
			if c.IsCA && checks.ChainVerifies(s.Chain, []*x509.Certificate{c}) {
				s.CA, s.Source = c, cand.source
				return s, nil
			}
		}
	}
	return s, nil
}
