//go:build memprofile

package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"time"
)

// Built with -tags memprofile: writes a heap profile to $CAROTATE_MEMPROFILE
// whenever the heap in use reaches a new high (by 5%), so the last one
// written is the profile at the peak.
func init() {
	path := os.Getenv("CAROTATE_MEMPROFILE")
	if path == "" {
		return
	}
	runtime.MemProfileRate = 64 << 10
	go func() {
		var high uint64
		for range time.Tick(100 * time.Millisecond) {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > high+high/20 {
				high = m.HeapInuse
				runtime.GC()
				if f, err := os.Create(path); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					_ = f.Close()
				}
			}
		}
	}()
}
