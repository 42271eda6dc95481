package cmdutil

import (
	"bytes"
	"os"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

func TestReportFindings(t *testing.T) {
	var b bytes.Buffer
	err := ReportFindings(&b, []checks.Finding{
		{Level: checks.LevelWarning, Message: "w1"},
		{Level: checks.LevelError, Message: "e1"},
		{Level: checks.LevelError, Message: "e2"},
	}, os.ErrInvalid)
	if b.String() != "warning: w1\n" {
		t.Fatalf("stderr %q", b.String())
	}
	if err == nil || err.Error() != "invalid CA input, nothing was changed:\n  - e1\n  - e2" {
		t.Fatalf("err %v", err)
	}
	if err := ReportFindings(&b, []checks.Finding{{Level: checks.LevelWarning, Message: "w"}}, nil); err != nil {
		t.Fatal(err)
	}
}
