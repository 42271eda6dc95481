package cmdutil

import (
	"strings"
	"testing"
)

func TestParseDryRun(t *testing.T) {
	for in, want := range map[string]DryRun{"": DryRunNone, "none": DryRunNone, "client": DryRunClient, "server": DryRunServer} {
		got, err := ParseDryRun(in)
		if err != nil || got != want {
			t.Errorf("ParseDryRun(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseDryRun("true"); err == nil || !strings.Contains(err.Error(), `"none", "client", or "server"`) {
		t.Errorf("got %v", err)
	}
	if DryRunServer.Suffix() != " (server dry run)" || DryRunClient.Suffix() != " (dry run)" || DryRunNone.Suffix() != "" {
		t.Error("suffixes differ from kubectl's")
	}
}
