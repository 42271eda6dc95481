package cmdutil

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// ContextFlags are --all-contexts and --contexts: a command that reads
// several clusters of the kubeconfig at once (status, inspect --live).
type ContextFlags struct {
	All   bool
	Names []string
}

// DefaultContextTimeout bounds one context's read when --request-timeout
// is not given (kubectl's own default is none: a fleet must not hang on
// one cluster).
const DefaultContextTimeout = 10 * time.Second

// contextWorkers is how many contexts are read at once.
const contextWorkers = 8

// AddFlags binds the two flags; what says what one context's read shows.
func (c *ContextFlags) AddFlags(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVar(&c.All, "all-contexts", c.All, "Read every kubeconfig context at once: "+what)
	cmd.Flags().StringSliceVar(&c.Names, "contexts", c.Names, "Like --all-contexts, for these contexts (comma-separated or repeated)")
}

// Set tells whether several clusters are to be read.
func (c ContextFlags) Set() bool { return c.All || len(c.Names) > 0 }

// Validate refuses both flags at once.
func (c ContextFlags) Validate() error {
	if c.All && len(c.Names) > 0 {
		return errors.New("--all-contexts and --contexts go alone: one names every context, the other some")
	}
	return nil
}

// Select is the contexts to read: every one, or those --contexts names,
// each known to the kubeconfig, in the order given, once.
func (c ContextFlags) Select(f Factory) ([]string, error) {
	all, err := f.Contexts()
	if err != nil {
		return nil, fmt.Errorf("reading the kubeconfig: %w", err)
	}
	if c.All {
		if len(all) == 0 {
			return nil, errors.New("--all-contexts: the kubeconfig has no context")
		}
		return all, nil
	}
	known := map[string]bool{}
	for _, n := range all {
		known[n] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, v := range c.Names {
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name == "" || seen[name] {
				continue
			}
			if !known[name] {
				return nil, fmt.Errorf("--contexts: no context %q in the kubeconfig (it has %s)", name, strings.Join(all, ", "))
			}
			seen[name] = true
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--contexts names no context")
	}
	return out, nil
}

// EachContext calls read for every context concurrently, each with its
// own factory and a context that ends after the per-context timeout
// (--request-timeout, else DefaultContextTimeout), which it is given.
func EachContext(ctx context.Context, f Factory, names []string, read func(ctx context.Context, i int, f Factory, timeout time.Duration)) {
	timeout := f.RequestTimeout()
	if timeout == 0 {
		timeout = DefaultContextTimeout
	}
	cluster.Fanout(ctx, contextWorkers, len(names), func(i int) {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		read(cctx, i, f.ForContext(names[i]), timeout)
	})
}
