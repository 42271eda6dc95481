// Package plugin holds the cobra commands of kubectl carotate. Each command
// has an Options struct with Complete (resolve flags and clients), Validate
// (arguments only, no I/O) and Run (the work, written to the IOStreams).
package plugin

import (
	"errors"
	"flag"
	"sort"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// Client-go's defaults (5 QPS, burst 10) make a cluster-wide pass over
// thousands of objects take minutes; kubectl itself uses 50/300. We pick the
// same order of magnitude and let the admin lower it on a fragile apiserver.
const (
	defaultQPS   = 50
	defaultBurst = 100
)

// BuildInfo is what the release build stamps into the binary.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Common is the plumbing every command shares: the kubectl flags, the
// client rate limit, and the streams.
type Common struct {
	genericiooptions.IOStreams
	ConfigFlags *genericclioptions.ConfigFlags
	QPS         float32
	Burst       int
	Build       BuildInfo

	watchdog sync.Once
}

// RESTConfig returns the client configuration of the chosen kubeconfig
// context, with our rate limit applied.
func (c *Common) RESTConfig() (*rest.Config, error) {
	cfg, err := c.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = c.QPS
	cfg.Burst = c.Burst
	cfg.UserAgent = "kubectl-carotate/" + c.Build.Version
	cfg.Wrap(stalls.wrap(time.Now))
	c.watchdog.Do(func() {
		if c.ErrOut == nil {
			return
		}
		// It lives as long as the process: one command per process.
		go stalls.watch(c.ErrOut, cfg.Host, time.NewTicker(stallEvery).C, time.Now, nil)
	})
	return cfg, nil
}

// Clientset builds a typed client from RESTConfig.
func (c *Common) Clientset() (kubernetes.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Namespace is the namespace chosen with -n, or the context's default.
func (c *Common) Namespace() (string, bool, error) {
	return c.ConfigFlags.ToRawKubeConfigLoader().Namespace()
}

// subcommands are added in the order of the upstream procedure, which is the
// order `kubectl carotate --help` lists them in.
type subcommand struct {
	order int
	new   func(*Common) *cobra.Command
}

var subcommands []subcommand

// register is called from each command file's init.
func register(order int, fn func(*Common) *cobra.Command) {
	subcommands = append(subcommands, subcommand{order, fn})
}

// NewCmdCarotate builds the root command with every subcommand.
func NewCmdCarotate(streams genericiooptions.IOStreams, build BuildInfo) *cobra.Command {
	common := &Common{
		IOStreams:   streams,
		ConfigFlags: genericclioptions.NewConfigFlags(true),
		QPS:         defaultQPS,
		Burst:       defaultBurst,
		Build:       build,
	}
	cmd := &cobra.Command{
		Use:   "kubectl-carotate",
		Short: "Rotate a Kubernetes cluster CA by hand, safely",
		Long: `kubectl carotate walks a cluster admin through the upstream task
"Manually Rotate CA Certificates": it does the in-cluster steps itself
(ServiceAccount root CA, workload restarts, cluster-info) and prints the node
steps (files and flags on control-plane hosts and kubelets) for this cluster,
then checks through the API that they were done.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl carotate",
		},
		// A bare "kubectl carotate" shows help instead of failing.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)
	cmd.SetIn(streams.In)

	flags := cmd.PersistentFlags()
	common.ConfigFlags.AddFlags(flags)
	flags.Float32Var(&common.QPS, "qps", common.QPS, "Maximum queries per second to the API server (client-side rate limit)")
	flags.IntVar(&common.Burst, "burst", common.Burst, "Maximum burst of queries above --qps")
	addKlogFlags(flags)

	// Listed in the order of the procedure, not alphabetically.
	cobra.EnableCommandSorting = false
	sort.SliceStable(subcommands, func(i, j int) bool { return subcommands[i].order < subcommands[j].order })
	for _, s := range subcommands {
		cmd.AddCommand(s.new(common))
	}
	registerCompletions(cmd, common)
	return cmd
}

// addKlogFlags exposes klog's -v (client-go request tracing) and hides the
// rest of klog's flags, which only confuse a plugin's --help.
func addKlogFlags(flags *pflag.FlagSet) {
	gofs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(gofs)
	gofs.VisitAll(func(f *flag.Flag) {
		pf := pflag.PFlagFromGoFlag(f)
		if f.Name == "v" {
			pf.Shorthand = "v"
			pf.Usage = "Log level: 6 shows every API request, 8 their bodies"
		} else {
			pf.Hidden = true
		}
		flags.AddFlag(pf)
	})
}

// ExitError carries a specific exit code (1 findings, 2 a check could not
// run) through cobra to main.
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string { return e.Err.Error() }
func (e *ExitError) Unwrap() error { return e.Err }

// ExitCode maps an error returned by a command to the process exit code.
func ExitCode(err error) int {
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	return 1
}
