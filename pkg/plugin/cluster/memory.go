package cluster

import (
	"math"
	"os"
	"runtime/debug"
)

// The Go runtime's collector, tuned for a pass over a whole cluster:
// pages of objects are decoded and dropped by the hundred, so the heap is
// mostly garbage between collections unless the collector runs sooner.

// PassGCPercent is the collector's target (GOGC) during a long cluster-wide
// pass: the heap may grow this many percent over what is live before it
// is collected again, where the runtime's default (100) lets it double.
// Measured in docs/benchmarks.md ("restart-workloads' own memory"): at
// 50,000 workloads 50 left the pass at 62 to 66 MiB, 25 at 58 to 59, for
// about 2 s more of the client's CPU over a pass of a minute.
const PassGCPercent = 25

// CollectSooner sets the collector's target to percent for the rest of a
// pass, unless the GOGC environment variable sets one, and returns what
// puts the previous one back.
func CollectSooner(percent int) (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(percent)
	return func() { debug.SetGCPercent(prev) }
}

// softMemoryLimit sets the runtime's soft memory limit to limit unless one
// is set already (GOMEMLIMIT), and returns what puts it back.
func softMemoryLimit(limit int64) func() {
	prev := debug.SetMemoryLimit(-1)
	if prev != math.MaxInt64 {
		return func() {}
	}
	debug.SetMemoryLimit(limit)
	return func() { debug.SetMemoryLimit(prev) }
}
