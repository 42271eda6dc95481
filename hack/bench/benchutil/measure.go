package benchutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Run is one measured run of a command.
type Run struct {
	Stdout string
	Code   int
	// Seconds is the wall time, MaxRSS the kernel's peak resident set size
	// (ru_maxrss, KiB), PeakAnon the largest RssAnon sampled (KiB).
	Seconds  float64
	MaxRSS   int64
	PeakAnon int64
	// CPU is the user and system CPU time it took, in seconds.
	CPU float64
}

// Measure runs bin to the end with KUBECONFIG=kubeconfig and returns what
// it printed, its wall time and its peak memory. An exit code not in ok
// (0 when ok is empty) is an error carrying its stderr.
//
// The child starts as a vfork of this process, and Linux counts this
// process's peak RSS in the child's ru_maxrss when it executes: this
// process's memory is given back and its peak reset first
// (/proc/self/clear_refs), so what is measured is the child's.
func Measure(ctx context.Context, kubeconfig, bin string, ok []int, args ...string) (Run, error) {
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		return Run{}, fmt.Errorf("resetting this process's peak RSS: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	// What a command prints is kept up to a cap: kubectl get -o json of a
	// large cluster would otherwise make this process, not the measured
	// one, hold hundreds of MiB.
	stdout, stderr := &capped{max: 16 << 20}, &capped{max: 1 << 20}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return Run{}, err
	}
	stop := make(chan struct{})
	sampled := make(chan int64, 1)
	go func() { sampled <- sampleAnon(cmd.Process.Pid, stop) }()
	err := cmd.Wait()
	r := Run{Stdout: stdout.String(), Seconds: time.Since(start).Seconds()}
	close(stop)
	r.PeakAnon = <-sampled
	var exitErr *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exitErr):
		return r, err
	case err != nil:
		r.Code = exitErr.ExitCode()
	}
	if len(ok) == 0 {
		ok = []int{0}
	}
	if !slices.Contains(ok, r.Code) {
		return r, fmt.Errorf("%s exited %d: %s", filepath.Base(bin), r.Code, stderr.String())
	}
	ru, isRusage := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !isRusage {
		return r, errors.New("no rusage on this platform")
	}
	r.MaxRSS = ru.Maxrss
	r.CPU = cpuSeconds(ru)
	return r, nil
}

func cpuSeconds(ru *syscall.Rusage) float64 {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// SelfCPU is the user and system CPU time this process has taken, in
// seconds: for a contender measured in-process.
func SelfCPU() (float64, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return cpuSeconds(&ru), nil
}

// ProcCPU is the user and system CPU time process pid has taken, in
// seconds, from /proc/PID/stat (in clock ticks: USER_HZ, 100 on Linux).
func ProcCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing one. utime and stime are fields 14
	// and 15, the 12th and 13th after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected %q", pid, b)
	}
	var ticks float64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += float64(n)
	}
	return ticks / 100, nil
}

// capped keeps the first max bytes written to it and drops the rest.
type capped struct {
	bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		c.Buffer.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// sampleAnon polls /proc/PID/status for RssAnon until stop: the heap and
// stacks, without the file-backed pages of the binary, whose share of RSS
// depends on how the kernel mapped the page cache (with transparent huge
// pages, touching one byte of text can map 2 MiB).
func sampleAnon(pid int, stop <-chan struct{}) int64 {
	var peak int64
	path := fmt.Sprintf("/proc/%d/status", pid)
	for {
		if b, err := os.ReadFile(path); err == nil {
			for _, line := range strings.Split(string(b), "\n") {
				var kib int64
				if _, err := fmt.Sscanf(line, "RssAnon: %d kB", &kib); err == nil && kib > peak {
					peak = kib
				}
			}
		}
		select {
		case <-stop:
			return peak
		case <-time.After(5 * time.Millisecond):
		}
	}
}
