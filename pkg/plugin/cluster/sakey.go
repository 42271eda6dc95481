package cluster

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"time"

	jose "gopkg.in/go-jose/go-jose.v2"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// What the sa-key target is judged by: the keys the API server verifies
// tokens with, the key it signs with now, the legacy token Secrets' keys
// and the pods whose projected tokens may be the old key's.

// JWKSPath is where kube-apiserver lists the public keys it verifies
// ServiceAccount tokens with (its --service-account-key-file keys).
const JWKSPath = "/openid/v1/jwks"

// JWKS is what /openid/v1/jwks lists: each key's kid and public key.
type JWKS struct {
	KIDs []string
	Keys []crypto.PublicKey
}

// ReadJWKS reads /openid/v1/jwks with go-jose, the library kube-apiserver
// serves it with.
func ReadJWKS(ctx context.Context, client kubernetes.Interface) (JWKS, error) {
	var raw []byte
	err := WithRetry(ctx, func() (err error) {
		raw, err = client.CoreV1().RESTClient().Get().AbsPath(JWKSPath).DoRaw(ctx)
		return err
	})
	if err != nil {
		return JWKS{}, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return JWKS{}, fmt.Errorf("%s is not a JSON Web Key Set: %w", JWKSPath, err)
	}
	out := JWKS{KIDs: []string{}}
	for _, k := range set.Keys {
		out.KIDs = append(out.KIDs, k.KeyID)
		if k.Valid() && k.IsPublic() {
			out.Keys = append(out.Keys, k.Key)
		}
	}
	return out, nil
}

// Where the token that shows the signing key is issued: the default
// ServiceAccount of the default namespace, for the shortest lifetime the
// API server allows. The token is only decoded for its header's kid,
// never kept or printed.
const (
	tokenProbeNamespace = metav1.NamespaceDefault
	tokenProbeAccount   = "default"
	tokenProbeSeconds   = 600
)

// IssuedTokenKID issues a token now (TokenRequest) and returns the kid of
// the key that signed it.
func IssuedTokenKID(ctx context.Context, client kubernetes.Interface) (string, error) {
	exp := int64(tokenProbeSeconds)
	var tr *authenticationv1.TokenRequest
	err := WithRetry(ctx, func() (err error) {
		tr, err = client.CoreV1().ServiceAccounts(tokenProbeNamespace).CreateToken(ctx, tokenProbeAccount,
			&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("a token for serviceaccount %s/%s: %w", tokenProbeNamespace, tokenProbeAccount, err)
	}
	return checks.TokenKeyID(tr.Status.Token)
}

// LegacyTokenSecretType is the type of the Secrets the controller-manager's
// tokens controller signs.
const LegacyTokenSecretType = corev1.SecretTypeServiceAccountToken

// EachLegacyTokenSecret walks the legacy token Secrets of namespace ("":
// all), page by page.
func EachLegacyTokenSecret(ctx context.Context, client kubernetes.Interface, namespace string, reset func(), each func(*corev1.Secret)) error {
	secrets := client.CoreV1().Secrets(namespace)
	_, err := Each(ctx, PageSize, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("type", string(LegacyTokenSecretType)).String()},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return secrets.List(ctx, lo) },
		reset, each)
	return err
}

// LegacyTokenSecret is a Secret as the judge sees it: its token's kid.
func LegacyTokenSecret(s *corev1.Secret) checks.LegacyTokenSecret {
	out := checks.LegacyTokenSecret{Namespace: s.Namespace, Name: s.Name}
	if tok := s.Data[corev1.ServiceAccountTokenKey]; len(tok) > 0 {
		kid, err := checks.TokenKeyID(string(tok))
		if err != nil {
			out.KIDErr = err.Error()
		}
		out.KID = kid
	}
	return out
}

// ReadLegacyTokenSecrets is every legacy token Secret's kid.
func ReadLegacyTokenSecrets(ctx context.Context, client kubernetes.Interface) ([]checks.LegacyTokenSecret, error) {
	var out []checks.LegacyTokenSecret
	err := EachLegacyTokenSecret(ctx, client, "", func() { out = nil }, func(s *corev1.Secret) {
		out = append(out, LegacyTokenSecret(s))
	})
	return out, err
}

// defaultTokenLifetime is a projection's expirationSeconds when unset.
const defaultTokenLifetime = time.Hour

// ReadTokenPods is every pod that has not ended and projects a
// ServiceAccount token, with when it started and its longest token
// lifetime.
func ReadTokenPods(ctx context.Context, client kubernetes.Interface) ([]checks.TokenPod, error) {
	var out []checks.TokenPod
	pods := client.CoreV1().Pods("")
	_, err := Each(ctx, PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, lo) },
		func() { out = nil },
		func(p *corev1.Pod) {
			if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || p.Status.StartTime == nil {
				return
			}
			var life time.Duration
			for _, v := range p.Spec.Volumes {
				if v.Projected == nil {
					continue
				}
				for _, src := range v.Projected.Sources {
					if t := src.ServiceAccountToken; t != nil {
						d := defaultTokenLifetime
						if t.ExpirationSeconds != nil {
							d = time.Duration(*t.ExpirationSeconds) * time.Second
						}
						life = max(life, d)
					}
				}
			}
			if life > 0 {
				out = append(out, checks.TokenPod{Namespace: p.Namespace, Name: p.Name, Started: p.Status.StartTime.Time, Lifetime: life})
			}
		})
	return out, err
}

// SAKeyEvidence reads everything the sa-key judges need. Each read that
// fails leaves its error in the evidence: its step is unknown.
func SAKeyEvidence(ctx context.Context, client kubernetes.Interface, ev checks.SAKeyEvidence) checks.SAKeyEvidence {
	jwks, err := ReadJWKS(ctx, client)
	ev.JWKS, ev.JWKSErr = jwks.KIDs, err
	ev.TokenKID, ev.TokenErr = IssuedTokenKID(ctx, client)
	ev.ControlPlane, _ = ControlPlane(ctx, client)
	ev.Secrets, ev.SecretsErr = ReadLegacyTokenSecrets(ctx, client)
	ev.Pods, ev.PodsErr = ReadTokenPods(ctx, client)
	return ev
}
