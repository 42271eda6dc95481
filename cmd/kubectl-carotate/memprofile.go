//go:build memprofile

package main

import (
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"time"
)

// Built with -tags memprofile: writes a heap profile to $CAROTATE_MEMPROFILE
// whenever the heap in use reaches a new high (by 5%), so the last one
// written is the profile at the peak; and a CPU profile of the first
// $CAROTATE_CPUPROFILE_SECONDS (default 10) to $CAROTATE_CPUPROFILE.
func init() {
	cpuProfile()
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
				// Whole or not at all: the command may exit mid-write.
				if f, err := os.Create(path + ".tmp"); err == nil {
					if pprof.Lookup("heap").WriteTo(f, 0) == nil && f.Close() == nil {
						_ = os.Rename(path+".tmp", path)
					}
				}
			}
		}
	}()
}

func cpuProfile() {
	path := os.Getenv("CAROTATE_CPUPROFILE")
	if path == "" {
		return
	}
	seconds, err := strconv.Atoi(os.Getenv("CAROTATE_CPUPROFILE_SECONDS"))
	if err != nil || seconds <= 0 {
		seconds = 10
	}
	f, err := os.Create(path)
	if err != nil || pprof.StartCPUProfile(f) != nil {
		return
	}
	// The command may exit first: profile a run shorter than that.
	time.AfterFunc(time.Duration(seconds)*time.Second, func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	})
}
