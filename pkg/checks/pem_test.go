package checks

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func pemBlock(typ string, b []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// secretLines returns the base64 body lines of every PRIVATE KEY block in
// data. It is written independently of the parser's own redaction so the
// tests do not just restate the implementation.
func secretLines(data []byte) []string {
	var out []string
	inKey := false
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case strings.Contains(line, "-----BEGIN") && strings.Contains(strings.ToUpper(line), "PRIVATE KEY"):
			inKey = true
		case strings.Contains(line, "-----END"):
			inKey = false
		case inKey:
			s := strings.TrimSpace(line)
			if len(s) >= 16 && isBase64Text(s) {
				out = append(out, s)
			}
		}
	}
	return out
}

func isBase64Text(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '+', r == '/', r == '=':
		default:
			return false
		}
	}
	return true
}

func TestParseCertificatesValid(t *testing.T) {
	a, b, c := newCA(t, "a"), newCA(t, "b"), newCA(t, "c")
	crlf := bytes.ReplaceAll(a.pem, []byte("\n"), []byte("\r\n"))
	tests := []struct {
		name string
		in   []byte
		want []testCert
	}{
		{"single", a.pem, []testCert{a}},
		{"bundle keeps order", concat(c.pem, a.pem, b.pem), []testCert{c, a, b}},
		{"whitespace around and between", concat([]byte("\n \t\n"), a.pem, []byte("\n\n  \n"), b.pem, []byte("\n\t \n")), []testCert{a, b}},
		{"no final newline", bytes.TrimSuffix(a.pem, []byte("\n")), []testCert{a}},
		{"CRLF line endings", crlf, []testCert{a}},
		{"UTF-8 BOM", concat([]byte("\xef\xbb\xbf"), a.pem), []testCert{a}},
		{"duplicates are kept", concat(a.pem, a.pem), []testCert{a, a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCertificates("f.pem", tt.in)
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d certificates, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if !got[i].Equal(tt.want[i].cert) {
					t.Errorf("certificate %d is %s, want %s", i+1, got[i].Subject, tt.want[i].cert.Subject)
				}
			}
		})
	}
}

func TestParseCertificatesErrors(t *testing.T) {
	ca := newCA(t, "ca")
	ca2 := newCA(t, "ca2")

	ecKey := ca.key.(*ecdsa.PrivateKey)
	pkcs8 := keyPEM(t, ecKey)
	sec1DER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pemBlock("EC PRIVATE KEY", sec1DER)
	rsaPKCS1 := pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(sharedRSAKey(t)))
	encrypted := pemBlock("ENCRYPTED PRIVATE KEY", randomBytes(t, 300))
	openssh := pemBlock("OPENSSH PRIVATE KEY", randomBytes(t, 300))
	// A key cut off mid-way still has to be reported as a key.
	truncatedKey := pkcs8[:len(pkcs8)*2/3]

	csrDER, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "csr"}}, ecKey)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(ecKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	// Valid PEM wrapping bytes that are not a certificate.
	badCert := pemBlock("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01})
	certBody := strings.TrimSuffix(strings.TrimPrefix(string(ca.pem), "-----BEGIN CERTIFICATE-----\n"), "-----END CERTIFICATE-----\n")

	// A crafted input whose block type repeats a line of the key below it:
	// echoing the type would print key material.
	secretLine := secretLines(pkcs8)[0]
	echoTrap := concat([]byte("-----BEGIN "+secretLine+"-----\nAAAA\n-----END "+secretLine+"-----\n"), pkcs8)

	tests := []struct {
		name      string
		in        []byte
		wantBlock int
		want      []string // substrings of the error message
		not       []string // substrings that must not appear
	}{
		{name: "empty", in: nil, want: []string{"src: no certificate found (empty input)"}},
		{name: "whitespace only", in: []byte(" \n\t\r\n "), want: []string{"src: no certificate found (empty input)"}},
		{name: "DER certificate", in: ca.cert.Raw, want: []string{"src: not PEM", "looks like DER; convert with openssl x509 -inform der"}},
		{name: "DER bundle", in: concat(ca.cert.Raw, ca2.cert.Raw), want: []string{"not PEM", "looks like DER"}},
		{name: "DER private key", in: sec1DER, want: []string{"src: not PEM", "private key", "never the key"}, not: []string{"looks like DER; convert"}},
		{name: "random text", in: []byte("hello world\n"), want: []string{"src: not PEM"}, not: []string{"DER"}},
		{name: "text starting with 0", in: []byte("0 certificates here, sorry, nothing to see at all in this file\n"), want: []string{"not PEM"}, not: []string{"DER"}},
		{name: "openssl -text preamble", in: concat([]byte("Certificate:\n    Data:\n        Version: 3 (0x2)\n"), ca.pem), want: []string{"src: unexpected text before block 1 (not PEM)"}},
		{name: "PKCS#8 key", in: pkcs8, wantBlock: 1, want: []string{"src: block 1 is a private key (PRIVATE KEY); pass the certificate, never the key"}},
		{name: "SEC1 key", in: sec1, wantBlock: 1, want: []string{"src: block 1 is a private key (EC PRIVATE KEY); pass the certificate, never the key"}},
		{name: "PKCS#1 key", in: rsaPKCS1, wantBlock: 1, want: []string{"src: block 1 is a private key (RSA PRIVATE KEY); pass the certificate, never the key"}},
		{name: "encrypted key", in: encrypted, wantBlock: 1, want: []string{"src: block 1 is a private key (ENCRYPTED PRIVATE KEY)"}},
		{name: "OpenSSH key", in: openssh, wantBlock: 1, want: []string{"src: block 1 is a private key (OPENSSH PRIVATE KEY)"}},
		{name: "cert then key", in: concat(ca.pem, pkcs8), wantBlock: 2, want: []string{"src: block 2 is a private key (PRIVATE KEY)"}},
		{name: "key then cert", in: concat(sec1, ca.pem), wantBlock: 1, want: []string{"src: block 1 is a private key (EC PRIVATE KEY)"}},
		{name: "truncated key", in: concat(ca.pem, truncatedKey), wantBlock: 2, want: []string{"src: block 2 is a private key (PRIVATE KEY)"}},
		{name: "block type echo withheld", in: echoTrap, wantBlock: 1, want: []string{"src: block 1 is rejected (details withheld"}},
		{name: "CSR", in: pemBlock("CERTIFICATE REQUEST", csrDER), wantBlock: 1, want: []string{"src: block 1 is a certificate request, not a certificate"}},
		{name: "old-style CSR after cert", in: concat(ca.pem, pemBlock("NEW CERTIFICATE REQUEST", csrDER)), wantBlock: 2, want: []string{"src: block 2 is a certificate request, not a certificate"}},
		{name: "public key", in: pemBlock("PUBLIC KEY", pubDER), wantBlock: 1, want: []string{"src: block 1 has type PUBLIC KEY, not CERTIFICATE"}},
		{name: "CRL after bundle", in: concat(ca.pem, ca2.pem, pemBlock("X509 CRL", []byte{1})), wantBlock: 3, want: []string{"src: block 3 has type X509 CRL, not CERTIFICATE"}},
		{name: "control bytes in type are quoted", in: pemBlock("EVIL\x1b[2J", []byte{1}), wantBlock: 1, want: []string{`"EVIL\x1b[2J"`}, not: []string{"\x1b"}},
		{name: "trailing garbage", in: concat(ca.pem, []byte("garbage\n")), wantBlock: 1, want: []string{"src: trailing data after block 1"}},
		{name: "trailing garbage after bundle", in: concat(ca.pem, ca2.pem, []byte("\n\n}")), wantBlock: 2, want: []string{"src: trailing data after block 2"}},
		{name: "garbage between blocks", in: concat(ca.pem, []byte("# comment\n"), ca2.pem), wantBlock: 1, want: []string{"src: trailing data after block 1"}},
		{name: "unparseable certificate", in: concat(ca.pem, badCert), wantBlock: 2, want: []string{"src: block 2: cannot parse certificate: x509: "}},
		{name: "missing END", in: []byte("-----BEGIN CERTIFICATE-----\n" + certBody), wantBlock: 1, want: []string{"src: block 1 (CERTIFICATE) is not valid PEM"}},
		{name: "mismatched END", in: []byte("-----BEGIN CERTIFICATE-----\n" + certBody + "-----END X509 CRL-----\n"), wantBlock: 1, want: []string{"block 1 (CERTIFICATE) is not valid PEM"}},
		{name: "bad base64", in: []byte("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), wantBlock: 1, want: []string{"block 1 (CERTIFICATE) is not valid PEM"}},
		{name: "damaged block skipped by pem.Decode", in: concat([]byte("-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n"), ca.pem), wantBlock: 1, want: []string{"block 1 (CERTIFICATE) is not valid PEM"}},
		{name: "BEGIN without END dashes", in: concat(ca.pem, []byte("-----BEGIN CERTIFICATE\nAAAA\n-----END CERTIFICATE-----\n")), wantBlock: 2, want: []string{"src: block 2 is not valid PEM: its BEGIN line does not end in"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCertificates("src", tt.in)
			if err == nil {
				t.Fatalf("no error; parsed %d certificates", len(got))
			}
			if got != nil {
				t.Errorf("certificates returned along with the error")
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("error %T is not an *InputError: %v", err, err)
			}
			if ie.Source != "src" || ie.Block != tt.wantBlock {
				t.Errorf("Source=%q Block=%d, want src and %d", ie.Source, ie.Block, tt.wantBlock)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
			for _, n := range append(tt.not, secretLines(tt.in)...) {
				if strings.Contains(msg, n) {
					t.Errorf("error %q contains %q", msg, n)
				}
			}
		})
	}
}

func TestContainsPrivateKey(t *testing.T) {
	ca := newCA(t, "ca")
	key := keyPEM(t, ca.key)
	sec1DER, err := x509.MarshalECPrivateKey(ca.key.(*ecdsa.PrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   []byte
		want bool
	}{
		{"certificate", ca.pem, false},
		{"empty", nil, false},
		{"PKCS#8 key", key, true},
		{"cert and key", concat(ca.pem, key), true},
		{"RSA key header", []byte("-----BEGIN RSA PRIVATE KEY-----\n"), true},
		{"OpenSSH key", pemBlock("OPENSSH PRIVATE KEY", []byte{1, 2, 3}), true},
		{"damaged key", key[:40], true},
		{"embedded in JSON", []byte(`{"tls.key": "-----BEGIN EC PRIVATE KEY-----\nMHcC..."}`), true},
		{"DER key", sec1DER, true},
		{"DER certificate", ca.cert.Raw, false},
		{"public key", pemBlock("PUBLIC KEY", []byte{1}), false},
		{"words in text", []byte("rotate the private key later"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContainsPrivateKey(tt.in); got != tt.want {
				t.Errorf("ContainsPrivateKey = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseCertificates(f *testing.F) {
	a, b := newCA(f, "a"), newCA(f, "b")
	key := keyPEM(f, a.key)
	f.Add(a.pem)
	f.Add(concat(a.pem, b.pem))
	f.Add(key)
	f.Add(concat(a.pem, key))
	f.Add(concat(key, a.pem, []byte("junk")))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("not a certificate at all"))
	f.Add(a.cert.Raw)
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		certs, err := ParseCertificates("fuzz", data)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates returned along with an error")
			}
			var ie *InputError
			if !errors.As(err, &ie) || ie.Source != "fuzz" {
				t.Fatalf("error is not an *InputError for source fuzz: %v", err)
			}
			msg := err.Error()
			for _, s := range secretLines(data) {
				if strings.Contains(msg, s) {
					t.Fatalf("error %q repeats private key line %q", msg, s)
				}
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no error and no certificates")
		}
		// Whatever was accepted must survive our own encoding unchanged.
		again, err := ParseCertificates("re-encoded", EncodePEM(certs))
		if err != nil {
			t.Fatalf("re-encoded certificates do not parse: %v", err)
		}
		if !SameCertificates(certs, again) {
			t.Fatal("re-encoding changed the certificate set")
		}
	})
}
