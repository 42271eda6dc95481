package cluster

import (
	"os"
	"runtime/debug"
	"testing"
)

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
	if before <= PassMemoryLimit {
		t.Skipf("a memory limit under PassMemoryLimit is set already: %d", before)
	}
	restore := SoftMemoryLimit(PassMemoryLimit)
	if got := current(); got != PassMemoryLimit {
		t.Errorf("during the command the limit is %d, want %d", got, PassMemoryLimit)
	}
	inner := SoftMemoryLimit(copyMemoryLimit)
	if got := current(); got != copyMemoryLimit {
		t.Errorf("during an inner pass with a lower limit the limit is %d, want %d", got, copyMemoryLimit)
	}
	inner()
	if got := current(); got != PassMemoryLimit {
		t.Errorf("after the inner pass the limit is %d, want the command's %d back", got, PassMemoryLimit)
	}
	higher := SoftMemoryLimit(PassMemoryLimit * 2)
	if got := current(); got != PassMemoryLimit {
		t.Errorf("an inner pass with a higher limit raised it to %d, want %d kept", got, PassMemoryLimit)
	}
	higher()
	restore()
	if got := current(); got != before {
		t.Errorf("after the command the limit is %d, want %d back", got, before)
	}

	t.Setenv("GOMEMLIMIT", "1GiB")
	restore = SoftMemoryLimit(PassMemoryLimit)
	if got := current(); got != before {
		t.Errorf("with GOMEMLIMIT set the limit is %d, want %d untouched", got, before)
	}
	restore()
}
