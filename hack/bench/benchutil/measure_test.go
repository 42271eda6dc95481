package benchutil

import (
	"bytes"
	"crypto/sha256"
	"os"
	"testing"
)

// TestProcCPU: /proc's account of this process agrees with getrusage's
// after a few hundred milliseconds of work (to the tick, 10 ms, and what
// the runtime's other threads took between the two reads).
func TestProcCPU(t *testing.T) {
	sum := sha256.Sum256(nil)
	for range 3_000_000 {
		sum = sha256.Sum256(sum[:])
	}
	proc, err := ProcCPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	self, err := SelfCPU()
	if err != nil {
		t.Fatal(err)
	}
	if proc < 0.05 || proc > self+0.02 || proc < self-0.1 {
		t.Errorf("/proc says %.2fs of CPU, getrusage %.2fs", proc, self)
	}
}

// TestParseRequests: the counters of the named resources are summed by
// verb, resource/subresource and code; others are left out.
func TestParseRequests(t *testing.T) {
	raw := []byte(`# HELP apiserver_request_total [STABLE] Counter of apiserver requests
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="PATCH",version="v1"} 7
apiserver_request_total{code="409",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="",verb="PATCH",version="v1"} 2
apiserver_request_total{code="200",component="apiserver",dry_run="",group="apps",resource="deployments",scope="resource",subresource="status",verb="PUT",version="v1"} 4
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="cluster",subresource="",verb="LIST",version="v1"} 3
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="nodes",scope="cluster",subresource="",verb="LIST",version="v1"} 9
apiserver_request_duration_seconds_count{code="200",resource="deployments",verb="PATCH"} 7
`)
	before := parseRequests(raw, []string{"deployments", "pods"})
	raw = bytes.Replace(raw, []byte(`verb="PATCH",version="v1"} 7`), []byte(`verb="PATCH",version="v1"} 10`), 1)
	after := parseRequests(raw, []string{"deployments", "pods"})
	if got, want := after.Since(Requests{}), "LIST pods 200: 3, PATCH deployments 200: 10, PATCH deployments 409: 2, PUT deployments/status 200: 4"; got != want {
		t.Errorf("since zero:\n got %s\nwant %s", got, want)
	}
	if got, want := after.Since(before), "PATCH deployments 200: 3"; got != want {
		t.Errorf("since before:\n got %s\nwant %s", got, want)
	}
}
