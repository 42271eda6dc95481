package plugin

import (
	"context"

	"github.com/spf13/cobra"
)

// commandOptions is one command's Options: Validate checks the flags
// without I/O, Run does the work. Options that need the arguments or a
// client first also implement completer.
type commandOptions interface {
	Validate() error
	Run(ctx context.Context) error
}

type completer interface {
	Complete(cmd *cobra.Command, args []string) error
}

// runOptions is a command's RunE: Complete (when the options have it),
// Validate, Run. setupErr, when not nil, turns an error of Complete or
// Validate into the command's own (verify exits 2 when it cannot run).
func runOptions(o commandOptions, setupErr func(error) error) func(*cobra.Command, []string) error {
	if setupErr == nil {
		setupErr = func(err error) error { return err }
	}
	return func(cmd *cobra.Command, args []string) error {
		if c, ok := o.(completer); ok {
			if err := c.Complete(cmd, args); err != nil {
				return setupErr(err)
			}
		}
		if err := o.Validate(); err != nil {
			return setupErr(err)
		}
		return o.Run(cmd.Context())
	}
}
