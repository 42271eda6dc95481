package checks

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Finding levels.
const (
	LevelError   = "error"
	LevelWarning = "warning"
)

// DefaultWarnWithin is used when ValidateOptions.WarnWithin is zero: a month
// leaves time to finish a rotation, which needs every node and client to
// pick up the new bundle before the old CA can go.
const DefaultWarnWithin = 30 * 24 * time.Hour

// ValidateOptions tunes ValidateRotation and ValidateCA.
type ValidateOptions struct {
	// Now is the instant validity is judged at; zero means time.Now(). It is
	// an option so results are reproducible in tests and dry runs.
	Now time.Time
	// WarnWithin is how close to expiry a CA must be to get a warning; zero
	// means DefaultWarnWithin, negative turns the warning off.
	WarnWithin time.Duration
	// AllowSameKey accepts a new CA re-issued with the old CA's key.
	AllowSameKey bool
}

func (o ValidateOptions) withDefaults() ValidateOptions {
	if o.Now.IsZero() {
		o.Now = time.Now()
	}
	if o.WarnWithin == 0 {
		o.WarnWithin = DefaultWarnWithin
	}
	return o
}

// Finding is one problem found by a validation. Every finding, errors
// included, is returned so a caller can print them all in one place; the
// error returned next to them only summarises the error-level ones.
type Finding struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// ValidateRotation checks the old and the new CA of a rotation. Each
// argument is the parsed content of one file and must hold exactly one
// certificate: a bundle there would leave it ambiguous which CA signs.
func ValidateRotation(oldCA, newCA []*x509.Certificate, opts ValidateOptions) ([]Finding, error) {
	opts = opts.withDefaults()
	var r report
	oldCert := r.single("old CA", oldCA)
	newCert := r.single("new CA", newCA)
	if oldCert != nil {
		r.checkCA(label("old CA", oldCert), oldCert, opts)
	}
	if newCert != nil {
		r.checkCA(label("new CA", newCert), newCert, opts)
	}
	if oldCert != nil && newCert != nil {
		switch {
		case Fingerprint(oldCert) == Fingerprint(newCert):
			r.errorf("old CA and new CA are the same certificate (sha256 %s)", Fingerprint(oldCert))
		case keyFingerprint(oldCert) == keyFingerprint(newCert) && !opts.AllowSameKey:
			// Same key means anything the old key signed stays trusted and a
			// leaked key stays leaked, which is usually why one rotates.
			r.errorf("new CA reuses the old CA's key (public key sha256 %s); generate a new key, or allow the same key explicitly if re-issuing it is intended", keyFingerprint(newCert))
		}
	}
	return r.result()
}

// ValidateCA checks one CA file on its own. Unlike ValidateRotation it
// accepts a bundle (1..n certificates), because the files it is used for
// (--ca, --keep) may legitimately be trust bundles; every certificate in it
// must still be a CA that is currently valid.
func ValidateCA(role string, certs []*x509.Certificate, opts ValidateOptions) ([]Finding, error) {
	opts = opts.withDefaults()
	if role == "" {
		role = "CA"
	}
	var r report
	if len(certs) == 0 {
		r.errorf("%s holds no certificate", role)
		return r.result()
	}
	seen := map[string]int{}
	for i, c := range certs {
		name := role
		if len(certs) > 1 {
			name = fmt.Sprintf("%s certificate %d of %d", role, i+1, len(certs))
		}
		if c == nil {
			r.errorf("%s is missing (nil)", name)
			continue
		}
		fp := Fingerprint(c)
		if first, dup := seen[fp]; dup {
			r.warnf("%s is a duplicate of certificate %d", label(name, c), first)
			continue
		}
		seen[fp] = i + 1
		r.checkCA(label(name, c), c, opts)
	}
	return r.result()
}

type report struct {
	findings []Finding
}

func (r *report) errorf(format string, args ...any) {
	r.findings = append(r.findings, Finding{Level: LevelError, Message: fmt.Sprintf(format, args...)})
}

func (r *report) warnf(format string, args ...any) {
	r.findings = append(r.findings, Finding{Level: LevelWarning, Message: fmt.Sprintf(format, args...)})
}

// single returns the only certificate of a file that must hold one, or nil
// after recording why not.
func (r *report) single(role string, certs []*x509.Certificate) *x509.Certificate {
	switch {
	case len(certs) == 0:
		r.errorf("%s holds no certificate", role)
	case len(certs) > 1:
		r.errorf("%s holds %d certificates; pass one CA", role, len(certs))
	case certs[0] == nil:
		r.errorf("%s is missing (nil)", role)
	default:
		return certs[0]
	}
	return nil
}

func (r *report) checkCA(name string, c *x509.Certificate, opts ValidateOptions) {
	var missing []string
	if !c.BasicConstraintsValid || !c.IsCA {
		missing = append(missing, "basicConstraints CA:true")
	}
	if c.KeyUsage&x509.KeyUsageCertSign == 0 {
		missing = append(missing, "keyUsage certSign")
	}
	if len(missing) > 0 {
		r.errorf("%s is not a CA: missing %s", name, strings.Join(missing, " and "))
	}

	now := opts.Now
	switch {
	case now.Before(c.NotBefore):
		r.errorf("%s is not valid until %s; check the clock or wait", name, stamp(c.NotBefore))
	case now.After(c.NotAfter):
		r.errorf("%s expired on %s", name, stamp(c.NotAfter))
	case opts.WarnWithin > 0 && c.NotAfter.Sub(now) <= opts.WarnWithin:
		r.warnf("%s expires on %s (%s)", name, stamp(c.NotAfter), inDays(DaysLeft(c, now)))
	}
}

func (r *report) result() ([]Finding, error) {
	var errs []error
	for _, f := range r.findings {
		if f.Level == LevelError {
			errs = append(errs, errors.New(f.Message))
		}
	}
	if r.findings == nil {
		// An empty list, not null, when findings are emitted as JSON.
		r.findings = []Finding{}
	}
	return r.findings, errors.Join(errs...)
}

// label names a certificate by role and subject, since the role alone does
// not tell which file or bundle entry the user got wrong.
func label(role string, c *x509.Certificate) string {
	name := c.Subject.String()
	if name == "" {
		name = "serial " + serialHex(c)
	}
	return fmt.Sprintf("%s (%s)", role, name)
}

func stamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

func inDays(days int) string {
	switch days {
	case 0:
		return "in less than a day"
	case 1:
		return "in 1 day"
	default:
		return fmt.Sprintf("in %d days", days)
	}
}
