package checks

// The kube-public/cluster-info ConfigMap is what `kubeadm join` reads before
// it trusts the cluster: a kubeconfig (key "kubeconfig") carrying the cluster
// CA, and one detached JWS per bootstrap token (keys "jws-kubeconfig-<id>"),
// an HS256 signature over the exact kubeconfig text keyed by the token's
// secret. A joining node proves the content with the token it was given, so
// the CA change of upstream step 10 is only safe when every signature is
// recomputed over the new text.
//
// Unlike the rest of this package this file knows about Kubernetes: it parses
// the kubeconfig with client-go's clientcmd (the parser kubeadm uses) and
// signs with k8s.io/cluster-bootstrap (the code the bootstrap signer and
// kubeadm use), so that what we produce is what they accept. It still does
// no I/O: callers pass the ConfigMap data and the token Secrets' data in.

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	"k8s.io/cluster-bootstrap/token/jws"
	"sigs.k8s.io/yaml"
)

// ClusterInfoKubeconfig is the cluster entry of cluster-info that kubeadm
// join uses.
type ClusterInfoKubeconfig struct {
	// Cluster is the entry's name: "" as kubeadm writes it, else the
	// current context's cluster.
	Cluster string `json:"cluster"`
	Server  string `json:"server"`
	// CAData is certificate-authority-data as stored.
	CAData []byte `json:"-"`
	// CAFile is certificate-authority (a path), which a joining node cannot
	// read; it is reported because it means the kubeconfig is broken.
	CAFile string `json:"caFile,omitempty"`
}

// ParseClusterInfoKubeconfig parses the kubeconfig of cluster-info and
// picks the cluster entry the way kubeadm join does (the unnamed cluster,
// else the current context's), so we read and write the entry that joins
// actually use.
func ParseClusterInfoKubeconfig(kubeconfig []byte) (ClusterInfoKubeconfig, error) {
	_, name, cluster, err := clusterInfoLoad(kubeconfig)
	if err != nil {
		return ClusterInfoKubeconfig{}, err
	}
	return ClusterInfoKubeconfig{Cluster: name, Server: cluster.Server, CAData: cluster.CertificateAuthorityData, CAFile: cluster.CertificateAuthority}, nil
}

func clusterInfoLoad(kubeconfig []byte) (*clientcmdapi.Config, string, *clientcmdapi.Cluster, error) {
	if len(bytes.TrimSpace(kubeconfig)) == 0 {
		return nil, "", nil, errors.New("the kubeconfig is empty")
	}
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, "", nil, fmt.Errorf("the kubeconfig does not parse: %w", err)
	}
	if c := cfg.Clusters[""]; c != nil {
		return cfg, "", c, nil
	}
	if ctx := cfg.Contexts[cfg.CurrentContext]; ctx != nil {
		if c := cfg.Clusters[ctx.Cluster]; c != nil {
			return cfg, ctx.Cluster, c, nil
		}
		return nil, "", nil, fmt.Errorf("the kubeconfig's current context %q names cluster %q, which it does not define", cfg.CurrentContext, ctx.Cluster)
	}
	return nil, "", nil, fmt.Errorf("the kubeconfig has no unnamed cluster and no usable current context (%q); kubeadm join could not use it", cfg.CurrentContext)
}

// ReplaceClusterInfoCA returns kubeconfig with certificate-authority-data of
// the cluster entry set to caPEM, everything else kept. changed is false (and
// out is kubeconfig itself) when the entry already holds exactly caPEM, so a
// re-run writes nothing and leaves the signatures alone.
//
// The text is re-serialized with clientcmd, which drops fields it does not
// know; rather than lose them silently, it fails naming them.
func ReplaceClusterInfoCA(kubeconfig, caPEM []byte) (out []byte, changed bool, err error) {
	if len(bytes.TrimSpace(caPEM)) == 0 {
		return nil, false, errors.New("no CA data to write")
	}
	cfg, name, cluster, err := clusterInfoLoad(kubeconfig)
	if err != nil {
		return nil, false, err
	}
	if bytes.Equal(cluster.CertificateAuthorityData, caPEM) && cluster.CertificateAuthority == "" {
		return kubeconfig, false, nil
	}
	cluster.CertificateAuthorityData = caPEM
	// A file path means nothing on a joining node, and kubeconfig loading
	// refuses a cluster that has both.
	cluster.CertificateAuthority = ""
	out, err = clientcmd.Write(*cfg)
	if err != nil {
		return nil, false, fmt.Errorf("cannot serialize the kubeconfig: %w", err)
	}
	if lost := clusterInfoLostFields(kubeconfig, out, name); len(lost) > 0 {
		return nil, false, fmt.Errorf("rewriting the kubeconfig would drop or alter %s; fix cluster-info by hand", strings.Join(lost, ", "))
	}
	return out, true, nil
}

// clusterInfoLostFields compares the two kubeconfig texts as generic YAML
// (zero values and list order ignored, the CA fields of the entry we write
// excluded) and returns the paths that differ.
func clusterInfoLostFields(before, after []byte, clusterName string) []string {
	var a, b any
	if yaml.Unmarshal(before, &a) != nil || yaml.Unmarshal(after, &b) != nil {
		return []string{"the kubeconfig (it is not plain YAML)"}
	}
	a, b = clusterInfoNormalize(a), clusterInfoNormalize(b)
	for _, v := range []any{a, b} {
		if clusters, ok := clusterInfoPath(v, "clusters", clusterName, "cluster").(map[string]any); ok {
			delete(clusters, "certificate-authority-data")
			delete(clusters, "certificate-authority")
		}
	}
	var diffs []string
	clusterInfoDiffValues("", a, b, &diffs)
	sort.Strings(diffs)
	return diffs
}

func clusterInfoPath(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// clusterInfoNormalize drops zero values (clientcmd omits them) and turns
// lists of named entries into maps by name (clientcmd sorts them).
func clusterInfoNormalize(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if n := clusterInfoNormalize(e); n != nil {
				out[k] = n
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(t) == 0 {
			return nil
		}
		named := map[string]any{}
		for _, e := range t {
			m, ok := e.(map[string]any)
			name, isString := m["name"].(string)
			if !ok || !isString {
				named = nil
				break
			}
			rest := map[string]any{}
			for k, x := range m {
				if k != "name" {
					rest[k] = x
				}
			}
			named[name] = clusterInfoNormalize(rest)
			if named[name] == nil {
				named[name] = map[string]any{}
			}
		}
		if named != nil {
			return named
		}
		out := make([]any, 0, len(t))
		for _, e := range t {
			out = append(out, clusterInfoNormalize(e))
		}
		return out
	case string:
		if t == "" {
			return nil
		}
	case bool:
		if !t {
			return nil
		}
	case float64:
		if t == 0 {
			return nil
		}
	case nil:
		return nil
	}
	return v
}

func clusterInfoDiffValues(path string, a, b any, diffs *[]string) {
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		for k, av := range am {
			clusterInfoDiffValues(clusterInfoJoin(path, k), av, bm[k], diffs)
		}
		for k, bv := range bm {
			if _, seen := am[k]; !seen {
				clusterInfoDiffValues(clusterInfoJoin(path, k), nil, bv, diffs)
			}
		}
		return
	}
	if !reflect.DeepEqual(a, b) {
		if path == "" {
			path = "the kubeconfig"
		}
		*diffs = append(*diffs, path)
	}
}

func clusterInfoJoin(path, key string) string {
	if path == "" {
		return key
	}
	if key == "" {
		return path + `[""]`
	}
	return path + "." + key
}

// BootstrapToken is what matters of a bootstrap token Secret
// (kube-system/bootstrap-token-<id>) for signing cluster-info.
type BootstrapToken struct {
	ID string `json:"tokenID"`
	// Secret is the HMAC key; never print it.
	Secret     string `json:"-"`
	Signing    bool   `json:"signing"`
	Expiration string `json:"expiration,omitempty"`
	Expired    bool   `json:"expired"`
	// Invalid says why the Secret cannot be a token (name and token-id
	// disagree, no token-secret); "" when it can.
	Invalid string `json:"invalid,omitempty"`
}

// CanSign applies the bootstrap signer's rules: a well-formed token, marked
// for signing, not expired.
func (t BootstrapToken) CanSign() bool { return t.Invalid == "" && t.Signing && !t.Expired }

// ParseBootstrapToken reads a Secret of type bootstrap.kubernetes.io/token
// by the rules of the controller-manager's bootstrap signer, so that we sign
// exactly the tokens it would: an unparseable expiration counts as expired.
func ParseBootstrapToken(secretName string, data map[string][]byte, now time.Time) BootstrapToken {
	nameID, _ := strings.CutPrefix(secretName, bootstrapapi.BootstrapTokenSecretPrefix)
	t := BootstrapToken{
		ID:         string(data[bootstrapapi.BootstrapTokenIDKey]),
		Secret:     string(data[bootstrapapi.BootstrapTokenSecretKey]),
		Signing:    string(data[bootstrapapi.BootstrapTokenUsageSigningKey]) == "true",
		Expiration: string(data[bootstrapapi.BootstrapTokenExpirationKey]),
	}
	switch {
	case !strings.HasPrefix(secretName, bootstrapapi.BootstrapTokenSecretPrefix) || !clusterInfoTokenID(nameID):
		t.Invalid = fmt.Sprintf("Secret name %q is not %s<6 characters [a-z0-9]>", secretName, bootstrapapi.BootstrapTokenSecretPrefix)
		if t.ID == "" {
			t.ID = nameID
		}
	case t.ID == "":
		t.ID = nameID
		t.Invalid = "no " + bootstrapapi.BootstrapTokenIDKey
	case t.ID != nameID:
		t.Invalid = fmt.Sprintf("%s %q does not match the Secret name %q", bootstrapapi.BootstrapTokenIDKey, t.ID, secretName)
	case t.Secret == "":
		t.Invalid = "no " + bootstrapapi.BootstrapTokenSecretKey
	}
	if t.Expiration != "" {
		exp, err := time.Parse(time.RFC3339, t.Expiration)
		t.Expired = err != nil || !exp.After(now)
	}
	return t
}

func clusterInfoTokenID(id string) bool {
	if len(id) != bootstrapapi.BootstrapTokenIDBytes {
		return false
	}
	for _, r := range id {
		if (r < 'a' || r > 'z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// SignatureState is the state of one token's signature of cluster-info.
type SignatureState string

const (
	// SignatureValid: the token can sign and its signature verifies.
	SignatureValid SignatureState = "valid"
	// SignatureResigned: valid, and written anew by this run (by us or by
	// the bootstrap signer); set by MarkResigned.
	SignatureResigned SignatureState = "re-signed"
	// SignatureStale: the token can sign but its signature does not verify
	// against the current kubeconfig: kubeadm join with it fails.
	SignatureStale SignatureState = "stale"
	// SignatureUnsigned: the token can sign but there is no signature:
	// kubeadm join with it fails too.
	SignatureUnsigned SignatureState = "unsigned"
	// SignatureExpired: the token has expired; its signature, if any, is
	// left over and the bootstrap signer would remove it.
	SignatureExpired SignatureState = "expired"
	// SignatureNoToken: a signature for a token that does not exist.
	SignatureNoToken SignatureState = "no-token"
	// SignatureNotSigning: a signature for a token that exists but may not
	// sign (no usage-bootstrap-signing, or a malformed Secret).
	SignatureNotSigning SignatureState = "not-signing"
)

// TokenSignature is one token's line in a cluster-info report.
type TokenSignature struct {
	TokenID    string         `json:"tokenID"`
	State      SignatureState `json:"state"`
	Signed     bool           `json:"signed"`
	Expiration string         `json:"expiration,omitempty"`
	Detail     string         `json:"detail,omitempty"`
}

// Broken tells whether joins with this token fail because of cluster-info:
// it may sign, and its signature is missing or wrong. Left-over signatures
// of expired or deleted tokens are untidy but break nothing.
func (s TokenSignature) Broken() bool {
	return s.State == SignatureStale || s.State == SignatureUnsigned
}

// SignatureKey is the ConfigMap key holding a token's signature.
func SignatureKey(tokenID string) string { return bootstrapapi.JWSSignatureKeyPrefix + tokenID }

// CheckSignatures judges every signature in cluster-info's data against its
// current kubeconfig, and every token that can sign or did sign. Tokens that
// were never meant for signing and carry no signature are left out. The
// result is sorted by token ID.
func CheckSignatures(data map[string]string, tokens []BootstrapToken) []TokenSignature {
	content := data[bootstrapapi.KubeConfigKey]
	byID := map[string]BootstrapToken{}
	for _, t := range tokens {
		// Like the signer, the first Secret for an ID wins.
		if _, dup := byID[t.ID]; !dup && t.ID != "" {
			byID[t.ID] = t
		}
	}
	ids := map[string]bool{}
	for k := range data {
		if id, ok := strings.CutPrefix(k, bootstrapapi.JWSSignatureKeyPrefix); ok {
			ids[id] = true
		}
	}
	for id, t := range byID {
		if t.Signing {
			ids[id] = true
		}
	}
	out := make([]TokenSignature, 0, len(ids))
	for id := range ids {
		sig, signed := data[SignatureKey(id)]
		t, exists := byID[id]
		s := TokenSignature{TokenID: id, Signed: signed, Expiration: t.Expiration}
		switch {
		case !exists:
			s.State, s.Detail = SignatureNoToken, "no bootstrap token Secret "+bootstrapapi.BootstrapTokenSecretPrefix+id
		case t.Invalid != "":
			s.State, s.Detail = SignatureNotSigning, t.Invalid
		case !t.Signing:
			s.State, s.Detail = SignatureNotSigning, bootstrapapi.BootstrapTokenUsageSigningKey+" is not \"true\""
		case t.Expired:
			s.State, s.Detail = SignatureExpired, "token expired at "+t.Expiration
		case !signed:
			s.State, s.Detail = SignatureUnsigned, "no "+SignatureKey(id)+": kubeadm join with this token fails"
		case jws.DetachedTokenIsValid(sig, content, t.ID, t.Secret):
			s.State = SignatureValid
		default:
			s.State, s.Detail = SignatureStale, "does not verify against the kubeconfig: kubeadm join with this token fails"
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TokenID < out[j].TokenID })
	return out
}

// SignClusterInfo works out the signature keys as the bootstrap signer
// would leave them for the current kubeconfig: set holds the keys to write
// (only those whose value changes), remove the keys of tokens that may not
// sign (deleted, expired, not for signing). Both empty means the
// signatures are already right.
func SignClusterInfo(data map[string]string, tokens []BootstrapToken) (set map[string]string, remove []string, err error) {
	content, ok := data[bootstrapapi.KubeConfigKey]
	if !ok {
		return nil, nil, fmt.Errorf("no %q key to sign", bootstrapapi.KubeConfigKey)
	}
	set = map[string]string{}
	keep := map[string]bool{}
	for _, t := range tokens {
		if !t.CanSign() || keep[SignatureKey(t.ID)] {
			continue
		}
		sig, err := jws.ComputeDetachedSignature(content, t.ID, t.Secret)
		if err != nil {
			return nil, nil, fmt.Errorf("signing for token %s: %w", t.ID, err)
		}
		key := SignatureKey(t.ID)
		keep[key] = true
		if data[key] != sig {
			set[key] = sig
		}
	}
	for k := range data {
		if strings.HasPrefix(k, bootstrapapi.JWSSignatureKeyPrefix) && !keep[k] {
			remove = append(remove, k)
		}
	}
	sort.Strings(remove)
	return set, remove, nil
}

// SignaturesSettled tells whether cluster-info's signatures are exactly what
// the bootstrap signer would leave: one valid signature per token that may
// sign, none other.
func SignaturesSettled(data map[string]string, tokens []BootstrapToken) bool {
	set, remove, err := SignClusterInfo(data, tokens)
	return err == nil && len(set) == 0 && len(remove) == 0
}

// MarkResigned turns "valid" into "re-signed" for the tokens whose
// signature value differs between before and after (the data of
// cluster-info at the start and at the end of a run), with detail saying by
// whom.
func MarkResigned(sigs []TokenSignature, before, after map[string]string, by string) []TokenSignature {
	out := make([]TokenSignature, len(sigs))
	for i, s := range sigs {
		key := SignatureKey(s.TokenID)
		if s.State == SignatureValid && before[key] != after[key] {
			s.State = SignatureResigned
			if by != "" {
				s.Detail = "signed by " + by
			}
		}
		out[i] = s
	}
	return out
}

// ClusterInfoReport is the read-only judgement of cluster-info: which CA it
// carries, whether that is the CA expected, and whether every token that
// may sign has a valid signature.
type ClusterInfoReport struct {
	Cluster string     `json:"cluster"`
	Server  string     `json:"server,omitempty"`
	CAs     []CertInfo `json:"cas"`
	// MatchesCA is set when an expected CA was given: true when cluster-info
	// carries exactly those certificates (order and repeats ignored).
	MatchesCA  *bool            `json:"matchesCA,omitempty"`
	Signatures []TokenSignature `json:"signatures"`
	// Problems lists why the report is not consistent, one sentence each.
	Problems   []string `json:"problems"`
	Consistent bool     `json:"consistent"`
}

// CheckClusterInfo judges cluster-info's data (the ConfigMap's Data) with
// the bootstrap tokens of the cluster. want, when not empty, is the CA
// cluster-info should carry.
func CheckClusterInfo(data map[string]string, tokens []BootstrapToken, want []*x509.Certificate) ClusterInfoReport {
	r := ClusterInfoReport{CAs: []CertInfo{}, Signatures: []TokenSignature{}, Problems: []string{}}
	kubeconfig, ok := data[bootstrapapi.KubeConfigKey]
	if !ok {
		r.Problems = append(r.Problems, fmt.Sprintf("no %q key", bootstrapapi.KubeConfigKey))
		return r
	}
	kc, err := ParseClusterInfoKubeconfig([]byte(kubeconfig))
	if err != nil {
		r.Problems = append(r.Problems, err.Error())
	} else {
		r.Cluster, r.Server = kc.Cluster, kc.Server
		if kc.CAFile != "" {
			r.Problems = append(r.Problems, fmt.Sprintf("the cluster entry names a CA file (%s), which joining nodes do not have", kc.CAFile))
		}
		var cas []*x509.Certificate
		if len(kc.CAData) == 0 {
			r.Problems = append(r.Problems, "the cluster entry has no certificate-authority-data")
		} else if cas, err = ParseCertificates("certificate-authority-data", kc.CAData); err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
		for _, c := range cas {
			r.CAs = append(r.CAs, Describe(c))
		}
		if len(want) > 0 {
			match := err == nil && len(cas) > 0 && SameCertificates(cas, want)
			r.MatchesCA = &match
			if !match {
				r.Problems = append(r.Problems, "cluster-info does not carry exactly the CA given")
			}
		}
	}
	r.Signatures = CheckSignatures(data, tokens)
	for _, s := range r.Signatures {
		if s.Broken() {
			r.Problems = append(r.Problems, fmt.Sprintf("token %s: signature %s", s.TokenID, s.State))
		}
	}
	r.Consistent = len(r.Problems) == 0
	return r
}
