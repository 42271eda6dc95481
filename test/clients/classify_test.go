package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// get makes the simulator's request, GET /api through client-go, to a
// test server, trusting caPEM.
func get(t *testing.T, host string, caPEM []byte, timeout time.Duration) error {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: host, BearerToken: "t", Timeout: timeout,
		TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}})
	if err != nil {
		t.Fatal(err)
	}
	return dc.RESTClient().Get().AbsPath("/api").Do(context.Background()).Error()
}

func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// tlsServer is httptest's TLS server without its handshake-error log (the
// untrusted cases make some on purpose).
func tlsServer(h http.Handler, http2 bool) *httptest.Server {
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.EnableHTTP2 = http2
	srv.StartTLS()
	return srv
}

func serverCA(srv *httptest.Server) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

func TestClassify(t *testing.T) {
	status := func(code int, reason string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"` + reason + `","code":` + strconv.Itoa(code) + `}`))
		}
	}
	ok := tlsServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
	}), true)
	defer ok.Close()
	unauthorized := tlsServer(status(http.StatusUnauthorized, "Unauthorized"), true)
	defer unauthorized.Close()
	forbidden := tlsServer(status(http.StatusForbidden, "Forbidden"), true)
	defer forbidden.Close()
	release := make(chan struct{})
	stalled := tlsServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }), true)
	defer stalled.Close()
	defer close(release)
	// A server that drops every connection: client-go retries the GET ten
	// times (a second apart) and then gives up with the reset.
	drops := tlsServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}), false)
	defer drops.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + l.Addr().String()
	l.Close()

	for _, tc := range []struct {
		name    string
		host    string
		ca      []byte
		timeout time.Duration
		want    Outcome
	}{
		{"answer", ok.URL, serverCA(ok), 0, OK},
		{"serving certificate from another CA", ok.URL, selfSignedPEM(t), 0, TLSFailure},
		{"401", unauthorized.URL, serverCA(unauthorized), 0, Unauthorized},
		{"401 untrusted is a TLS failure first", unauthorized.URL, selfSignedPEM(t), 0, TLSFailure},
		{"403", forbidden.URL, serverCA(forbidden), 0, OtherError},
		{"connection refused", closed, serverCA(ok), 0, Unreachable},
		{"no answer in time", stalled.URL, serverCA(stalled), 300 * time.Millisecond, Unreachable},
		{"connection dropped", drops.URL, serverCA(drops), 3 * time.Second, Unreachable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := get(t, tc.host, tc.ca, tc.timeout)
			if got := Classify(err); got != tc.want {
				t.Errorf("Classify(%v) = %s, want %s", err, got, tc.want)
			}
		})
	}
}

// TestClassifyGaveUp: client-go's own words when it stops retrying because
// the next attempt would not finish before the request's deadline (seen in
// TestClassify's dropped connection, now and then).
func TestClassifyGaveUp(t *testing.T) {
	err := errors.New("client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context deadline - error from a previous attempt: EOF")
	if got := Classify(err); got != Unreachable {
		t.Errorf("Classify(%v) = %s, want unreachable", err, got)
	}
}
