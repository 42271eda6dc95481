package localcluster

// Options.Kubeadm: a control-plane node laid out by kubeadm itself, in a
// machine of private namespaces (machine.go), with KWOK workers that each
// have their own kubelet files. The host reaches the API server through a
// socket on 127.0.0.1 the machine forwards to 10.200.0.10:6443; the
// host-side kubeconfigs carry tls-server-name "kubernetes" because
// kubeadm's serving certificate has no 127.0.0.1.

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/keyutil"
)

// kubeadmControllers is kubeadm's default --controllers.
const kubeadmControllers = "*,bootstrapsigner,tokencleaner"

// kubeadmConfig is the node's kubeadm configuration: kubeadm's defaults
// but for the addresses, version, node name and tokens.
const kubeadmConfig = `apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
bootstrapTokens:
%s
localAPIEndpoint:
  advertiseAddress: %[2]s
  bindPort: 6443
nodeRegistration:
  name: %[3]s
  criSocket: unix:///run/containerd/containerd.sock
  imagePullPolicy: IfNotPresent
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.37.2
clusterName: kubernetes
controlPlaneEndpoint: %[2]s:6443
certificatesDir: /etc/kubernetes/pki
imageRepository: registry.k8s.io
networking:
  serviceSubnet: 10.96.0.0/12
  dnsDomain: cluster.local
etcd:
  local:
    dataDir: /var/lib/etcd
%[4]s`

// kubeadmPhases lay out the node before its API server runs; the kubelet
// stand-in starts the static pods as soon as kubelet-start has written
// its configuration (kubeadm calls "systemctl restart kubelet").
var kubeadmPhases = [][]string{
	{"certs", "all"}, {"kubeconfig", "all"}, {"etcd", "local"}, {"control-plane", "all"}, {"kubelet-start"},
}

// kubeadmAPIPhases need the API server: the kubeadm-config and
// kubelet-config ConfigMaps (and, through admin.conf, the
// kubeadm:cluster-admins ClusterRoleBinding that kubeadm creates with
// super-admin.conf), the control-plane label and taint, bootstrap tokens
// with cluster-info and their RBAC, and kubelet.conf pointed at the
// rotating client certificate. The addons (CoreDNS, kube-proxy) are left
// out: nothing here would run them.
var kubeadmAPIPhases = [][]string{
	{"upload-config", "all"}, {"mark-control-plane"}, {"bootstrap-token"}, {"kubelet-finalize", "all"},
}

// startKubeadm is Start for Options.Kubeadm.
func startKubeadm(ctx context.Context, opts Options, controllersSet bool) (_ *Cluster, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("localcluster: the kubeadm node needs root (mount, network and PID namespaces)")
	}
	// Both are named inside the nodes, whose working directory is /.
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	if opts.BinDir, err = filepath.Abs(opts.BinDir); err != nil {
		return nil, err
	}
	for _, b := range []string{"kubeadm", "cluster", Etcd, APIServer, ControllerManager, Scheduler, KWOK, "kubectl", "kwok-stages.yaml"} {
		if _, err := os.Stat(filepath.Join(opts.BinDir, b)); err != nil {
			return nil, fmt.Errorf("localcluster: %s missing in %s: run \"make tools build %s\" first", b, opts.BinDir, filepath.Join("_output", "bin", "cluster"))
		}
	}
	for _, tool := range []string{"nsenter", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("localcluster: the kubeadm node needs %s: %w", tool, err)
		}
	}
	if err := ensureMountPoints(); err != nil {
		return nil, err
	}
	for _, d := range []string{"logs", "bin", "home", "nodes"} {
		if err := os.MkdirAll(filepath.Join(opts.Dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	for _, s := range StandIns {
		if err := os.Symlink(filepath.Join(opts.BinDir, "cluster"), filepath.Join(opts.Dir, "bin", s)); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	c := &Cluster{Dir: opts.Dir, Components: map[string]*Component{}, opts: opts, tlsServerName: "kubernetes"}
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w\n%s", err, c.LogTails(30))
			_ = c.Stop()
		}
	}()
	c.nodes = []machineNode{{Name: KubeadmNode, Role: roleControlPlane, IP: NodeAddress, Root: filepath.Join(opts.Dir, "nodes", KubeadmNode)}}
	for i := range opts.Nodes {
		name := fmt.Sprintf("kwok-node-%d", i)
		c.nodes = append(c.nodes, machineNode{Name: name, Role: roleWorker, IP: "10.200.0." + strconv.Itoa(11+i), Root: filepath.Join(opts.Dir, "nodes", name)})
	}

	// kubeadm's configuration, with tokens the tests know.
	var tokens, extra strings.Builder
	for range 2 {
		tok := randomString(6) + "." + randomString(16)
		c.BootstrapTokens = append(c.BootstrapTokens, tok)
		fmt.Fprintf(&tokens, "- token: %s\n  ttl: 24h0m0s\n  usages: [signing, authentication]\n  groups: [system:bootstrappers:kubeadm:default-node-token]\n", tok)
	}
	if opts.AggregatorRouting {
		fmt.Fprintf(&extra, "apiServer:\n  extraArgs:\n  - name: enable-aggregator-routing\n    value: \"true\"\n")
	}
	if controllersSet {
		fmt.Fprintf(&extra, "controllerManager:\n  extraArgs:\n  - name: controllers\n    value: %q\n", opts.Controllers)
	}
	kubeadmYAML := filepath.Join(opts.Dir, "kubeadm.yaml")
	if err := os.WriteFile(kubeadmYAML, []byte(fmt.Sprintf(kubeadmConfig, strings.TrimRight(tokens.String(), "\n"), NodeAddress, KubeadmNode, extra.String())), 0o600); err != nil {
		return nil, err
	}

	// The machine, with the host's way in: a socket on 127.0.0.1 that it
	// forwards to the API server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	lf, err := ln.(*net.TCPListener).File()
	ln.Close()
	if err != nil {
		return nil, err
	}
	c.Server = "https://127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	mcfg := machineConfig{Dir: opts.Dir, BinDir: opts.BinDir, Forward: net.JoinHostPort(NodeAddress, "6443"), Nodes: c.nodes}
	mpath := filepath.Join(opts.Dir, "machine.json")
	if err := writeJSON(mpath, mcfg); err != nil {
		return nil, err
	}
	m := &Component{
		Name: Machine, Binary: filepath.Join(opts.BinDir, "cluster"), LogPath: filepath.Join(opts.Dir, "logs", "machine.log"),
		prefix:     []string{"_machine", mpath},
		cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET | syscall.CLONE_NEWPID | syscall.CLONE_NEWUTS,
		extraFiles: []*os.File{lf},
	}
	c.Components[Machine] = m
	opts.Logf("starting the kubeadm node's machine (namespaces, %s on lo, nodes %s)", NodeAddress, nodeNames(c.nodes))
	if err := m.start(opts.PidDir, opts.Detached); err != nil {
		return nil, err
	}
	if err := c.waitNodes(ctx); err != nil {
		return nil, err
	}

	kubeadm := func(phase []string) error {
		args := append([]string{"kubeadm", "init", "phase"}, phase...)
		args = append(args, "--config", kubeadmYAML)
		opts.Logf("%s", strings.Join(args[:len(args)-2], " "))
		out, errOut, err := c.Exec(ctx, KubeadmNode, args...)
		appendLog(filepath.Join(opts.Dir, "logs", "kubeadm.log"), "$ "+strings.Join(args, " ")+"\n"+out+errOut)
		return err
	}
	for _, p := range kubeadmPhases {
		if err := kubeadm(p); err != nil {
			return nil, err
		}
	}
	// Until kubeadm creates the kubeadm:cluster-admins binding, admin.conf
	// is forbidden: wait with super-admin.conf.
	super := filepath.Join(opts.Dir, "super-admin.conf")
	if err := c.hostKubeconfig("/etc/kubernetes/super-admin.conf", super); err != nil {
		return nil, err
	}
	c.Kubeconfig = super
	opts.Logf("waiting for kube-apiserver at %s (forwarded to %s:6443)", c.Server, NodeAddress)
	if err := c.waitAPIServer(ctx); err != nil {
		return nil, err
	}
	for _, p := range kubeadmAPIPhases {
		if err := kubeadm(p); err != nil {
			return nil, err
		}
	}
	admin := filepath.Join(opts.Dir, "admin.conf")
	if err := c.hostKubeconfig("/etc/kubernetes/admin.conf", admin); err != nil {
		return nil, err
	}
	c.Kubeconfig = admin
	if c.PKI, err = loadKubeadmPKI(c.NodePath(KubeadmNode, "/etc/kubernetes")); err != nil {
		return nil, err
	}
	if err := c.startWorkers(ctx); err != nil {
		return nil, err
	}
	opts.Logf("waiting for nodes, the default ServiceAccount, kube-root-ca.crt and cluster-info")
	if err := c.waitSettled(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func nodeNames(ns []machineNode) string {
	var names []string
	for _, n := range ns {
		names = append(names, n.Name)
	}
	return strings.Join(names, ", ")
}

func appendLog(path, text string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.WriteString(text)
}

// waitNodes waits until every node of the machine answers on its socket.
func (c *Cluster) waitNodes(ctx context.Context) error {
	var missing string
	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		if !c.Components[Machine].Running() && !c.opts.Detached {
			return false, errors.New("the machine exited during start-up")
		}
		for _, n := range c.nodes {
			if _, err := os.Stat(filepath.Join(n.Root, "run", "carotate", "node.pid")); err != nil {
				missing = n.Name
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("node %s did not come up: %w", missing, err)
	}
	return nil
}

func (c *Cluster) waitAPIServer(ctx context.Context) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if !c.Components[Machine].Running() && !c.opts.Detached {
			return false, errors.New("the machine exited")
		}
		client, err := c.Client()
		if err != nil {
			return false, err
		}
		_, last = client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		return last == nil, nil
	})
	if err != nil {
		return fmt.Errorf("kube-apiserver not ready: %v (last check: %v)", err, last)
	}
	return nil
}

// hostKubeconfig writes dst, a copy of the node's kubeconfig nodePath
// for the host: the server is the forwarded socket on 127.0.0.1, verified
// as "kubernetes" (a name in kubeadm's serving certificate). The node's own
// file stays as kubeadm wrote it.
func (c *Cluster) hostKubeconfig(nodePath, dst string) error {
	cfg, err := clientcmd.LoadFromFile(c.NodePath(KubeadmNode, nodePath))
	if err != nil {
		return err
	}
	for _, cl := range cfg.Clusters {
		cl.Server, cl.TLSServerName = c.Server, c.tlsServerName
	}
	return clientcmd.WriteToFile(*cfg, dst)
}

// startWorkers gives each KWOK worker what "kubeadm join" and the kubelet's
// TLS bootstrap leave on a node, then lets its kubelet (KWOK) start.
func (c *Cluster) startWorkers(ctx context.Context) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "kubelet-config", metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("kubeadm's kubelet-config: %w", err)
	}
	var workers []string
	for _, n := range c.nodes {
		if n.Role == roleWorker {
			workers = append(workers, n.Name)
		}
	}
	if err := grantKWOK(ctx, client, workers); err != nil {
		return err
	}
	for _, n := range c.nodes {
		if n.Role != roleWorker {
			continue
		}
		if err := createNode(ctx, client, n.Name); err != nil {
			return err
		}
		if err := c.writeWorkerFiles(n, []byte(cm.Data["kubelet"])); err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
	}
	return nil
}

// grantKWOK gives the node users of nodes what KWOK does beyond a
// kubelet, which the Node authorizer refuses a node: listing all nodes
// once before it starts, and a list and watch of the node leases (a
// kubelet only gets and updates its own). Nothing else: pods, the node's
// status and its lease go through the Node authorizer and NodeRestriction
// as a kubelet's would.
func grantKWOK(ctx context.Context, client kubernetes.Interface, nodes []string) error {
	var subjects []rbacv1.Subject
	for _, n := range nodes {
		subjects = append(subjects, rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:node:" + n})
	}
	const name = "carotate-harness:kwok"
	if _, err := client.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes"}, Verbs: []string{"list"}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := client.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   subjects,
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := client.RbacV1().Roles(corev1.NamespaceNodeLease).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"list", "watch"}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	_, err := client.RbacV1().RoleBindings(corev1.NamespaceNodeLease).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
		Subjects:   subjects,
	}, metav1.CreateOptions{})
	return err
}

// writeWorkerFiles lays out a worker as join leaves it (writeKubeletFiles),
// its kubelet.conf naming the node's own paths: its kubelet runs in the
// node's mount namespace.
func (c *Cluster) writeWorkerFiles(n machineNode, kubeletConfig []byte) error {
	return c.writeKubeletFiles(kubeletLayout{root: n.Root, name: n.Name, ip: n.IP,
		server: "https://" + net.JoinHostPort(NodeAddress, "6443"), config: kubeletConfig})
}

// loadKubeadmPKI reads the certificates kubeadm wrote under etcDir (the
// host's view of the node's /etc/kubernetes). KWOK has no entry: each
// worker has its own kubelet files instead.
func loadKubeadmPKI(etcDir string) (*PKI, error) {
	dir := filepath.Join(etcDir, "pki")
	p := &PKI{Dir: dir}
	pairs := []struct {
		dst  **CertKey
		name string
	}{
		{&p.CA, "ca"}, {&p.FrontProxyCA, "front-proxy-ca"}, {&p.APIServer, "apiserver"},
		{&p.APIServerKubeletClient, "apiserver-kubelet-client"}, {&p.FrontProxyClient, "front-proxy-client"},
	}
	for _, pr := range pairs {
		crt, err := os.ReadFile(filepath.Join(dir, pr.name+".crt"))
		if err != nil {
			return nil, err
		}
		key, err := os.ReadFile(filepath.Join(dir, pr.name+".key"))
		if err != nil {
			return nil, err
		}
		if *pr.dst, err = ParseCertKey(crt, key); err != nil {
			return nil, fmt.Errorf("%s: %w", pr.name, err)
		}
	}
	for _, kc := range []struct {
		dst  **CertKey
		file string
	}{{&p.Admin, "admin.conf"}, {&p.ControllerManager, "controller-manager.conf"}, {&p.Scheduler, "scheduler.conf"}} {
		cfg, err := clientcmd.LoadFromFile(filepath.Join(etcDir, kc.file))
		if err != nil {
			return nil, err
		}
		ctx := cfg.Contexts[cfg.CurrentContext]
		if ctx == nil || cfg.AuthInfos[ctx.AuthInfo] == nil {
			return nil, fmt.Errorf("%s: no current user", kc.file)
		}
		u := cfg.AuthInfos[ctx.AuthInfo]
		if *kc.dst, err = ParseCertKey(u.ClientCertificateData, u.ClientKeyData); err != nil {
			return nil, fmt.Errorf("%s: %w", kc.file, err)
		}
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "sa.key"))
	if err != nil {
		return nil, err
	}
	sa, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	rsaKey, ok := sa.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sa.key is a %T, not an RSA key", sa)
	}
	p.ServiceAccountKey = rsaKey
	return p, nil
}

// ParseCertKey reads a certificate and its private key from PEM.
func ParseCertKey(certPEM, keyPEM []byte) (*CertKey, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("no PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	key, err := keyutil.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("a %T is not a signing key", key)
	}
	return &CertKey{Cert: cert, Key: signer, CertPEM: certPEM, KeyPEM: keyPEM}, nil
}

// kubeadmLogs are the kubeadm node's log files worth a look after a
// failure: the machine's nodes, KWOK, kubeadm, and each static pod's
// newest container log.
func (c *Cluster) kubeadmLogs() []string {
	var out []string
	for _, pattern := range []string{"node-*.log", "kwok-*.log", "kubeadm.log"} {
		m, _ := filepath.Glob(filepath.Join(c.Dir, "logs", pattern))
		out = append(out, m...)
	}
	newest := map[string]string{}
	newestTime := map[string]time.Time{}
	logs, _ := filepath.Glob(filepath.Join(c.Dir, "nodes", "*", "var", "log", "pods", "*", "*", "*.log"))
	for _, l := range logs {
		fi, err := os.Stat(l)
		if err != nil {
			continue
		}
		// <ns>_<pod>_<uid>/<container>: one entry per pod name and container.
		podDir := filepath.Base(filepath.Dir(filepath.Dir(l)))
		if i := strings.LastIndex(podDir, "_"); i > 0 {
			podDir = podDir[:i]
		}
		key := podDir + "/" + filepath.Base(filepath.Dir(l))
		if fi.ModTime().After(newestTime[key]) {
			newest[key], newestTime[key] = l, fi.ModTime()
		}
	}
	for _, l := range newest {
		out = append(out, l)
	}
	return out
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
