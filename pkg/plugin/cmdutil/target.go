package cmdutil

import (
	"strings"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// AddTargetFlag binds --target (default cluster-ca) with its completion.
func AddTargetFlag(cmd *cobra.Command, p *string) {
	if *p == "" {
		*p = checks.TargetClusterCA
	}
	cmd.Flags().StringVar(p, "target", *p, "What the rotation replaces: "+strings.Join(checks.Targets, ", ")+
		" (supported: "+strings.Join(checks.SupportedTargets, ", ")+"); each target has its own record and steps")
	_ = cmd.RegisterFlagCompletionFunc("target", CompleteFixed(checks.SupportedTargets...))
}

// ValidateTarget refuses a target this version cannot rotate: exit 2,
// before anything is read or written.
func ValidateTarget(target string) error {
	if err := checks.CheckTarget(target); err != nil {
		return &ExitError{Code: 2, Err: err}
	}
	return nil
}
