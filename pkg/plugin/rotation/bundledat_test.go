package rotation

import (
	"testing"
	"time"
)

func TestBundledAt(t *testing.T) {
	t0 := time.Date(2026, 12, 3, 4, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name   string
		passes []Pass
		want   time.Time
	}{
		{"no pass", nil, time.Time{}},
		{"the first good bundle pass", []Pass{{Kind: "bundle", Result: "ok", At: at(5)}, {Kind: "bundle", Result: "ok", At: at(9)}}, at(5)},
		{"a failed pass does not count", []Pass{{Kind: "bundle", Result: "failed", At: at(1)}, {Kind: "bundle", Result: "ok", At: at(7)}}, at(7)},
		{"a pass over one namespace does not count", []Pass{{Kind: "bundle", Result: "ok", Scope: "namespace a", At: at(1)}, {Kind: "bundle", Result: "ok", At: at(3)}}, at(3)},
		{"other commands do not count", []Pass{{Kind: "restart-workloads", Phase: "bundle", Result: "ok", At: at(1)}, {Kind: "unbundle", Result: "ok", At: at(2)}}, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Record{Passes: tc.passes}
			if got := r.BundledAt(); !got.Equal(tc.want) {
				t.Errorf("BundledAt %v, want %v", got, tc.want)
			}
		})
	}
}
