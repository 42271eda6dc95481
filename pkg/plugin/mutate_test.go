package plugin

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// TestBareDryRunMeansClient: every command that writes takes a bare
// --dry-run as --dry-run=client, as kubectl does.
func TestBareDryRunMeansClient(t *testing.T) {
	root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
	var n int
	for _, cmd := range root.Commands() {
		subs := append([]*cobra.Command{cmd}, cmd.Commands()...)
		for _, c := range subs {
			f := c.Flags().Lookup("dry-run")
			if f == nil {
				continue
			}
			n++
			if err := c.Flags().Parse([]string{"--dry-run"}); err != nil {
				t.Fatalf("%s: %v", c.CommandPath(), err)
			}
			if f.Value.String() != string(cmdutil.DryRunClient) {
				t.Errorf("%s: bare --dry-run is %q, want client", c.CommandPath(), f.Value.String())
			}
		}
	}
	if n < 6 {
		t.Fatalf("found --dry-run on %d commands only", n)
	}
}

// TestDryRunValueAfterSpace: "--dry-run server" does not silently become a
// client dry run with a stray argument; the error says to use "=".
func TestDryRunValueAfterSpace(t *testing.T) {
	for _, args := range [][]string{
		{"bundle", "--dry-run", "server"},
		{"restart-workloads", "--dry-run", "none"},
		{"undo", "--dry-run", "server", "file.undo.jsonl"},
	} {
		root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
		root.SetArgs(args)
		err := root.Execute()
		want := "write --dry-run=" + args[2] + " (with '=')"
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: error %v, want one saying %q", args, err, want)
		}
	}
}
