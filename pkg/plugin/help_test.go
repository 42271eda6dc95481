package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestHelpReadsLikeKubectl: every command a user can run has a one-line
// Short, a Long, and examples run as "kubectl carotate".
func TestHelpReadsLikeKubectl(t *testing.T) {
	root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Parent().Name() == "completion" {
				continue
			}
			name := sub.CommandPath()
			if sub.Short == "" || strings.Contains(sub.Short, "\n") {
				t.Errorf("%s: Short must be one line, is %q", name, sub.Short)
			}
			if sub.Long == "" {
				t.Errorf("%s: no Long help", name)
			}
			if sub.Example == "" {
				t.Errorf("%s: no Example", name)
			}
			// Users run us through kubectl; shell glue (completion's
			// "source <(...)") may surround the command.
			// completion is the one place the binary's own name matters.
			if !strings.Contains(sub.Example, "kubectl carotate ") || (sub.Name() != "completion" && strings.Contains(sub.Example, "kubectl-carotate ")) {
				t.Errorf("%s: examples must show \"kubectl carotate ...\", not the binary name: %q", name, sub.Example)
			}
			walk(sub)
		}
	}
	walk(root)
}

// TestHelpListsCommandsInProcedureOrder: the order of --help follows the
// upstream procedure (register's order), not the alphabet.
func TestHelpListsCommandsInProcedureOrder(t *testing.T) {
	root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetArgs([]string{"--help"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	var listed []string
	inCommands := false
	for _, line := range strings.Split(out.String(), "\n") {
		switch {
		case strings.HasPrefix(line, "Available Commands:"):
			inCommands = true
		case inCommands && strings.TrimSpace(line) == "":
			inCommands = false
		case inCommands:
			listed = append(listed, strings.Fields(line)[0])
		}
	}
	var want []string
	for _, s := range subcommands {
		want = append(want, s.new(&Common{}).Name())
	}
	pos := map[string]int{}
	for i, n := range listed {
		pos[n] = i
	}
	for i := 1; i < len(want); i++ {
		if pos[want[i-1]] > pos[want[i]] {
			t.Errorf("--help lists %s before %s; want procedure order %v, got %v", want[i], want[i-1], want, listed)
		}
	}
	if len(listed) < len(want) {
		t.Errorf("--help lists %v, want at least %v", listed, want)
	}
}
