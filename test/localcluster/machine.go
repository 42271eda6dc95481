package localcluster

// The kubeadm node (Options.Kubeadm) runs in a "machine": one process
// started in new mount, network, PID and UTS namespaces, PID 1 of its PID
// namespace. When it exits, for whatever reason, the kernel kills every
// process left in that namespace, so nothing the node started outlives
// "make cluster-down" or a crashed test. Its network namespace is private:
// lo carries the node addresses (10.200.0.10 for the control plane, one
// per KWOK worker), and the only way in from the host is a listening
// socket on 127.0.0.1 that the harness opens and hands to the machine,
// which forwards each connection to the API server at 10.200.0.10:6443.
//
// Inside the machine each node is a process of its own in a further mount
// and UTS namespace (hostname = node name), where nodePaths are bind mounts
// of the node's directory under <Dir>/nodes/<name>/: kubeadm writes
// /etc/kubernetes of the control-plane node into
// <Dir>/nodes/cp-1/etc/kubernetes, and the host's /etc/kubernetes is at
// most an empty mount point.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Names and addresses of the kubeadm node.
const (
	// KubeadmNode is the control-plane node kubeadm lays out.
	KubeadmNode = "cp-1"
	// NodeAddress is the control-plane node's address (kubeadm's
	// advertiseAddress and controlPlaneEndpoint host). It exists on lo
	// inside the machine's network namespace only.
	NodeAddress = "10.200.0.10"
	// Machine is the component name of the machine process.
	Machine = "machine"

	roleControlPlane = "control-plane"
	roleWorker       = "worker"
)

// nodePaths are the paths each node has to itself, bind mounts of
// <node root><path>. Everything else is the host's file system, shared, so
// the caller's working directory and _output/bin exist inside the node.
var nodePaths = []string{
	"/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/var/lib/carotate",
	"/var/backups", "/var/log/pods", "/run",
}

// runDir is where a node's stand-ins find its kubelet (inside the node).
const runDir = "/run/carotate"

// machineConfig is what the harness hands the machine (as a JSON file).
type machineConfig struct {
	Dir     string        `json:"dir"`
	BinDir  string        `json:"binDir"`
	Forward string        `json:"forward"` // where connections on fd 3 go
	Nodes   []machineNode `json:"nodes"`
}

// machineNode is one node of the machine.
type machineNode struct {
	Name string `json:"name"`
	Role string `json:"role"`
	IP   string `json:"ip"`
	Root string `json:"root"`
}

func (m machineConfig) node(name string) (machineNode, bool) {
	for _, n := range m.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return machineNode{}, false
}

func readMachineConfig(path string) (machineConfig, error) {
	var cfg machineConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	return cfg, json.Unmarshal(b, &cfg)
}

// nodeHostPath is where a path of a node lives on the host: under the
// node's root for nodePaths, the path itself otherwise.
func nodeHostPath(root, path string) string {
	path = filepath.Clean(path)
	for _, p := range nodePaths {
		if path == p || strings.HasPrefix(path, p+"/") {
			return filepath.Join(root, path)
		}
	}
	return path
}

// ensureMountPoints creates the empty directories the bind mounts need on
// the host, and nothing else: the host's own files are never written.
func ensureMountPoints() error {
	for _, p := range nodePaths {
		if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("mount point %s: %w", p, err)
			}
		}
	}
	return nil
}

// RunMachine is PID 1 of the machine ("cluster _machine CONFIG"): it makes
// the mounts private, gives lo the node addresses, forwards fd 3 to the
// API server, runs one process per node (restarting one that dies, as a
// node would come back) and reaps every orphan. On SIGTERM it stops the
// nodes and exits, which ends everything in the namespace.
func RunMachine(configPath string) error {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("machine: ")
	cfg, err := readMachineConfig(configPath)
	if err != nil {
		return err
	}
	if os.Getpid() != 1 {
		return errors.New("the machine must be PID 1 of a new PID namespace (the harness starts it)")
	}
	// Nothing mounted here propagates back to the host.
	if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := syscall.Mount("proc", "/proc", "proc", syscall.MS_NOSUID|syscall.MS_NODEV|syscall.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := syscall.Sethostname([]byte("carotate-machine")); err != nil {
		return err
	}
	// ip runs before the reaper starts, so exec.Cmd may wait for it.
	ipArgs := [][]string{{"link", "set", "lo", "up"}}
	for _, n := range cfg.Nodes {
		ipArgs = append(ipArgs, []string{"addr", "add", n.IP + "/32", "dev", "lo"})
	}
	for _, a := range ipArgs {
		if out, err := exec.Command("ip", a...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(a, " "), err, out)
		}
	}
	m := &machine{cfg: cfg, configPath: configPath, waiters: map[int]chan syscall.WaitStatus{}, early: map[int]syscall.WaitStatus{}, running: map[string]int{}}
	go m.reap()
	ln, err := net.FileListener(os.NewFile(3, "forward"))
	if err != nil {
		return fmt.Errorf("forward listener (fd 3): %w", err)
	}
	go forward(ln, cfg.Forward)
	log.Printf("forwarding %s to %s", ln.Addr(), cfg.Forward)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	var wg sync.WaitGroup
	for _, n := range cfg.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m.supervise(n)
		}()
	}
	s := <-sig
	log.Printf("%s: stopping the nodes", s)
	m.stop(30 * time.Second)
	return nil
}

type machine struct {
	cfg        machineConfig
	configPath string

	mu       sync.Mutex
	waiters  map[int]chan syscall.WaitStatus
	early    map[int]syscall.WaitStatus // exits seen before their waiter registered
	running  map[string]int             // node name -> pid
	stopping bool
}

// reap waits for every child and orphan: as PID 1 of the namespace the
// machine inherits whatever a node's processes leave behind.
func (m *machine) reap() {
	sigchld := make(chan os.Signal, 16)
	signal.Notify(sigchld, syscall.SIGCHLD)
	for {
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if err != nil || pid <= 0 {
				break
			}
			m.mu.Lock()
			if ch, ok := m.waiters[pid]; ok {
				delete(m.waiters, pid)
				ch <- ws
			} else {
				m.early[pid] = ws
			}
			m.mu.Unlock()
		}
		select {
		case <-sigchld:
		case <-time.After(time.Second):
		}
	}
}

// start runs a node process in new mount and UTS namespaces.
func (m *machine) start(n machineNode) (int, chan syscall.WaitStatus, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, nil, err
	}
	logf, err := os.OpenFile(filepath.Join(m.cfg.Dir, "logs", "node-"+n.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	defer devnull.Close()
	ch := make(chan syscall.WaitStatus, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	pid, err := syscall.ForkExec(exe, []string{exe, "_node", m.configPath, n.Name}, &syscall.ProcAttr{
		Dir:   "/",
		Env:   []string{"PATH=" + nodePATH(m.cfg.Dir, m.cfg.BinDir), "HOME=/root"},
		Files: []uintptr{devnull.Fd(), logf.Fd(), logf.Fd()},
		Sys: &syscall.SysProcAttr{
			Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
		},
	})
	if err != nil {
		return 0, nil, err
	}
	if ws, ok := m.early[pid]; ok {
		delete(m.early, pid)
		ch <- ws
	} else {
		m.waiters[pid] = ch
	}
	m.running[n.Name] = pid
	return pid, ch, nil
}

// supervise keeps a node's process running until the machine stops.
func (m *machine) supervise(n machineNode) {
	for {
		pid, ch, err := m.start(n)
		if err != nil {
			log.Printf("node %s: %v", n.Name, err)
		} else {
			log.Printf("node %s: started (pid %d)", n.Name, pid)
			ws := <-ch
			m.mu.Lock()
			stopping := m.stopping
			delete(m.running, n.Name)
			m.mu.Unlock()
			if stopping {
				return
			}
			log.Printf("node %s: exited (%v); starting it again", n.Name, exitText(ws))
		}
		time.Sleep(time.Second)
	}
}

// stop sends SIGTERM to every node process and waits up to grace for them.
func (m *machine) stop(grace time.Duration) {
	m.mu.Lock()
	m.stopping = true
	pids := map[string]int{}
	for n, pid := range m.running {
		pids[n] = pid
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	m.mu.Unlock()
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		m.mu.Lock()
		left := len(m.running)
		m.mu.Unlock()
		if left == 0 {
			log.Printf("all nodes stopped")
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log.Printf("nodes still running after %s: %v; exiting, which kills them", grace, pids)
}

func exitText(ws syscall.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return "exit " + strconv.Itoa(ws.ExitStatus())
}

// forward copies every connection accepted on ln to addr and back.
func forward(ln net.Listener, addr string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("forward: %v", err)
			return
		}
		go func() {
			defer c.Close()
			d, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return
			}
			defer d.Close()
			done := make(chan struct{}, 2)
			pipe := func(dst, src net.Conn) {
				_, _ = io.Copy(dst, src)
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				done <- struct{}{}
			}
			go pipe(d, c)
			go pipe(c, d)
			<-done
			<-done
		}()
	}
}

// nodePATH is PATH inside the nodes: the stand-ins first (crictl,
// systemctl, scp), then _output/bin (kubectl, kubeadm, kubectl-carotate,
// the control-plane binaries), then the system's (openssl, sed, ...).
func nodePATH(dir, binDir string) string {
	return filepath.Join(dir, "bin") + ":" + binDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}
