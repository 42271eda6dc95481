package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
)

// VersionOptions prints the plugin's build information.
type VersionOptions struct {
	*Common
	Output string
}

// NewCmdVersion is "kubectl carotate version".
func NewCmdVersion(c *Common) *cobra.Command {
	o := &VersionOptions{Common: c}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Long: `Print the plugin's version, commit and build date. It needs no cluster:
use it to check which build krew installed before a rotation.`,
		Example: `  kubectl carotate version
  kubectl carotate version -o json`,
		Args: cobra.NoArgs,
		RunE: runOptions(o, nil),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: json or yaml (default: one line)")
	_ = cmd.RegisterFlagCompletionFunc("output", completeFixed(outputJSON, outputYAML))
	return cmd
}

// Validate checks the flags.
func (o *VersionOptions) Validate() error { return validateOutput(o.Output) }

// Run prints the version; it needs no cluster.
func (o *VersionOptions) Run(context.Context) error {
	if o.Output == outputJSON || o.Output == outputYAML {
		return printStructured(o.Out, o.Output, o.Build)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-carotate %s (commit %s, built %s)\n", o.Build.Version, o.Build.Commit, o.Build.Date)
	return err
}
