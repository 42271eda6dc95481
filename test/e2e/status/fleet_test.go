//go:build e2e

package status

import (
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
)

// fleetDoc mirrors status --all-contexts -o json.
type fleetDoc struct {
	Clusters []struct {
		Context   string
		Server    string
		ServingCA *struct {
			Subject  string
			DaysLeft int
		}
		RootCA      []struct{ DaysLeft int }
		Rotation    *struct{ ID, Target, Phase, NextStep, Next string }
		Error       string
		TookSeconds float64
	}
	Expiring []string
	Unread   []string
}

// TestFleet: the local cluster under two context names and a third context
// at a closed port. Three rows, read at once; the closed one says so within
// its timeout and makes the exit 2; --fail-within turns a CA's remaining
// life into exit 1.
func TestFleet(t *testing.T) {
	cfg, err := clientcmd.LoadFromFile(Cluster.Kubeconfig)
	Must(t, err)
	var cl *clientcmdapi.Cluster
	var user *clientcmdapi.AuthInfo
	for _, c := range cfg.Clusters {
		cl = c
	}
	for _, u := range cfg.AuthInfos {
		user = u
	}
	// A port nothing listens on: taken, then freed.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Must(t, err)
	closed := "https://" + l.Addr().String()
	Must(t, l.Close())
	fleet := clientcmdapi.NewConfig()
	fleet.Clusters["local"] = cl
	fleet.Clusters["gone"] = &clientcmdapi.Cluster{Server: closed, CertificateAuthorityData: cl.CertificateAuthorityData}
	fleet.AuthInfos["admin"] = user
	fleet.Contexts["prod-a"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	fleet.Contexts["prod-b"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	fleet.Contexts["retired"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "admin"}
	fleet.CurrentContext = "prod-a"
	kc := filepath.Join(t.TempDir(), "fleet.conf")
	Must(t, clientcmd.WriteToFile(*fleet, kc))
	cmd := Cmd{Kubeconfig: kc}

	run := func(wantCode int, args ...string) fleetDoc {
		t.Helper()
		r := cmd.Run(t, "kubectl-carotate", append([]string{"status", "-o", "json", "--request-timeout", "3s"}, args...)...)
		if r.Code != wantCode {
			t.Fatalf("status %v: exit %d, want %d\n%s", args, r.Code, wantCode, r.Stderr)
		}
		var d fleetDoc
		if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
			t.Fatalf("status %v -o json: %v\n%s", args, err, r.Stdout)
		}
		return d
	}

	d := run(2, "--all-contexts")
	if len(d.Clusters) != 3 {
		t.Fatalf("%d rows, want 3: %+v", len(d.Clusters), d.Clusters)
	}
	rows := map[string]int{}
	for i, c := range d.Clusters {
		rows[c.Context] = i
	}
	for _, name := range []string{"prod-a", "prod-b"} {
		c := d.Clusters[rows[name]]
		if c.Error != "" || c.Server != Cluster.Server || c.ServingCA == nil || c.ServingCA.Subject != Cluster.PKI.CA.Cert.Subject.String() ||
			c.ServingCA.DaysLeft < 300 || len(c.RootCA) == 0 {
			t.Errorf("%s: %+v", name, c)
		}
		if c.Rotation != nil && c.Rotation.Target != "cluster-ca" {
			t.Errorf("%s: rotation %+v", name, c.Rotation)
		}
	}
	gone := d.Clusters[rows["retired"]]
	if gone.Error == "" || gone.Server != closed || gone.ServingCA != nil {
		t.Errorf("the closed port's row: %+v", gone)
	}
	// Bounded by its timeout (3 s), not by the 15 s a first contact is
	// otherwise retried for, nor hung.
	if gone.TookSeconds > 10 {
		t.Errorf("the closed port's row took %.1fs with a 3s timeout", gone.TookSeconds)
	}
	if len(d.Unread) != 1 || d.Unread[0] != "retired" {
		t.Errorf("unread: %v", d.Unread)
	}

	// The readable ones only: exit 0; with a threshold beyond the CA's life, 1.
	if d := run(0, "--contexts", "prod-a,prod-b"); len(d.Clusters) != 2 {
		t.Errorf("--contexts prod-a,prod-b: %d rows", len(d.Clusters))
	}
	if d := run(1, "--contexts", "prod-a", "--contexts", "prod-b", "--fail-within", "100000"); len(d.Expiring) != 2 {
		t.Errorf("--fail-within 100000: expiring %v", d.Expiring)
	}
	// An unreadable cluster outweighs an expiring CA.
	run(2, "--all-contexts", "--fail-within", "100000")

	r := cmd.Run(t, "kubectl-carotate", "status", "--contexts", "nosuch")
	if r.Code != 2 || !strings.Contains(r.Stderr, `no context "nosuch"`) {
		t.Errorf("--contexts nosuch: exit %d, %q", r.Code, r.Stderr)
	}
	// The table a human reads.
	r = cmd.Run(t, "kubectl-carotate", "status", "--all-contexts", "--request-timeout", "3s")
	for _, want := range []string{"CONTEXT", "SERVING CA", "prod-a ", "prod-b ", "retired ", closed} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("the fleet table lacks %q:\n%s", want, r.Stdout)
		}
	}
}
