package drilltest

import (
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/test/drill"
)

// AssertClients checks what the drill's in-cluster clients saw
// (Drill.Clients): no TLS failure and no 401 for any client of a pod the
// procedure restarted, and the negative control named by verify before
// step 9.3 and failing TLS verification from then until its restart by
// hand. The timing figures (seconds unreachable per step) are printed,
// not asserted.
func AssertClients(t *testing.T, out *drill.Outcome) {
	t.Helper()
	var b strings.Builder
	out.Clients.WriteClients(&b)
	t.Logf("in-cluster clients:\n%s", b.String())
	problems := out.Clients.Problems()
	for _, p := range problems {
		t.Error(p)
	}
	if len(problems) > 0 {
		b.Reset()
		_ = out.Clients.Restarted.WritePods(&b)
		_ = out.Clients.Control.WritePods(&b)
		t.Logf("every client:\n%s", b.String())
	}
	u := out.Clients.Unbundle
	t.Logf("unbundle with the control not restarted: exit %d\n%s", u.Code, u.Stderr)
}
