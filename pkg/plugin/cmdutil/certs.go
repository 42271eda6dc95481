package cmdutil

import (
	"crypto/x509"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// ReadCertFile reads and strictly parses a PEM certificate file. Errors
// name the flag and the file and never repeat key material.
func ReadCertFile(flag, path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w (nothing was changed)", flag, err)
	}
	certs, err := checks.ParseCertificates(path, data)
	if err != nil {
		return nil, fmt.Errorf("%s %w (nothing was changed)", flag, err)
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
