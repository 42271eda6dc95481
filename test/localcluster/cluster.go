// Package localcluster runs a real Kubernetes control plane on 127.0.0.1 for
// tests and the demo: etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler built from pinned modules (hack/tools), and KWOK simulating
// nodes and pods. It can restart one component with changed flags or files,
// which is what a CA rotation does to a real control plane.
package localcluster

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Component names.
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	ControllerManager = "kube-controller-manager"
	Scheduler         = "kube-scheduler"
	KWOK              = "kwok"
)

// startOrder is the order components start in; they stop in reverse.
var startOrder = []string{Etcd, APIServer, ControllerManager, Scheduler, KWOK}

// Options configure Start.
type Options struct {
	// Dir holds the PKI, kubeconfigs, etcd data and logs. Required.
	Dir string
	// BinDir holds the binaries; default: $CAROTATE_BIN_DIR or <repo>/_output/bin.
	BinDir string
	// PidDir records the pid of every process started, for the reaper;
	// default: $CAROTATE_PID_DIR or <repo>/_output/pids.
	PidDir string
	// CA signs the cluster's certificates; a new CA when nil.
	CA *CertKey
	// Nodes is the number of KWOK nodes (default 3).
	Nodes int
	// Controllers is kube-controller-manager's --controllers.
	Controllers string
	// Detached processes outlive the caller (make cluster-up).
	Detached bool
	// MirrorPods adds a tainted control-plane node and kubeadm-like mirror
	// pods in kube-system that show each component's real command line.
	MirrorPods bool
	// Kubeadm runs the control plane as a node kubeadm lays out (cp-1 at
	// 10.200.0.10, in private namespaces; see machine.go and kubeadm.go):
	// its files under Dir/nodes/cp-1, its static pods run by the harness's
	// kubelet stand-in, its mirror pods the kubelet's own, and Nodes KWOK
	// workers with their own kubelet files. Needs root. Controllers, when
	// set, goes into kubeadm's configuration; MirrorPods is implied.
	Kubeadm bool
	// NodeKubelets gives every node its own kubelet (a KWOK process
	// managing that node, component KubeletComponent(node)) that
	// authenticates as the node with kubeadm's kubelet files under
	// Dir/nodes/<node>, as the kubeadm node's workers have (see
	// kubelets.go), instead of one KWOK for all nodes with a kubeconfig of
	// its own. The drill needs it: step 9.2 renews each node's client
	// certificate.
	NodeKubelets bool
	// AggregatorRouting runs the kubeadm node's kube-apiserver with
	// --enable-aggregator-routing=true (through kubeadm's configuration):
	// with no kube-proxy, it reaches an aggregated API server
	// (ServeAggregatedAPI) at its endpoint, not its Service's cluster IP.
	AggregatorRouting bool
	// Logf narrates progress; nil is quiet.
	Logf func(format string, args ...any)
}

// Cluster is a running local control plane.
type Cluster struct {
	Dir        string
	PKI        *PKI
	Kubeconfig string // admin kubeconfig
	Server     string // https://127.0.0.1:port
	Components map[string]*Component
	// BootstrapTokens are the "id.secret" tokens created as kubeadm would.
	BootstrapTokens []string

	opts Options
	// Options.Kubeadm: the machine's nodes, and the name the host-side
	// kubeconfigs verify the API server's certificate as.
	nodes         []machineNode
	tlsServerName string
	// mirrors are the mirror pods SyncMirrorPods last made, which
	// keepMirrorPods creates again if they vanish.
	mirrors mirrorKeeper
}

// State is what a detached cluster records on disk for cluster-down/status.
type State struct {
	Dir        string         `json:"dir"`
	Kubeconfig string         `json:"kubeconfig"`
	Server     string         `json:"server"`
	Pids       map[string]int `json:"pids"`
	// Kubeadm is set for a cluster with the kubeadm node; BinDir is on the
	// node's PATH.
	Kubeadm bool     `json:"kubeadm,omitempty"`
	BinDir  string   `json:"binDir,omitempty"`
	Nodes   []string `json:"nodes,omitempty"`
}

// Start brings the control plane up and waits until it is usable: nodes Ready,
// the default ServiceAccount and kube-root-ca.crt published, cluster-info signed.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	if opts.Dir == "" {
		return nil, errors.New("localcluster: Options.Dir is required")
	}
	if opts.BinDir == "" {
		if opts.BinDir, err = DefaultBinDir(); err != nil {
			return nil, err
		}
	}
	if opts.PidDir == "" {
		opts.PidDir = os.Getenv("CAROTATE_PID_DIR")
		if opts.PidDir == "" {
			opts.PidDir = filepath.Join(filepath.Dir(opts.BinDir), "pids")
		}
	}
	if opts.Nodes == 0 {
		opts.Nodes = 3
	}
	controllersSet := opts.Controllers != ""
	if opts.Controllers == "" {
		opts.Controllers = kubeadmControllers
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	if opts.Kubeadm {
		opts.MirrorPods = true
		return startKubeadm(ctx, opts, controllersSet)
	}
	for _, b := range []string{Etcd, APIServer, ControllerManager, Scheduler, KWOK, "kubectl", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("localcluster: %s missing in %s: run \"make tools\" first", b, opts.BinDir)
		}
	}
	for _, d := range []string{"pki", "logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	pki, err := NewPKI(filepath.Join(opts.Dir, "pki"), opts.CA)
	if err != nil {
		return nil, fmt.Errorf("localcluster: PKI: %w", err)
	}
	c := &Cluster{Dir: opts.Dir, PKI: pki, Components: map[string]*Component{}, opts: opts}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.LogTails(30))
			_ = c.Stop()
		}
	}()
	if err := c.configure(); err != nil {
		return nil, err
	}
	for _, name := range startOrder {
		if name == KWOK && opts.NodeKubelets {
			delete(c.Components, KWOK)
			if err := c.startNodeKubelets(ctx); err != nil {
				return nil, err
			}
			continue
		}
		opts.Logf("starting %s", name)
		if err := c.Components[name].start(opts.PidDir, opts.Detached); err != nil {
			return nil, err
		}
		if err := c.waitReady(ctx, name); err != nil {
			return nil, err
		}
		if name == APIServer {
			if err := c.bootstrap(ctx); err != nil {
				return nil, fmt.Errorf("bootstrap objects: %w", err)
			}
			if opts.MirrorPods {
				if err := c.createControlPlaneNode(ctx); err != nil {
					return nil, fmt.Errorf("control-plane node: %w", err)
				}
			}
		}
	}
	if err := c.SyncMirrorPods(ctx); err != nil {
		return nil, err
	}
	opts.Logf("waiting for nodes, the default ServiceAccount and kube-root-ca.crt")
	if err := c.waitSettled(ctx); err != nil {
		return nil, err
	}
	c.keepMirrorPods()
	return c, nil
}

// configure lays out every component's flags as kubeadm would, on free ports.
func (c *Cluster) configure() error {
	ports, err := freePorts(7)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]
	c.Server = "https://127.0.0.1:" + strconv.Itoa(apiPort)
	p := c.PKI.Path
	kc := func(name string, ck *CertKey) (string, error) {
		path := filepath.Join(c.Dir, name+".conf")
		return path, WriteKubeconfig(path, c.Server, c.PKI.CA.CertPEM, ck)
	}
	if c.Kubeconfig, err = kc("admin", c.PKI.Admin); err != nil {
		return err
	}
	kcmConf, err := kc("controller-manager", c.PKI.ControllerManager)
	if err != nil {
		return err
	}
	schedConf, err := kc("scheduler", c.PKI.Scheduler)
	if err != nil {
		return err
	}
	kwokConf, err := kc("kwok", c.PKI.KWOK)
	if err != nil {
		return err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	add := func(name string, flags ...Flag) {
		c.Components[name] = &Component{
			Name: name, Binary: filepath.Join(c.opts.BinDir, name), Flags: flags,
			LogPath: filepath.Join(c.Dir, "logs", name+".log"),
		}
	}
	add(Etcd,
		Flag{"name", "default"},
		Flag{"data-dir", filepath.Join(c.Dir, "etcd")},
		Flag{"listen-client-urls", etcdURL},
		Flag{"advertise-client-urls", etcdURL},
		Flag{"listen-peer-urls", peerURL},
		Flag{"initial-advertise-peer-urls", peerURL},
		Flag{"initial-cluster", "default=" + peerURL},
		Flag{"unsafe-no-fsync", "true"},
		// The benchmarks at scale (150,000 pods, repeated passes over
		// 50,000 workloads) can pass etcd's default 2 GiB before the API
		// server's compaction catches up; 8 GiB is etcd's largest
		// recommended quota, and the file grows only with what is written.
		Flag{"quota-backend-bytes", strconv.Itoa(8 << 30)},
		Flag{"log-level", "warn"},
	)
	add(APIServer,
		Flag{"advertise-address", "127.0.0.1"},
		// The endpoint reconciler refuses a loopback address, and any other
		// address would send traffic off this machine: default/kubernetes
		// has no endpoints here.
		Flag{"endpoint-reconciler-type", "none"},
		Flag{"bind-address", "127.0.0.1"},
		Flag{"secure-port", strconv.Itoa(apiPort)},
		Flag{"etcd-servers", etcdURL},
		Flag{"allow-privileged", "true"},
		Flag{"authorization-mode", "Node,RBAC"},
		Flag{"enable-admission-plugins", "NodeRestriction"},
		Flag{"enable-bootstrap-token-auth", "true"},
		Flag{"client-ca-file", p("ca.crt")},
		Flag{"tls-cert-file", p("apiserver.crt")},
		Flag{"tls-private-key-file", p("apiserver.key")},
		Flag{"kubelet-client-certificate", p("apiserver-kubelet-client.crt")},
		Flag{"kubelet-client-key", p("apiserver-kubelet-client.key")},
		Flag{"kubelet-preferred-address-types", "InternalIP"},
		Flag{"proxy-client-cert-file", p("front-proxy-client.crt")},
		Flag{"proxy-client-key-file", p("front-proxy-client.key")},
		Flag{"requestheader-client-ca-file", p("front-proxy-ca.crt")},
		Flag{"requestheader-allowed-names", "front-proxy-client"},
		Flag{"requestheader-extra-headers-prefix", "X-Remote-Extra-"},
		Flag{"requestheader-group-headers", "X-Remote-Group"},
		Flag{"requestheader-username-headers", "X-Remote-User"},
		Flag{"service-account-issuer", "https://kubernetes.default.svc.cluster.local"},
		Flag{"service-account-key-file", p("sa.pub")},
		Flag{"service-account-signing-key-file", p("sa.key")},
		Flag{"service-cluster-ip-range", "10.96.0.0/12"},
	)
	add(ControllerManager,
		Flag{"kubeconfig", kcmConf},
		Flag{"authentication-kubeconfig", kcmConf},
		Flag{"authorization-kubeconfig", kcmConf},
		Flag{"bind-address", "127.0.0.1"},
		Flag{"secure-port", strconv.Itoa(kcmPort)},
		Flag{"cert-dir", filepath.Join(c.Dir, "kcm-serving")},
		Flag{"client-ca-file", p("ca.crt")},
		Flag{"requestheader-client-ca-file", p("front-proxy-ca.crt")},
		Flag{"root-ca-file", p("ca.crt")},
		Flag{"cluster-signing-cert-file", p("ca.crt")},
		Flag{"cluster-signing-key-file", p("ca.key")},
		Flag{"service-account-private-key-file", p("sa.key")},
		Flag{"use-service-account-credentials", "true"},
		Flag{"controllers", c.opts.Controllers},
		Flag{"leader-elect", "false"},
	)
	add(Scheduler,
		Flag{"kubeconfig", schedConf},
		Flag{"authentication-kubeconfig", schedConf},
		Flag{"authorization-kubeconfig", schedConf},
		Flag{"bind-address", "127.0.0.1"},
		Flag{"secure-port", strconv.Itoa(schedPort)},
		Flag{"cert-dir", filepath.Join(c.Dir, "scheduler-serving")},
		Flag{"leader-elect", "false"},
	)
	add(KWOK,
		Flag{"kubeconfig", kwokConf},
		Flag{"config", filepath.Join(c.opts.BinDir, "kwok-stages.yaml")},
		Flag{"manage-all-nodes", "false"},
		Flag{"manage-nodes-with-annotation-selector", kwokNodeAnnotation + "=fake"},
		Flag{"server-address", "127.0.0.1:" + strconv.Itoa(kwokPort)},
		Flag{"node-ip", "127.0.0.1"},
		Flag{"node-port", strconv.Itoa(kwokPort)},
		Flag{"tls-cert-file", p("kwok.crt")},
		Flag{"tls-private-key-file", p("kwok.key")},
	)
	return nil
}

// WriteKubeconfig writes a kubeconfig for a client certificate.
func WriteKubeconfig(path, server string, caPEM []byte, client *CertKey) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["local"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["user"] = &clientcmdapi.AuthInfo{ClientCertificateData: client.CertPEM, ClientKeyData: client.KeyPEM}
	cfg.Contexts["local"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "user", Namespace: "default"}
	cfg.CurrentContext = "local"
	return clientcmd.WriteToFile(*cfg, path)
}

// UseAdminKubeconfig writes a new admin kubeconfig that trusts caPEM and
// authenticates with client (the current admin certificate when nil), and
// makes it the one Kubeconfig, Client and readiness checks use. A rotation
// needs it once the apiserver serves a certificate from the new CA.
func (c *Cluster) UseAdminKubeconfig(caPEM []byte, client *CertKey) (string, error) {
	if client == nil {
		client = c.PKI.Admin
	}
	path := filepath.Join(c.Dir, fmt.Sprintf("admin-%d.conf", time.Now().UnixNano()))
	if err := WriteKubeconfig(path, c.Server, caPEM, client); err != nil {
		return "", err
	}
	if c.tlsServerName != "" {
		cfg, err := clientcmd.LoadFromFile(path)
		if err != nil {
			return "", err
		}
		cfg.Clusters["local"].TLSServerName = c.tlsServerName
		if err := clientcmd.WriteToFile(*cfg, path); err != nil {
			return "", err
		}
	}
	c.Kubeconfig = path
	return path, nil
}

// RESTConfig is the admin client configuration.
func (c *Cluster) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = 200, 400
	return cfg, nil
}

// Client is an admin clientset.
func (c *Cluster) Client() (kubernetes.Interface, error) {
	cfg, err := c.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// Component returns a component by name (nil when unknown).
func (c *Cluster) Component(name string) *Component { return c.Components[name] }

// Restart stops one component, applies flag changes, starts it again and
// waits until it is ready. Flags with an empty value are removed.
func (c *Cluster) Restart(ctx context.Context, name string, set map[string]string) error {
	comp := c.Components[name]
	if comp == nil {
		return fmt.Errorf("localcluster: no component %q", name)
	}
	c.opts.Logf("restarting %s", name)
	if err := comp.stop(grace(name)); err != nil {
		return err
	}
	for k, v := range set {
		if v == "" {
			comp.unset(k)
			continue
		}
		comp.Set(k, v)
	}
	if err := comp.start(c.opts.PidDir, c.opts.Detached); err != nil {
		return err
	}
	if err := c.waitReady(ctx, name); err != nil {
		return fmt.Errorf("%w\n%s", err, c.LogTails(30))
	}
	return c.SyncMirrorPods(ctx)
}

// StopComponent stops one component (for tests that need the apiserver gone).
func (c *Cluster) StopComponent(name string) error {
	comp := c.Components[name]
	if comp == nil {
		return fmt.Errorf("localcluster: no component %q", name)
	}
	return comp.stop(grace(name))
}

// StartComponent starts a stopped component again and waits for it.
func (c *Cluster) StartComponent(ctx context.Context, name string) error {
	return c.Restart(ctx, name, nil)
}

func (comp *Component) unset(name string) {
	out := comp.Flags[:0]
	for _, f := range comp.Flags {
		if f.Name != name {
			out = append(out, f)
		}
	}
	comp.Flags = out
}

func grace(name string) time.Duration {
	switch name {
	case APIServer:
		return 2 * time.Second // open watches would keep it alive for a minute
	case Machine:
		return 40 * time.Second // it gives its nodes 30s to stop their processes
	}
	return 5 * time.Second
}

// stopOrder is the order components stop in: the machine (which stops
// everything in the kubeadm node) first, then startOrder reversed.
var stopOrder = append([]string{AggregatedAPIComponent, Machine}, KWOK, Scheduler, ControllerManager, APIServer, Etcd)

// Stop stops every component in reverse start order, the nodes' kubelets
// first.
func (c *Cluster) Stop() error {
	c.mirrors.stop()
	var errs []error
	for _, name := range c.KubeletComponents() {
		if name != KWOK {
			if err := c.Components[name].stop(grace(name)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range stopOrder {
		if comp := c.Components[name]; comp != nil {
			if err := comp.stop(grace(comp.Name)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// LogTails returns the last n lines of every component's log (for the
// kubeadm node: the machine's, each node's, each KWOK's, kubeadm's and
// each static pod's current container).
func (c *Cluster) LogTails(n int) string {
	var b strings.Builder
	names := append([]string{}, startOrder...)
	for _, name := range c.KubeletComponents() {
		if name != KWOK {
			names = append(names, name)
		}
	}
	for _, name := range names {
		if comp := c.Components[name]; comp != nil {
			fmt.Fprintf(&b, "----- %s (%s) -----\n%s\n", name, comp.LogPath, comp.Tail(n))
		}
	}
	if c.Components[Machine] != nil {
		for _, path := range c.kubeadmLogs() {
			fmt.Fprintf(&b, "----- %s -----\n%s\n", path, (&Component{LogPath: path}).Tail(n))
		}
	}
	return b.String()
}

// State is the on-disk record of a detached cluster.
func (c *Cluster) State() State {
	s := State{Dir: c.Dir, Kubeconfig: c.Kubeconfig, Server: c.Server, Pids: map[string]int{}}
	for name, comp := range c.Components {
		s.Pids[name] = comp.Pid()
	}
	if c.opts.Kubeadm {
		s.Kubeadm, s.BinDir = true, c.opts.BinDir
		for _, n := range c.nodes {
			s.Nodes = append(s.Nodes, n.Name)
		}
	}
	return s
}

// WriteState records the cluster in dir/state.json.
func (c *Cluster) WriteState() error {
	b, err := json.MarshalIndent(c.State(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.Dir, "state.json"), b, 0o644)
}

func (c *Cluster) waitReady(ctx context.Context, name string) error {
	comp := c.Components[name]
	var check func(context.Context) error
	insecure := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		// Only the components' own self-signed health endpoints on loopback.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec
	}}
	get := func(ctx context.Context, url string) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := insecure.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
	switch name {
	case Etcd:
		check = func(ctx context.Context) error { return get(ctx, comp.Get("listen-client-urls")+"/health") }
	case APIServer:
		check = func(ctx context.Context) error {
			client, err := c.Client()
			if err != nil {
				return err
			}
			_, err = client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
			return err
		}
	case ControllerManager, Scheduler:
		check = func(ctx context.Context) error {
			return get(ctx, "https://127.0.0.1:"+comp.Get("secure-port")+"/healthz")
		}
	default:
		if comp != nil && (name == KWOK || strings.HasPrefix(name, KWOK+"-")) {
			check = func(ctx context.Context) error { return get(ctx, kubeletEndpoint(comp)) }
		}
	}
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		if !comp.Running() && !c.opts.Detached {
			return false, fmt.Errorf("%s exited during start-up", name)
		}
		last = check(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("%s not ready: %v (last check: %v)", name, err, last)
	}
	return nil
}

func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
