package plugin

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// VersionOptions prints the plugin's build information.
type VersionOptions struct {
	*cmdutil.Env
	Output string
}

// NewCmdVersion is "kubectl carotate version".
func NewCmdVersion(c *cmdutil.Env) *cobra.Command {
	o := &VersionOptions{Env: c}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version",
		Long: `Print the plugin's version, commit and build date. It needs no cluster:
use it to check which build krew installed before a rotation.`,
		Example: `  kubectl carotate version
  kubectl carotate version -o json`,
		Args: cobra.NoArgs,
		RunE: cmdutil.Run(o, nil),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: json or yaml (default: one line)")
	_ = cmd.RegisterFlagCompletionFunc("output", cmdutil.CompleteFixed(cmdutil.OutputJSON, cmdutil.OutputYAML))
	return cmd
}

// Validate checks the flags.
func (o *VersionOptions) Validate() error { return cmdutil.ValidateOutput(o.Output) }

// Run prints the version; it needs no cluster.
func (o *VersionOptions) Run(context.Context) error {
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		return cmdutil.PrintStructured(o.Out, o.Output, o.Build)
	}
	_, err := fmt.Fprintf(o.Out, "kubectl-carotate %s (commit %s, built %s)\n", o.Build.Version, o.Build.Commit, o.Build.Date)
	return err
}
