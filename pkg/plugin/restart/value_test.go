package restart

import (
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// Each pass of a recorded rotation rolls with a fresh value, and an
// interrupted pass is resumed with its own value, never a new one.
func TestRestartRecordedValue(t *testing.T) {
	now := time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)
	pass := func(kind, value, result string) rotation.Pass {
		return rotation.Pass{Kind: kind, Value: value, Result: result}
	}
	cases := []struct {
		name   string
		passes []rotation.Pass
		want   string
	}{
		{"first pass", nil, "r1/bundle"},
		{"after the bundle pass", []rotation.Pass{pass("restart-workloads", "r1/bundle", "ok")}, "r1/serve"},
		{"bundle pass interrupted", []rotation.Pass{pass("restart-workloads", "r1/bundle", "failed")}, "r1/bundle"},
		{"after unbundle, serve skipped", []rotation.Pass{pass("restart-workloads", "r1/bundle", "ok"), pass("unbundle", "", "ok")}, "r1/finish"},
		{"all three done", []rotation.Pass{pass("restart-workloads", "r1/bundle", "ok"), pass("restart-workloads", "r1/serve", "ok"),
			pass("unbundle", "", "ok"), pass("restart-workloads", "r1/finish", "ok")}, "r1/extra-20261130T160000Z"},
	}
	for _, c := range cases {
		rec := &rotation.Record{Lifecycle: rotation.Lifecycle{ID: "r1", State: rotation.StateActive}, Passes: c.passes}
		if got, _ := recordedValue(rec, now); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
