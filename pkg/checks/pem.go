// Package checks is the pure certificate core of kubectl-carotate: parsing,
// describing and comparing CA certificates. It does no I/O and knows nothing
// about Kubernetes, so every rule can be tested with certificates made in
// memory.
package checks

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"fmt"
	"strings"
)

// InputError reports input that is not a clean PEM list of certificates.
// Block is the 1-based number of the PEM block the problem is in (or follows,
// for trailing data); it is 0 when the problem is not tied to one block.
// Reason is the complete text after the source, so callers that want their
// own wording can still reuse it.
type InputError struct {
	Source string
	Block  int
	Reason string
}

func (e *InputError) Error() string {
	return e.Source + ": " + e.Reason
}

const (
	pemBegin = "-----BEGIN "
	pemDash  = "-----"
	utf8BOM  = "\xef\xbb\xbf"
	// Lines shorter than this are too short to be worth treating as secret:
	// redacting them would mangle ordinary words in our own messages.
	minSecretLine = 8
)

// ParseCertificates parses PEM input strictly. source names the input in
// errors (a file path, "configmap/ns/name[ca.crt]", ...).
//
// Strictness matters because a CA bundle is trust material: anything other
// than certificates in it is either a mistake (a key pasted in, a CSR, text
// from openssl -text) or would be silently dropped by Kubernetes, which
// skips what it cannot read.
func ParseCertificates(source string, data []byte) ([]*x509.Certificate, error) {
	p := parser{source: source, data: data}
	return p.parse()
}

type parser struct {
	source string
	data   []byte
	// secrets is filled lazily: most inputs never produce an error.
	secrets []string
}

func (p *parser) parse() ([]*x509.Certificate, error) {
	// Windows editors may prepend a BOM; Kubernetes' own PEM reading skips
	// it, so rejecting it would refuse files the cluster accepts.
	rest := bytes.TrimPrefix(p.data, []byte(utf8BOM))
	if len(bytes.TrimSpace(rest)) == 0 {
		return nil, p.fail(0, "no certificate found (empty input)")
	}

	var certs []*x509.Certificate
	for n := 1; ; n++ {
		rest = bytes.TrimLeft(rest, " \t\r\n\v\f")
		if len(rest) == 0 {
			return certs, nil
		}
		if !bytes.HasPrefix(rest, []byte(pemBegin)) {
			if n == 1 {
				return nil, p.notPEM(rest)
			}
			return nil, p.fail(n-1, fmt.Sprintf("trailing data after block %d", n-1))
		}
		typ, typOK := beginType(rest)
		if isPrivateKeyType(typ) {
			// Checked before decoding so that even a damaged key is
			// reported as a key, the one thing the user must not pass.
			return nil, p.fail(n, fmt.Sprintf("block %d is a private key (%s); pass the certificate, never the key", n, displayType(typ)))
		}

		block, after := pem.Decode(rest)
		// pem.Decode silently skips a damaged block and returns the next
		// good one; a second BEGIN in what it consumed gives that away.
		if block == nil || bytes.Count(rest[:len(rest)-len(after)], []byte(pemBegin)) > 1 {
			if !typOK {
				return nil, p.fail(n, fmt.Sprintf("block %d is not valid PEM: its BEGIN line does not end in %q", n, pemDash))
			}
			return nil, p.fail(n, fmt.Sprintf("block %d (%s) is not valid PEM: missing or mismatched END line, or bad base64", n, displayType(typ)))
		}
		rest = after

		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, p.fail(n, fmt.Sprintf("block %d: cannot parse certificate: %v", n, err))
			}
			certs = append(certs, c)
		case "CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST":
			return nil, p.fail(n, fmt.Sprintf("block %d is a certificate request, not a certificate; pass the signed certificate", n))
		default:
			return nil, p.fail(n, fmt.Sprintf("block %d has type %s, not CERTIFICATE", n, displayType(block.Type)))
		}
	}
}

// notPEM explains input whose first non-space byte does not start a block.
func (p *parser) notPEM(rest []byte) error {
	if isDERPrivateKey(p.data) {
		return p.fail(0, "not PEM: looks like a DER-encoded private key; pass the certificate, never the key")
	}
	if looksLikeDER(p.data) {
		return p.fail(0, "not PEM (looks like DER; convert with openssl x509 -inform der -outform pem)")
	}
	if bytes.Contains(rest, []byte(pemBegin)) {
		// Typical of openssl -text output or PKCS#12 "Bag Attributes".
		return p.fail(0, "unexpected text before block 1 (not PEM); keep only the -----BEGIN/-----END blocks")
	}
	return p.fail(0, "not PEM: no -----BEGIN line found")
}

// fail builds the error, withholding the reason if it would repeat any line
// of private-key material found in the input. Reasons echo block types and
// x509 errors, both of which come from the input, so a crafted input could
// otherwise make us print key content.
func (p *parser) fail(block int, reason string) error {
	if p.secrets == nil {
		p.secrets = privateKeyLines(p.data)
	}
	for _, s := range p.secrets {
		if strings.Contains(reason, s) {
			what := "input"
			if block > 0 {
				what = fmt.Sprintf("block %d", block)
			}
			reason = what + " is rejected (details withheld: they would repeat private key content)"
			break
		}
	}
	return &InputError{Source: p.source, Block: block, Reason: reason}
}

// beginType returns the label of the BEGIN line at the start of b; ok is
// false when the line is not terminated by dashes.
func beginType(b []byte) (typ string, ok bool) {
	line := b[len(pemBegin):]
	if i := bytes.IndexByte(line, '\n'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimRight(line, " \t\r")
	if !bytes.HasSuffix(line, []byte(pemDash)) {
		return string(line), false
	}
	return string(bytes.TrimSuffix(line, []byte(pemDash))), true
}

// displayType shows ordinary labels as they are, and quotes and shortens
// the rest so a hostile or binary label cannot spill control bytes or pages
// of text into a terminal.
func displayType(t string) string {
	const max = 64
	plain := len(t) > 0 && len(t) <= max
	for i := 0; plain && i < len(t); i++ {
		plain = t[i] >= ' ' && t[i] <= '~'
	}
	if plain {
		return t
	}
	if len(t) > max {
		t = t[:max] + "..."
	}
	return fmt.Sprintf("%q", t)
}

// isPrivateKeyType matches every key flavour (PKCS#1, PKCS#8, SEC1,
// encrypted, OpenSSH, ...) without listing them; case is ignored because
// being wrong here means leaking a key.
func isPrivateKeyType(t string) bool {
	return strings.Contains(strings.ToUpper(t), "PRIVATE KEY")
}

// ContainsPrivateKey reports whether data holds private key material, so
// callers can refuse to store it. It is deliberately looser than the parser:
// a damaged key block, one embedded mid-line (say in JSON), or a bare DER
// key all count.
func ContainsPrivateKey(data []byte) bool {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if isKeyBeginLine(line) {
			return true
		}
	}
	return isDERPrivateKey(data)
}

func isKeyBeginLine(line []byte) bool {
	return bytes.Contains(line, []byte("-----BEGIN")) && isPrivateKeyType(string(line))
}

// privateKeyLines returns the body lines of every private key block in data,
// matched textually so that damaged blocks are covered too.
func privateKeyLines(data []byte) []string {
	secrets := []string{}
	inKey := false
	for _, line := range bytes.Split(data, []byte("\n")) {
		switch {
		case isKeyBeginLine(line):
			inKey = true
		case inKey && bytes.Contains(line, []byte("-----END")):
			inKey = false
		case inKey:
			if s := strings.TrimSpace(string(line)); len(s) >= minSecretLine {
				secrets = append(secrets, s)
			}
		}
	}
	return secrets
}

func isDERPrivateKey(data []byte) bool {
	if len(data) == 0 || data[0] != 0x30 {
		return false
	}
	if _, err := x509.ParsePKCS8PrivateKey(data); err == nil {
		return true
	}
	if _, err := x509.ParsePKCS1PrivateKey(data); err == nil {
		return true
	}
	_, err := x509.ParseECPrivateKey(data)
	return err == nil
}

// looksLikeDER accepts one or more DER certificates, or a single ASN.1
// SEQUENCE spanning the whole input. The exact-length test is what keeps
// ordinary text that happens to start with '0' (0x30) from matching.
func looksLikeDER(data []byte) bool {
	if len(data) == 0 || data[0] != 0x30 {
		return false
	}
	if certs, err := x509.ParseCertificates(data); err == nil && len(certs) > 0 {
		return true
	}
	var raw asn1.RawValue
	rest, err := asn1.Unmarshal(data, &raw)
	return err == nil && len(rest) == 0 && raw.Class == asn1.ClassUniversal && raw.Tag == asn1.TagSequence && raw.IsCompound
}
