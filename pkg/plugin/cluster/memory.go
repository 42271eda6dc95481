package cluster

import (
	"os"
	"runtime/debug"
)

// PassMemoryLimit is the runtime's soft memory limit during a pass over
// the whole cluster, reading (verify, status) or writing (bundle,
// unbundle, restart-workloads), unless GOMEMLIMIT sets one. Pages of
// objects are decoded and dropped by the hundred, so the heap is mostly
// garbage between collections; what a reader keeps grows with the cluster
// (a row per namespace, a group of pods per workload) and a writer holds
// up to 256 answers in flight (each a whole decoded object). A GOGC target
// scales the garbage with what is live, and set low enough for 50,000
// workloads (15) it cost restart-workloads 1.7 times its CPU at 5,000
// (2.0-2.2 s against 1.1-1.3 s), where the heap is small and the
// collector ran at every 0.6 MiB allocated (the runtime's least heap
// goal, 4 MiB, scales with GOGC); a limit costs nothing until the heap
// nears it. Measured in docs/benchmarks.md: verify --only
// pods,sa over 150,000 pods in 10,000 namespaces kept about 19 MiB live
// and peaked at 51 MiB of heap and stacks (80 MiB RSS) with the runtime's
// default pacing, 29 MiB (56 MiB) with this limit; the writers' figures
// are in "One memory limit for every pass". Near it the collector runs
// sooner; it never thrashes for it, since the runtime caps the time it
// spends.
const PassMemoryLimit = 32 << 20

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
