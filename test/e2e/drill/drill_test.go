//go:build e2e

// Package drill runs the whole rotation (test/drill) on a local control
// plane with kubeadm-like mirror pods and checks the end state from outside
// the plugin: TLS handshakes, authentication, the CA data every pod and
// joining node reads, the cluster-info signatures, and pod ages; and what
// in-cluster clients of the pods saw through it, with a Deployment left
// out of every restart pass as the negative control.
package drill

import (
	"context"
	"os"
	"testing"

	"github.com/carotate/kubectl-carotate/test/drill"
	"github.com/carotate/kubectl-carotate/test/drill/drilltest"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, localcluster.Options{MirrorPods: true, NodeKubelets: true}))
}

func TestDrill(t *testing.T) {
	ctx := context.Background()
	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: t.TempDir(), Narrator: drill.LogfNarrator(t.Logf), Clients: true}
	out, err := d.Run(ctx)
	if err != nil {
		t.Fatalf("drill: %v", err)
	}
	drilltest.AssertEndState(t, out)
	drilltest.AssertClients(t, out)
}
