package cmdutil

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DryRun is kubectl's --dry-run: none, client or server.
type DryRun string

// The three --dry-run modes.
const (
	DryRunNone   DryRun = "none"
	DryRunClient DryRun = "client"
	DryRunServer DryRun = "server"
)

// ParseDryRun validates a --dry-run value.
func ParseDryRun(s string) (DryRun, error) {
	switch d := DryRun(s); d {
	case DryRunNone, DryRunClient, DryRunServer:
		return d, nil
	case "":
		return DryRunNone, nil
	}
	return "", fmt.Errorf(`invalid --dry-run value %q: must be "none", "client", or "server"`, s)
}

// Suffix is what kubectl appends to messages about a dry run.
func (d DryRun) Suffix() string {
	switch d {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// Options is the DryRun field of metav1 write options: All in server mode.
func (d DryRun) Options() []string {
	if d == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

// Writes tells whether the mode sends writes to the server at all.
func (d DryRun) Writes() bool { return d != DryRunClient }

// FieldManager names our writes in managedFields, so that an admin (and our
// own revert detection) can tell who last wrote a field.
const FieldManager = "kubectl-carotate"
