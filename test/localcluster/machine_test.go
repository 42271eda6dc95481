package localcluster

import (
	"testing"
	"time"
)

func TestNodeHostPath(t *testing.T) {
	root := "/state/nodes/cp-1"
	for path, want := range map[string]string{
		"/etc/kubernetes":                             "/state/nodes/cp-1/etc/kubernetes",
		"/etc/kubernetes/pki/ca.crt":                  "/state/nodes/cp-1/etc/kubernetes/pki/ca.crt",
		"/var/lib/kubelet/../kubelet/config.yaml":     "/state/nodes/cp-1/var/lib/kubelet/config.yaml",
		"/etc/kubernetes-not-the-node/x":              "/etc/kubernetes-not-the-node/x",
		"/var/lib/kubeletx":                           "/var/lib/kubeletx",
		"/tmp/new-ca.key":                             "/tmp/new-ca.key",
		"/var/backups/carotate-1/step-1/etc/x.yaml":   "/state/nodes/cp-1/var/backups/carotate-1/step-1/etc/x.yaml",
		"/run/carotate/kubelet.sock":                  "/state/nodes/cp-1/run/carotate/kubelet.sock",
		"/var/log/pods/kube-system_etcd-cp-1_1/0.log": "/state/nodes/cp-1/var/log/pods/kube-system_etcd-cp-1_1/0.log",
	} {
		if got := nodeHostPath(root, path); got != want {
			t.Errorf("nodeHostPath(%q) = %q, want %q", path, got, want)
		}
	}
}

func TestLogSince(t *testing.T) {
	now := time.Date(2026, 12, 2, 15, 4, 10, 0, time.Local)
	log := []byte("I1202 15:04:01.000000       1 a.go:1] old\n" +
		"continued line without a time\n" +
		`{"level":"info","ts":"` + now.Add(-2*time.Second).UTC().Format(time.RFC3339Nano) + `","msg":"etcd, recent"}` + "\n" +
		"I1202 15:04:09.500000       1 a.go:1] newest\n")
	got := string(logSince(log, now.Add(-5*time.Second)))
	want := `{"level":"info","ts":"` + now.Add(-2*time.Second).UTC().Format(time.RFC3339Nano) + `","msg":"etcd, recent"}` + "\nI1202 15:04:09.500000       1 a.go:1] newest\n"
	if got != want {
		t.Errorf("logSince:\n%q\nwant\n%q", got, want)
	}
	if got := logSince(log, now.Add(time.Minute)); len(got) != 0 {
		t.Errorf("nothing is newer than a minute from now: %q", got)
	}
}

func TestHostCommand(t *testing.T) {
	root := "/state/nodes/n1"
	for cmd, want := range map[string]string{
		"mkdir -p /var/backups/c-1/step-9.2 && (cd / && cp -a --parents /var/lib/kubelet/config.yaml /var/backups/c-1/step-9.2/)":                  "mkdir -p /state/nodes/n1/var/backups/c-1/step-9.2 && (cd / && cp -a --parents /state/nodes/n1/var/lib/kubelet/config.yaml /state/nodes/n1/var/backups/c-1/step-9.2/)",
		"sed -i -E 's|^([[:space:]]*clientCAFile:).*|\\1 /etc/kubernetes/pki/ca-bundle.crt|' /var/lib/kubelet/config.yaml":                         "sed -i -E 's|^([[:space:]]*clientCAFile:).*|\\1 /state/nodes/n1/etc/kubernetes/pki/ca-bundle.crt|' /state/nodes/n1/var/lib/kubelet/config.yaml",
		"f=/var/lib/kubelet/pki/kubelet-client-$(date).pem && ln -sfn \"$f\" /var/lib/kubelet/pki/kubelet-client-current.pem":                      "f=/state/nodes/n1/var/lib/kubelet/pki/kubelet-client-$(date).pem && ln -sfn \"$f\" /state/nodes/n1/var/lib/kubelet/pki/kubelet-client-current.pem",
		"--kubeconfig '/etc/kubernetes/kubelet.conf' /etc/kubernetes /run":                                                                         "--kubeconfig '/state/nodes/n1/etc/kubernetes/kubelet.conf' /state/nodes/n1/etc/kubernetes /state/nodes/n1/run",
		"cat /etc/kubernetes-not-the-node/x /tmp/new-ca.key /usr/bin/openssl":                                                                      "cat /etc/kubernetes-not-the-node/x /tmp/new-ca.key /usr/bin/openssl",
		"cat > /var/lib/carotate/r/ca-new.crt <<'EOF'\nAB+/run/x/etc/kubernetes/\n/etc/kubernetes\nEOF\nchmod 0644 /var/lib/carotate/r/ca-new.crt": "cat > /state/nodes/n1/var/lib/carotate/r/ca-new.crt <<'EOF'\nAB+/run/x/etc/kubernetes/\n/etc/kubernetes\nEOF\nchmod 0644 /state/nodes/n1/var/lib/carotate/r/ca-new.crt",
	} {
		if got := hostCommand(root, cmd); got != want {
			t.Errorf("hostCommand(%q)\n got %q\nwant %q", cmd, got, want)
		}
	}
}
