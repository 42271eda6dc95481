package checks

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"
)

func TestGenerateCA(t *testing.T) {
	before := time.Now()
	time.Sleep(time.Until(before.Truncate(time.Second).Add(time.Second + time.Millisecond)))
	cert, signer, certPEM, keyPEM, err := GenerateCA("test-ca", 48*time.Hour)
	after := time.Now()
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseCertificates("certPEM", certPEM)
	if err != nil {
		t.Fatalf("certificate PEM does not parse strictly: %v", err)
	}
	if len(parsed) != 1 || !parsed[0].Equal(cert) {
		t.Fatal("certificate PEM does not hold the returned certificate")
	}
	info := Describe(cert)
	if !info.IsCA || !info.SelfSigned || info.Subject != "CN=test-ca" || info.KeyType != "ECDSA" || info.KeyBits != 256 {
		t.Errorf("unexpected certificate: %+v", info)
	}
	// An hour before the call, truncated to the second (x509 times have
	// one-second resolution): so between before-1h, truncated, and after-1h.
	// before-1h itself is no lower bound: a second boundary can fall
	// between it and the moment GenerateCA read the clock.
	if lo, hi := before.Add(-time.Hour).Truncate(time.Second), after.Add(-time.Hour); cert.NotBefore.Before(lo) || cert.NotBefore.After(hi) {
		t.Errorf("NotBefore %s is not an hour before the call (between %s and %s)", cert.NotBefore, lo, hi)
	}
	if got := cert.NotAfter.Sub(cert.NotBefore); got != 48*time.Hour {
		t.Errorf("validity %s, want 48h from NotBefore", got)
	}
	if _, err := ValidateCA("generated", []*x509.Certificate{cert}, ValidateOptions{WarnWithin: -1}); err != nil {
		t.Errorf("generated CA fails ValidateCA: %v", err)
	}

	if !ContainsPrivateKey(keyPEM) || ContainsPrivateKey(certPEM) {
		t.Error("ContainsPrivateKey misjudges the generated PEMs")
	}
	block, rest := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("key PEM is not a single PKCS#8 block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, cert.RawSubjectPublicKeyInfo) {
		t.Error("signer does not match the certificate")
	}
	type privateKey interface {
		Equal(crypto.PrivateKey) bool
	}
	if k, ok := key.(privateKey); !ok || !k.Equal(signer) {
		t.Error("key PEM does not hold the signer's key")
	}

	other, _, _, _, err := GenerateCA("test-ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if other.SerialNumber.Cmp(cert.SerialNumber) == 0 {
		t.Error("two CAs got the same serial")
	}
}
