package cluster

import (
	"os"
	"runtime/debug"
	"testing"
)

// CollectSooner sets the target for the pass and puts the previous one
// back; a GOGC the user set wins.
func TestCollectSooner(t *testing.T) {
	current := func() int {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
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
