package localcluster

// Nodes whose kubelet authenticates as the node. The kubeadm node's
// workers (kubeadm.go) and, with Options.NodeKubelets, every node of the
// plain control plane have the files that "kubeadm join" and the kubelet's
// TLS bootstrap leave on a node: /etc/kubernetes/kubelet.conf naming
// /var/lib/kubelet/pki/kubelet-client-current.pem, a client certificate of
// system:node:<name> in group system:nodes, /var/lib/kubelet/config.yaml,
// /etc/kubernetes/pki/ca.crt. Their kubelet is a KWOK process managing
// that one node with kubelet.conf, so the API server sees each node as
// itself: a client certificate it no longer trusts gets 401 once the
// kubelet restarts. On the plain control plane a node has no mount
// namespace: its files are under Dir/nodes/<name> on the host, kubelet.conf
// names them there, and RunOnNode runs a command printed for the node with
// its paths rewritten to those.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// KubeletComponent is the component that plays node's kubelet on the
// plain control plane with Options.NodeKubelets.
func KubeletComponent(node string) string { return "kwok-" + node }

// plainKubeletConfig is a node's /var/lib/kubelet/config.yaml on the plain
// control plane: what kubeadm's kubelet-config says of trust.
const plainKubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  x509:
    clientCAFile: /etc/kubernetes/pki/ca.crt
rotateCertificates: true
`

// kubeletLayout is one node's kubelet files: under root, for the API
// server at server; hostPaths makes kubelet.conf name its files where the
// host sees them (a node without a mount namespace).
type kubeletLayout struct {
	root, name, ip, server string
	config                 []byte
	hostPaths              bool
}

// writeKubeletFiles lays out a node as join leaves it: the cluster CA in
// /etc/kubernetes/pki/ca.crt, the kubelet configuration, a client
// certificate from the cluster CA in
// /var/lib/kubelet/pki/kubelet-client-current.pem (as the CSR of TLS
// bootstrap would return), a self-signed serving certificate, and
// kubelet.conf naming them, written last: a kubeadm worker's kubelet
// starts when it appears.
func (c *Cluster) writeKubeletFiles(l kubeletLayout) error {
	p := func(path string) string { return nodeHostPath(l.root, path) }
	named := func(path string) string {
		if l.hostPaths {
			return p(path)
		}
		return path
	}
	for _, d := range []string{"/etc/kubernetes/pki", kubeletPKIDir} {
		if err := os.MkdirAll(p(d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(p("/etc/kubernetes/pki/ca.crt"), c.PKI.CA.CertPEM, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(p(kubeletConfigFile), l.config, 0o644); err != nil {
		return err
	}
	client, err := c.PKI.CA.Issue(CertSpec{CommonName: "system:node:" + l.name, Organizations: []string{"system:nodes"}, Client: true})
	if err != nil {
		return err
	}
	pemName := "kubelet-client-" + time.Now().UTC().Format("2006-01-02-15-04-05") + ".pem"
	if err := os.WriteFile(p(filepath.Join(kubeletPKIDir, pemName)), append(append([]byte{}, client.CertPEM...), client.KeyPEM...), 0o600); err != nil {
		return err
	}
	current := filepath.Join(kubeletPKIDir, "kubelet-client-current.pem")
	if err := os.Symlink(named(filepath.Join(kubeletPKIDir, pemName)), p(current)); err != nil {
		return err
	}
	crt, key, err := selfSignedServing(l.name, l.ip)
	if err != nil {
		return err
	}
	if err := os.WriteFile(p(filepath.Join(kubeletPKIDir, "kubelet.crt")), crt, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(p(filepath.Join(kubeletPKIDir, "kubelet.key")), key, 0o600); err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["default-cluster"] = &clientcmdapi.Cluster{Server: l.server, CertificateAuthorityData: c.PKI.CA.CertPEM}
	cfg.AuthInfos["default-auth"] = &clientcmdapi.AuthInfo{ClientCertificate: named(current), ClientKey: named(current)}
	cfg.Contexts["default-context"] = &clientcmdapi.Context{Cluster: "default-cluster", AuthInfo: "default-auth", Namespace: "default"}
	cfg.CurrentContext = "default-context"
	return clientcmd.WriteToFile(*cfg, p(kubeletKubeconfigFile))
}

// plainNodeNames are the nodes of the plain control plane: the KWOK
// workers and, with mirror pods, the control-plane node.
func (c *Cluster) plainNodeNames() []string {
	var names []string
	if c.opts.MirrorPods {
		names = append(names, ControlPlaneNode)
	}
	for i := range c.opts.Nodes {
		names = append(names, fmt.Sprintf("kwok-node-%d", i))
	}
	return names
}

// startNodeKubelets gives every node of the plain control plane its
// kubelet files and starts its KWOK (Options.NodeKubelets), instead of one
// KWOK for all nodes with a kubeconfig of its own.
func (c *Cluster) startNodeKubelets(ctx context.Context) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	names := c.plainNodeNames()
	if err := grantKWOK(ctx, client, names); err != nil {
		return err
	}
	ports, err := freePorts(len(names))
	if err != nil {
		return err
	}
	for i, name := range names {
		root := filepath.Join(c.Dir, "nodes", name)
		if err := c.writeKubeletFiles(kubeletLayout{root: root, name: name, ip: "127.0.0.1", server: c.Server,
			config: []byte(plainKubeletConfig), hostPaths: true}); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		p := func(path string) string { return nodeHostPath(root, path) }
		port := strconv.Itoa(ports[i])
		comp := &Component{Name: KubeletComponent(name), Binary: filepath.Join(c.opts.BinDir, KWOK),
			LogPath: filepath.Join(c.Dir, "logs", KubeletComponent(name)+".log"),
			Flags: []Flag{
				{"kubeconfig", p(kubeletKubeconfigFile)},
				{"manage-single-node", name},
				{"config", filepath.Join(c.opts.BinDir, "kwok-stages.yaml")},
				{"server-address", "127.0.0.1:" + port},
				{"node-ip", "127.0.0.1"},
				{"node-port", port},
				{"tls-cert-file", p(filepath.Join(kubeletPKIDir, "kubelet.crt"))},
				{"tls-private-key-file", p(filepath.Join(kubeletPKIDir, "kubelet.key"))},
				// Leases, as a kubelet keeps them: status judges step 9.2
				// partly by them. A restarted KWOK takes its node's Lease
				// over only once the last one's expires: 20 s, not a
				// kubelet's 40, keeps the drill's waits short.
				{"node-lease-duration-seconds", "20"},
			}}
		c.Components[comp.Name] = comp
		c.opts.Logf("starting %s", comp.Name)
		if err := comp.start(c.opts.PidDir, c.opts.Detached); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := c.waitReady(ctx, KubeletComponent(name)); err != nil {
			return err
		}
	}
	return nil
}

// KubeletNodes are the nodes whose kubelet authenticates as the node with
// files the harness laid out (RunOnNode and RestartKubelet act on them):
// every node with Options.NodeKubelets, the workers of the kubeadm node.
func (c *Cluster) KubeletNodes() []string {
	switch {
	case c.opts.Kubeadm:
		var out []string
		for _, n := range c.nodes {
			if n.Role == roleWorker {
				out = append(out, n.Name)
			}
		}
		return out
	case c.opts.NodeKubelets:
		return c.plainNodeNames()
	}
	return nil
}

// KubeletComponents are the components that play kubelets on the plain
// control plane: one KWOK for all nodes, or one per node.
func (c *Cluster) KubeletComponents() []string {
	var out []string
	for name := range c.Components {
		if name == KWOK || strings.HasPrefix(name, KWOK+"-") {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// RunOnNode runs command (bash), printed for node, as root on that node:
// on the kubeadm node inside the node, as printed; on the plain control
// plane on the host, with the node's paths (/etc/kubernetes,
// /var/lib/kubelet, /var/lib/carotate, /var/backups, ...) rewritten to
// where its files are, and no kubeconfig but the ones the command names.
func (c *Cluster) RunOnNode(ctx context.Context, node, command string) (stdout, stderr string, err error) {
	if c.opts.Kubeadm {
		return c.Exec(ctx, node, "bash", "-c", command)
	}
	if !c.opts.NodeKubelets {
		return "", "", fmt.Errorf("node %s has no kubelet files: start the cluster with Options.NodeKubelets", node)
	}
	home := filepath.Join(c.Dir, "nodes", node, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		return "", "", err
	}
	cmd := exec.CommandContext(ctx, "bash", "-c", hostCommand(filepath.Join(c.Dir, "nodes", node), command))
	var env []string
	for _, e := range os.Environ() {
		switch k, _, _ := strings.Cut(e, "="); k {
		case "KUBECONFIG", "PATH", "HOME":
		default:
			env = append(env, e)
		}
	}
	cmd.Env = append(env, "PATH="+c.opts.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+home)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = runContext(ctx, cmd)
	return out.String(), errOut.String(), err
}

// RestartKubelet restarts node's kubelet, as "systemctl restart kubelet"
// on the node does: it reads kubelet.conf again. It does not wait for
// the kubelet to work.
func (c *Cluster) RestartKubelet(ctx context.Context, node string) error {
	if c.opts.Kubeadm {
		return c.systemctlKubelet(ctx, node, "restart")
	}
	// Like systemctl, without waiting until the kubelet works: one that
	// cannot authenticate never does.
	comp := c.Components[KubeletComponent(node)]
	if comp == nil {
		return fmt.Errorf("localcluster: node %s has no kubelet of its own", node)
	}
	if err := comp.stop(grace(comp.Name)); err != nil {
		return err
	}
	return comp.start(c.opts.PidDir, c.opts.Detached)
}

// StopKubelet stops node's kubelet, as "systemctl stop kubelet" does.
func (c *Cluster) StopKubelet(ctx context.Context, node string) error {
	if c.opts.Kubeadm {
		return c.systemctlKubelet(ctx, node, "stop")
	}
	return c.StopComponent(KubeletComponent(node))
}

// systemctlKubelet runs the node's systemctl stand-in on its kubelet.
func (c *Cluster) systemctlKubelet(ctx context.Context, node, action string) error {
	if _, errOut, err := c.Exec(ctx, node, "systemctl", action, "kubelet"); err != nil {
		return fmt.Errorf("systemctl %s kubelet on %s: %w: %s", action, node, err, errOut)
	}
	return nil
}

// nodePathRE finds a node path (nodePaths), whole, where a word or a
// quoted string starts, or after "=" or ":".
var nodePathRE = func() *regexp.Regexp {
	paths := append([]string{}, nodePaths...)
	sort.Slice(paths, func(i, j int) bool { return len(paths[i]) > len(paths[j]) })
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile(`(^|[\s'"=:(>{])(` + strings.Join(quoted, "|") + `)(/|[\s'"|;&)]|$)`)
}()

// hostCommand rewrites the node paths in command to their place under
// root, but not in the bodies of here-documents (certificates).
func hostCommand(root, command string) string {
	lines := strings.Split(command, "\n")
	end := ""
	for i, l := range lines {
		if end != "" {
			if l == end {
				end = ""
			}
			continue
		}
		// A match takes the character after the path, which may start the
		// next one: again until nothing changes (a rewritten path no
		// longer matches).
		for next := ""; next != l; {
			next, l = l, nodePathRE.ReplaceAllString(l, "${1}"+root+"${2}${3}")
		}
		lines[i] = l
		if j := strings.Index(l, "<<'"); j >= 0 {
			if k := strings.Index(l[j+3:], "'"); k >= 0 {
				end = l[j+3 : j+3+k]
			}
		}
	}
	return strings.Join(lines, "\n")
}

// kubeletEndpoint is where node's kubelet (KWOK) serves: its healthz.
func kubeletEndpoint(comp *Component) string {
	_, port, _ := net.SplitHostPort(comp.Get("server-address"))
	return "https://127.0.0.1:" + port + "/healthz"
}
