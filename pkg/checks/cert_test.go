package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	ca := newCA(t, "root")
	leaf := makeCert(t, certSpec{cn: "leaf", leaf: true, parent: &ca})
	tests := []struct {
		name    string
		tc      testCert
		subject string
		issuer  string
		isCA    bool
		self    bool
		keyType string
		keyBits int
	}{
		{"ECDSA P-256 CA", ca, "CN=root", "CN=root", true, true, "ECDSA", 256},
		{"ECDSA P-384 CA", makeCert(t, certSpec{cn: "p384", keyKind: "p384"}), "CN=p384", "CN=p384", true, true, "ECDSA", 384},
		{"RSA 2048 CA", makeCert(t, certSpec{cn: "rsa", keyKind: "rsa2048"}), "CN=rsa", "CN=rsa", true, true, "RSA", 2048},
		{"Ed25519 CA", makeCert(t, certSpec{cn: "ed", keyKind: "ed25519"}), "CN=ed", "CN=ed", true, true, "Ed25519", 256},
		{"leaf signed by CA", leaf, "CN=leaf", "CN=root", false, false, "ECDSA", 256},
		{"self-signed leaf", makeCert(t, certSpec{cn: "self", leaf: true}), "CN=self", "CN=self", false, true, "ECDSA", 256},
		{"CA without certSign", makeCert(t, certSpec{cn: "nosign", noCertSign: true}), "CN=nosign", "CN=nosign", false, true, "ECDSA", 256},
		// Same name as the issuer but signed by another key: not self-signed.
		{"issuer name equals subject", makeCert(t, certSpec{cn: "root", parent: &ca}), "CN=root", "CN=root", true, false, "ECDSA", 256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Describe(tt.tc.cert)
			if got.Subject != tt.subject || got.Issuer != tt.issuer {
				t.Errorf("subject/issuer = %q/%q, want %q/%q", got.Subject, got.Issuer, tt.subject, tt.issuer)
			}
			if got.IsCA != tt.isCA || got.SelfSigned != tt.self {
				t.Errorf("IsCA/SelfSigned = %v/%v, want %v/%v", got.IsCA, got.SelfSigned, tt.isCA, tt.self)
			}
			if got.KeyType != tt.keyType || got.KeyBits != tt.keyBits {
				t.Errorf("key = %s/%d, want %s/%d", got.KeyType, got.KeyBits, tt.keyType, tt.keyBits)
			}
			sum := sha256.Sum256(tt.tc.cert.Raw)
			if got.Fingerprint != hex.EncodeToString(sum[:]) || got.Fingerprint != Fingerprint(tt.tc.cert) {
				t.Errorf("fingerprint %s is not the SHA-256 of the DER", got.Fingerprint)
			}
			spki := sha256.Sum256(tt.tc.cert.RawSubjectPublicKeyInfo)
			if got.SubjectKeyFingerprint != hex.EncodeToString(spki[:]) {
				t.Errorf("subject key fingerprint %s is not the SHA-256 of the SPKI", got.SubjectKeyFingerprint)
			}
			if !got.NotBefore.Equal(tt.tc.cert.NotBefore) || !got.NotAfter.Equal(tt.tc.cert.NotAfter) {
				t.Errorf("validity %s..%s, want %s..%s", got.NotBefore, got.NotAfter, tt.tc.cert.NotBefore, tt.tc.cert.NotAfter)
			}
		})
	}
}

func TestDescribeKeyFingerprintFollowsKey(t *testing.T) {
	ca := newCA(t, "ca")
	again := reissued(t, ca)
	other := newCA(t, "ca")
	a, b, c := Describe(ca.cert), Describe(again.cert), Describe(other.cert)
	if a.Fingerprint == b.Fingerprint {
		t.Fatal("re-issued certificate has the same fingerprint")
	}
	if a.SubjectKeyFingerprint != b.SubjectKeyFingerprint {
		t.Error("re-issue with the same key changed the subject key fingerprint")
	}
	if a.SubjectKeyFingerprint == c.SubjectKeyFingerprint {
		t.Error("different keys share a subject key fingerprint")
	}
}

func TestDescribeSerial(t *testing.T) {
	tests := []struct {
		serial *big.Int
		want   string
	}{
		{big.NewInt(1), "01"},
		{big.NewInt(255), "ff"},
		{big.NewInt(256), "0100"},
		{big.NewInt(0xabcdef), "abcdef"},
		{new(big.Int).Lsh(big.NewInt(1), 120), "01" + strings.Repeat("00", 15)},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			c := makeCert(t, certSpec{cn: "s", serial: tt.serial})
			if got := Describe(c.cert).Serial; got != tt.want {
				t.Errorf("Serial = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCertInfoJSON(t *testing.T) {
	b, err := json.Marshal(Describe(newCA(t, "ca").cert))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := []string{"subject", "issuer", "serial", "fingerprint", "notBefore", "notAfter", "isCA", "selfSigned", "keyType", "keyBits", "subjectKeyFingerprint"}
	if len(m) != len(want) {
		t.Errorf("JSON has %d keys, want %d: %s", len(m), len(want), b)
	}
	for _, k := range want {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks key %q: %s", k, b)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	end := time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC)
	c := makeCert(t, certSpec{cn: "d", notBefore: end.Add(-400 * day), notAfter: end})
	far := makeCert(t, certSpec{cn: "far", notAfter: time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)})
	tests := []struct {
		name string
		c    testCert
		now  time.Time
		want int
	}{
		{"exactly ten days", c, end.Add(-10 * day), 10},
		{"a second short of ten days", c, end.Add(-10*day + time.Second), 9},
		{"a nanosecond short of one day", c, end.Add(-day + time.Nanosecond), 0},
		{"at expiry", c, end, 0},
		{"a nanosecond after expiry", c, end.Add(time.Nanosecond), -1},
		{"one day after expiry", c, end.Add(day), -1},
		{"just over one day after expiry", c, end.Add(day + time.Second), -2},
		{"year 9999 does not saturate", far, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 2912807},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaysLeft(tt.c.cert, tt.now); got != tt.want {
				t.Errorf("DaysLeft = %d, want %d", got, tt.want)
			}
		})
	}
}
