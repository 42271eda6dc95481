// Command kubectl-carotate is the kubectl plugin "kubectl carotate". It only
// wires streams and build information; the commands live in pkg/plugin.
package main

import (
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec, OIDC and other kubeconfig auth providers

	"github.com/carotate/kubectl-carotate/pkg/plugin"
)

// Set by the release build (goreleaser's default ldflags write main.version etc.).
var (
	version = "dev"
	commit  = "none"
	date    = "unknown"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	cmd := plugin.NewCmdCarotate(streams, plugin.BuildInfo{Version: version, Commit: commit, Date: date})
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		if line := plugin.Closing(err); line != "" {
			fmt.Fprintln(os.Stderr, line)
		}
		os.Exit(plugin.ExitCode(err))
	}
}
