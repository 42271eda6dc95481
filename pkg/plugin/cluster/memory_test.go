package cluster

import (
	"os"
	"runtime/debug"
	"testing"
)

// CollectSooner sets the target for the pass and puts the previous one
// back; a GOGC the user set wins.
func TestCollectSooner(t *testing.T) {
	current := GCPercent
	if v, set := os.LookupEnv("GOGC"); set {
		t.Setenv("GOGC", v) // restored after the test
	}
	_ = os.Unsetenv("GOGC")
	before := current()
	restore := CollectSooner(20)
	if got := current(); got != 20 {
		t.Errorf("during the pass GOGC = %d, want 20", got)
	}
	restore()
	if got := current(); got != before {
		t.Errorf("after the pass GOGC = %d, want %d back", got, before)
	}

	t.Setenv("GOGC", "300")
	restore = CollectSooner(20)
	if got := current(); got != before {
		t.Errorf("with GOGC set GOGC = %d, want %d (the user's) untouched", got, before)
	}
	restore()
}

// SoftMemoryLimit lowers the limit for the command and puts it back; a
// pass inside it with a lower limit of its own (the copies scan inside
// verify) gets it for its span; GOMEMLIMIT wins over both.
func TestSoftMemoryLimit(t *testing.T) {
	current := func() int64 { return debug.SetMemoryLimit(-1) }
	if v, set := os.LookupEnv("GOMEMLIMIT"); set {
		t.Setenv("GOMEMLIMIT", v) // restored after the test
	}
	_ = os.Unsetenv("GOMEMLIMIT")
	before := current()
	if before <= ReadMemoryLimit {
		t.Skipf("a memory limit under ReadMemoryLimit is set already: %d", before)
	}
	restore := SoftMemoryLimit(ReadMemoryLimit)
	if got := current(); got != ReadMemoryLimit {
		t.Errorf("during the command the limit is %d, want %d", got, ReadMemoryLimit)
	}
	inner := SoftMemoryLimit(copyMemoryLimit)
	if got := current(); got != copyMemoryLimit {
		t.Errorf("during an inner pass with a lower limit the limit is %d, want %d", got, copyMemoryLimit)
	}
	inner()
	if got := current(); got != ReadMemoryLimit {
		t.Errorf("after the inner pass the limit is %d, want the command's %d back", got, ReadMemoryLimit)
	}
	higher := SoftMemoryLimit(ReadMemoryLimit * 2)
	if got := current(); got != ReadMemoryLimit {
		t.Errorf("an inner pass with a higher limit raised it to %d, want %d kept", got, ReadMemoryLimit)
	}
	higher()
	restore()
	if got := current(); got != before {
		t.Errorf("after the command the limit is %d, want %d back", got, before)
	}

	t.Setenv("GOMEMLIMIT", "1GiB")
	restore = SoftMemoryLimit(ReadMemoryLimit)
	if got := current(); got != before {
		t.Errorf("with GOMEMLIMIT set the limit is %d, want %d untouched", got, before)
	}
	restore()
}
