package drilltest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
)

// AssertClusterInfoSigned checks, by hand, that kube-public/cluster-info's
// data holds for every bootstrap token ("id.secret") a valid detached JWS
// of its kubeconfig: header..signature, HS256 over header.payload keyed by
// the token's secret, kid the token id (what kubeadm join checks).
func AssertClusterInfoSigned(t *testing.T, data map[string]string, tokens []string) {
	t.Helper()
	if len(tokens) == 0 {
		t.Error("no bootstrap token to check cluster-info's signatures with")
	}
	for _, tok := range tokens {
		id, secret, _ := strings.Cut(tok, ".")
		jws := data["jws-kubeconfig-"+id]
		parts := strings.Split(jws, ".")
		if len(parts) != 3 || parts[1] != "" {
			t.Errorf("jws-kubeconfig-%s is not a detached JWS: %q", id, jws)
			continue
		}
		hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
		if err != nil {
			t.Errorf("jws-kubeconfig-%s header: %v", id, err)
			continue
		}
		var h struct{ Alg, Kid string }
		if err := json.Unmarshal(hdr, &h); err != nil || h.Alg != "HS256" || h.Kid != id {
			t.Errorf("jws-kubeconfig-%s header %s (%v)", id, hdr, err)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(data["kubeconfig"]))))
		if got := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(got), []byte(parts[2])) {
			t.Errorf("jws-kubeconfig-%s does not sign the current kubeconfig", id)
		}
	}
}
