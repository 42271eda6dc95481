package localcluster

// runtime is the control-plane node's container runtime stand-in: it runs
// a static pod's containers as processes of the binaries in _output/bin,
// keeps pod sandboxes and containers with ids as crictl shows them, and
// writes each container's output where the kubelet keeps it
// (/var/log/pods/<namespace>_<pod>_<uid>/<container>/<attempt>.log). Like
// containerd it is independent of the kubelet: "systemctl stop kubelet"
// leaves the containers running, and crictl works either way.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Container and sandbox states, in crictl's words.
const (
	containerCreated = "CONTAINER_CREATED"
	containerRunning = "CONTAINER_RUNNING"
	containerExited  = "CONTAINER_EXITED"
	sandboxReady     = "SANDBOX_READY"
	sandboxNotReady  = "SANDBOX_NOTREADY"
)

// images maps the images kubeadm's manifests name to the binaries built by
// "make tools", with the only tag each binary is.
var images = map[string]struct {
	tag   string
	extra []string // flags the harness adds to the process (not to the manifest)
}{
	"kube-apiserver":          {tag: "v1.37.2"},
	"kube-controller-manager": {tag: "v1.37.2"},
	"kube-scheduler":          {tag: "v1.37.2"},
	// A test machine does not need etcd's fsync; the flag is not in the
	// manifest or the mirror pod.
	"etcd": {tag: "3.7.0-0", extra: []string{"--unsafe-no-fsync"}},
}

type runtime struct {
	binDir string
	nodeIP string

	mu        sync.Mutex
	sandboxes []*sandbox
	wake      chan struct{} // a container exited
}

type sandbox struct {
	info       sandboxInfo
	pod        *corev1.Pod // the static pod as its manifest says
	hash       string
	containers []*container
}

type container struct {
	info     containerInfo
	spec     corev1.Container
	started  time.Time
	finished time.Time
	reason   string // why it is not running, for the pod status
	cmd      *exec.Cmd
	exited   chan struct{}
	ready    atomic.Bool
	cancel   context.CancelFunc // stops the prober
}

func newRuntime(binDir, nodeIP string) *runtime {
	return &runtime{binDir: binDir, nodeIP: nodeIP, wake: make(chan struct{}, 1)}
}

func randomID() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runSandbox creates a ready sandbox for a static pod (no containers yet).
func (r *runtime) runSandbox(pod *corev1.Pod, hash string) *sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	sb := &sandbox{pod: pod, hash: hash, info: sandboxInfo{
		ID: randomID(), Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID),
		Created: time.Now(), State: sandboxReady,
	}}
	r.sandboxes = append(r.sandboxes, sb)
	// Keep one stopped sandbox per pod, as the kubelet's garbage collector
	// keeps the last few: crictl pods lists it as NotReady.
	var kept []*sandbox
	seen := map[string]int{}
	for i := len(r.sandboxes) - 1; i >= 0; i-- {
		s := r.sandboxes[i]
		if s.info.State == sandboxNotReady {
			seen[s.info.Name]++
			if seen[s.info.Name] > 1 {
				continue
			}
		}
		kept = append([]*sandbox{s}, kept...)
	}
	r.sandboxes = kept
	return sb
}

// latest returns the newest sandbox of a pod, or nil.
func (r *runtime) latest(name string) *sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sandboxes) - 1; i >= 0; i-- {
		if r.sandboxes[i].info.Name == name {
			return r.sandboxes[i]
		}
	}
	return nil
}

func (r *runtime) ready() []*sandbox {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*sandbox
	for _, sb := range r.sandboxes {
		if sb.info.State == sandboxReady {
			out = append(out, sb)
		}
	}
	return out
}

// resolve maps a container to the command the runtime runs.
func (r *runtime) resolve(spec corev1.Container) (string, []string, error) {
	ref := spec.Image
	ref = strings.TrimPrefix(ref, "registry.k8s.io/")
	name, tag, _ := strings.Cut(ref, ":")
	img, ok := images[name]
	if !ok || tag != img.tag {
		var have []string
		for n, i := range images {
			have = append(have, "registry.k8s.io/"+n+":"+i.tag)
		}
		return "", nil, fmt.Errorf("ErrImagePull: image %s is not one this node has (it has %s)", spec.Image, strings.Join(have, ", "))
	}
	command := append(append([]string{}, spec.Command...), spec.Args...)
	if len(command) == 0 {
		return "", nil, fmt.Errorf("container %s has no command", spec.Name)
	}
	return filepath.Join(r.binDir, name), append(command[1:], img.extra...), nil
}

// startContainer runs one container of a sandbox.
func (r *runtime) startContainer(sb *sandbox, spec corev1.Container, attempt int) *container {
	c := &container{spec: spec, exited: make(chan struct{}), info: containerInfo{
		ID: randomID(), Name: spec.Name, Image: spec.Image, Created: time.Now(), State: containerCreated,
		Attempt: attempt, PodID: sb.info.ID, PodName: sb.info.Name, Namespace: sb.info.Namespace,
	}}
	r.mu.Lock()
	sb.containers = append(sb.containers, c)
	r.mu.Unlock()
	fail := func(reason string) *container {
		r.mu.Lock()
		c.info.State, c.info.ExitCode, c.reason, c.finished = containerExited, 128, reason, time.Now()
		c.info.Finished = c.finished
		r.mu.Unlock()
		close(c.exited)
		return c
	}
	binary, args, err := r.resolve(spec)
	if err != nil {
		return fail(err.Error())
	}
	logDir := filepath.Join("/var/log/pods", sb.info.Namespace+"_"+sb.info.Name+"_"+sb.info.UID, spec.Name)
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return fail(err.Error())
	}
	logPath := filepath.Join(logDir, strconv.Itoa(attempt)+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fail(err.Error())
	}
	defer logf.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = "/"
	if spec.WorkingDir != "" {
		cmd.Dir = spec.WorkingDir
	}
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, e := range spec.Env {
		if e.ValueFrom == nil {
			cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fail("StartError: " + err.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.mu.Lock()
	c.cmd, c.cancel, c.started = cmd, cancel, time.Now()
	c.info.State, c.info.Pid, c.info.LogPath, c.info.Started = containerRunning, cmd.Process.Pid, logPath, c.started
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		cancel()
		r.mu.Lock()
		c.info.State, c.finished = containerExited, time.Now()
		c.info.Finished = c.finished
		c.info.ExitCode = cmd.ProcessState.ExitCode()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			c.info.ExitCode = 128 + int(ws.Signal())
		}
		c.reason = "Error"
		if err == nil {
			c.reason = "Completed"
		}
		r.mu.Unlock()
		c.ready.Store(false)
		close(c.exited)
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}()
	go r.probe(ctx, c)
	return c
}

// probe sets the container's readiness from its readiness probe, else its
// startup probe, else from running at all, as the kubelet does; it probes
// every second (faster than the manifests' periods: tests wait on it).
func (r *runtime) probe(ctx context.Context, c *container) {
	p := c.spec.ReadinessProbe
	if p == nil {
		p = c.spec.StartupProbe
	}
	if p == nil || p.HTTPGet == nil {
		c.ready.Store(true)
		return
	}
	g := p.HTTPGet
	port := g.Port.IntValue()
	if g.Port.Type == intstr.String {
		for _, cp := range c.spec.Ports {
			if cp.Name == g.Port.StrVal {
				port = int(cp.ContainerPort)
			}
		}
	}
	host := g.Host
	if host == "" {
		host = r.nodeIP
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	url := scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port)) + g.Path
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		// The kubelet does not verify probe certificates either.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	for {
		ok := false
		if resp, err := client.Get(url); err == nil {
			ok = resp.StatusCode >= 200 && resp.StatusCode < 400
			resp.Body.Close()
		}
		c.ready.Store(ok)
		select {
		case <-ctx.Done():
			c.ready.Store(false)
			return
		case <-time.After(time.Second):
		}
	}
}

// stopContainer sends SIGTERM, then SIGKILL after grace, and waits.
func stopContainer(c *container, grace time.Duration) {
	if c.cmd == nil {
		return
	}
	select {
	case <-c.exited:
		return
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
		return
	case <-time.After(grace):
	}
	_ = c.cmd.Process.Kill()
	<-c.exited
}

// stopSandbox stops every container of a sandbox and marks it not ready.
func (r *runtime) stopSandbox(sb *sandbox) {
	r.mu.Lock()
	sb.info.State = sandboxNotReady
	cs := append([]*container{}, sb.containers...)
	r.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stopContainer(c, grace(c.spec.Name))
		}()
	}
	wg.Wait()
}

// stopSandboxID is crictl stopp: ids may be abbreviated as crictl prints them.
func (r *runtime) stopSandboxID(id string) error {
	r.mu.Lock()
	var match []*sandbox
	for _, sb := range r.sandboxes {
		if strings.HasPrefix(sb.info.ID, id) {
			match = append(match, sb)
		}
	}
	r.mu.Unlock()
	switch {
	case id == "" || len(match) == 0:
		return fmt.Errorf("pod sandbox %q not found", id)
	case len(match) > 1:
		return fmt.Errorf("pod sandbox id %q is ambiguous", id)
	}
	r.stopSandbox(match[0])
	return nil
}

// stopAll stops every container: the API server and the controllers
// first, etcd last, so nothing logs a lost etcd on the way down.
func (r *runtime) stopAll() {
	var last []*sandbox
	var wg sync.WaitGroup
	for _, sb := range r.ready() {
		if sb.pod.Labels["component"] == "etcd" {
			last = append(last, sb)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.stopSandbox(sb)
		}()
	}
	wg.Wait()
	for _, sb := range last {
		r.stopSandbox(sb)
	}
}

func (r *runtime) containers() []containerInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []containerInfo{}
	for _, sb := range r.sandboxes {
		for _, c := range sb.containers {
			out = append(out, c.info)
		}
	}
	return out
}

func (r *runtime) sandboxList() []sandboxInfo {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []sandboxInfo{}
	for _, sb := range r.sandboxes {
		out = append(out, sb.info)
	}
	return out
}

// current returns the newest container of each name in a sandbox.
func (r *runtime) current(sb *sandbox) map[string]*container {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*container{}
	for _, c := range sb.containers {
		out[c.spec.Name] = c
	}
	return out
}

// fingerprint changes whenever a sandbox or container changes state or
// readiness.
func (r *runtime) fingerprint() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, sb := range r.sandboxes {
		fmt.Fprintf(&b, "%s %s;", sb.info.ID, sb.info.State)
		for _, c := range sb.containers {
			fmt.Fprintf(&b, "%s %s %v;", c.info.ID, c.info.State, c.ready.Load())
		}
	}
	return b.String()
}

// running tells whether a container of the sandbox has not exited yet.
func (r *runtime) running(sb *sandbox) bool {
	r.mu.Lock()
	cs := append([]*container{}, sb.containers...)
	r.mu.Unlock()
	for _, c := range cs {
		select {
		case <-c.exited:
		default:
			return true
		}
	}
	return false
}
