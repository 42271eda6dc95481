package checks

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
)

// Copies of the cluster CA outside the ServiceAccount root CA: a CA file
// in a ConfigMap, the ca.crt of a TLS Secret, a kubeconfig stored in a
// Secret (an Argo CD cluster Secret, a CI runner's credentials) whose
// certificate-authority-data pins the CA. Nothing publishes them, so
// nothing updates them: a copy that holds the old CA alone breaks its
// readers once nothing serves from the old CA any more.

const (
	pemCertBegin = "-----BEGIN CERTIFICATE-----"
	pemCertEnd   = "-----END CERTIFICATE-----"
	// b64CertBegin is pemCertBegin base64-encoded from the start of a
	// string: how certificate-authority-data (and Argo CD's caData, and a
	// PEM stored base64 in stringData) begins.
	b64CertBegin = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t"
	// b64Lookback is how far before a base64 PEM the name of its field is
	// looked for.
	b64Lookback = 64
)

// Where in a value a set of certificates was found.
const (
	// CopyFieldPEM: PEM blocks in the value itself.
	CopyFieldPEM = "PEM"
	// CopyFieldCAData: a kubeconfig's certificate-authority-data.
	CopyFieldCAData = "certificate-authority-data"
	// CopyFieldArgoCD: caData of an Argo CD cluster Secret's config.
	CopyFieldArgoCD = "caData"
	// CopyFieldBase64: a base64-encoded PEM under another name.
	CopyFieldBase64 = "base64 PEM"
)

// CopyPlace is one set of certificates found in a stored value: the PEM
// blocks of the value itself, or one base64 PEM embedded in it.
type CopyPlace struct {
	// Field is one of the CopyField constants, numbered ("#2") when a value
	// embeds several of that kind (a kubeconfig with several clusters).
	Field string
	// Fingerprints are the SHA-256 fingerprints of its certificates, in
	// order, without repeats.
	Fingerprints []string
	// DER is each certificate's DER, in the order of Fingerprints.
	DER [][]byte
}

// MayHoldCopy is a cheap test for whether ScanCopies can find anything in
// a value, so that a pass over thousands of values converts and scans only
// the few that can.
func MayHoldCopy(value string) bool {
	return strings.Contains(value, pemCertBegin) || strings.Contains(value, b64CertBegin)
}

// ScanCopies finds the certificates a stored value carries: PEM
// CERTIFICATE blocks anywhere in it (a CA file, a TLS Secret's ca.crt, a
// bundle pasted into YAML with indentation or into JSON with escaped
// newlines), and base64-encoded PEMs embedded in it (the
// certificate-authority-data of a kubeconfig in YAML or JSON, caData of an
// Argo CD cluster config, a PEM stored base64 twice). Blocks that are not
// certificates (private keys included) are skipped unread, and nothing of
// the value is kept but the certificates' DER. A value that only looks
// like a copy is simply not one: there is no error.
func ScanCopies(value []byte) []CopyPlace {
	var out []CopyPlace
	if p := pemPlace(value, CopyFieldPEM); len(p.DER) > 0 {
		out = append(out, p)
	}
	seen := map[string]int{}
	for rest, off := value, 0; ; {
		i := bytes.Index(rest, []byte(b64CertBegin))
		if i < 0 {
			break
		}
		j := i
		for j < len(rest) && isBase64Byte(rest[j]) {
			j++
		}
		field := base64Field(value[max(0, off+i-b64Lookback) : off+i])
		if der, ok := decodeBase64PEM(rest[i:j]); ok {
			p := pemPlace(der, field)
			if len(p.DER) > 0 {
				seen[field]++
				if n := seen[field]; n > 1 {
					p.Field = fmt.Sprintf("%s #%d", field, n)
				}
				out = append(out, p)
			}
		}
		off += j
		rest = rest[j:]
	}
	return out
}

func isBase64Byte(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '+' || b == '/' || b == '='
}

// base64Field names a base64 PEM by the field name just before it.
func base64Field(before []byte) string {
	switch {
	case bytes.Contains(before, []byte(CopyFieldCAData)):
		return CopyFieldCAData
	case bytes.Contains(before, []byte(CopyFieldArgoCD)):
		return CopyFieldArgoCD
	}
	return CopyFieldBase64
}

func decodeBase64PEM(b []byte) ([]byte, bool) {
	s := string(b)
	if out, err := base64.StdEncoding.DecodeString(s); err == nil {
		return out, true
	}
	out, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(s, "="))
	return out, err == nil
}

// pemPlace collects the CERTIFICATE blocks of data. Each block is cut out
// from its BEGIN to its END line and has its line breaks restored (an
// indented YAML block scalar, escaped "\n" in JSON) before encoding/pem
// decodes it.
func pemPlace(data []byte, field string) CopyPlace {
	p := CopyPlace{Field: field}
	seen := map[string]bool{}
	for rest := data; ; {
		i := bytes.Index(rest, []byte(pemCertBegin))
		if i < 0 {
			return p
		}
		rest = rest[i:]
		j := bytes.Index(rest, []byte(pemCertEnd))
		if j < 0 {
			return p
		}
		block, _ := pem.Decode(normalizePEM(rest[:j+len(pemCertEnd)]))
		rest = rest[j+len(pemCertEnd):]
		if block == nil || block.Type != "CERTIFICATE" {
			continue
		}
		sum := sha256.Sum256(block.Bytes)
		fp := hex.EncodeToString(sum[:])
		if seen[fp] {
			continue
		}
		seen[fp] = true
		p.Fingerprints = append(p.Fingerprints, fp)
		p.DER = append(p.DER, block.Bytes)
	}
}

// normalizePEM puts one PEM block on lines of its own: escaped newlines
// become newlines, and each line loses the indentation, quotes and
// trailing commas of the document it was embedded in.
func normalizePEM(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte(`\r\n`), []byte("\n"))
	b = bytes.ReplaceAll(b, []byte(`\n`), []byte("\n"))
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		line = bytes.Trim(line, " \t\r\"',")
		if len(line) > 0 {
			out.Write(line)
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// Copy verdicts.
const (
	// CopyOldAlone: the place trusts the old CA and not the new one.
	CopyOldAlone = "old-ca-alone"
	// CopyOldAndNew: it trusts both; fine until the old CA is retired.
	CopyOldAndNew = "old-and-new"
)

// CopyPhase is how far the rotation is, as far as copies care.
type CopyPhase int

const (
	// CopyBeforeServe: the API server still serves from the old CA; a copy
	// of the old CA alone still works, and must change before step 9.3.
	CopyBeforeServe CopyPhase = iota
	// CopyServesNew: the API server serves from the new CA (step 9.3
	// done): a kubeconfig that pins the old CA alone fails now, and every
	// other copy of it alone breaks at step 12.
	CopyServesNew
	// CopyEnd: the rotation's end is judged (verify --expect new): the old
	// CA is on its way out everywhere.
	CopyEnd
)

// CopyVerdict is the judgement of one place that holds the old CA.
type CopyVerdict struct {
	Verdict  string
	Severity string
	// Holds is what the place holds: "old", "new+old", "old+2 others".
	Holds  string
	Detail string
}

// CopyCAs are the rotation's CAs by fingerprint, for judging copies.
type CopyCAs struct {
	Old, New []*x509.Certificate
	old, new map[string]*x509.Certificate
}

// NewCopyCAs indexes old and new.
func NewCopyCAs(old, newCAs []*x509.Certificate) CopyCAs {
	c := CopyCAs{Old: uniq(old), New: uniq(newCAs), old: map[string]*x509.Certificate{}, new: map[string]*x509.Certificate{}}
	for _, x := range c.Old {
		c.old[Fingerprint(x)] = x
	}
	for _, x := range c.New {
		if _, isOld := c.old[Fingerprint(x)]; !isOld {
			c.new[Fingerprint(x)] = x
		}
	}
	return c
}

// Known tells whether there is an old CA to look for.
func (c CopyCAs) Known() bool { return len(c.old) > 0 }

// HoldsOld tells whether a place holds an old certificate.
func (c CopyCAs) HoldsOld(p CopyPlace) bool {
	for _, fp := range p.Fingerprints {
		if _, ok := c.old[fp]; ok {
			return true
		}
	}
	return false
}

// JudgeCopy judges one place: ok is false when it holds no old
// certificate (then it is none of the rotation's business). Subjects and
// fingerprints are all it says of the place's content.
func (c CopyCAs) JudgeCopy(p CopyPlace, phase CopyPhase) (v CopyVerdict, ok bool) {
	var old, newer []*x509.Certificate
	others := 0
	for _, fp := range p.Fingerprints {
		switch {
		case c.old[fp] != nil:
			old = append(old, c.old[fp])
		case c.new[fp] != nil:
			newer = append(newer, c.new[fp])
		default:
			others++
		}
	}
	if len(old) == 0 {
		return CopyVerdict{}, false
	}
	v.Holds = "old"
	if len(newer) > 0 {
		v.Holds = "new+old"
	}
	if others > 0 {
		v.Holds += fmt.Sprintf("+%d other", others)
		if others > 1 {
			v.Holds += "s"
		}
	}
	oldNames := describeFP(old)
	if len(newer) == 0 {
		v.Verdict = CopyOldAlone
		switch phase {
		case CopyBeforeServe:
			v.Severity = SeverityWarning
			v.Detail = "trusts the old CA (" + oldNames + ") without the new one: its readers fail once the API server serves from the new CA (step 9.3) and the old CA is retired (step 12); add the new CA now"
		case CopyServesNew:
			v.Severity = SeverityError
			v.Detail = "trusts the old CA (" + oldNames + ") without the new one, and the API server serves from the new CA: a reader that checks the API server with it fails now, the others at step 12"
		default:
			v.Severity = SeverityError
			v.Detail = "trusts the old CA (" + oldNames + ") without the new one: its readers fail once the old CA is retired (step 12)"
		}
		return v, true
	}
	v.Verdict = CopyOldAndNew
	v.Severity = SeverityInfo
	v.Detail = "trusts the new CA (" + describeFP(newer) + ") and the old one (" + oldNames + "): fine while the rotation runs"
	if phase == CopyEnd {
		v.Severity = SeverityWarning
		v.Detail = "still trusts the old CA (" + oldNames + ") next to the new one (" + describeFP(newer) + "): remove the old CA before the rotation ends"
	}
	return v, true
}

func describeFP(certs []*x509.Certificate) string {
	parts := make([]string, 0, len(certs))
	for _, c := range certs {
		parts = append(parts, fmt.Sprintf("%s, sha256 %s", c.Subject, ShortFingerprint(Fingerprint(c))))
	}
	return strings.Join(parts, "; ")
}

// MayHoldCopyBytes is MayHoldCopy for a value held as bytes.
func MayHoldCopyBytes(value []byte) bool {
	return bytes.Contains(value, []byte(pemCertBegin)) || bytes.Contains(value, []byte(b64CertBegin))
}
