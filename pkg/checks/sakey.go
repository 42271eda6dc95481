package checks

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"path"
	"strings"
)

// The sa-key target: replacing the key pair that signs ServiceAccount
// tokens (kubeadm's sa.key/sa.pub). The API server verifies tokens with
// every public key in its --service-account-key-file flags and signs new
// ones with --service-account-signing-key-file; the controller-manager signs
// legacy token Secrets with --service-account-private-key-file. The
// rotation: trust the new public key beside the old, sign with the new
// private key, replace the tokens the old key signed, drop the old public
// key. A token's JWS header names its key by kid, the SHA-256 of the
// public key's PKIX DER (base64url, as kube-apiserver computes it), which
// is what the judges compare; /openid/v1/jwks lists the kids the API
// server accepts.

// Phases of the sa-key target.
const (
	SAPhaseTrust  = "trust"
	SAPhaseSign   = "sign"
	SAPhaseFinish = "finish"
)

// Contents of the sa-key target. The new private key is the operator's
// (From new-sa.key, $NEW_SA_KEY in a script): never in Contents.
const (
	ContentOldSAPublicKey = "old-sa-public-key"
	ContentNewSAPublicKey = "new-sa-public-key"
	ContentSAPublicKeys   = "sa-public-keys"
	ContentNewSAKey       = "new-sa-key"
	operatorNewSAKey      = "new-sa.key"
)

// SAKeySteps are the sa-key target's steps, in order.
var SAKeySteps = []UpstreamStep{
	{"1", "kube-apiserver verifies tokens with the new public key beside the old (--service-account-key-file)", "node", SAPhaseTrust},
	{"2", "kube-apiserver (--service-account-signing-key-file) and kube-controller-manager (--service-account-private-key-file) sign with the new private key", "node", SAPhaseSign},
	{"3.1", "Legacy token Secrets re-signed with the new key (data.token cleared for the tokens controller to fill again)", "in-cluster", SAPhaseSign},
	{"3.2", "Pods' projected tokens from the new key: pods restarted, or their token lifetime passed since the switch", "in-cluster", SAPhaseSign},
	{"4", "The old public key removed; the new key pair under the usual file names", "node", SAPhaseFinish},
}

// TargetSteps are the steps of a target ("" is cluster-ca).
func TargetSteps(target string) []UpstreamStep {
	switch target {
	case TargetSAKey:
		return SAKeySteps
	case TargetFrontProxyCA:
		return FrontProxySteps
	case TargetEtcdCA:
		return EtcdCASteps
	}
	return UpstreamSteps
}

// LookupTargetStep returns step n of a target.
func LookupTargetStep(target, n string) (UpstreamStep, bool) {
	for _, s := range TargetSteps(target) {
		if s.Step == n {
			return s, true
		}
	}
	return UpstreamStep{}, false
}

// TargetPhaseOf is the phase of step n of a target.
func TargetPhaseOf(target, n string) string {
	s, _ := LookupTargetStep(target, n)
	return s.Phase
}

// TargetPhases are a target's phases, in order.
func TargetPhases(target string) []string {
	if target == TargetSAKey {
		return []string{SAPhaseTrust, SAPhaseSign, SAPhaseFinish}
	}
	// front-proxy-ca and etcd-ca have the cluster CA's phases, a step each.
	return []string{PhaseBundle, PhaseServe, PhaseFinish}
}

// StepNumbers are the numbers of a target's steps, for messages.
func StepNumbers(target string) []string {
	var out []string
	for _, s := range TargetSteps(target) {
		out = append(out, s.Step)
	}
	return out
}

// targetFlag is "--target T " for a target other than cluster-ca, so
// that cluster-ca's printed commands stay as they were.
func targetFlag(target string) string {
	if target == "" || target == TargetClusterCA {
		return ""
	}
	return "--target " + target + " "
}

// ParsePublicKeys reads the public keys of a PEM file as kube-apiserver's
// --service-account-key-file does: PUBLIC KEY, RSA PUBLIC KEY and
// CERTIFICATE blocks. A private key is refused without echoing it.
func ParsePublicKeys(source string, data []byte) ([]crypto.PublicKey, error) {
	if ContainsPrivateKey(data) {
		return nil, fmt.Errorf("%s contains a private key: pass the public key alone (openssl pkey -in sa.key -pubout)", source)
	}
	var out []crypto.PublicKey
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		var pub crypto.PublicKey
		var err error
		switch b.Type {
		case "PUBLIC KEY":
			pub, err = x509.ParsePKIXPublicKey(b.Bytes)
		case "RSA PUBLIC KEY":
			pub, err = x509.ParsePKCS1PublicKey(b.Bytes)
		case "CERTIFICATE":
			var c *x509.Certificate
			if c, err = x509.ParseCertificate(b.Bytes); err == nil {
				pub = c.PublicKey
			}
		default:
			return nil, fmt.Errorf("%s: a %q PEM block where a public key belongs", source, b.Type)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		out = append(out, pub)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no PEM public key", source)
	}
	return out, nil
}

// EncodePublicKeys is keys as PUBLIC KEY PEM blocks, in order.
func EncodePublicKeys(keys []crypto.PublicKey) []byte {
	var b []byte
	for _, k := range keys {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			continue // parsed by ParsePublicKeys: always marshals
		}
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})...)
	}
	return b
}

// KeyID is the kid kube-apiserver gives tokens signed by the key whose
// public half is pub: base64url(SHA-256(PKIX DER)), unpadded.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// KeyIDs are the kids of keys.
func KeyIDs(keys []crypto.PublicKey) []string {
	var out []string
	for _, k := range keys {
		if id, err := KeyID(k); err == nil {
			out = append(out, id)
		}
	}
	return out
}

// TokenKeyID reads the kid from a JWT's header; the rest of the token is
// not looked at (and never printed).
func TokenKeyID(token string) (string, error) {
	head, _, ok := strings.Cut(token, ".")
	if !ok || head == "" {
		return "", errors.New("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(head, "="))
	if err != nil {
		return "", errors.New("not a JWT: its header is not base64url")
	}
	var h struct {
		KID string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return "", errors.New("not a JWT: its header is not JSON")
	}
	if h.KID == "" {
		return "", errors.New("the token's header has no kid")
	}
	return h.KID, nil
}

// RenderSAKey renders the sa-key target's steps for a cluster: d.Target is
// sa-key and d.Contents holds the three public-key contents.
func RenderSAKey(d ClusterDescription) []Step {
	d.Target = TargetSAKey
	r := &renderer{d: d, written: map[string]bool{}}
	for _, h := range d.ControlPlane {
		r.saStep1(h)
	}
	for _, h := range d.ControlPlane {
		r.saStep2(h)
	}
	r.inCluster("3.1", "Re-sign every legacy token Secret that the old key signed: clear its data.token for the tokens controller to fill again",
		"kubectl carotate resign-tokens", "")
	r.inCluster("3.2", "Restart the pods whose projected tokens the old key signed (or wait their token lifetime: status says until when)",
		r.restartCommand(SAPhaseSign, ""), "")
	r.inCluster("4", "Check that no token signed by the old key is left before the old public key goes",
		"kubectl carotate verify --target sa-key", "")
	for _, h := range d.ControlPlane {
		r.saStep4(h)
	}
	return r.out
}

// saFiles are a host's sa-key files, as originals: the public key file of
// the API server, its signing key, and the controller-manager's key.
type saFiles struct {
	pub, sign, kcm string
	// pubs counts the API server's --service-account-key-file flags.
	pubs int
}

// originalOr is the original of path v, or kubeadm's file name in its
// certificate directory when the flag is not visible.
func originalOr(v, name string) string {
	if v == "" {
		return path.Join(KubeadmPKIDir, name)
	}
	return OriginalPath(v)
}

func (r *renderer) saFiles(h ControlPlaneHost) saFiles {
	def := originalOr
	pubs := h.Components[ComponentAPIServer].Values("service-account-key-file")
	first := ""
	if len(pubs) > 0 {
		first = pubs[0]
	}
	return saFiles{
		pub:  def(first, "sa.pub"),
		sign: def(r.flag(h, ComponentAPIServer, "service-account-signing-key-file"), "sa.key"),
		kcm:  def(r.flag(h, ComponentControllerManager, "service-account-private-key-file"), "sa.key"),
		pubs: len(pubs),
	}
}

func (r *renderer) saStep1(h ControlPlaneHost) {
	if !h.has(ComponentAPIServer) {
		return
	}
	f := r.saFiles(h)
	r.backup("1", h.Node, manifestPath(ComponentAPIServer), []string{"file"})
	r.backup("1", h.Node, f.pub, r.pathDefaults("file"))
	r.writeFile("1", h.Node, VariantPath(f.pub, variantNew), ContentNewSAPublicKey, "The new public key alone, beside "+path.Base(f.pub))
	r.writeFile("1", h.Node, VariantPath(f.pub, variantBundle), ContentSAPublicKeys, "The old and new public keys, beside "+path.Base(f.pub))
	r.writeKey("1", h.Node, VariantPath(f.sign, variantNew), ContentNewSAKey, operatorNewSAKey, "The new private key, beside "+path.Base(f.sign))
	i := r.setFlag("1", h, ComponentAPIServer, "service-account-key-file", VariantPath(f.pub, variantBundle), ContentSAPublicKeys)
	if f.pubs > 1 {
		r.note(i, fmt.Sprintf("kube-apiserver has %d --service-account-key-file flags: each line now names the file of old and new keys, which holds every key /openid/v1/jwks listed at start", f.pubs))
	}
	r.restartStatic("1", h.Node, ComponentAPIServer, true)
}

func (r *renderer) saStep2(h ControlPlaneHost) {
	f := r.saFiles(h)
	if h.has(ComponentAPIServer) {
		r.backup("2", h.Node, manifestPath(ComponentAPIServer), []string{"file"})
		r.setFlag("2", h, ComponentAPIServer, "service-account-signing-key-file", VariantPath(f.sign, variantNew), ContentNewSAKey)
		r.restartStatic("2", h.Node, ComponentAPIServer, true)
	}
	if h.has(ComponentControllerManager) {
		if r.flag(h, ComponentControllerManager, "service-account-private-key-file") == "" {
			r.skip("2", h.Node, ComponentControllerManager, "kube-controller-manager on "+h.Node+" has no --service-account-private-key-file: its tokens controller does not run and signs no legacy token Secret")
			return
		}
		r.backup("2", h.Node, manifestPath(ComponentControllerManager), []string{"file"})
		i := r.setFlag("2", h, ComponentControllerManager, "service-account-private-key-file", VariantPath(f.sign, variantNew), ContentNewSAKey)
		r.note(i, "the controller-manager's tokens controller signs legacy token Secrets with this key")
		r.restartStatic("2", h.Node, ComponentControllerManager, true)
	}
}

func (r *renderer) saStep4(h ControlPlaneHost) {
	f := r.saFiles(h)
	newPub, bundle, newKey := VariantPath(f.pub, variantNew), VariantPath(f.pub, variantBundle), VariantPath(f.sign, variantNew)
	// Nothing reads the originals since steps 1 and 2: the new key pair
	// goes into them, and the flags go back to kubeadm's usual names (a
	// kubeadm upgrade writes the manifests with them again).
	r.backup("4", h.Node, f.pub, r.pathDefaults("file"))
	r.backup("4", h.Node, f.sign, r.pathDefaults("file"))
	// Written and checked by content, not copied from step 1's files: a
	// re-run after those are removed finds these done.
	r.add(Step{Step: "4", Node: h.Node, Action: ActionWriteFile, Description: "The new public key alone into " + path.Base(f.pub) + ", which nothing reads now",
		File: f.pub, Content: ContentNewSAPublicKey, Defaults: r.pathDefaults("file"), Command: heredoc(f.pub, r.d.Contents[ContentNewSAPublicKey], "0644")})
	keys := []string{f.sign}
	if f.kcm != f.sign && h.has(ComponentControllerManager) && r.flag(h, ComponentControllerManager, "service-account-private-key-file") != "" {
		keys = append(keys, f.kcm)
		r.backup("4", h.Node, f.kcm, r.pathDefaults("file"))
	}
	for _, k := range keys {
		r.add(Step{Step: "4", Node: h.Node, Action: ActionWriteFile, Description: "Copy " + path.Base(newKey) + " (step 1's new private key) over " + path.Base(k) + ", which nothing reads now",
			File: k, Content: ContentNewSAKey, Defaults: r.pathDefaults("file"), Command: "install -m 0600 " + shq(newKey) + " " + shq(k)})
	}
	if h.has(ComponentAPIServer) {
		r.backup("4", h.Node, manifestPath(ComponentAPIServer), []string{"file"})
		r.setFlag("4", h, ComponentAPIServer, "service-account-key-file", f.pub, ContentNewSAPublicKey)
		r.setFlag("4", h, ComponentAPIServer, "service-account-signing-key-file", f.sign, ContentNewSAKey)
		r.restartStatic("4", h.Node, ComponentAPIServer, true)
	}
	if h.has(ComponentControllerManager) && r.flag(h, ComponentControllerManager, "service-account-private-key-file") != "" {
		r.backup("4", h.Node, manifestPath(ComponentControllerManager), []string{"file"})
		r.setFlag("4", h, ComponentControllerManager, "service-account-private-key-file", f.kcm, ContentNewSAKey)
		r.restartStatic("4", h.Node, ComponentControllerManager, true)
	}
	for _, p := range []string{bundle, newPub, newKey} {
		r.add(Step{Step: "4", Node: h.Node, Action: ActionRemoveFile, Description: "Remove " + path.Base(p) + " (step 1's transition file), which nothing reads now",
			File: p, Defaults: r.pathDefaults("file"), Command: "rm -f " + shq(p)})
	}
}

// SAKeyNotes are the notes the sa-key instructions print.
func SAKeyNotes(id string) []string {
	return []string{
		"The new private key is yours: generate it (openssl genrsa -out new-sa.key 2048, or an EC P-256 key) and keep it; kubectl carotate never reads it. The scripts read it from $NEW_SA_KEY (default ./new-sa.key) on the node.",
		"Between steps 2 and 4 the API server accepts tokens from both keys: nothing fails. After step 4 a token the old key signed gets 401, which is why steps 3.1 and 3.2 replace them first, and verify --target sa-key checks it.",
		fmt.Sprintf("Each node step first backs up what it changes under /var/backups/carotate-%s/step-<N>/.", id),
	}
}

// saScriptHelpers are the sa-key scripts' helpers beyond scripthelpers.sh
// (the cluster-ca scripts stay as they are).
const saScriptHelpers = `carotate_content() { # FILE SHA256: the file holds exactly what the step wrote
  if [[ ! -f $1 ]]; then
    carotate_why="$1 does not exist"
    return 1
  fi
  if [[ $(sha256sum <"$1" | cut -d' ' -f1) != "$2" ]]; then
    carotate_why="$1 does not hold what the step writes"
    return 1
  fi
}
`
