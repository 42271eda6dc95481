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
