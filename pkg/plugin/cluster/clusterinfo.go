package cluster

import (
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// kube-public/cluster-info: the kubeconfig bootstrap-token joins trust.
const (
	ClusterInfoNamespace = metav1.NamespacePublic
	ClusterInfoName      = bootstrapapi.ConfigMapClusterInfo
)

// ClusterInfoStatus is the read-only state of kube-public/cluster-info, for
// --check and for verify.
type ClusterInfoStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Present is false when the cluster has no cluster-info: step 10 does
	// not apply, and the report is empty and consistent.
	Present         bool   `json:"present"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	checks.ClusterInfoReport
}

// CheckClusterInfo reads cluster-info and the bootstrap tokens and judges
// them; want, when not empty, is the CA cluster-info should carry.
func CheckClusterInfo(ctx context.Context, client kubernetes.Interface, want []*x509.Certificate, now time.Time) (ClusterInfoStatus, error) {
	st := ClusterInfoStatus{Namespace: ClusterInfoNamespace, Name: ClusterInfoName}
	cm, err := GetClusterInfo(ctx, client)
	if apierrors.IsNotFound(err) {
		st.ClusterInfoReport = checks.ClusterInfoReport{CAs: []checks.CertInfo{}, Signatures: []checks.TokenSignature{}, Problems: []string{}, Consistent: true}
		return st, nil
	}
	if err != nil {
		return st, err
	}
	tokens, err := BootstrapTokens(ctx, client, now)
	if err != nil {
		return st, err
	}
	st.Present, st.ResourceVersion = true, cm.ResourceVersion
	st.ClusterInfoReport = checks.CheckClusterInfo(cm.Data, tokens, want)
	return st, nil
}

// GetClusterInfo reads kube-public/cluster-info.
func GetClusterInfo(ctx context.Context, client kubernetes.Interface) (*corev1.ConfigMap, error) {
	var cm *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(ClusterInfoNamespace).Get(ctx, ClusterInfoName, metav1.GetOptions{})
		return err
	})
	return cm, err
}

// BootstrapTokens lists the bootstrap token Secrets the way the bootstrap
// signer does (kube-system, by type).
func BootstrapTokens(ctx context.Context, client kubernetes.Interface, now time.Time) ([]checks.BootstrapToken, error) {
	var tokens []checks.BootstrapToken
	_, err := Each(ctx, 100, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("type", string(bootstrapapi.SecretTypeBootstrapToken)).String()},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, lo)
		},
		func() { tokens = nil },
		func(s *corev1.Secret) {
			if s.Type == bootstrapapi.SecretTypeBootstrapToken {
				tokens = append(tokens, checks.ParseBootstrapToken(s.Name, s.Data, now))
			}
		})
	if err != nil {
		return nil, fmt.Errorf("listing bootstrap tokens in %s: %w", metav1.NamespaceSystem, err)
	}
	sort.Slice(tokens, func(i, j int) bool { return tokens[i].ID < tokens[j].ID })
	return tokens, nil
}

// ExtensionAuthName is the ConfigMap in kube-system where kube-apiserver
// publishes its client CA (--client-ca-file) and front-proxy CA
// (--requestheader-client-ca-file) for aggregated API servers and webhooks.
const ExtensionAuthName = "extension-apiserver-authentication"

// ExtensionAuth reads kube-system/extension-apiserver-authentication's data.
func ExtensionAuth(ctx context.Context, client kubernetes.Interface) (map[string]string, error) {
	var cm *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, ExtensionAuthName, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return nil, err
	}
	return cm.Data, nil
}

// RequireNamespace fails when an explicitly given namespace does not
// exist, so a typo in -n is not taken for "nothing to do there". A user who
// may not read namespaces gets through: the command's own reads say more.
func RequireNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	if ns == "" {
		return nil
	}
	err := WithRetry(ctx, func() error {
		_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %q not found, nothing was changed", ns)
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("reading namespace %q: %w", ns, err)
	}
	return nil
}
