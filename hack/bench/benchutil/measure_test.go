package benchutil

import (
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
