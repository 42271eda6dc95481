package checks

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"math/big"
	"time"
)

// CertInfo is the summary of a certificate that commands print and compare.
// Hex strings are lowercase without colons so they can be compared as plain
// strings and pasted into grep.
type CertInfo struct {
	Subject               string    `json:"subject"`
	Issuer                string    `json:"issuer"`
	Serial                string    `json:"serial"`
	Fingerprint           string    `json:"fingerprint"`
	NotBefore             time.Time `json:"notBefore"`
	NotAfter              time.Time `json:"notAfter"`
	IsCA                  bool      `json:"isCA"`
	SelfSigned            bool      `json:"selfSigned"`
	KeyType               string    `json:"keyType"`
	KeyBits               int       `json:"keyBits"`
	SubjectKeyFingerprint string    `json:"subjectKeyFingerprint"`
}

// Describe summarises c.
func Describe(c *x509.Certificate) CertInfo {
	keyType, keyBits := keyInfo(c)
	return CertInfo{
		Subject:               c.Subject.String(),
		Issuer:                c.Issuer.String(),
		Serial:                serialHex(c),
		Fingerprint:           Fingerprint(c),
		NotBefore:             c.NotBefore,
		NotAfter:              c.NotAfter,
		IsCA:                  isCA(c),
		SelfSigned:            selfSigned(c),
		KeyType:               keyType,
		KeyBits:               keyBits,
		SubjectKeyFingerprint: keyFingerprint(c),
	}
}

// Fingerprint is the SHA-256 of the certificate's DER, the identity used
// everywhere in this package: two certificates are "the same" only if every
// byte matches, whatever their subjects say.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

// keyFingerprint identifies the key pair, so a CA re-issued with the old
// key is recognised even though its certificate fingerprint differs.
func keyFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// DaysLeft is the floor of the days remaining until NotAfter; negative once
// expired, so that "expired less than a day ago" reads as -1, not 0.
func DaysLeft(c *x509.Certificate, now time.Time) int {
	// Whole seconds avoid time.Duration, which saturates at ~292 years and
	// would misreport certificates that expire in 9999.
	secs := c.NotAfter.Unix() - now.Unix()
	if c.NotAfter.Nanosecond() < now.Nanosecond() {
		secs--
	}
	const day = 24 * 60 * 60
	days := secs / day
	if secs%day < 0 {
		days--
	}
	return int(days)
}

// isCA needs both the basic constraint and certSign. Go's verifier ignores
// keyUsage, but RFC 5280 forbids using a key without keyCertSign to check
// certificate signatures and OpenSSL-based clients enforce it, so a CA
// lacking it would work for the API server yet break other clients. It is
// required even when the keyUsage extension is absent, which RFC 5280
// would tolerate, because a CA for a rotation should be unambiguous.
func isCA(c *x509.Certificate) bool {
	return c.BasicConstraintsValid && c.IsCA && c.KeyUsage&x509.KeyUsageCertSign != 0
}

// selfSigned uses CheckSignature rather than CheckSignatureFrom because the
// latter also demands CA constraints; a self-signed non-CA is still
// self-signed and we want to report the two facts separately.
func selfSigned(c *x509.Certificate) bool {
	if !bytes.Equal(c.RawIssuer, c.RawSubject) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

func keyInfo(c *x509.Certificate) (string, int) {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return "RSA", k.N.BitLen()
	case *ecdsa.PublicKey:
		if k.Curve == nil {
			return "ECDSA", 0
		}
		return "ECDSA", k.Curve.Params().BitSize
	case ed25519.PublicKey:
		return "Ed25519", 256
	default:
		return "unknown", 0
	}
}

// serialHex pads to an even number of digits so the value matches
// `openssl x509 -serial` (lowercased), which users will compare it with.
func serialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	neg := c.SerialNumber.Sign() < 0
	s := hex.EncodeToString(new(big.Int).Abs(c.SerialNumber).Bytes())
	if s == "" {
		s = "00"
	}
	if neg {
		return "-" + s
	}
	return s
}
