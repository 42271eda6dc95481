// Package plugin holds the cobra commands of kubectl carotate. Each command
// has an Options struct with Complete (resolve flags and clients), Validate
// (arguments only, no I/O) and Run (the work, written to the IOStreams).
package plugin

import (
	"flag"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/clusterinfo"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/inspect"
	"github.com/carotate/kubectl-carotate/pkg/plugin/instructions"
	"github.com/carotate/kubectl-carotate/pkg/plugin/restart"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rootca"
	"github.com/carotate/kubectl-carotate/pkg/plugin/satokens"
	"github.com/carotate/kubectl-carotate/pkg/plugin/start"
	"github.com/carotate/kubectl-carotate/pkg/plugin/status"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undo"
	"github.com/carotate/kubectl-carotate/pkg/plugin/verify"
)

// BuildInfo is what the release build stamps into the binary.
type BuildInfo = cmdutil.BuildInfo

// NewCmdCarotate builds the root command with every subcommand.
func NewCmdCarotate(streams genericiooptions.IOStreams, build BuildInfo) *cobra.Command {
	configFlags := genericclioptions.NewConfigFlags(true)
	factory := cmdutil.NewConfigFactory(configFlags, "kubectl-carotate/"+build.Version, streams.ErrOut)
	common := &cmdutil.Env{IOStreams: streams, Factory: factory, Build: build}
	cmd := &cobra.Command{
		Use:   "kubectl-carotate",
		Short: "Rotate a Kubernetes cluster CA by hand, safely",
		Long: `kubectl carotate walks a cluster admin through the upstream task
"Manually Rotate CA Certificates": it does the in-cluster steps itself
(ServiceAccount root CA, workload restarts, cluster-info) and prints the node
steps (files and flags on control-plane hosts and kubelets) for this cluster,
then checks through the API that they were done. With --target sa-key,
--target front-proxy-ca or --target etcd-ca, start, status, instructions,
verify, finish and abort carry out the rotation of the ServiceAccount
signing key, of the front-proxy CA or of the etcd CA instead.`,
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
	configFlags.AddFlags(flags)
	flags.Float32Var(&factory.QPS, "qps", factory.QPS, "Maximum queries per second to the API server (client-side rate limit)")
	flags.IntVar(&factory.Burst, "burst", factory.Burst, "Maximum burst of queries above --qps")
	addKlogFlags(flags)

	// Listed in the order of the upstream procedure, which is the order
	// --help shows them in.
	cobra.EnableCommandSorting = false
	cmd.AddCommand(
		status.NewCmdStatus(common),
		start.NewCmdStart(common),
		instructions.NewCmdInstructions(common),
		rootca.NewCmdBundle(common),
		restart.NewCmdRestartWorkloads(common),
		satokens.NewCmdResignTokens(common),
		clusterinfo.NewCmdUpdateClusterInfo(common),
		verify.NewCmdVerify(common),
		rootca.NewCmdUnbundle(common),
		inspect.NewCmdInspect(common),
		undo.NewCmdUndo(common),
		start.NewCmdFinish(common),
		start.NewCmdAbort(common),
		NewCmdVersion(common),
		newCmdCompletion(common),
	)
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

// ExitCode maps an error a command returned to the process exit code.
func ExitCode(err error) int { return cmdutil.ExitCode(err) }

// Closing is the line printed after a command's error when an API server
// stopped answering while it ran ("" otherwise): a failure mid-incident
// must say, in its last lines, whether the API server was the cause and
// what to do next.
func Closing(err error) string { return closing(err, cluster.Stalls.Away()) }

func closing(err error, away string) string {
	if err == nil || away == "" {
		return ""
	}
	msg := err.Error()
	if strings.Contains(msg, "re-run") || strings.Contains(msg, "run the same command again") {
		return fmt.Sprintf("The API server at %s stopped answering while this command ran, which is likely why it failed: once it answers again, do what the error says.", away)
	}
	return fmt.Sprintf("The API server at %s stopped answering while this command ran; if that is why it failed, run the same command again once it answers: what is already done is not done twice.", away)
}
