package verify_test

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carotate/kubectl-carotate/pkg/plugin"
	"github.com/carotate/kubectl-carotate/pkg/plugin/verify"
)

// The printed commands are checked against the real tree, which the root
// builds: this package cannot import it, its external tests can.
func init() {
	verify.SetCommandTree(func() []*cobra.Command {
		return plugin.NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), plugin.BuildInfo{}).Commands()
	})
}
