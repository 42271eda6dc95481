package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
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
// upstream procedure (the root's AddCommand list), not the alphabet.
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
	want := []string{"status", "start", "instructions", "bundle", "restart-workloads", "update-cluster-info", "verify",
		"unbundle", "inspect", "undo", "finish", "abort", "version", "completion"}
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

// TestNamespaceFlagHonouredOrRefused: -n is a persistent kubectl flag every
// command accepts. A command either narrows its work to it (and takes -A
// too, as kubectl does), or refuses it with a reason; none ignores it.
func TestNamespaceFlagHonouredOrRefused(t *testing.T) {
	honours := map[string]bool{"bundle": true, "unbundle": true, "restart-workloads": true, "verify": true}
	noCluster := map[string]bool{"version": true, "completion": true}
	root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
	for _, sub := range root.Commands() {
		name := sub.Name()
		if sub.Hidden || name == "help" || noCluster[name] {
			continue
		}
		why := sub.Annotations[cmdutil.AnnotationNoNamespace]
		switch {
		case honours[name] && why != "":
			t.Errorf("%s honours -n but is marked as refusing it (%q)", name, why)
		case honours[name] && sub.Flags().ShorthandLookup("A") == nil:
			t.Errorf("%s honours -n but has no -A/--all-namespaces", name)
		case !honours[name] && why == "":
			t.Errorf("%s neither honours nor refuses -n: mark it with noNamespace(cmd, why)", name)
		}
	}
	// A refusing command says so before it does anything (no cluster
	// needed: the kubeconfig points nowhere).
	for _, args := range [][]string{{"status", "-n", "x"}, {"start", "--new-ca", "x.crt", "--namespace=x"}, {"undo", "f", "-n", "x"}} {
		root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
		root.SetArgs(append(args, "--kubeconfig", "/nonexistent"))
		err := root.Execute()
		if err == nil || !strings.Contains(err.Error(), "does not take -n/--namespace") {
			t.Errorf("%v: %v, want a refusal of -n", args, err)
		}
	}
}
