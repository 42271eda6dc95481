package plugin

import (
	"testing"
	"time"
)

// Each pass of a recorded rotation rolls with a fresh value, and an
// interrupted pass is resumed with its own value, never a new one.
func TestRestartRecordedValue(t *testing.T) {
	now := time.Date(2026, 11, 30, 16, 0, 0, 0, time.UTC)
	pass := func(kind, value, result string) rotationPass {
		return rotationPass{Kind: kind, Value: value, Result: result}
	}
	cases := []struct {
		name   string
		passes []rotationPass
		want   string
	}{
		{"first pass", nil, "r1/bundle"},
		{"after the bundle pass", []rotationPass{pass("restart-workloads", "r1/bundle", "ok")}, "r1/serve"},
		{"bundle pass interrupted", []rotationPass{pass("restart-workloads", "r1/bundle", "failed")}, "r1/bundle"},
		{"after unbundle, serve skipped", []rotationPass{pass("restart-workloads", "r1/bundle", "ok"), pass("unbundle", "", "ok")}, "r1/finish"},
		{"all three done", []rotationPass{pass("restart-workloads", "r1/bundle", "ok"), pass("restart-workloads", "r1/serve", "ok"),
			pass("unbundle", "", "ok"), pass("restart-workloads", "r1/finish", "ok")}, "r1/extra-20261130T160000Z"},
	}
	for _, c := range cases {
		rec := &rotationRecord{ID: "r1", State: rotationActive, Passes: c.passes}
		if got, _ := restartRecordedValue(rec, now); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
