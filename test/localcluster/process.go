package localcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Flag is one --name=value argument. Flags keep their order so that a
// restart with one value changed starts the same command line otherwise.
type Flag struct {
	Name  string
	Value string
}

// Component is one control-plane process: its binary, flags and log file.
type Component struct {
	Name    string
	Binary  string
	Flags   []Flag
	LogPath string

	// prefix are arguments before the flags (a subcommand).
	prefix []string

	// cloneflags start the process in new namespaces (the kubeadm
	// node's machine); extraFiles are passed as fd 3 and up.
	cloneflags uintptr
	extraFiles []*os.File

	// exe is the executable the process runs when it is not Binary
	// (nsenter execs it): the pid file records it for the reaper.
	exe string

	cmd     *exec.Cmd
	exited  chan struct{}
	pidFile string
}

// Get returns the value of a flag, or "" when unset.
func (c *Component) Get(name string) string {
	for _, f := range c.Flags {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// Set changes a flag's value, or appends the flag when it is not set yet.
func (c *Component) Set(name, value string) {
	for i, f := range c.Flags {
		if f.Name == name {
			c.Flags[i].Value = value
			return
		}
	}
	c.Flags = append(c.Flags, Flag{name, value})
}

// Args is the command line after the binary.
func (c *Component) Args() []string {
	args := make([]string, 0, len(c.Flags))
	for _, f := range c.Flags {
		args = append(args, "--"+f.Name+"="+f.Value)
	}
	return args
}

// Pid is the process id of the running process, or 0.
func (c *Component) Pid() int {
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// start launches the process with its output appended to the log file and
// records its pid in pidDir, so that a reaper can stop exactly what the
// harness started even if the test process dies. detached processes get a
// session of their own and outlive the starter (make cluster-up); the others
// die with the test process.
func (c *Component) start(pidDir string, detached bool) error {
	logf, err := os.OpenFile(c.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	args := append(append([]string{}, c.prefix...), c.Args()...)
	fmt.Fprintf(logf, "=== %s starting %s %s\n", time.Now().Format(time.RFC3339Nano), c.Binary, strings.Join(args, " "))
	cmd := exec.Command(c.Binary, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = c.extraFiles
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Cloneflags: c.cloneflags}
	if detached {
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Cloneflags: c.cloneflags}
	} else {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.Name, err)
	}
	c.cmd = cmd
	c.exited = make(chan struct{})
	if pidDir != "" {
		if err := os.MkdirAll(pidDir, 0o755); err == nil {
			c.pidFile = filepath.Join(pidDir, strconv.Itoa(cmd.Process.Pid))
			// Record the executable as /proc/<pid>/exe will show it: with
			// symlinks resolved, or the reaper would not recognise it.
			exe, err := filepath.EvalSymlinks(c.Binary)
			if err != nil {
				exe = c.Binary
			}
			if c.exe != "" {
				exe = c.exe
			}
			_ = os.WriteFile(c.pidFile, []byte(exe+"\n"), 0o644)
		}
	}
	if !detached {
		go func() {
			_ = cmd.Wait()
			close(c.exited)
		}()
	}
	return nil
}

// Running tells whether the process has not exited.
func (c *Component) Running() bool {
	if c.cmd == nil {
		return false
	}
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// stop sends SIGTERM, then SIGKILL after grace. kube-apiserver keeps open
// watches alive for up to a minute after SIGTERM, so it gets a short grace.
func (c *Component) stop(grace time.Duration) error {
	if c.cmd == nil {
		return nil
	}
	defer func() {
		c.cmd = nil
		if c.pidFile != "" {
			_ = os.Remove(c.pidFile)
		}
	}()
	if !c.Running() {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return nil
	case <-time.After(grace):
	}
	if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s (pid %d): %w", c.Name, c.cmd.Process.Pid, err)
	}
	select {
	case <-c.exited:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit after SIGKILL", c.Name, c.cmd.Process.Pid)
	}
}

// Tail returns the last n lines of the component's log.
func (c *Component) Tail(n int) string {
	b, err := os.ReadFile(c.LogPath)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// StopRecorded stops every process whose pid is recorded in pidDir and whose
// executable is still the recorded binary (a reused pid is left alone):
// SIGTERM, then SIGKILL after grace. It removes the records. "make
// cluster-down" and the reaper at the end of "make test" use it, so the
// harness only ever stops what it started.
func StopRecorded(pidDir string, grace time.Duration) (stopped []string, err error) {
	entries, err := os.ReadDir(pidDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var procs []*os.Process
	for _, e := range entries {
		pid, convErr := strconv.Atoi(e.Name())
		if convErr != nil {
			continue
		}
		path := filepath.Join(pidDir, e.Name())
		want, _ := os.ReadFile(path)
		if isRecorded(pid, strings.TrimSpace(string(want))) {
			p, _ := os.FindProcess(pid)
			_ = p.Signal(syscall.SIGTERM)
			procs = append(procs, p)
			stopped = append(stopped, fmt.Sprintf("%d %s", pid, strings.TrimSpace(string(want))))
		}
		_ = os.Remove(path)
	}
	deadline := time.Now().Add(grace)
	for _, p := range procs {
		for time.Now().Before(deadline) && alive(p.Pid) {
			time.Sleep(50 * time.Millisecond)
		}
		if alive(p.Pid) {
			_ = p.Signal(syscall.SIGKILL)
		}
	}
	return stopped, nil
}

func isRecorded(pid int, binary string) bool {
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	return err == nil && binary != "" && exe == binary
}

// alive is false for a process that is gone or a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// Pause stops the process with SIGSTOP: it keeps its sockets, so clients
// connect and then wait for an answer that does not come, as with an API
// server that stalls (overloaded, swapping, a stop-the-world pause). Resume
// continues it. Both act on the recorded process only.
func (c *Component) Pause() error { return c.signal(syscall.SIGSTOP) }

// Resume continues a paused process with SIGCONT.
func (c *Component) Resume() error { return c.signal(syscall.SIGCONT) }

func (c *Component) signal(sig syscall.Signal) error {
	if !c.Running() {
		return fmt.Errorf("%s is not running", c.Name)
	}
	return c.cmd.Process.Signal(sig)
}
