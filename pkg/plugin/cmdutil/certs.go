package cmdutil

import (
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// AddFileFlag binds a flag whose value is a file the command reads (a PEM
// file of certificates or keys), completed as a file name; help is the
// command's own.
func AddFileFlag(cmd *cobra.Command, p *string, name, help string) {
	cmd.Flags().StringVar(p, name, *p, help)
	_ = cmd.MarkFlagFilename(name)
}

// AddAllowSameKeyFlag binds --allow-same-key, for a command that validates
// a new CA against the old one (checks.ValidateOptions.AllowSameKey).
func AddAllowSameKeyFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVar(p, "allow-same-key", *p, "Accept a new CA that reuses the old CA's key")
}

// ReadCertFile reads and strictly parses a PEM certificate file for a
// command that changes the cluster. Errors name the flag and the file,
// never repeat key material, and say that nothing was changed.
func ReadCertFile(flag, path string) ([]*x509.Certificate, error) {
	return readCerts(flag, path, " (nothing was changed)")
}

// ReadCAFile is ReadCertFile for a read-only check (its errors do not
// speak of changes) that needs CAs: every certificate must be one. An
// expired or not yet valid CA is only a warning to warn: a rotation is
// often done because the old CA is about to expire or has.
func ReadCAFile(flag, path string, warn io.Writer, now time.Time) ([]*x509.Certificate, error) {
	certs, err := readCerts(flag, path, "")
	if err != nil {
		return nil, err
	}
	for i, c := range certs {
		name := fmt.Sprintf("%s %s certificate %d (%s)", flag, path, i+1, c.Subject)
		if !c.BasicConstraintsValid || !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
			return nil, fmt.Errorf("%s is not a CA (it needs basicConstraints CA:true and keyUsage certSign)", name)
		}
		switch {
		case now.After(c.NotAfter):
			fmt.Fprintf(warn, "warning: %s expired on %s\n", name, c.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(c.NotBefore):
			fmt.Fprintf(warn, "warning: %s is not valid until %s\n", name, c.NotBefore.UTC().Format(time.RFC3339))
		}
	}
	return certs, nil
}

func readCerts(flag, path, suffix string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w%s", flag, err, suffix)
	}
	certs, err := checks.ParseCertificates(path, data)
	if err != nil {
		return nil, fmt.Errorf("%s %w%s", flag, err, suffix)
	}
	return certs, nil
}

// ReportFindings prints warnings and turns error findings into one error.
func ReportFindings(w io.Writer, findings []checks.Finding, err error) error {
	var errs []string
	for _, f := range findings {
		if f.Level == checks.LevelWarning {
			fmt.Fprintf(w, "warning: %s\n", f.Message)
		} else {
			errs = append(errs, f.Message)
		}
	}
	if err == nil {
		return nil
	}
	if len(errs) == 1 {
		return fmt.Errorf("%s (nothing was changed)", errs[0])
	}
	return fmt.Errorf("invalid CA input, nothing was changed:\n  - %s", strings.Join(errs, "\n  - "))
}
