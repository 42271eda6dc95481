//go:build e2e

package verify

// The success paths of what verify reads beyond the API objects, through
// the same servers a real cluster has: pods/exec and pods/log go through
// the API server to KWOK, configured here (ClusterExec, ClusterLogs) to run
// the command on this host and to serve a log file; nodes/proxy/configz
// goes through the API server to a kubelet endpoint this test serves (on
// a non-loopback address of this host: the API server proxies to no
// loopback address).

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// kwokWith restarts KWOK with an extra configuration document (KWOK reads
// its configuration at start), and with the original one when the test
// ends.
func kwokWith(t *testing.T, config string) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kwok-extra.yaml")
	Must(t, os.WriteFile(path, []byte(config), 0o644))
	orig := Cluster.Component(localcluster.KWOK).Get("config")
	t.Cleanup(func() { Must(t, Cluster.Restart(ctx, localcluster.KWOK, map[string]string{"config": orig})) })
	Must(t, Cluster.Restart(ctx, localcluster.KWOK, map[string]string{"config": orig + "," + path}))
}

// caPod mounts its namespace's kube-root-ca.crt as a plain ConfigMap
// volume at dir: with KWOK's exec running on this host, "cat dir/ca.crt"
// reads the file the test put there.
func caPod(name, dir string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr.To(false),
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1",
				VolumeMounts: []corev1.VolumeMount{{Name: "ca", MountPath: dir, ReadOnly: true}}}},
			Volumes: []corev1.Volume{{Name: "ca", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}}}}}}}
}

// TestExecReadsMountedCA: verify --exec reads each mounted ca.crt through
// pods/exec and compares it with --ca: the file that holds the expected CA
// passes, the one that does not is an error naming the pod, the container
// and the file, and the exit code is 1.
func TestExecReadsMountedCA(t *testing.T) {
	rot := newRotation(t)
	client := Client(t)
	ns := CreateNamespace(t, client, "verify-exec")
	kwokWith(t, fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: carotate-e2e-exec
spec:
  selector:
    matchNamespaces: [%s]
  execs:
  - local:
      workDir: /
`, ns))
	files := t.TempDir()
	good, stale := filepath.Join(files, "good"), filepath.Join(files, "stale")
	for dir, content := range map[string][]byte{good: rot.oldPEM, stale: rot.newPEM} {
		Must(t, os.MkdirAll(dir, 0o755))
		Must(t, os.WriteFile(filepath.Join(dir, "ca.crt"), content, 0o644))
	}
	createPod(t, ns, caPod("good", good))
	createPod(t, ns, caPod("stale", stale))
	waitRunning(t, client, ns)

	// --ca is what the cluster trusts today: "good" holds it; "stale"
	// holds another CA, as a pod whose mounted file was never updated.
	rep := verify(t, 1, "--ca", rot.old, "--only", "pods", "-n", ns, "--exec")
	pods := rep.section(t, "pods")
	bad := pods.find(t, "Pod", ns, "stale", "container app: "+filepath.Join(stale, "ca.crt"))
	if bad.Severity != "error" || !strings.HasPrefix(bad.Verdict, "exec-") || !strings.Contains(bad.Detail, "the mounted file ") ||
		!strings.Contains(bad.Detail, "ConfigMap kube-root-ca.crt") {
		t.Fatalf("the mismatched mounted file: %+v", bad)
	}
	for _, it := range pods.Items {
		if strings.HasPrefix(it.Verdict, "exec-") && it.Name != "stale" {
			t.Errorf("an exec finding for another pod: %+v", it)
		}
	}
	if !containsPrefix(pods.Notes, "--exec: read ca.crt in 2 of 2 container(s): 1 hold the expected CA") {
		t.Fatalf("--exec note: %v", pods.Notes)
	}

	// Both hold it: nothing but the pods' own verdicts, exit 0.
	Must(t, os.WriteFile(filepath.Join(stale, "ca.crt"), rot.oldPEM, 0o644))
	rep = verify(t, 0, "--ca", rot.old, "--only", "pods", "-n", ns, "--exec")
	pods = rep.section(t, "pods")
	if !containsPrefix(pods.Notes, "--exec: read ca.crt in 2 of 2 container(s): 2 hold the expected CA") {
		t.Fatalf("--exec note when both match: %v", pods.Notes)
	}
	for _, it := range pods.Items {
		if strings.HasPrefix(it.Verdict, "exec-") {
			t.Errorf("an exec finding when both files match: %+v", it)
		}
	}
}

// criLine is one line of a container log as the runtime writes it (and
// KWOK serves it): a timestamp, the stream, a full-line tag, the text.
func criLine(at time.Time, text string) string {
	return at.UTC().Format(time.RFC3339Nano) + " stderr F " + text + "\n"
}

// TestLogScanFindsTLSErrors: verify's log scan reads each container's log
// through pods/log and reports the known TLS failures in it, with the
// count, a sample and the kubectl logs command; a clean log is clean.
func TestLogScanFindsTLSErrors(t *testing.T) {
	rot := newRotation(t)
	client := Client(t)
	ns := CreateNamespace(t, client, "verify-logs-ok")
	dir := t.TempDir()
	talker, quiet := filepath.Join(dir, "talker.log"), filepath.Join(dir, "quiet.log")
	now := time.Now()
	var noisy, calm strings.Builder
	for i := range 3 {
		at := now.Add(time.Duration(i-3) * time.Second)
		noisy.WriteString(criLine(at, "I1202 serving requests"))
		noisy.WriteString(criLine(at, `E1202 reflector.go:158] Failed to watch *v1.Pod: Get "https://10.96.0.1:443/api/v1/pods": tls: failed to verify certificate: x509: certificate signed by unknown authority`))
		calm.WriteString(criLine(at, "I1202 serving requests"))
	}
	// An hour old: outside --since.
	noisy.WriteString(criLine(now.Add(-time.Hour), "E1202 remote error: tls: bad certificate"))
	Must(t, os.WriteFile(talker, []byte(noisy.String()), 0o644))
	Must(t, os.WriteFile(quiet, []byte(calm.String()), 0o644))
	kwokWith(t, fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: carotate-e2e-talker
spec:
  selector:
    matchNamespaces: [%[1]s]
    matchNames: [talker]
  logs:
  - logsFile: %[2]s
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: carotate-e2e-quiet
spec:
  selector:
    matchNamespaces: [%[1]s]
    matchNames: [quiet]
  logs:
  - logsFile: %[3]s
`, ns, talker, quiet))
	for _, name := range []string{"talker", "quiet"} {
		createPod(t, ns, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/app:1"}}}})
	}
	waitRunning(t, client, ns)

	rep := verify(t, 1, "--ca", rot.old, "--only", "logs", "-n", ns, "--logs-for", ns+"/pod/talker", "--logs-for", ns+"/pod/quiet", "--since", "10m")
	sec := rep.section(t, "logs")
	bad := sec.find(t, "Pod", ns, "talker", "")
	if bad.Severity != "error" || bad.Verdict != "tls-errors" ||
		!strings.HasPrefix(bad.Detail, "3 of 6 lines in the last 10m0s: \"x509: certificate signed by unknown authority\" 3; latest: ") ||
		!strings.Contains(bad.Detail, "https://10.96.0.1:443") {
		t.Fatalf("the log with TLS errors: %+v", bad)
	}
	if want := "kubectl logs -n " + ns + " talker -c app --since=10m0s | grep -E 'x509|tls: |remote error|crypto/rsa'"; bad.Action != want {
		t.Errorf("the command to see them: %q, want %q", bad.Action, want)
	}
	if ok := sec.find(t, "Pod", ns, "quiet", ""); ok.Verdict != "clean" || ok.Detail != "no TLS errors in 3 lines of the last 10m0s" {
		t.Fatalf("the clean log: %+v", ok)
	}
	if sec.Summary != "2 container logs asked for (last 10m0s): 1 with TLS errors, 1 clean, 0 without logs" {
		t.Fatalf("summary: %q", sec.Summary)
	}
}

// hostAddress is an IPv4 address of this host that is not loopback: the
// API server refuses to proxy nodes/proxy to a loopback address.
func hostAddress(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	Must(t, err)
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Fatalf("this host has no IPv4 address but loopback (%v): the API server proxies nodes/proxy to no loopback address", addrs)
	return ""
}

// configzServer is a kubelet's configz endpoint at addr, as the API
// server's nodes/proxy reaches it; it records who asked.
func configzServer(t *testing.T, addr string, rotate bool, clientCAFile string) (port int, askedBy *atomic.Value) {
	t.Helper()
	askedBy = &atomic.Value{}
	askedBy.Store("")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/configz" {
			http.NotFound(w, r)
			return
		}
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			askedBy.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		cfg := map[string]any{"kubeletconfig": map[string]any{"rotateCertificates": rotate,
			"authentication": map[string]any{"x509": map[string]any{"clientCAFile": clientCAFile}}}}
		_ = json.NewEncoder(w).Encode(cfg)
	}))
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	Must(t, err)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	Must(t, err)
	port, err = strconv.Atoi(p)
	Must(t, err)
	return port, askedBy
}

// TestConfigzThroughNodesProxy: what each kubelet's configz says
// (rotateCertificates, clientCAFile) reaches verify's nodes check and the
// printed step 9.2 through nodes/proxy: two nodes whose kubelet endpoint is
// a configz this test serves.
func TestConfigzThroughNodesProxy(t *testing.T) {
	ctx := context.Background()
	rot := newRotation(t)
	client := Client(t)
	nodes := map[string]struct {
		rotate bool
		caFile string
	}{
		"configz-rotating": {true, "/srv/kubelet/client-ca.crt"},
		"configz-fixed":    {false, "/etc/kubernetes/pki/ca.crt"},
	}
	asked := map[string]*atomic.Value{}
	addr := hostAddress(t)
	for name, n := range nodes {
		port, by := configzServer(t, addr, n.rotate, n.caFile)
		asked[name] = by
		_, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name},
			// Nothing runs there: keep every pod away.
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{Key: "carotate.example/configz-only", Effect: corev1.TaintEffectNoSchedule}}}}, metav1.CreateOptions{})
		Must(t, err)
		t.Cleanup(func() { _ = client.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}) })
		// The node lifecycle controller writes it too.
		Must(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			node, err := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: addr}}
			node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(port)
			_, err = client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
			return err
		}))
	}

	rep := verify(t, 0, "--ca", rot.old, "--only", "nodes")
	sec := rep.section(t, "nodes")
	for name, want := range map[string]struct{ verdict, detail string }{
		"configz-rotating": {"rotation-on", "the kubelet renews its client certificate itself, at 70-90% of its lifetime: step 9.2 renews it from the new CA before step 12.2 all the same; clientCAFile /srv/kubelet/client-ca.crt"},
		"configz-fixed":    {"rotation-off", "rotateCertificates is off: the kubelet's client certificate changes only when renewed by hand (step 9.2); clientCAFile /etc/kubernetes/pki/ca.crt"},
	} {
		it := sec.find(t, "Node", "", name, "configz kubeletconfig.rotateCertificates")
		if it.Verdict != want.verdict || it.Detail != want.detail || it.Severity != "info" {
			t.Errorf("%s: %+v, want %s: %s", name, it, want.verdict, want.detail)
		}
		// The API server asked, with its kubelet client certificate.
		if by := asked[name].Load().(string); by != "kube-apiserver-kubelet-client" {
			t.Errorf("configz of %s was asked by %q, want the API server's kubelet client certificate", name, by)
		}
	}

	// The printed step 9.2 takes the kubelet's clientCAFile from configz
	// (no kubeadm default), and says what its rotation does.
	r := Carotate(t, "instructions", "--old-ca", rot.old, "--new-ca", rot.new, "--step", "9.2", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("instructions: exit %d: %s", r.Code, r.Stderr)
	}
	var doc checks.InstructionsDoc
	Must(t, json.Unmarshal([]byte(r.Stdout), &doc))
	found := map[string]bool{}
	for _, s := range doc.Steps {
		switch {
		case s.Node == "configz-rotating" && s.Action == checks.ActionSetKubeletConfig:
			found["rotating clientCAFile"] = s.File == "/srv/kubelet/client-ca-bundle.crt" && !containsStr(s.Defaults, "file")
		case s.Node == "configz-rotating" && s.Action == checks.ActionWriteFile && s.Content == checks.ContentBundle:
			found["rotating bundle"] = s.File == "/srv/kubelet/client-ca-bundle.crt"
		case s.Node == "configz-rotating" && s.Action == checks.ActionRequestCert:
			found["rotating note"] = strings.Contains(s.Note, "rotates its client certificate (rotateCertificates: true), but only at 70-90% of its lifetime")
		case s.Node == "configz-fixed" && s.Action == checks.ActionRequestCert:
			found["fixed note"] = strings.Contains(s.Note, "rotateCertificates is off")
		}
	}
	for _, what := range []string{"rotating clientCAFile", "rotating bundle", "rotating note", "fixed note"} {
		if !found[what] {
			t.Errorf("instructions --step 9.2: %s not as configz says", what)
		}
	}
	var readable string
	for _, n := range doc.Notes {
		if strings.Contains(n, "come from its configz where readable") {
			readable = n
		}
	}
	if !strings.Contains(readable, "readable: 2 of ") {
		t.Errorf("instructions note on configz: %q", readable)
	}
}
