package localcluster

// A node of the machine: one process per node, in its own mount and UTS
// namespaces, with the node's directories bind-mounted over nodePaths. It
// plays the node's kubelet service: on the control-plane node the
// static-pod runner and kubelet stand-in of kubelet.go, on a worker a KWOK
// process managing that one node with the node's own kubelet.conf. The
// stand-ins (crictl, systemctl, scp) reach it through a unix socket at
// /run/carotate/kubelet.sock, which only this node sees.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// kubeletService is what systemctl and crictl act on.
type kubeletService interface {
	// Start starts the kubelet if it is not running; Stop stops it
	// (containers keep running, as with a real container runtime).
	Start() error
	Stop() error
	Status() serviceStatus
	Containers() []containerInfo
	Sandboxes() []sandboxInfo
	// StopSandbox stops a pod sandbox; the kubelet starts the pod again.
	StopSandbox(id string) error
	// Shutdown stops the kubelet and every container (the node goes away).
	Shutdown()
}

// serviceStatus is systemctl's view of the kubelet unit.
type serviceStatus struct {
	Active  bool      `json:"active"`
	Since   time.Time `json:"since"`
	MainPID int       `json:"mainPID,omitempty"`
	Note    string    `json:"note,omitempty"`
}

// containerInfo and sandboxInfo are crictl's view of the node.
type containerInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Image     string    `json:"image"`
	Created   time.Time `json:"created"`
	Started   time.Time `json:"started,omitzero"`
	Finished  time.Time `json:"finished,omitzero"`
	State     string    `json:"state"` // CONTAINER_RUNNING, CONTAINER_EXITED, CONTAINER_CREATED
	Attempt   int       `json:"attempt"`
	PodID     string    `json:"podID"`
	PodName   string    `json:"podName"`
	Namespace string    `json:"namespace"`
	Pid       int       `json:"pid,omitempty"` // in the machine's PID namespace
	LogPath   string    `json:"logPath,omitempty"`
	ExitCode  int       `json:"exitCode"`
}

type sandboxInfo struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Namespace string    `json:"namespace"`
	UID       string    `json:"uid"`
	Created   time.Time `json:"created"`
	State     string    `json:"state"` // SANDBOX_READY, SANDBOX_NOTREADY
}

// nodeInfo is written to /run/carotate/node.json for the stand-ins.
type nodeInfo struct {
	Name    string        `json:"name"`
	Role    string        `json:"role"`
	Machine string        `json:"machine"` // the machine's config file
	Nodes   []machineNode `json:"nodes"`
}

// RunNode is a node of the machine ("cluster _node CONFIG NAME").
func RunNode(configPath, name string) error {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix(name + ": ")
	cfg, err := readMachineConfig(configPath)
	if err != nil {
		return err
	}
	n, ok := cfg.node(name)
	if !ok {
		return fmt.Errorf("no node %q in %s", name, configPath)
	}
	if err := syscall.Sethostname([]byte(n.Name)); err != nil {
		return err
	}
	for _, p := range nodePaths {
		src := filepath.Join(n.Root, p)
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(src, p, "", syscall.MS_BIND|syscall.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s over %s: %w", src, p, err)
		}
	}
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return err
	}
	info, _ := json.MarshalIndent(nodeInfo{Name: n.Name, Role: n.Role, Machine: configPath, Nodes: cfg.Nodes}, "", "  ")
	if err := os.WriteFile(filepath.Join(runDir, "node.json"), info, 0o644); err != nil {
		return err
	}

	var svc kubeletService
	switch n.Role {
	case roleControlPlane:
		svc = newStaticPodKubelet(cfg, n)
	case roleWorker:
		svc = newKWOKKubelet(cfg, n)
	default:
		return fmt.Errorf("node %s: unknown role %q", n.Name, n.Role)
	}

	sock := filepath.Join(runDir, "kubelet.sock")
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: serviceAPI(svc), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	// The kubelet unit is enabled: it starts at boot, and waits for its
	// configuration as a real one crash-loops until kubeadm writes it.
	if err := svc.Start(); err != nil {
		log.Printf("kubelet: %v", err)
	}
	// The host finds this process through its PID in the machine's
	// namespace (cluster exec enters this node's namespaces). Written
	// whole, then renamed: the host waits for the file to exist and reads
	// it at once, and once read it empty ("strconv.Atoi: parsing \"\"").
	pidFile := filepath.Join(runDir, "node.pid")
	if err := os.WriteFile(pidFile+".tmp", []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(pidFile+".tmp", pidFile); err != nil {
		return err
	}
	log.Printf("node up: %s (%s) at %s", n.Name, n.Role, n.IP)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	log.Printf("shutting down")
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = srv.Shutdown(ctx)
	cancel()
	svc.Shutdown()
	return nil
}

// serviceAPI is the socket's HTTP interface.
func serviceAPI(svc kubeletService) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, v any, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("GET /containers", func(w http.ResponseWriter, r *http.Request) { reply(w, svc.Containers(), nil) })
	mux.HandleFunc("GET /sandboxes", func(w http.ResponseWriter, r *http.Request) { reply(w, svc.Sandboxes(), nil) })
	mux.HandleFunc("POST /sandboxes/{id}/stop", func(w http.ResponseWriter, r *http.Request) {
		reply(w, map[string]string{}, svc.StopSandbox(r.PathValue("id")))
	})
	mux.HandleFunc("GET /kubelet", func(w http.ResponseWriter, r *http.Request) { reply(w, svc.Status(), nil) })
	mux.HandleFunc("POST /kubelet/{action}", func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch r.PathValue("action") {
		case "start":
			err = svc.Start()
		case "stop":
			err = svc.Stop()
		case "restart":
			if err = svc.Stop(); err == nil {
				err = svc.Start()
			}
		default:
			err = fmt.Errorf("unknown action %q", r.PathValue("action"))
		}
		reply(w, svc.Status(), err)
	})
	return mux
}

// nodeClient talks to the node's kubelet socket from inside the node.
func nodeClient() *http.Client {
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", filepath.Join(runDir, "kubelet.sock"))
		},
	}}
}

func nodeCall(method, path string, out any) error {
	req, err := http.NewRequest(method, "http://kubelet"+path, nil)
	if err != nil {
		return err
	}
	resp, err := nodeClient().Do(req)
	if err != nil {
		return fmt.Errorf("the node's kubelet service does not answer (%v): is this running inside a node of the harness?", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e map[string]string
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return errors.New(e["error"])
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// kwokKubelet is a worker's kubelet: a KWOK process that manages this one
// node with the node's own files: --kubeconfig=/etc/kubernetes/kubelet.conf
// (whatever client certificate and CA that file names), serving on the
// node's address with /var/lib/kubelet/pki/kubelet.crt. Like a kubelet, it
// reads them when it starts, so a changed kubelet.conf takes effect with
// "systemctl restart kubelet".
type kwokKubelet struct {
	cfg  machineConfig
	node machineNode

	mu      sync.Mutex
	active  bool
	since   time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	pid     int
	lastErr string
}

func newKWOKKubelet(cfg machineConfig, n machineNode) *kwokKubelet {
	return &kwokKubelet{cfg: cfg, node: n, since: time.Now()}
}

func (k *kwokKubelet) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.active {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.active, k.since, k.cancel, k.done = true, time.Now(), cancel, make(chan struct{})
	go k.run(ctx, k.done)
	return nil
}

func (k *kwokKubelet) Stop() error {
	k.mu.Lock()
	if !k.active {
		k.mu.Unlock()
		return nil
	}
	k.active, k.since = false, time.Now()
	cancel, done := k.cancel, k.done
	k.mu.Unlock()
	cancel()
	<-done
	return nil
}

func (k *kwokKubelet) Shutdown() { _ = k.Stop() }

func (k *kwokKubelet) Status() serviceStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	return serviceStatus{Active: k.active, Since: k.since, MainPID: k.pid, Note: k.lastErr}
}

func (k *kwokKubelet) Containers() []containerInfo { return []containerInfo{} }
func (k *kwokKubelet) Sandboxes() []sandboxInfo    { return []sandboxInfo{} }
func (k *kwokKubelet) StopSandbox(id string) error {
	return fmt.Errorf("no pod sandbox %q on %s: the pods of a KWOK node are simulated and have no sandboxes", id, k.node.Name)
}

// run keeps KWOK running while the unit is active (Restart=always).
func (k *kwokKubelet) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	for ctx.Err() == nil {
		err := k.runOnce(ctx)
		k.mu.Lock()
		k.pid = 0
		if err != nil {
			k.lastErr = err.Error()
		}
		k.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			log.Printf("kubelet (kwok): %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

func (k *kwokKubelet) runOnce(ctx context.Context) error {
	for _, f := range []string{"/etc/kubernetes/kubelet.conf", "/var/lib/kubelet/pki/kubelet.crt", "/var/lib/kubelet/pki/kubelet.key"} {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("waiting for %s", f)
		}
	}
	logf, err := os.OpenFile(filepath.Join(k.cfg.Dir, "logs", "kwok-"+k.node.Name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	addr := net.JoinHostPort(k.node.IP, "10250")
	args := []string{
		"--kubeconfig=/etc/kubernetes/kubelet.conf",
		"--manage-single-node=" + k.node.Name,
		"--config=" + filepath.Join(k.cfg.BinDir, "kwok-stages.yaml"),
		"--node-ip=" + k.node.IP,
		"--node-port=10250",
		"--server-address=" + addr,
		"--tls-cert-file=/var/lib/kubelet/pki/kubelet.crt",
		"--tls-private-key-file=/var/lib/kubelet/pki/kubelet.key",
		"--node-lease-duration-seconds=40",
	}
	fmt.Fprintf(logf, "=== %s starting kwok %v\n", time.Now().Format(time.RFC3339Nano), args)
	cmd := exec.Command(filepath.Join(k.cfg.BinDir, "kwok"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	k.mu.Lock()
	k.pid, k.lastErr = cmd.Process.Pid, ""
	k.mu.Unlock()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		return fmt.Errorf("kwok exited: %v", err)
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		return nil
	}
}
