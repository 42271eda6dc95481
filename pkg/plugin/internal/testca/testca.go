// Package testca makes certificates in memory for the unit tests of the
// command packages: a CA, and a serving certificate it issues.
package testca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// CA is a CA valid for a day.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	PEM  []byte
}

// New makes a CA named cn.
func New(t testing.TB, cn string) CA {
	t.Helper()
	c, k, p, _, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return CA{c, k, p}
}

// Leaf issues a serving certificate for 127.0.0.1 (CN=kube-apiserver)
// from ca.
func Leaf(t testing.TB, ca CA) tls.Certificate {
	t.Helper()
	return issue(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "kube-apiserver"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	})
}

// Client issues a client certificate for cn in orgs from ca, as PEM.
func Client(t testing.TB, ca CA, cn string, orgs ...string) []byte {
	t.Helper()
	c := issue(t, ca, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn, Organization: orgs},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return checks.EncodePEM([]*x509.Certificate{c.Leaf})
}

func issue(t testing.TB, ca CA, tmpl *x509.Certificate) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}
