//go:build e2e

package chaos

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// TestChaosRecordWrites kills kube-apiserver once start's write of the
// rotation record has landed, and again once abort's has, before either
// command has its answer. The write sent again meets its own effect (the
// record's resourceVersion moved on); each command must see that the
// record holds what it wrote and succeed, not say "another admin recorded
// a rotation at the same moment" or "was aborted by you meanwhile;
// nothing was written" about its own write.
func TestChaosRecordWrites(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	dir := t.TempDir()
	newCA, err := localcluster.NewCA("kubernetes-chaos-record", 365*24*time.Hour)
	Must(t, err)
	newFile := filepath.Join(dir, "new-ca.crt")
	Must(t, os.WriteFile(newFile, newCA.CertPEM, 0o600))

	// An ended record to replace, whatever the tests before left.
	if rec, err := rotation.Load(ctx, client); err != nil {
		t.Fatal(err)
	} else if rec.Active() {
		if res := Carotate(t, "abort"); res.Code != 0 {
			t.Fatalf("abort the rotation left active: exit %d\n%s", res.Code, res.Stderr)
		}
	}
	if rec, _ := rotation.Load(ctx, client); rec == nil {
		if res := Carotate(t, "start", "--new-ca", newFile); res.Code != 0 {
			t.Fatalf("start: exit %d\n%s", res.Code, res.Stderr)
		}
		if res := Carotate(t, "abort"); res.Code != 0 {
			t.Fatalf("abort: exit %d\n%s", res.Code, res.Stderr)
		}
	}

	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: dir, Narrator: drill.LogfNarrator(t.Logf)}
	t.Cleanup(d.Close)
	recordWritten := func() drill.Kill {
		return drill.KillAfterConfigMapChange(drill.PointFirstWrite, rotation.Namespace, rotation.NameOf(""), "rotation.json")
	}
	for _, step := range []struct {
		args  []string
		state string
	}{
		{[]string{"start", "--new-ca", newFile}, rotation.StateActive},
		{[]string{"abort"}, rotation.StateAborted},
	} {
		from := len(d.Disruptions)
		_, err := d.Disrupt(ctx, recordWritten(), step.args...)
		logDisruptions(t, d.Disruptions[from:])
		if len(d.Disruptions) != from+1 {
			t.Fatalf("%s: %d disruptions, want 1 (%v)", step.args[0], len(d.Disruptions)-from, err)
		}
		dis := d.Disruptions[from]
		if dis.First == nil || dis.First.Code != 0 {
			t.Fatalf("%s under a kill after its record write: the first attempt did not succeed: %+v", step.args[0], dis.First)
		}
		Must(t, err)
		assertDisrupted(t, dis)
		rec, err := rotation.Load(ctx, client)
		Must(t, err)
		if rec == nil || rec.State != step.state {
			t.Fatalf("after %s the record is %+v, want state %s", step.args[0], rec, step.state)
		}
	}
}
