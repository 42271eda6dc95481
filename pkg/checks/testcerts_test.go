package checks

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testNow is fixed so validity windows, expiry dates in messages and
// DaysLeft are the same on every run.
var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// certSpec describes a test certificate; the zero value (plus a CN) is a
// healthy self-signed ECDSA P-256 CA valid a year around testNow.
type certSpec struct {
	cn         string
	leaf       bool // no basicConstraints CA:true, no certSign
	noCertSign bool // CA:true but keyUsage without certSign
	notBefore  time.Time
	notAfter   time.Time
	serial     *big.Int
	key        crypto.Signer // reuse a key, e.g. to re-issue a CA with it
	keyKind    string        // "" (P-256), "p384", "rsa2048", "ed25519"
	parent     *testCert     // issuer; nil means self-signed
}

type testCert struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
	rsaErr  error
)

// sharedRSAKey is generated once: 2048-bit generation is slow enough to
// matter on a loaded machine, and the tests only need its size.
func sharedRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	rsaOnce.Do(func() { rsaKey, rsaErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaErr != nil {
		t.Fatal(rsaErr)
	}
	return rsaKey
}

func newKey(t testing.TB, kind string) crypto.Signer {
	t.Helper()
	var (
		k   crypto.Signer
		err error
	)
	switch kind {
	case "":
		k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "p384":
		k, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "rsa2048":
		k = sharedRSAKey(t)
	case "ed25519":
		_, k, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// serials only need to differ between certificates of one test.
var serialCounter atomic.Int64

func makeCert(t testing.TB, s certSpec) testCert {
	t.Helper()
	key := s.key
	if key == nil {
		key = newKey(t, s.keyKind)
	}
	serial := s.serial
	if serial == nil {
		serial = big.NewInt(1000 + serialCounter.Add(1))
	}
	notBefore, notAfter := s.notBefore, s.notAfter
	if notBefore.IsZero() {
		notBefore = testNow.Add(-30 * day)
	}
	if notAfter.IsZero() {
		notAfter = testNow.Add(365 * day)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: s.cn},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  !s.leaf,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
	}
	if s.leaf {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	if s.noCertSign {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
	}
	parent, signer := tmpl, key
	if s.parent != nil {
		parent, signer = s.parent.cert, s.parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{
		cert: cert,
		key:  key,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}
}

func newCA(t testing.TB, cn string) testCert {
	t.Helper()
	return makeCert(t, certSpec{cn: cn})
}

func expiredCA(t testing.TB, cn string) testCert {
	t.Helper()
	return makeCert(t, certSpec{cn: cn, notBefore: testNow.Add(-400 * day), notAfter: testNow.Add(-2 * day)})
}

func notYetValidCA(t testing.TB, cn string) testCert {
	t.Helper()
	return makeCert(t, certSpec{cn: cn, notBefore: testNow.Add(3 * day), notAfter: testNow.Add(400 * day)})
}

func expiringCA(t testing.TB, cn string) testCert {
	t.Helper()
	return makeCert(t, certSpec{cn: cn, notAfter: testNow.Add(10 * day)})
}

// reissued signs a new CA certificate with the same key as orig, as a
// "renewal" that does not actually rotate anything.
func reissued(t testing.TB, orig testCert) testCert {
	t.Helper()
	return makeCert(t, certSpec{cn: orig.cert.Subject.CommonName, key: orig.key, notAfter: testNow.Add(700 * day)})
}

func keyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func certs(tcs ...testCert) []*x509.Certificate {
	out := make([]*x509.Certificate, len(tcs))
	for i, tc := range tcs {
		out[i] = tc.cert
	}
	return out
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
