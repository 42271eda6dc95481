package cluster

import (
	"os"
	"runtime/debug"
)

// The Go runtime's collector, tuned for a pass over a whole cluster:
// pages of objects are decoded and dropped by the hundred, so the heap is
// mostly garbage between collections unless the collector runs sooner.

// PassGCPercent is the collector's target (GOGC) during bundle's,
// unbundle's and undo's pass: the heap may grow this many percent over what is live
// before it is collected again, where the runtime's default (100) lets it
// double. Their pass keeps little (about 10 MiB live over 10,000
// namespaces: a report row per object), so the target is what their peak
// RSS follows: over 10,000 namespaces 53 to 56 MiB at 50, 51 to 54 at 25,
// 64 to 66 at 100 (held cluster, docs/benchmarks.md "The rate ceiling was
// bundle's gap"). At 25 the collector took a third of the pass's own CPU
// (about 1.3 s of 4), on two cores shared with the API server; at 50
// about 0.7 s less. restart-workloads runs lower (its restartGCPercent,
// 15): its pass holds a record per workload and up to 256 whole decoded
// workloads in flight, and at 25 it went to 64.8-67.2 MiB over 50,000
// workloads (docs/benchmarks.md, "The pace read from its steps"). A soft memory limit for the writers, as the
// readers have (ReadMemoryLimit), costs nothing on a small heap, where
// GOGC 15 cost restart-workloads 1.7 times its CPU at 5,000 workloads;
// but at 50,000 the heap sat near it and the pass took 1.37x the loop's
// time against 1.10x ("One memory limit for every pass, tried").
const PassGCPercent = 50

// GCPercent is the collector's target (GOGC) in force. Reading it means
// setting it and putting it back: for tests, not beside another setter.
func GCPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

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

// ReadMemoryLimit is the runtime's soft memory limit while a command reads
// the whole cluster (verify, status), unless GOMEMLIMIT sets one. What
// they keep grows with the cluster (a row per namespace, a group of pods
// per workload), so a GOGC target, which scales with what is live, lets
// the garbage of the pages grow with it; a limit does not. Measured in
// docs/benchmarks.md: verify --only pods,sa over 150,000 pods in 10,000
// namespaces kept about 19 MiB live and peaked at 51 MiB of heap and
// stacks (80 MiB RSS) with the runtime's default pacing, 29 MiB (56 MiB)
// with this limit. Near it the collector runs sooner; it never thrashes
// for it, since the runtime caps the time it spends.
const ReadMemoryLimit = 32 << 20

// SoftMemoryLimit lowers the runtime's soft memory limit to limit for a
// command or a pass, unless GOMEMLIMIT sets one (the user's wins) or the
// limit in force is lower already (an enclosing command's lower limit
// stays; a pass inside verify gets its own lower one), and returns what
// puts the previous limit back.
func SoftMemoryLimit(limit int64) func() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); set {
		return func() {}
	}
	prev := debug.SetMemoryLimit(-1)
	if prev <= limit {
		return func() {}
	}
	debug.SetMemoryLimit(limit)
	return func() { debug.SetMemoryLimit(prev) }
}
