package cmdutil

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
)

// Options is one command's Options: Validate checks the flags
// without I/O, Run does the work. Options that need the arguments or a
// client first also implement completer.
type Options interface {
	Validate() error
	Run(ctx context.Context) error
}

type Completer interface {
	Complete(cmd *cobra.Command, args []string) error
}

// Run is a command's RunE: Complete (when the options have it),
// Validate, Run. setupErr, when not nil, turns an error of Complete or
// Validate into the command's own (verify exits 2 when it cannot run).
func Run(o Options, setupErr func(error) error) func(*cobra.Command, []string) error {
	if setupErr == nil {
		setupErr = func(err error) error { return err }
	}
	return func(cmd *cobra.Command, args []string) error {
		if why := cmd.Annotations[AnnotationNoNamespace]; why != "" && cmd.Flags().Changed("namespace") {
			return setupErr(fmt.Errorf("%s does not take -n/--namespace: %s", cmd.CommandPath(), why))
		}
		if c, ok := o.(Completer); ok {
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

// AnnotationNoNamespace marks a command that acts on the whole cluster or
// on fixed objects: an explicit -n is refused with the annotation's reason
// rather than silently ignored (an admin who narrowed the blast radius must
// not find out afterwards that the command did not).
const AnnotationNoNamespace = "carotate.io/no-namespace"

// NoNamespace marks cmd as refusing -n, saying why.
func NoNamespace(cmd *cobra.Command, why string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[AnnotationNoNamespace] = why
}

// AddAllNamespacesFlag binds -A/--all-namespaces for a command whose scope
// is the whole cluster unless -n narrows it; -A only says so explicitly.
func AddAllNamespacesFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVarP(p, "all-namespaces", "A", *p, "All namespaces (the default unless -n narrows it)")
}

// NamespaceScope checks -n against -A and returns the namespace a command
// is narrowed to ("" for the whole cluster).
func NamespaceScope(f Factory, all bool) (string, error) {
	ns := ""
	if f != nil {
		ns = f.ExplicitNamespace()
	}
	if ns != "" && all {
		return "", errors.New("-n/--namespace and -A/--all-namespaces cannot be used together")
	}
	return ns, nil
}

// AddDryRunFlag binds kubectl's --dry-run with its completion; clientDoes
// says what client mode shows for this command. A bare --dry-run means
// client, as it does for kubectl: it never writes. So "--dry-run server" is
// a client dry run and a stray argument; the command's argument check says
// how to write it instead of "unknown command".
func AddDryRunFlag(cmd *cobra.Command, p *string, clientDoes string) {
	cmd.Flags().StringVar(p, "dry-run", *p, `"none", "client" (`+clientDoes+`) or "server" (the API server validates the writes, nothing is stored)`)
	cmd.Flags().Lookup("dry-run").NoOptDefVal = string(DryRunClient)
	args := cmd.Args
	cmd.Args = func(c *cobra.Command, a []string) error {
		if c.Flags().Changed("dry-run") {
			for _, s := range a {
				if _, err := ParseDryRun(s); err == nil {
					return fmt.Errorf("write --dry-run=%s (with '='): a bare --dry-run means client, and %q was taken as an argument", s, s)
				}
			}
		}
		if args == nil {
			return nil
		}
		return args(c, a)
	}
	_ = cmd.RegisterFlagCompletionFunc("dry-run", CompleteFixed(string(DryRunNone), string(DryRunClient), string(DryRunServer)))
}

// AddUndoDirFlag binds --undo-dir; see rotation.UndoDir for the default.
func AddUndoDirFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "undo-dir", *p, "Directory for the undo file (default ~/.kube/carotate/<rotation id>, or no-rotation without a recorded rotation)")
}

// AddForceFlag binds --force; help says which safety check it overrides
// in this command.
func AddForceFlag(cmd *cobra.Command, p *bool, help string) {
	cmd.Flags().BoolVar(p, "force", *p, help)
}

// AddOutputFlag binds -o/--output (table, json, yaml) with its completion.
func AddOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", *p, "Output format: table (default), json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", CompleteFixed("table", OutputJSON, OutputYAML))
}

// PassRateLimit is the client rate limit of a pass that reads sequential
// pages (one request after the other: paced by the API server's answers).
// Unless --qps or --burst is given, the limit is only a ceiling against a
// runaway, far above the root default (50/100), which would stretch a pass
// over 40,000 Secrets in small pages to a minute. The writers keep requests
// in flight and run with no rate limit at all (Pacing.RateLimit).
func PassRateLimit(cmd *cobra.Command, f Factory) (qps float32, burst int) {
	if RateLimitGiven(cmd) {
		return f.RateLimit()
	}
	return passQPS, passBurst
}

// RateLimitGiven tells whether --qps or --burst was given.
func RateLimitGiven(cmd *cobra.Command) bool {
	return cmd != nil && (cmd.Flags().Changed("qps") || cmd.Flags().Changed("burst"))
}

const (
	passQPS   = 1000
	passBurst = 1000
)
