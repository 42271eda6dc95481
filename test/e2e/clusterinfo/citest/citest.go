//go:build e2e

// Package citest is what the two cluster-info e2e packages (bootstrap signer
// on, and off) share: reading kube-public/cluster-info, the CA files of a
// rotation, and a check of the bootstrap-token signatures written from the
// JWS spec here, independent of the code under test and of the library it
// uses.
package citest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// Get reads cluster-info.
func Get(t testing.TB, client kubernetes.Interface) *corev1.ConfigMap {
	t.Helper()
	cm, err := client.CoreV1().ConfigMaps("kube-public").Get(context.Background(), "cluster-info", metav1.GetOptions{})
	e2eutil.Must(t, err)
	return cm
}

// CAData is certificate-authority-data of the unnamed cluster, parsed the
// way kubeadm join parses it.
func CAData(t testing.TB, cm *corev1.ConfigMap) []byte {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
	e2eutil.Must(t, err)
	c := cfg.Clusters[""]
	if c == nil {
		t.Fatalf("cluster-info has no unnamed cluster:\n%s", cm.Data["kubeconfig"])
	}
	return c.CertificateAuthorityData
}

// Server is the server of the unnamed cluster.
func Server(t testing.TB, cm *corev1.ConfigMap) string {
	t.Helper()
	cfg, err := clientcmd.Load([]byte(cm.Data["kubeconfig"]))
	e2eutil.Must(t, err)
	return cfg.Clusters[""].Server
}

// Sign computes a detached HS256 JWS by hand (RFC 7515 compact form with
// the payload left out), as the bootstrap signer produces it.
func Sign(content, id, secret string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","kid":"` + id + `"}`))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(header + "." + enc.EncodeToString([]byte(content))))
	return header + ".." + enc.EncodeToString(mac.Sum(nil))
}

// Verify checks a detached JWS the way a joining node must: the protected
// header names HS256 and the token id, and the MAC over
// base64url(header).base64url(content) keyed by the token secret matches.
// It does not compare against a freshly made signature, so a signer that
// serializes its header differently still passes if it is correct.
func Verify(jws, content, id, secret string) error {
	parts := strings.Split(jws, ".")
	if len(parts) != 3 || parts[1] != "" {
		return fmt.Errorf("not a detached compact JWS: %q", jws)
	}
	enc := base64.RawURLEncoding
	rawHeader, err := enc.DecodeString(parts[0])
	if err != nil {
		return fmt.Errorf("header: %v", err)
	}
	var header map[string]any
	if err := json.Unmarshal(rawHeader, &header); err != nil {
		return fmt.Errorf("header: %v", err)
	}
	if header["alg"] != "HS256" || header["kid"] != id {
		return fmt.Errorf("header %s, want alg HS256 and kid %s", rawHeader, id)
	}
	got, err := enc.DecodeString(parts[2])
	if err != nil {
		return fmt.Errorf("signature: %v", err)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(parts[0] + "." + enc.EncodeToString([]byte(content))))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return fmt.Errorf("HMAC does not match the content")
	}
	return nil
}

// VerifyTokens fails the test unless cluster-info carries a valid signature
// for every "id.secret" token.
func VerifyTokens(t testing.TB, cm *corev1.ConfigMap, tokens []string) {
	t.Helper()
	for _, tok := range tokens {
		id, secret, _ := strings.Cut(tok, ".")
		sig, ok := cm.Data["jws-kubeconfig-"+id]
		if !ok {
			t.Errorf("token %s: no signature in cluster-info", id)
			continue
		}
		if err := Verify(sig, cm.Data["kubeconfig"], id, secret); err != nil {
			t.Errorf("token %s: signature invalid: %v", id, err)
		}
	}
}

// Rotation holds the CA files of a rotation from the cluster's CA to a
// fresh one.
type Rotation struct {
	Dir                       string
	Old, New, Bundle          string // file paths
	OldPEM, NewPEM, BundlePEM []byte
	OldCert, NewCert          *x509.Certificate
	NewKeyPEM                 []byte
	UndoDir                   string
}

// NewRotation writes old-ca.crt (the cluster's CA), new-ca.crt and
// bundle.crt (new then old, as bundle makes it) to a temporary directory.
func NewRotation(t testing.TB) Rotation {
	t.Helper()
	dir := t.TempDir()
	ca, err := localcluster.NewCA("kubernetes-new", 400*24*time.Hour)
	e2eutil.Must(t, err)
	r := Rotation{
		Dir: dir, Old: filepath.Join(dir, "old-ca.crt"), New: filepath.Join(dir, "new-ca.crt"), Bundle: filepath.Join(dir, "bundle.crt"),
		OldPEM: e2eutil.Cluster.PKI.CA.CertPEM, NewPEM: ca.CertPEM, OldCert: e2eutil.Cluster.PKI.CA.Cert, NewCert: ca.Cert,
		NewKeyPEM: ca.KeyPEM, UndoDir: filepath.Join(dir, "undo"),
	}
	r.BundlePEM = checks.BuildBundle([]*x509.Certificate{r.NewCert}, []*x509.Certificate{r.OldCert})
	for path, data := range map[string][]byte{r.Old: r.OldPEM, r.New: r.NewPEM, r.Bundle: r.BundlePEM} {
		e2eutil.Must(t, os.WriteFile(path, data, 0o600))
	}
	return r
}

// SameCerts tells whether two PEM texts hold the same certificates in the
// same order (the bytes may differ in whitespace).
func SameCerts(t testing.TB, a, b []byte) bool {
	t.Helper()
	ca, err := checks.ParseCertificates("a", a)
	e2eutil.Must(t, err)
	cb, err := checks.ParseCertificates("b", b)
	e2eutil.Must(t, err)
	return bytes.Equal(checks.EncodePEM(ca), checks.EncodePEM(cb)) && len(ca) == len(cb)
}

// Report is the JSON report of update-cluster-info, as a user's script
// reads it (field names are part of the interface).
type Report struct {
	Changed    bool   `json:"changed"`
	DryRun     string `json:"dryRun"`
	SignedBy   string `json:"signedBy"`
	UndoFile   string `json:"undoFile"`
	Signatures []struct {
		TokenID string `json:"tokenID"`
		State   string `json:"state"`
		Signed  bool   `json:"signed"`
		Detail  string `json:"detail"`
	} `json:"signatures"`
	CAsAfter []struct {
		Fingerprint string `json:"fingerprint"`
	} `json:"casAfter"`
	// --check fields
	Consistent *bool `json:"consistent"`
	MatchesCA  *bool `json:"matchesCA"`
	Present    bool  `json:"present"`
}

// ParseReport decodes a -o json report.
func ParseReport(t testing.TB, stdout string) Report {
	t.Helper()
	var r Report
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout)
	}
	return r
}

// States maps token id to signature state, and to detail.
func (r Report) States() (state, detail map[string]string) {
	state, detail = map[string]string{}, map[string]string{}
	for _, s := range r.Signatures {
		state[s.TokenID], detail[s.TokenID] = s.State, s.Detail
	}
	return state, detail
}

// TokenIDs are the ids of the harness's bootstrap tokens.
func TokenIDs() []string {
	var ids []string
	for _, tok := range e2eutil.Cluster.BootstrapTokens {
		id, _, _ := strings.Cut(tok, ".")
		ids = append(ids, id)
	}
	return ids
}

// UndoFiles lists the undo files in dir.
func UndoFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.undo.jsonl"))
	e2eutil.Must(t, err)
	return m
}
