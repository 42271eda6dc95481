package plugin

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
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
		if why := cmd.Annotations[annotationNoNamespace]; why != "" && cmd.Flags().Changed("namespace") {
			return setupErr(fmt.Errorf("%s does not take -n/--namespace: %s", cmd.CommandPath(), why))
		}
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

// annotationNoNamespace marks a command that acts on the whole cluster or
// on fixed objects: an explicit -n is refused with the annotation's reason
// rather than silently ignored (an admin who narrowed the blast radius must
// not find out afterwards that the command did not).
const annotationNoNamespace = "carotate.io/no-namespace"

// noNamespace marks cmd as refusing -n, saying why.
func noNamespace(cmd *cobra.Command, why string) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[annotationNoNamespace] = why
}

// addAllNamespacesFlag binds -A/--all-namespaces for a command whose scope
// is the whole cluster unless -n narrows it; -A only says so explicitly.
func addAllNamespacesFlag(cmd *cobra.Command, p *bool) {
	cmd.Flags().BoolVarP(p, "all-namespaces", "A", *p, "All namespaces (the default unless -n narrows it)")
}

// explicitNamespace is -n as given on the command line: the namespace a
// kubeconfig context carries does not narrow a cluster-wide command.
func (c *Common) explicitNamespace() string {
	if c != nil && c.ConfigFlags != nil && c.ConfigFlags.Namespace != nil {
		return *c.ConfigFlags.Namespace
	}
	return ""
}

// namespaceScope checks -n against -A and returns the namespace a command
// is narrowed to ("" for the whole cluster).
func (c *Common) namespaceScope(all bool) (string, error) {
	ns := c.explicitNamespace()
	if ns != "" && all {
		return "", errors.New("-n/--namespace and -A/--all-namespaces cannot be used together")
	}
	return ns, nil
}

// requireNamespace fails when an explicitly given namespace does not exist,
// so a typo in -n is not taken for "nothing to do there". A user who may
// not read namespaces gets through: the command's own reads say more.
func requireNamespace(ctx context.Context, client kubernetes.Interface, ns string) error {
	if ns == "" {
		return nil
	}
	err := WithRetry(ctx, func() error {
		_, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return err
	})
	switch {
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %q not found, nothing was changed", ns)
	case err != nil && !apierrors.IsForbidden(err):
		return fmt.Errorf("reading namespace %q: %w", ns, err)
	}
	return nil
}
