package checks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// clusterInfoTestSign is the bootstrap-token JWS written from RFC 7515
// (compact serialization, HS256) and RFC 7797 appendix F style detaching,
// without the library under test: the header kubeadm and the bootstrap
// signer use, the payload cut out of the result.
func clusterInfoTestSign(content, id, secret string) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": id})
	signingInput := enc.EncodeToString(header) + "." + enc.EncodeToString([]byte(content))
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(signingInput))
	return enc.EncodeToString(header) + ".." + enc.EncodeToString(mac.Sum(nil))
}

// The kubeconfig text of the literal vector below.
const clusterInfoVectorContent = `apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Zm9v
    server: https://10.0.0.1:6443
  name: ""
contexts: null
current-context: ""
kind: Config
users: null
`

// Computed with openssl, outside Go:
//
//	H=$(printf '{"alg":"HS256","kid":"abcdef"}' | b64url)
//	P=$(printf '<content>' | b64url)
//	printf '%s.%s' $H $P | openssl dgst -sha256 -hmac 0123456789abcdef -binary | b64url
const clusterInfoVector = "eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9..F_s5gZsN2UEXJimFQbdHzmCxpF5QdXjDfyrOwQZq6CE"

func clusterInfoToken(id, secret string) BootstrapToken {
	return BootstrapToken{ID: id, Secret: secret, Signing: true}
}

func TestClusterInfoJWSKnownVectors(t *testing.T) {
	if got := clusterInfoTestSign(clusterInfoVectorContent, "abcdef", "0123456789abcdef"); got != clusterInfoVector {
		t.Fatalf("the test's own HS256 disagrees with openssl: %s", got)
	}
	cases := []struct{ content, id, secret string }{
		{clusterInfoVectorContent, "abcdef", "0123456789abcdef"},
		{"", "000000", "zzzzzzzzzzzzzzzz"},
		{"kind: Config\n# ünïcode and \"quotes\"\n", "a1b2c3", "q1w2e3r4t5y6u7i8"},
	}
	for _, c := range cases {
		data := map[string]string{"kubeconfig": c.content}
		set, remove, err := SignClusterInfo(data, []BootstrapToken{clusterInfoToken(c.id, c.secret)})
		if err != nil {
			t.Fatal(err)
		}
		want := clusterInfoTestSign(c.content, c.id, c.secret)
		if got := set["jws-kubeconfig-"+c.id]; got != want || len(set) != 1 || len(remove) != 0 {
			t.Errorf("SignClusterInfo(%q, %s) = %v, remove %v; want %s", c.content, c.id, set, remove, want)
		}
		// Verification must accept exactly the independent signature and
		// reject one over other content or with another key.
		data["jws-kubeconfig-"+c.id] = want
		if s := CheckSignatures(data, []BootstrapToken{clusterInfoToken(c.id, c.secret)}); s[0].State != SignatureValid {
			t.Errorf("independent signature judged %s", s[0].State)
		}
		data["jws-kubeconfig-"+c.id] = clusterInfoTestSign(c.content+"x", c.id, c.secret)
		if s := CheckSignatures(data, []BootstrapToken{clusterInfoToken(c.id, c.secret)}); s[0].State != SignatureStale {
			t.Errorf("signature over other content judged %s", s[0].State)
		}
		data["jws-kubeconfig-"+c.id] = clusterInfoTestSign(c.content, c.id, "another-secret00")
		if s := CheckSignatures(data, []BootstrapToken{clusterInfoToken(c.id, c.secret)}); s[0].State != SignatureStale {
			t.Errorf("signature with another key judged %s", s[0].State)
		}
	}
}

func TestParseBootstrapToken(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	data := func(kv ...string) map[string][]byte {
		m := map[string][]byte{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = []byte(kv[i+1])
		}
		return m
	}
	base := []string{"token-id", "abcdef", "token-secret", "0123456789abcdef", "usage-bootstrap-signing", "true"}
	cases := []struct {
		name    string
		secret  string
		data    map[string][]byte
		canSign bool
		expired bool
		invalid string
	}{
		{"no expiration", "bootstrap-token-abcdef", data(base...), true, false, ""},
		{"future", "bootstrap-token-abcdef", data(append(base, "expiration", "2030-01-03T00:00:00Z")...), true, false, ""},
		{"past", "bootstrap-token-abcdef", data(append(base, "expiration", "2030-01-01T00:00:00Z")...), false, true, ""},
		{"unparseable expiration counts as expired", "bootstrap-token-abcdef", data(append(base, "expiration", "tomorrow")...), false, true, ""},
		{"not for signing", "bootstrap-token-abcdef", data("token-id", "abcdef", "token-secret", "0123456789abcdef", "usage-bootstrap-signing", "yes"), false, false, ""},
		{"id differs from name", "bootstrap-token-zzzzzz", data(base...), false, false, `token-id "abcdef" does not match`},
		{"bad name", "my-token", data(base...), false, false, "is not bootstrap-token-"},
		{"no secret", "bootstrap-token-abcdef", data("token-id", "abcdef", "usage-bootstrap-signing", "true"), false, false, "no token-secret"},
	}
	for _, c := range cases {
		tok := ParseBootstrapToken(c.secret, c.data, now)
		if tok.CanSign() != c.canSign || tok.Expired != c.expired || (c.invalid == "") != (tok.Invalid == "") || !strings.Contains(tok.Invalid, c.invalid) {
			t.Errorf("%s: got %+v (canSign %v)", c.name, tok, tok.CanSign())
		}
	}
	// The secret must never reach a report.
	b, _ := json.Marshal(ParseBootstrapToken("bootstrap-token-abcdef", data(base...), now))
	if strings.Contains(string(b), "0123456789abcdef") {
		t.Errorf("token secret in JSON: %s", b)
	}
}

func TestCheckAndSignClusterInfo(t *testing.T) {
	content := clusterInfoVectorContent
	old := strings.Replace(content, "Zm9v", "YmFy", 1)
	good := clusterInfoToken("aaaaaa", "aaaaaaaaaaaaaaaa")
	stale := clusterInfoToken("bbbbbb", "bbbbbbbbbbbbbbbb")
	unsigned := clusterInfoToken("cccccc", "cccccccccccccccc")
	expired := BootstrapToken{ID: "dddddd", Secret: "dddddddddddddddd", Signing: true, Expired: true, Expiration: "2020-01-01T00:00:00Z"}
	authOnly := BootstrapToken{ID: "eeeeee", Secret: "eeeeeeeeeeeeeeee"}
	expiredUnsigned := BootstrapToken{ID: "gggggg", Secret: "gggggggggggggggg", Signing: true, Expired: true, Expiration: "2020-01-01T00:00:00Z"}
	quiet := BootstrapToken{ID: "hhhhhh", Secret: "hhhhhhhhhhhhhhhh"} // neither signs nor signed: not reported
	tokens := []BootstrapToken{good, stale, unsigned, expired, authOnly, expiredUnsigned, quiet}
	data := map[string]string{
		"kubeconfig":            content,
		"jws-kubeconfig-aaaaaa": clusterInfoTestSign(content, good.ID, good.Secret),
		"jws-kubeconfig-bbbbbb": clusterInfoTestSign(old, stale.ID, stale.Secret),
		"jws-kubeconfig-dddddd": clusterInfoTestSign(content, expired.ID, expired.Secret),
		"jws-kubeconfig-eeeeee": clusterInfoTestSign(content, authOnly.ID, authOnly.Secret),
		"jws-kubeconfig-ffffff": "eyJhbGciOiJIUzI1NiIsImtpZCI6ImZmZmZmZiJ9..x",
		"other-key":             "kept",
	}
	got := map[string]SignatureState{}
	for _, s := range CheckSignatures(data, tokens) {
		got[s.TokenID] = s.State
	}
	want := map[string]SignatureState{
		"aaaaaa": SignatureValid, "bbbbbb": SignatureStale, "cccccc": SignatureUnsigned, "dddddd": SignatureExpired,
		"eeeeee": SignatureNotSigning, "ffffff": SignatureNoToken, "gggggg": SignatureExpired,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("CheckSignatures:\n got  %v\n want %v", got, want)
	}

	set, remove, err := SignClusterInfo(data, tokens)
	if err != nil {
		t.Fatal(err)
	}
	wantSet := map[string]string{
		"jws-kubeconfig-bbbbbb": clusterInfoTestSign(content, stale.ID, stale.Secret),
		"jws-kubeconfig-cccccc": clusterInfoTestSign(content, unsigned.ID, unsigned.Secret),
	}
	if !reflect.DeepEqual(set, wantSet) {
		t.Errorf("set = %v, want %v (a valid signature is not rewritten)", set, wantSet)
	}
	if want := []string{"jws-kubeconfig-dddddd", "jws-kubeconfig-eeeeee", "jws-kubeconfig-ffffff"}; !reflect.DeepEqual(remove, want) {
		t.Errorf("remove = %v, want %v", remove, want)
	}
	if SignaturesSettled(data, tokens) {
		t.Error("settled before signing")
	}
	after := map[string]string{}
	for k, v := range data {
		after[k] = v
	}
	for k, v := range set {
		after[k] = v
	}
	for _, k := range remove {
		delete(after, k)
	}
	if !SignaturesSettled(after, tokens) {
		t.Error("not settled after applying SignClusterInfo")
	}
	// The vector's CA data is not PEM, so that is the one problem left.
	r := CheckClusterInfo(after, tokens, nil)
	if len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "certificate-authority-data: not PEM") || r.MatchesCA != nil {
		t.Errorf("after signing: %+v", r)
	}
	marked := MarkResigned(CheckSignatures(after, tokens), data, after, "kubectl carotate")
	states := map[string]SignatureState{}
	for _, s := range marked {
		states[s.TokenID] = s.State
	}
	if states["aaaaaa"] != SignatureValid || states["bbbbbb"] != SignatureResigned || states["cccccc"] != SignatureResigned || states["gggggg"] != SignatureExpired {
		t.Errorf("MarkResigned: %v", states)
	}
	if _, _, err := SignClusterInfo(map[string]string{}, tokens); err == nil {
		t.Error("signing without a kubeconfig key succeeded")
	}
}

// kubeadm writes cluster-info with clientcmd.Write: one unnamed cluster.
func clusterInfoKubeadm(t *testing.T, server string, ca []byte) []byte {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: ca}
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReplaceClusterInfoCAKubeadm(t *testing.T) {
	oldCA, newCA := newCA(t, "old"), newCA(t, "new")
	in := clusterInfoKubeadm(t, "https://10.0.0.1:6443", oldCA.pem)
	bundle := BuildBundle(certs(newCA), certs(oldCA))
	out, changed, err := ReplaceClusterInfoCA(in, bundle)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	// Exactly one line differs: the CA data.
	a, b := strings.Split(string(in), "\n"), strings.Split(string(out), "\n")
	if len(a) != len(b) {
		t.Fatalf("line count changed:\n%s\n---\n%s", in, out)
	}
	for i := range a {
		if a[i] != b[i] && !strings.HasPrefix(strings.TrimSpace(a[i]), "certificate-authority-data: ") {
			t.Errorf("line %d changed: %q -> %q", i+1, a[i], b[i])
		}
	}
	kc, err := ParseClusterInfoKubeconfig(out)
	if err != nil || string(kc.CAData) != string(bundle) || kc.Server != "https://10.0.0.1:6443" || kc.Cluster != "" {
		t.Errorf("parsed back: %+v, %v", kc, err)
	}
	// A re-run is a no-op, byte for byte.
	again, changed, err := ReplaceClusterInfoCA(out, bundle)
	if err != nil || changed || string(again) != string(out) {
		t.Errorf("re-run: changed %v err %v", changed, err)
	}
}

const clusterInfoRich = `apiVersion: v1
kind: Config
current-context: join
preferences:
  colors: true
clusters:
- name: zeta
  cluster:
    server: https://zeta.example:6443
    certificate-authority-data: WkVUQQ==
- name: main
  cluster:
    server: https://main.example:6443
    tls-server-name: api.main.example
    proxy-url: http://proxy.example:3128
    certificate-authority: /etc/kubernetes/pki/ca.crt
    extensions:
    - name: client.authentication.k8s.io/exec
      extension:
        audience: main
contexts:
- name: join
  context:
    cluster: main
    user: nobody
    namespace: kube-public
users:
- name: nobody
  user: {}
extensions:
- name: top
  extension:
    apiVersion: v1
    kind: Marker
    note: keep me
`

func TestReplaceClusterInfoCAKeepsEverythingElse(t *testing.T) {
	ca := newCA(t, "new")
	out, changed, err := ReplaceClusterInfoCA([]byte(clusterInfoRich), ca.pem)
	if err != nil || !changed {
		t.Fatalf("changed %v, err %v", changed, err)
	}
	before, err := clientcmd.Load([]byte(clusterInfoRich))
	if err != nil {
		t.Fatal(err)
	}
	after, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if string(after.Clusters["main"].CertificateAuthorityData) != string(ca.pem) || after.Clusters["main"].CertificateAuthority != "" {
		t.Fatalf("the current context's cluster was not rewritten: %+v", after.Clusters["main"])
	}
	// Apart from the two CA fields of the entry we own, the parsed configs
	// are equal, and so are their serializations.
	before.Clusters["main"].CertificateAuthorityData = ca.pem
	before.Clusters["main"].CertificateAuthority = ""
	if !reflect.DeepEqual(before, after) {
		t.Errorf("round trip changed other fields:\n before %#v\n after  %#v", before, after)
	}
	bb, _ := clientcmd.Write(*before)
	ab, _ := clientcmd.Write(*after)
	if string(bb) != string(ab) {
		t.Errorf("serializations differ:\n%s\n---\n%s", bb, ab)
	}
	if string(after.Clusters["zeta"].CertificateAuthorityData) != "ZETA" {
		t.Errorf("another cluster's CA changed: %q", after.Clusters["zeta"].CertificateAuthorityData)
	}
}

func TestReplaceClusterInfoCARefuses(t *testing.T) {
	ca := newCA(t, "new").pem
	cases := map[string]struct{ in, want string }{
		"empty":          {"", "empty"},
		"not yaml":       {"{{{", "does not parse"},
		"no entry":       {"apiVersion: v1\nkind: Config\nclusters:\n- name: a\n  cluster: {server: https://a}\n", "no unnamed cluster"},
		"dangling ctx":   {"apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: gone}\n", `names cluster "gone"`},
		"unknown fields": {"apiVersion: v1\nkind: Config\nclusters:\n- name: \"\"\n  cluster:\n    server: https://a\n    future-field: x\nsomething-new: 1\n", `clusters[""].cluster.future-field, something-new`},
	}
	for name, c := range cases {
		_, _, err := ReplaceClusterInfoCA([]byte(c.in), ca)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want it to mention %q", name, err, c.want)
		}
	}
	if _, _, err := ReplaceClusterInfoCA(clusterInfoKubeadm(t, "https://a", ca), nil); err == nil {
		t.Error("empty CA accepted")
	}
}

func TestCheckClusterInfoCA(t *testing.T) {
	oldCA, newCA := newCA(t, "old"), newCA(t, "new")
	bundle := BuildBundle(certs(newCA), certs(oldCA))
	tok := clusterInfoToken("abcdef", "0123456789abcdef")
	kc := string(clusterInfoKubeadm(t, "https://a:6443", bundle))
	data := map[string]string{"kubeconfig": kc, "jws-kubeconfig-abcdef": clusterInfoTestSign(kc, tok.ID, tok.Secret)}

	r := CheckClusterInfo(data, []BootstrapToken{tok}, certs(oldCA, newCA))
	if !r.Consistent || r.MatchesCA == nil || !*r.MatchesCA || len(r.CAs) != 2 || r.CAs[0].Fingerprint != Fingerprint(newCA.cert) {
		t.Errorf("bundle vs old+new: %+v", r)
	}
	r = CheckClusterInfo(data, []BootstrapToken{tok}, certs(newCA))
	if r.Consistent || r.MatchesCA == nil || *r.MatchesCA {
		t.Errorf("bundle vs new alone must not match: %+v", r)
	}
	r = CheckClusterInfo(map[string]string{"kubeconfig": kc}, []BootstrapToken{tok}, nil)
	if r.Consistent || len(r.Problems) != 1 || !strings.Contains(r.Problems[0], "abcdef: signature unsigned") {
		t.Errorf("unsigned token: %+v", r)
	}
	bad := string(clusterInfoKubeadm(t, "https://a:6443", []byte("not pem")))
	r = CheckClusterInfo(map[string]string{"kubeconfig": bad}, nil, certs(newCA))
	if r.Consistent || r.MatchesCA == nil || *r.MatchesCA || len(r.CAs) != 0 {
		t.Errorf("bad CA data: %+v", r)
	}
	r = CheckClusterInfo(map[string]string{}, nil, nil)
	if r.Consistent {
		t.Errorf("no kubeconfig key: %+v", r)
	}
}
