//go:build e2e

// Package kubeadmnode proves the harness's kubeadm node
// (localcluster.Options{Kubeadm: true}): a control-plane node whose files
// kubeadm wrote, in private namespaces, its static pods run and restarted
// by the harness's kubelet stand-in, mirror pods with kubeadm's real flags,
// the node stand-ins (crictl, systemctl, scp), KWOK workers that use their
// own kubelet files, "cluster exec", and nothing left running afterwards.
package kubeadmnode

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

const cp = localcluster.KubeadmNode

// What ran in the node when the tests ended, and where the machine's pid
// was recorded: TestMain checks after Main stopped the cluster that none of
// it is left.
var (
	procsAtEnd  []localcluster.NodeProcess
	machineFile string
)

// helperEnv makes the test binary a harness that starts a kubeadm node in
// the given directory and waits to be killed (TestNothingOutlivesAKilledHarness).
const helperEnv = "CAROTATE_KUBEADM_HELPER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		os.Exit(helperMain(dir))
	}
	BeforeStop = func() {
		procsAtEnd, _ = Cluster.NodeProcesses()
		machineFile = filepath.Join(filepath.Dir(BinDir), "pids", fmt.Sprint(Cluster.MachinePid()))
	}
	code := Main(m, localcluster.Options{Kubeadm: true})
	if code == 0 {
		if err := nothingLeft(procsAtEnd, machineFile); err != nil {
			fmt.Fprintln(os.Stderr, "after the cluster stopped:", err)
			code = 1
		} else {
			fmt.Fprintf(os.Stderr, "after the cluster stopped: none of the node's %d processes is left, and its pid record is gone\n", len(procsAtEnd))
		}
	}
	os.Exit(code)
}

// nothingLeft fails if any of procs still runs, or the pid record stayed.
func nothingLeft(procs []localcluster.NodeProcess, record string) error {
	// The machine, 4 nodes, 4 static pods and 3 KWOKs at least.
	if len(procs) < 12 {
		return fmt.Errorf("only %d processes were recorded in the node: %v", len(procs), procs)
	}
	for _, p := range procs {
		if localcluster.ProcessAlive(p) {
			return fmt.Errorf("pid %d (%s) still runs", p.HostPid, strings.Join(p.Cmdline, " "))
		}
	}
	if _, err := os.Stat(record); err == nil {
		return fmt.Errorf("the pid record %s is still there", record)
	}
	return nil
}

var writeState sync.Once

// clusterExec runs "_output/bin/cluster exec [--node N] -- args...", the
// command a human types, against this package's cluster.
func clusterExec(t *testing.T, node string, args ...string) Result {
	t.Helper()
	writeState.Do(func() { Must(t, Cluster.WriteState()) })
	return Cmd{Env: []string{"CAROTATE_CLUSTER_DIR=" + Cluster.Dir}}.Run(t, "cluster", append([]string{"exec", "--node", node, "--"}, args...)...)
}

// sh runs a shell command line inside node and fails the test if it fails.
func sh(t *testing.T, node, script string) string {
	t.Helper()
	r := clusterExec(t, node, "bash", "-c", script)
	if r.Code != 0 {
		t.Fatalf("on %s: %s: exit %d\n%s%s", node, script, r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

func mirrorPod(t *testing.T, component string) *corev1.Pod {
	t.Helper()
	p, err := Client(t).CoreV1().Pods("kube-system").Get(context.Background(), component+"-"+cp, metav1.GetOptions{})
	Must(t, err)
	return p
}

// process waits for the one running process of binary in the node whose
// command line contains argContains.
func process(t *testing.T, binary string, argContains string) localcluster.NodeProcess {
	t.Helper()
	var found []localcluster.NodeProcess
	poll(t, 30*time.Second, fmt.Sprintf("one %s process with %q in the node", binary, argContains), func() (bool, error) {
		procs, err := Cluster.NodeProcesses()
		if err != nil {
			return false, err
		}
		found = nil
		for _, p := range procs {
			if len(p.Cmdline) > 0 && filepath.Base(p.Cmdline[0]) == binary && strings.Contains(strings.Join(p.Cmdline, " "), argContains) {
				found = append(found, p)
			}
		}
		if len(found) != 1 {
			return false, fmt.Errorf("have %d: %v", len(found), found)
		}
		return true, nil
	})
	return found[0]
}

func manifestCommand(t *testing.T, component string) []string {
	t.Helper()
	b, err := os.ReadFile(Cluster.NodePath(cp, "/etc/kubernetes/manifests/"+component+".yaml"))
	Must(t, err)
	var pod corev1.Pod
	Must(t, yaml.Unmarshal(b, &pod))
	return pod.Spec.Containers[0].Command
}

func poll(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var last error
	err := wait.PollUntilContextTimeout(context.Background(), 250*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		last = err
		return ok && err == nil, nil
	})
	if err != nil {
		t.Fatalf("%s: not within %s (last error: %v)", what, timeout, last)
	}
}

// TestNodeLaidOutByKubeadm: the node's files are kubeadm's, in the node's
// own directories, and kubeadm itself finds them in order.
func TestNodeLaidOutByKubeadm(t *testing.T) {
	for _, f := range []string{
		"/etc/kubernetes/admin.conf", "/etc/kubernetes/super-admin.conf", "/etc/kubernetes/controller-manager.conf",
		"/etc/kubernetes/scheduler.conf", "/etc/kubernetes/kubelet.conf", "/etc/kubernetes/pki/ca.key",
		"/etc/kubernetes/pki/etcd/ca.crt", "/etc/kubernetes/pki/sa.pub", "/etc/kubernetes/manifests/etcd.yaml",
		"/etc/kubernetes/manifests/kube-apiserver.yaml", "/var/lib/kubelet/config.yaml", "/var/lib/kubelet/kubeadm-flags.env",
		"/var/lib/etcd/member",
	} {
		if _, err := os.Stat(Cluster.NodePath(cp, f)); err != nil {
			t.Errorf("kubeadm's %s: %v", f, err)
		}
	}
	// The host's own paths are at most empty mount points.
	for _, d := range []string{"/etc/kubernetes", "/var/lib/kubelet", "/var/lib/etcd", "/var/lib/carotate"} {
		if entries, err := os.ReadDir(d); err == nil && len(entries) > 0 {
			t.Errorf("the host's %s is not empty: %v", d, entries)
		}
	}
	// kubelet-finalize pointed kubelet.conf at the rotating certificate
	// the kubelet stand-in keeps, as on a real kubeadm node.
	kc, err := clientcmd.LoadFromFile(Cluster.NodePath(cp, "/etc/kubernetes/kubelet.conf"))
	Must(t, err)
	for _, u := range kc.AuthInfos {
		if u.ClientCertificate != "/var/lib/kubelet/pki/kubelet-client-current.pem" {
			t.Errorf("kubelet.conf's client certificate is %q, not kubeadm's rotating one", u.ClientCertificate)
		}
	}
	// An absolute link inside the node, as the kubelet's certificate store makes it.
	if target, err := os.Readlink(Cluster.NodePath(cp, "/var/lib/kubelet/pki/kubelet-client-current.pem")); err != nil {
		t.Errorf("the kubelet stand-in did not write its client certificate: %v", err)
	} else if _, err := os.Stat(Cluster.NodePath(cp, target)); err != nil {
		t.Errorf("kubelet-client-current.pem points at %s: %v", target, err)
	}
	// The uploaded ClusterConfiguration is kubeadm's.
	cm, err := Client(t).CoreV1().ConfigMaps("kube-system").Get(context.Background(), "kubeadm-config", metav1.GetOptions{})
	Must(t, err)
	if !strings.Contains(cm.Data["ClusterConfiguration"], "controlPlaneEndpoint: 10.200.0.10:6443") {
		t.Errorf("kubeadm-config: %s", cm.Data["ClusterConfiguration"])
	}
	ci, err := Client(t).CoreV1().ConfigMaps("kube-public").Get(context.Background(), "cluster-info", metav1.GetOptions{})
	Must(t, err)
	if !strings.Contains(ci.Data["kubeconfig"], "server: https://10.200.0.10:6443") {
		t.Errorf("cluster-info does not name kubeadm's endpoint: %s", ci.Data["kubeconfig"])
	}
	for _, tok := range Cluster.BootstrapTokens {
		if id := strings.SplitN(tok, ".", 2)[0]; ci.Data["jws-kubeconfig-"+id] == "" {
			t.Errorf("cluster-info is not signed for token %s", id)
		}
	}

	// As a human would check it: kubeadm reads its own files in the node.
	r := clusterExec(t, cp, "kubeadm", "certs", "check-expiration")
	if r.Code != 0 {
		t.Fatalf("kubeadm certs check-expiration: exit %d", r.Code)
	}
	for _, cert := range []string{"admin.conf", "apiserver ", "apiserver-kubelet-client", "controller-manager.conf", "etcd-server", "front-proxy-client", "scheduler.conf", "super-admin.conf"} {
		if !LineHas(r.Stdout, cert, "364d", "no") {
			t.Errorf("check-expiration has no line for %q with 364d left, not externally managed", cert)
		}
	}
	for _, bad := range []string{"MISSING", "invalid", "error"} {
		if strings.Contains(r.Stdout+r.Stderr, bad) {
			t.Errorf("check-expiration output mentions %q", bad)
		}
	}
}

// TestAPIServerAddress: default/kubernetes has the real endpoint, which
// serves a certificate from the node's CA, reachable in the node only; the
// host gets in through the forwarded socket, as "kubernetes".
func TestAPIServerAddress(t *testing.T) {
	ctx := context.Background()
	var addrs []string
	poll(t, 30*time.Second, "default/kubernetes EndpointSlice", func() (bool, error) {
		slice, err := Client(t).DiscoveryV1().EndpointSlices("default").Get(ctx, "kubernetes", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		addrs = nil
		for _, e := range slice.Endpoints {
			for _, p := range slice.Ports {
				addrs = append(addrs, fmt.Sprintf("%s:%d", e.Addresses[0], *p.Port))
			}
		}
		return slices.Equal(addrs, []string{"10.200.0.10:6443"}), nil
	})
	// A TLS dial from inside the node verifies against kubeadm's CA ...
	r := clusterExec(t, cp, "openssl", "s_client", "-connect", "10.200.0.10:6443", "-CAfile", "/etc/kubernetes/pki/ca.crt",
		"-verify_ip", "10.200.0.10", "-verify_return_error", "-brief")
	if r.Code != 0 || !strings.Contains(r.Stderr, "Verification: OK") {
		t.Fatalf("TLS dial to 10.200.0.10:6443 in the node: exit %d, %s", r.Code, r.Stderr)
	}
	// ... and fails against another CA (the check above can fail).
	other, err := localcluster.NewCA("other", time.Hour)
	Must(t, err)
	otherPath := filepath.Join(Cluster.Dir, "other-ca.crt")
	Must(t, os.WriteFile(otherPath, other.CertPEM, 0o644))
	r = clusterExec(t, cp, "openssl", "s_client", "-connect", "10.200.0.10:6443", "-CAfile", otherPath, "-verify_return_error", "-brief")
	if r.Code == 0 {
		t.Fatalf("TLS dial verified against an unrelated CA")
	}
	// 10.200.0.10 exists only in the node's namespace.
	hostAddrs, err := net.InterfaceAddrs()
	Must(t, err)
	for _, a := range hostAddrs {
		if strings.HasPrefix(a.String(), "10.200.0.") {
			t.Errorf("the host has %s", a)
		}
	}
	// The host kubeconfig: the forwarded 127.0.0.1 port, verified as
	// "kubernetes"; without tls-server-name the certificate does not fit.
	hostCfg, err := clientcmd.LoadFromFile(Cluster.Kubeconfig)
	Must(t, err)
	for _, c := range hostCfg.Clusters {
		if !strings.HasPrefix(c.Server, "https://127.0.0.1:") || c.TLSServerName != "kubernetes" {
			t.Fatalf("host kubeconfig: server %s, tls-server-name %q", c.Server, c.TLSServerName)
		}
	}
	if r := Run(t, "kubectl", "get", "--raw", "/readyz"); r.Code != 0 || r.Stdout != "ok" {
		t.Fatalf("kubectl through the forwarded port: exit %d %q", r.Code, r.Stdout)
	}
	noName := filepath.Join(t.TempDir(), "no-server-name.conf")
	for _, c := range hostCfg.Clusters {
		c.TLSServerName = ""
	}
	Must(t, clientcmd.WriteToFile(*hostCfg, noName))
	if r := (Cmd{Kubeconfig: noName}).Run(t, "kubectl", "get", "--raw", "/readyz"); r.Code == 0 || !strings.Contains(r.Stderr, "127.0.0.1") {
		t.Fatalf("without tls-server-name: exit %d %s", r.Code, r.Stderr)
	}
	// The node's own admin.conf is as kubeadm wrote it.
	nodeCfg, err := clientcmd.LoadFromFile(Cluster.NodePath(cp, "/etc/kubernetes/admin.conf"))
	Must(t, err)
	for _, c := range nodeCfg.Clusters {
		if c.Server != "https://10.200.0.10:6443" || c.TLSServerName != "" {
			t.Errorf("the node's admin.conf was changed: %s %q", c.Server, c.TLSServerName)
		}
	}
}

// TestMirrorPodsShowKubeadmFlags: what the plugin reads through the API is
// the manifests' command line, on a registered node with a lease.
func TestMirrorPodsShowKubeadmFlags(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	node, err := client.CoreV1().Nodes().Get(ctx, cp, metav1.GetOptions{})
	Must(t, err)
	if _, ok := node.Labels["node-role.kubernetes.io/control-plane"]; !ok || len(node.Spec.Taints) == 0 {
		t.Errorf("kubeadm's mark-control-plane did not label and taint %s: %v %v", cp, node.Labels, node.Spec.Taints)
	}
	if node.Status.Addresses[0].Address != "10.200.0.10" {
		t.Errorf("node address %v", node.Status.Addresses)
	}
	lease, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, cp, metav1.GetOptions{})
	Must(t, err)
	if age := time.Since(lease.Spec.RenewTime.Time); age > 30*time.Second {
		t.Errorf("%s's lease was renewed %s ago", cp, age)
	}
	want := map[string][]string{
		"etcd":                    {"--data-dir=/var/lib/etcd", "--advertise-client-urls=https://10.200.0.10:2379"},
		"kube-apiserver":          {"--advertise-address=10.200.0.10", "--client-ca-file=/etc/kubernetes/pki/ca.crt", "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt"},
		"kube-controller-manager": {"--root-ca-file=/etc/kubernetes/pki/ca.crt", "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt", "--kubeconfig=/etc/kubernetes/controller-manager.conf"},
		"kube-scheduler":          {"--kubeconfig=/etc/kubernetes/scheduler.conf"},
	}
	ps := clusterExec(t, cp, "crictl", "ps", "--no-trunc")
	for comp, flags := range want {
		pod := mirrorPod(t, comp)
		cmd := pod.Spec.Containers[0].Command
		if !slices.Equal(cmd, manifestCommand(t, comp)) {
			t.Errorf("%s: mirror pod command %v is not the manifest's", comp, cmd)
		}
		for _, f := range flags {
			if !slices.Contains(cmd, f) {
				t.Errorf("%s: mirror pod lacks %s: %v", comp, f, cmd)
			}
		}
		if pod.Annotations["kubernetes.io/config.mirror"] == "" || pod.Spec.NodeName != cp || pod.OwnerReferences[0].UID != node.UID {
			t.Errorf("%s is not a mirror pod of %s", pod.Name, cp)
		}
		st := pod.Status.ContainerStatuses
		if pod.Status.Phase != corev1.PodRunning || len(st) != 1 || !st[0].Ready {
			t.Errorf("%s is not running and ready: %+v", pod.Name, pod.Status)
			continue
		}
		// The status names the container crictl shows.
		id := strings.TrimPrefix(st[0].ContainerID, "carotate-harness://")
		if !strings.Contains(ps.Stdout, id) {
			t.Errorf("%s's container %s is not in crictl ps:\n%s", comp, id, ps.Stdout)
		}
		// The process runs the manifest's command (etcd with --unsafe-no-fsync added).
		p := process(t, comp, "")
		if !slices.Equal(p.Cmdline[1:len(cmd)], cmd[1:]) {
			t.Errorf("%s runs %v, not the manifest's %v", comp, p.Cmdline, cmd)
		}
	}
}

// TestSedOnAManifestRestartsTheComponent: as the kubelet does, a changed
// manifest replaces the container, and the mirror pod shows the new flag.
func TestSedOnAManifestRestartsTheComponent(t *testing.T) {
	const comp = "kube-controller-manager"
	before := mirrorPod(t, comp)
	oldProc := process(t, comp, "--root-ca-file=/etc/kubernetes/pki/ca.crt")
	sh(t, cp, `cp /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/ca-e2e-copy.crt &&
sed -i -e 's|- --root-ca-file=.*|- --root-ca-file=/etc/kubernetes/pki/ca-e2e-copy.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml`)
	t.Cleanup(func() {
		sh(t, cp, `sed -i -e 's|- --root-ca-file=.*|- --root-ca-file=/etc/kubernetes/pki/ca.crt|' /etc/kubernetes/manifests/kube-controller-manager.yaml`)
		waitMirror(t, comp, "--root-ca-file=/etc/kubernetes/pki/ca.crt", "")
		process(t, comp, "--root-ca-file=/etc/kubernetes/pki/ca.crt")
	})
	after := waitMirror(t, comp, "--root-ca-file=/etc/kubernetes/pki/ca-e2e-copy.crt", before.Status.ContainerStatuses[0].ContainerID)
	if after.UID == before.UID {
		t.Errorf("the mirror pod was not replaced")
	}
	newProc := process(t, comp, "--root-ca-file=/etc/kubernetes/pki/ca-e2e-copy.crt")
	if newProc.HostPid == oldProc.HostPid || localcluster.ProcessAlive(oldProc) {
		t.Fatalf("the old process %d still runs (new %d)", oldProc.HostPid, newProc.HostPid)
	}
}

// waitMirror waits until the component's mirror pod has flag, a container
// other than notID, running and ready.
func waitMirror(t *testing.T, comp, flag, notID string) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	poll(t, 90*time.Second, comp+" mirror pod with "+flag, func() (bool, error) {
		p, err := Client(t).CoreV1().Pods("kube-system").Get(context.Background(), comp+"-"+cp, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		st := p.Status.ContainerStatuses
		return slices.Contains(p.Spec.Containers[0].Command, flag) && len(st) == 1 && st[0].Ready &&
			st[0].ContainerID != "" && st[0].ContainerID != notID, nil
	})
	return pod
}

// TestCrictlStandIn: the printed steps' crictl commands, as printed.
func TestCrictlStandIn(t *testing.T) {
	r := clusterExec(t, cp, "crictl", "ps", "--name", "^kube-apiserver$")
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], "CONTAINER ") {
		t.Fatalf("crictl ps --name '^kube-apiserver$': exit %d\n%s", r.Code, r.Stdout)
	}
	col := columns(lines[0], lines[1])
	if col["NAME"] != "kube-apiserver" || col["STATE"] != "Running" || col["POD"] != "kube-apiserver-"+cp || len(col["CONTAINER"]) != 13 {
		t.Errorf("crictl ps line: %q -> %v", lines[1], col)
	}
	if id := mirrorPod(t, "kube-apiserver").Status.ContainerStatuses[0].ContainerID; !strings.HasPrefix(id, "carotate-harness://"+col["CONTAINER"]) {
		t.Errorf("crictl's container %s is not the mirror pod's %s", col["CONTAINER"], id)
	}

	before := mirrorPod(t, "kube-scheduler").Status.ContainerStatuses[0].ContainerID
	oldProc := process(t, "kube-scheduler", "")
	ids := strings.Fields(clusterExec(t, cp, "crictl", "pods", "--name", "^kube-scheduler-", "-q").Stdout)
	if len(ids) == 0 || len(ids[0]) != 64 {
		t.Fatalf("crictl pods -q: %v", ids)
	}
	// pkg/checks prints exactly this to restart a static pod.
	out := sh(t, cp, `crictl stopp $(crictl pods --name '^kube-scheduler-' --state ready -q)`)
	if !strings.Contains(out, "Stopped sandbox "+ids[0]) {
		t.Errorf("crictl stopp: %q", out)
	}
	waitMirror(t, "kube-scheduler", "--kubeconfig=/etc/kubernetes/scheduler.conf", before)
	newProc := process(t, "kube-scheduler", "")
	if newProc.HostPid == oldProc.HostPid || localcluster.ProcessAlive(oldProc) {
		t.Fatalf("kube-scheduler was not restarted: old %d, new %d", oldProc.HostPid, newProc.HostPid)
	}
	pods := clusterExec(t, cp, "crictl", "pods", "--name", "^kube-scheduler-", "--no-trunc").Stdout
	if !LineHas(pods, ids[0], "NotReady", "kube-scheduler-"+cp) || !LineHas(pods, " Ready ", "kube-scheduler-"+cp) {
		t.Errorf("crictl pods after stopp:\n%s", pods)
	}
	for _, help := range [][]string{{"crictl", "--help"}, {"systemctl", "--help"}, {"scp", "--help"}} {
		if r := clusterExec(t, cp, help...); r.Code != 0 || !strings.Contains(r.Stdout, "harness's stand-in") {
			t.Errorf("%v does not say it is the harness's stand-in: %q", help, r.Stdout)
		}
	}
}

// columns splits a line of a table by where its header's columns start.
func columns(header, line string) map[string]string {
	out := map[string]string{}
	var starts []int
	var names []string
	for i := 0; i < len(header); {
		j := i
		for j < len(header) && !(header[j] == ' ' && j+1 < len(header) && header[j+1] == ' ') {
			j++
		}
		starts, names = append(starts, i), append(names, strings.TrimSpace(header[i:j]))
		for j < len(header) && header[j] == ' ' {
			j++
		}
		i = j
	}
	for k, start := range starts {
		end := len(line)
		if k+1 < len(starts) && starts[k+1] < len(line) {
			end = starts[k+1]
		}
		if start < len(line) {
			out[names[k]] = strings.TrimSpace(line[start:end])
		}
	}
	return out
}

type configz struct {
	KubeletConfig struct {
		Authentication struct {
			X509 struct {
				ClientCAFile string `json:"clientCAFile"`
			} `json:"x509"`
		} `json:"authentication"`
		RotateCertificates bool `json:"rotateCertificates"`
	} `json:"kubeletconfig"`
}

func readConfigz(t *testing.T, node string) (configz, error) {
	var c configz
	b, err := Client(t).CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", node, "proxy", "configz").DoRaw(context.Background())
	if err != nil {
		return c, err
	}
	return c, json.Unmarshal(b, &c)
}

// TestSystemctlRestartKubelet: the control-plane kubelet reads config.yaml
// when it starts; "systemctl restart kubelet" makes an edit take effect and
// leaves the static pods running.
func TestSystemctlRestartKubelet(t *testing.T) {
	c, err := readConfigz(t, cp)
	Must(t, err)
	if c.KubeletConfig.Authentication.X509.ClientCAFile != "/etc/kubernetes/pki/ca.crt" || !c.KubeletConfig.RotateCertificates {
		t.Fatalf("configz through the API server: %+v", c)
	}
	if out := sh(t, cp, "systemctl is-active kubelet"); out != "active\n" {
		t.Fatalf("systemctl is-active kubelet: %q", out)
	}
	containers := clusterExec(t, cp, "crictl", "ps", "-q").Stdout
	// pkg/checks prints this sed for clientCAFile.
	sh(t, cp, `cp /etc/kubernetes/pki/ca.crt /etc/kubernetes/pki/ca-e2e-kubelet.crt &&
sed -i -E 's|^([[:space:]]*clientCAFile:).*|\1 /etc/kubernetes/pki/ca-e2e-kubelet.crt|' /var/lib/kubelet/config.yaml`)
	t.Cleanup(func() {
		sh(t, cp, `sed -i -E 's|^([[:space:]]*clientCAFile:).*|\1 /etc/kubernetes/pki/ca.crt|' /var/lib/kubelet/config.yaml && systemctl restart kubelet`)
	})
	time.Sleep(2 * time.Second)
	if c, err := readConfigz(t, cp); err != nil || c.KubeletConfig.Authentication.X509.ClientCAFile != "/etc/kubernetes/pki/ca.crt" {
		t.Fatalf("the kubelet took the edit without a restart: %+v %v", c, err)
	}
	sh(t, cp, "systemctl restart kubelet")
	poll(t, 30*time.Second, "configz with the new clientCAFile", func() (bool, error) {
		c, err := readConfigz(t, cp)
		return c.KubeletConfig.Authentication.X509.ClientCAFile == "/etc/kubernetes/pki/ca-e2e-kubelet.crt", err
	})
	if after := clusterExec(t, cp, "crictl", "ps", "-q").Stdout; after != containers {
		t.Errorf("a kubelet restart replaced containers:\n%s\n->\n%s", containers, after)
	}
	if r := clusterExec(t, cp, "systemctl", "status", "containerd"); r.Code != 4 || !strings.Contains(r.Stderr, "could not be found") {
		t.Errorf("systemctl status containerd: exit %d %q", r.Code, r.Stderr)
	}
}

// TestKWOKWorkerUsesItsOwnFiles: each worker has kubeadm join's files in
// its own directories; its KWOK reads them (through the worker's mount
// namespace) when it starts, so a client certificate the API server does
// not trust gets 401 after "systemctl restart kubelet".
func TestKWOKWorkerUsesItsOwnFiles(t *testing.T) {
	const w = "kwok-node-1"
	ctx := context.Background()
	client := Client(t)
	cfg, err := os.ReadFile(Cluster.NodePath(w, "/var/lib/kubelet/config.yaml"))
	Must(t, err)
	if !strings.Contains(string(cfg), "clientCAFile: /etc/kubernetes/pki/ca.crt") {
		t.Errorf("%s's config.yaml has no clientCAFile:\n%s", w, cfg)
	}
	ca, err := os.ReadFile(Cluster.NodePath(w, "/etc/kubernetes/pki/ca.crt"))
	Must(t, err)
	if !bytes.Equal(ca, Cluster.PKI.CA.CertPEM) {
		t.Errorf("%s's ca.crt is not the cluster CA", w)
	}
	current, err := os.Readlink(Cluster.NodePath(w, "/var/lib/kubelet/pki/kubelet-client-current.pem"))
	Must(t, err)
	pemBytes, err := os.ReadFile(Cluster.NodePath(w, current))
	Must(t, err)
	block, _ := pem.Decode(pemBytes)
	cert, err := x509.ParseCertificate(block.Bytes)
	Must(t, err)
	if cert.Subject.CommonName != "system:node:"+w || cert.CheckSignatureFrom(Cluster.PKI.CA.Cert) != nil {
		t.Errorf("%s's client certificate: %s, issuer %s", w, cert.Subject, cert.Issuer)
	}
	kubeletConf := Cluster.NodePath(w, "/etc/kubernetes/kubelet.conf")
	orig, err := os.ReadFile(kubeletConf)
	Must(t, err)
	// KWOK for this node sees the worker's kubelet.conf at the path it was
	// given, not the control plane's.
	kwok := process(t, "kwok", "--manage-single-node="+w)
	if !slices.Contains(kwok.Cmdline, "--kubeconfig=/etc/kubernetes/kubelet.conf") {
		t.Fatalf("kwok flags: %v", kwok.Cmdline)
	}
	seen, err := os.ReadFile(fmt.Sprintf("/proc/%d/root/etc/kubernetes/kubelet.conf", kwok.HostPid))
	Must(t, err)
	if !bytes.Equal(seen, orig) {
		t.Fatalf("KWOK of %s does not see the worker's kubelet.conf", w)
	}
	renewed := func() time.Time {
		l, err := client.CoordinationV1().Leases("kube-node-lease").Get(ctx, w, metav1.GetOptions{})
		Must(t, err)
		return l.Spec.RenewTime.Time
	}
	waitRenewal := func(after time.Time) {
		t.Helper()
		poll(t, 30*time.Second, w+"'s lease renewed", func() (bool, error) { return renewed().After(after), nil })
	}
	waitRenewal(time.Now().Add(-time.Second))

	// A client certificate from a CA the API server does not trust, put
	// into kubelet.conf as the printed steps do it.
	foreign, err := localcluster.NewCA("not-the-cluster-ca", time.Hour)
	Must(t, err)
	bad, err := foreign.Issue(localcluster.CertSpec{CommonName: "system:node:" + w, Organizations: []string{"system:nodes"}, Client: true})
	Must(t, err)
	Must(t, bad.Write(Cluster.NodePath(w, "/var/lib/kubelet/pki"), "kubelet-client-foreign"))
	t.Cleanup(func() {
		Must(t, os.WriteFile(kubeletConf, orig, 0o600))
		sh(t, w, "systemctl restart kubelet")
		waitRenewal(time.Now())
	})
	sh(t, w, `kubectl config set-credentials "$(kubectl config view --kubeconfig /etc/kubernetes/kubelet.conf -o jsonpath='{.users[0].name}')" --kubeconfig /etc/kubernetes/kubelet.conf --client-certificate /var/lib/kubelet/pki/kubelet-client-foreign.crt --client-key /var/lib/kubelet/pki/kubelet-client-foreign.key --embed-certs`)
	// KWOK read kubelet.conf when it started: it keeps renewing.
	waitRenewal(time.Now())
	logPath := filepath.Join(Cluster.Dir, "logs", "kwok-"+w+".log")
	logBefore, err := os.ReadFile(logPath)
	Must(t, err)
	sh(t, w, "systemctl restart kubelet")
	restarted := process(t, "kwok", "--manage-single-node="+w)
	if restarted.HostPid == kwok.HostPid {
		t.Fatalf("systemctl restart kubelet did not restart KWOK")
	}
	poll(t, 30*time.Second, "KWOK of "+w+" refused with 401 Unauthorized", func() (bool, error) {
		b, err := os.ReadFile(logPath)
		return bytes.Contains(b[len(logBefore):], []byte(`"err":"Unauthorized"`)), err
	})
	last := renewed()
	time.Sleep(20 * time.Second)
	if got := renewed(); got.After(last) {
		t.Fatalf("%s's lease was renewed (%s) with a client certificate the API server does not trust", w, got)
	}
}

// TestScpStandIn: scp cp-1:PATH on a worker copies from the control-plane
// node's own directories into the worker's.
func TestScpStandIn(t *testing.T) {
	const w = "kwok-node-2"
	sh(t, cp, "mkdir -p /var/lib/carotate/e2e && echo from-cp-1 > /var/lib/carotate/e2e/file")
	// The printed steps' form.
	sh(t, w, "scp 'cp-1:/var/lib/carotate/e2e/file' '/var/lib/kubelet/pki/e2e-file' && chmod 0600 '/var/lib/kubelet/pki/e2e-file'")
	got, err := os.ReadFile(Cluster.NodePath(w, "/var/lib/kubelet/pki/e2e-file"))
	Must(t, err)
	if string(got) != "from-cp-1\n" {
		t.Fatalf("the worker's copy: %q", got)
	}
	if _, err := os.Stat(Cluster.NodePath(cp, "/var/lib/kubelet/pki/e2e-file")); err == nil {
		t.Fatalf("scp wrote the control-plane node's /var/lib/kubelet")
	}
	if r := clusterExec(t, w, "scp", "cp-9:/etc/hosts", "/tmp/x"); r.Code == 0 || !strings.Contains(r.Stderr, "cp-9") {
		t.Errorf("scp from an unknown node: exit %d %q", r.Code, r.Stderr)
	}
}

// TestNothingOutlivesAKilledHarness: a harness process killed with SIGKILL
// (a crashed test) takes its kubeadm node with it.
func TestNothingOutlivesAKilledHarness(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+dir)
	stdout, err := cmd.StdoutPipe()
	Must(t, err)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	Must(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- strings.TrimPrefix(sc.Text(), "ready ")
			}
		}
		close(ready)
	}()
	var procs []localcluster.NodeProcess
	select {
	case line, ok := <-ready:
		if !ok {
			t.Fatalf("the helper exited: %s", stderr.String())
		}
		Must(t, json.Unmarshal([]byte(line), &procs))
	case <-time.After(4 * time.Minute):
		t.Fatalf("the helper's node did not come up: %s", stderr.String())
	}
	// The machine, 2 nodes, 4 static pods, 1 KWOK.
	if len(procs) < 8 {
		t.Fatalf("the helper's node has %d processes: %v", len(procs), procs)
	}
	for _, p := range procs {
		if !localcluster.ProcessAlive(p) {
			t.Fatalf("pid %d is not running before the kill", p.HostPid)
		}
	}
	Must(t, cmd.Process.Kill())
	_ = cmd.Wait()
	poll(t, 15*time.Second, "every process of the killed harness's node gone", func() (bool, error) {
		for _, p := range procs {
			if localcluster.ProcessAlive(p) {
				return false, fmt.Errorf("pid %d (%s) runs", p.HostPid, p.Cmdline[0])
			}
		}
		return true, nil
	})
	// Its pid record is stale now; the reaper would skip and remove it.
	_ = os.Remove(filepath.Join(filepath.Dir(BinDir), "pids", fmt.Sprint(procs[0].HostPid)))
}

// helperMain is the killed harness: it starts a kubeadm node with one
// worker, prints its processes and waits.
func helperMain(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, Kubeadm: true, Nodes: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	procs, err := c.NodeProcesses()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	// The machine first: the test removes its stale pid record.
	slices.SortFunc(procs, func(a, b localcluster.NodeProcess) int { return a.NsPid - b.NsPid })
	b, _ := json.Marshal(procs)
	fmt.Printf("ready %s\n", b)
	time.Sleep(time.Hour)
	return 1
}
