//go:build e2e

package restart

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// pacing mirrors restart-workloads -o json's pacing.
type pacing struct {
	Adaptive                            bool
	Start, Peak, Final, BackOffs        int
	Throttled, ServerErrors, Unanswered int
	Steps                               []struct{ Ms, Limit int }
}

// TestBacksOffFromAStrugglingAPIServer: kube-apiserver restarted with
// --max-mutating-requests-inflight=1 (priority and fairness off, so that
// the classic in-flight limit answers 429 with Retry-After at once) serves
// one write at a time to everyone but system:masters. A pass as a
// cluster-admin who is not in system:masters meets those 429s: the
// adaptive pace backs off to a few requests in flight, and the pass
// finishes with every workload patched and nothing failed. It restarts the
// API server twice; it runs after TestSurvivesAPIServerRestart (file
// order), where the package already expects that.
func TestBacksOffFromAStrugglingAPIServer(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "struggling")
	w := workloads{client, ns}
	const total = 150
	for i := range total {
		w.deployment(t, fmt.Sprintf("d%d", i), 0)
	}
	// A cluster-admin outside system:masters: both in-flight limits exempt
	// system:masters, as the harness's admin is.
	user, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "restart-struggling-admin", Client: true})
	Must(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "admin.conf")
	Must(t, localcluster.WriteKubeconfig(kubeconfig, Cluster.Server, Cluster.PKI.CA.CertPEM, user))
	BindClusterRole(t, client, "restart-struggling-admin", "cluster-admin", "patch", "apps", "deployments")
	waitSettled(t, client, ns)

	Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{
		"enable-priority-and-fairness": "false", "max-mutating-requests-inflight": "1"}))
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{
			"enable-priority-and-fairness": "", "max-mutating-requests-inflight": ""}))
	})

	res := Cmd{Kubeconfig: kubeconfig, Timeout: 5 * time.Minute}.Run(t, "kubectl-carotate",
		"restart-workloads", "-n", ns, "--value", "struggling-1", "-o", "json")
	var rep struct {
		report
		Pacing pacing `json:"pacing"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("no report (exit %d): %v\n%s", res.Code, err, res.Stderr)
	}
	p := rep.Pacing
	if res.Code != 0 || rep.Totals.Failed != 0 || rep.Totals.Patched != total {
		t.Fatalf("against the struggling server: exit %d, totals %+v, pacing %+v\n%s", res.Code, rep.Totals, p, res.Stderr)
	}
	if !p.Adaptive || p.Throttled == 0 {
		t.Fatalf("the server never pushed back (pacing %+v): the test did not make it struggle", p)
	}
	if p.BackOffs == 0 || p.Final > 4 || p.Final >= p.Start {
		t.Errorf("pacing %+v: want back-offs, down to a few requests in flight from %d", p, p.Start)
	}
	// The steps show the way down: the last is the final limit, and one
	// of them is under the start.
	if n := len(p.Steps); n == 0 || p.Steps[n-1].Limit != p.Final || !slices.ContainsFunc(p.Steps, func(s struct{ Ms, Limit int }) bool { return s.Limit < p.Start }) {
		t.Errorf("pacing steps %+v: want the back-offs in them, ending at the final limit %d", p.Steps, p.Final)
	}
	if !strings.Contains(res.Stderr, "the API server pushed back") {
		t.Errorf("stderr does not say the API server pushed back:\n%s", res.Stderr)
	}
	for k, v := range templateValues(t, client, ns) {
		if v != "struggling-1" {
			t.Errorf("%s carries %q", k, v)
		}
	}
}
