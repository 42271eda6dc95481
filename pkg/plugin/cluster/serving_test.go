package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
)

func TestChainVerifies(t *testing.T) {
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	leaf := testca.Leaf(t, oldCA).Leaf
	cases := []struct {
		name  string
		chain []*x509.Certificate
		roots []*x509.Certificate
		want  bool
	}{
		{"issuer alone", []*x509.Certificate{leaf}, []*x509.Certificate{oldCA.Cert}, true},
		{"bundle holding the issuer", []*x509.Certificate{leaf}, []*x509.Certificate{newCA.Cert, oldCA.Cert}, true},
		{"another CA", []*x509.Certificate{leaf}, []*x509.Certificate{newCA.Cert}, false},
		{"no roots", []*x509.Certificate{leaf}, nil, false},
		{"no chain", nil, []*x509.Certificate{oldCA.Cert}, false},
		// A server sending the old CA as an "intermediate" must not make the
		// chain trusted by the new CA alone.
		{"sent CA is not a root", []*x509.Certificate{leaf, oldCA.Cert}, []*x509.Certificate{newCA.Cert}, false},
	}
	for _, c := range cases {
		if got := checks.ChainVerifies(c.chain, c.roots); got != c.want {
			t.Errorf("%s: chainVerifies = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestFetchServingChain(t *testing.T) {
	ca := testca.New(t, "serving-ca")
	cert := testca.Leaf(t, ca)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()

	chain, err := FetchServingChain(context.Background(), &rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 1 || !chain[0].Equal(cert.Leaf) {
		t.Fatalf("got %d certificates, want the server's leaf", len(chain))
	}
	if !checks.ChainVerifies(chain, []*x509.Certificate{ca.Cert}) {
		t.Fatal("the fetched chain must verify against its CA")
	}

	// A closed port is an error naming the address, not a hang.
	addr := srv.Listener.Addr().String()
	srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := FetchServingChain(ctx, &rest.Config{Host: "https://" + addr}); err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("closed port: %v", err)
	}
}

func TestServingChainAddress(t *testing.T) {
	cases := []struct {
		host, serverName, addr, sni, err string
	}{
		{host: "https://api.example:6443", addr: "api.example:6443", sni: "api.example"},
		{host: "10.0.0.1", addr: "10.0.0.1:443", sni: "10.0.0.1"},
		{host: "https://[::1]:6443", addr: "[::1]:6443", sni: "::1"},
		{host: "https://10.0.0.1:6443", serverName: "kubernetes", addr: "10.0.0.1:6443", sni: "kubernetes"},
		{host: "http://127.0.0.1:8080", err: "not served over HTTPS"},
		{host: "", err: "names no API server"},
	}
	for _, c := range cases {
		cfg := &rest.Config{Host: c.host}
		cfg.TLSClientConfig.ServerName = c.serverName
		addr, sni, err := ServingChainAddress(cfg)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: error %v, want %q", c.host, err, c.err)
			}
			continue
		}
		if err != nil || addr != c.addr || sni != c.sni {
			t.Errorf("%q: got %q %q %v, want %q %q", c.host, addr, sni, err, c.addr, c.sni)
		}
	}
}
