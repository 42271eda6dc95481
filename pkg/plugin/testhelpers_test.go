package plugin

import (
	"reflect"
	"sort"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/shelltest"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/spf13/cobra"
)

// testCommands are the root's subcommands, for shelltest.Check.
func testCommands() []*cobra.Command {
	return NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{}).Commands()
}

// TestShelltestKnowsEveryCommand: the subcommands shelltest accepts by name
// are the root's, aliases included.
func TestShelltestKnowsEveryCommand(t *testing.T) {
	var names []string
	for _, c := range testCommands() {
		if c.Hidden || c.Name() == "help" {
			continue
		}
		names = append(names, c.Name())
		names = append(names, c.Aliases...)
	}
	sort.Strings(names)
	if got := shelltest.KnownSubcommands(); !reflect.DeepEqual(got, names) {
		t.Fatalf("shelltest knows %v, the root has %v", got, names)
	}
}
