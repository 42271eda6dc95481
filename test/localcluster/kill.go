package localcluster

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// Kill sends SIGKILL to one component, by the pid the harness recorded
// when it started it, and waits until the process is gone. There is no
// grace: requests in flight and open watches die with it, as when the
// node loses power or the kernel's OOM killer strikes. StartComponent
// starts it again. After a killed kube-apiserver, the harness's
// controller-manager and scheduler (no leader election) may need a restart
// too (HARNESS-NOTES).
func (c *Cluster) Kill(name string) (pid int, err error) {
	comp := c.Components[name]
	if comp == nil {
		return 0, fmt.Errorf("localcluster: no component %q", name)
	}
	if c.opts.Detached {
		// Nothing waits for a detached process, so its exit is not seen.
		return 0, fmt.Errorf("localcluster: Kill needs a cluster this process started (not detached)")
	}
	if !comp.Running() {
		return 0, fmt.Errorf("localcluster: %s is not running", name)
	}
	pid = comp.cmd.Process.Pid
	if err := comp.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return pid, fmt.Errorf("kill %s (pid %d): %w", name, pid, err)
	}
	select {
	case <-comp.exited:
	case <-time.After(10 * time.Second):
		return pid, fmt.Errorf("%s (pid %d) did not exit after SIGKILL", name, pid)
	}
	comp.cmd = nil
	if comp.pidFile != "" {
		_ = os.Remove(comp.pidFile)
	}
	return pid, nil
}
