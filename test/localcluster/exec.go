package localcluster

// Getting into the kubeadm node from the host: "cluster exec" and tests run
// commands in a node's namespaces with nsenter (util-linux), and find the
// node's processes through /proc.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// NodeCommand returns the command that runs args inside node as root, in
// directory dir (which exists there: only nodePaths differ from the host),
// with KUBECONFIG=/etc/kubernetes/admin.conf and the node's PATH (the
// stand-ins, then _output/bin: kubectl, kubeadm, kubectl-carotate). The
// caller's environment is kept otherwise, except HOME, which is the
// cluster's <Dir>/home so kubectl's cache stays out of the host's.
func (s State) NodeCommand(node, dir string, args ...string) (*exec.Cmd, error) {
	if !s.Kubeadm {
		return nil, errors.New("this cluster has no kubeadm node: start one with \"make cluster-up KUBEADM=1\" (cluster up --kubeadm)")
	}
	if len(args) == 0 {
		return nil, errors.New("no command to run")
	}
	if node == "" {
		node = KubeadmNode
	}
	pid, err := s.nodeHostPid(node)
	if err != nil {
		return nil, err
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return nil, fmt.Errorf("nsenter (util-linux) is needed to enter the node: %w", err)
	}
	cmd := exec.Command(nsenter, append([]string{
		"--target", strconv.Itoa(pid), "--mount", "--uts", "--net", "--pid", "--wd=" + dir, "--",
	}, args...)...)
	env := []string{}
	for _, e := range os.Environ() {
		switch k, _, _ := strings.Cut(e, "="); k {
		case "KUBECONFIG", "PATH", "HOME":
		default:
			env = append(env, e)
		}
	}
	cmd.Env = append(env,
		"KUBECONFIG=/etc/kubernetes/admin.conf",
		"PATH="+nodePATH(s.Dir, s.BinDir),
		"HOME="+filepath.Join(s.Dir, "home"),
	)
	return cmd, nil
}

// nodeHostPid is the host's pid of node's process (the holder of its
// namespaces), from the pid it recorded in the machine's namespace.
func (s State) nodeHostPid(node string) (int, error) {
	machine := s.Pids[Machine]
	if machine == 0 || !alive(machine) {
		return 0, fmt.Errorf("the kubeadm node's machine (pid %d) is not running", machine)
	}
	b, err := os.ReadFile(filepath.Join(s.Dir, "nodes", node, "run", "carotate", "node.pid"))
	if err != nil {
		return 0, fmt.Errorf("node %q: %w", node, err)
	}
	nsPid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0, err
	}
	procs, err := MachineProcesses(machine)
	if err != nil {
		return 0, err
	}
	for _, p := range procs {
		if p.NsPid == nsPid {
			return p.HostPid, nil
		}
	}
	return 0, fmt.Errorf("node %q (pid %d in the machine) is not running", node, nsPid)
}

// NodeProcess is a process of the kubeadm node's machine.
type NodeProcess struct {
	HostPid int      // as the host sees it
	NsPid   int      // inside the machine's PID namespace
	Cmdline []string // argv
	Start   uint64   // start time in clock ticks since boot (/proc/PID/stat field 22)
}

// MachineProcesses lists every process in the PID namespace whose PID 1 is
// machinePid (the host's pid of the machine), the machine included.
func MachineProcesses(machinePid int) ([]NodeProcess, error) {
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", machinePid))
	if err != nil {
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var out []NodeProcess
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid)); err != nil || ns != want {
			continue
		}
		p := NodeProcess{HostPid: pid}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) > 1 && f[0] == "NSpid:" {
				p.NsPid, _ = strconv.Atoi(f[len(f)-1])
			}
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		p.Cmdline = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		p.Start = procStart(pid)
		out = append(out, p)
	}
	return out, nil
}

// procStart is a process's start time, which tells a reused pid apart.
func procStart(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
}

// ProcessAlive tells whether the process is still the one listed (same
// pid and start time) and not a zombie.
func ProcessAlive(p NodeProcess) bool {
	return alive(p.HostPid) && procStart(p.HostPid) == p.Start
}

// NodeCommand is State.NodeCommand for this cluster, in the working
// directory.
func (c *Cluster) NodeCommand(node string, args ...string) (*exec.Cmd, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	return c.State().NodeCommand(node, wd, args...)
}

// Exec runs args inside node and returns its output; a failure's error
// carries the output.
func (c *Cluster) Exec(ctx context.Context, node string, args ...string) (stdout, stderr string, err error) {
	cmd, err := c.NodeCommand(node, args...)
	if err != nil {
		return "", "", err
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := runContext(ctx, cmd); err != nil {
		return out.String(), errOut.String(), fmt.Errorf("%s on %s: %w\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), node, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String(), nil
}

func runContext(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return ctx.Err()
	}
}

// MachinePid is the host's pid of the kubeadm node's machine, or 0.
func (c *Cluster) MachinePid() int {
	if m := c.Components[Machine]; m != nil {
		return m.Pid()
	}
	return 0
}

// NodeProcesses lists the processes of the kubeadm node's machine.
func (c *Cluster) NodeProcesses() ([]NodeProcess, error) {
	pid := c.MachinePid()
	if pid == 0 {
		return nil, errors.New("no kubeadm node running")
	}
	return MachineProcesses(pid)
}

// NodePath is where path of node lives on the host: <Dir>/nodes/<node><path>
// for the node's own directories (/etc/kubernetes, /var/lib/kubelet, ...).
func (c *Cluster) NodePath(node, path string) string {
	return nodeHostPath(filepath.Join(c.Dir, "nodes", node), path)
}
