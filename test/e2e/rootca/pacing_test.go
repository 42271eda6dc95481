//go:build e2e

package rootca

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
)

// throttled is what client-go logs at -v=3 for a request its own rate
// limiter held back by more than 50 ms.
const throttled = "client-side throttling"

// TestBundleIsNotHeldBackByTheClientRateLimit: bundle is paced like
// restart-workloads (requests in flight, no client rate limit unless
// --qps/--burst are given), so a pass never waits on client-go's rate
// limiter; the root's 50 QPS, given explicitly, does hold the same
// pass back, which client-go reports at -v=3. Not a timing: client-go's own
// account of why a request waited.
func TestBundleIsNotHeldBackByTheClientRateLimit(t *testing.T) {
	client := Client(t)
	const n = 200
	var nss []string
	for range n {
		nss = append(nss, CreateNamespace(t, client, "pacing"))
	}
	// Gone before the next test: namespaces being deleted change their
	// ConfigMaps, which the tests that snapshot every object would see.
	t.Cleanup(func() { deleteNamespaces(t, nss) })
	WaitRootCAPublished(t, client, nss...)

	r := newRotation(t)
	args := []string{"bundle", "--old-ca", r.old, "--new-ca", r.new, "--undo-dir", r.undoDir, "--dry-run=server", "-o", "json", "-v=3"}
	res := Carotate(t, args...)
	rep := parseReport(t, res.Stdout)
	if res.Code != 0 || rep.Namespaces.Updated < n || rep.Namespaces.Failed != 0 {
		t.Fatalf("bundle --dry-run=server: exit %d, namespaces %+v", res.Code, rep.Namespaces)
	}
	if strings.Contains(res.Stderr, throttled) {
		t.Errorf("bundle waited on the client's own rate limiter:\n%s", linesWith(res.Stderr, throttled))
	}

	// The same pass held to the root's default: client-go says so.
	res = Carotate(t, append(args, "--qps", "50", "--burst", "100")...)
	if res.Code != 0 || !strings.Contains(res.Stderr, throttled) {
		t.Errorf("with --qps 50 --burst 100 (the root's default): exit %d, and client-go reported no %q: the check above cannot tell", res.Code, throttled)
	}
}

// deleteNamespaces deletes nss and waits until they are gone.
func deleteNamespaces(t *testing.T, nss []string) {
	t.Helper()
	ctx := context.Background()
	client := Client(t)
	for _, ns := range nss {
		_ = client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	}
	err := wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, ns := range nss {
			if _, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Errorf("the test's namespaces are not gone after 5 minutes: %v", err)
	}
}

func linesWith(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	if len(out) > 5 {
		out = append(out[:5], "...")
	}
	return strings.Join(out, "\n")
}
