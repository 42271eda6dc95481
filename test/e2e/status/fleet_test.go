//go:build e2e

package status

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
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
		RootCA         []struct{ DaysLeft int }
		Rotation       *struct{ ID, Target, Phase, NextStep, Next string }
		OtherRotations []struct{ ID, Target, Phase, NextStep, Next string }
		Error          string
		TookSeconds    float64
	}
	Expiring []string
	Unread   []string
}

// TestFleet: the local cluster under two context names and a third context
// at a closed port. Three rows, read at once; the closed one says so within
// its timeout and makes the exit 2; --fail-within turns a CA's remaining
// life into exit 1.
// fleetKubeconfig holds the local cluster as contexts prod-a and prod-b,
// and context retired at closed, a port nothing listens on.
func fleetKubeconfig(t *testing.T) (kc, closed string) {
	t.Helper()
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
	closed = "https://" + l.Addr().String()
	Must(t, l.Close())
	fleet := clientcmdapi.NewConfig()
	fleet.Clusters["local"] = cl
	fleet.Clusters["gone"] = &clientcmdapi.Cluster{Server: closed, CertificateAuthorityData: cl.CertificateAuthorityData}
	fleet.AuthInfos["admin"] = user
	fleet.Contexts["prod-a"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	fleet.Contexts["prod-b"] = &clientcmdapi.Context{Cluster: "local", AuthInfo: "admin"}
	fleet.Contexts["retired"] = &clientcmdapi.Context{Cluster: "gone", AuthInfo: "admin"}
	fleet.CurrentContext = "prod-a"
	kc = filepath.Join(t.TempDir(), "fleet.conf")
	Must(t, clientcmd.WriteToFile(*fleet, kc))
	return kc, closed
}

func TestFleet(t *testing.T) {
	kc, closed := fleetKubeconfig(t)
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

// TestFleetOtherTargets: a cluster with a rotation of another target
// under way shows it in its row, with its next step; abort takes it out.
func TestFleetOtherTargets(t *testing.T) {
	kc, _ := fleetKubeconfig(t)
	cmd := Cmd{Kubeconfig: kc}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	Must(t, err)
	_, pub, err := localcluster.WriteKeyPair(t.TempDir(), "new-sa", key)
	Must(t, err)
	if r := cmd.Run(t, "kubectl-carotate", "start", "--target", "sa-key", "--new-public-key", pub, "--id", "fleet-sa-key"); r.Code != 0 {
		t.Fatalf("start --target sa-key: exit %d\n%s", r.Code, r.Stderr)
	}
	aborted := false
	abort := func() {
		if r := cmd.Run(t, "kubectl-carotate", "abort", "--target", "sa-key"); r.Code != 0 {
			t.Errorf("abort --target sa-key: exit %d\n%s", r.Code, r.Stderr)
		}
		aborted = true
	}
	t.Cleanup(func() {
		if !aborted {
			abort()
		}
	})

	rows := func() map[string][]struct{ ID, Target, Phase, NextStep, Next string } {
		t.Helper()
		r := cmd.Run(t, "kubectl-carotate", "status", "--contexts", "prod-a,prod-b", "-o", "json", "--request-timeout", "10s")
		if r.Code != 0 {
			t.Fatalf("status --contexts: exit %d\n%s", r.Code, r.Stderr)
		}
		var d fleetDoc
		Must(t, json.Unmarshal([]byte(r.Stdout), &d))
		out := map[string][]struct{ ID, Target, Phase, NextStep, Next string }{}
		for _, c := range d.Clusters {
			out[c.Context] = c.OtherRotations
		}
		return out
	}
	for name, others := range rows() {
		// Step 1 (the API server trusts the new key) is not done: nothing
		// ran on the node.
		if len(others) != 1 || others[0].ID != "fleet-sa-key" || others[0].Target != "sa-key" || others[0].NextStep != "1" ||
			others[0].Phase != "trust" || !strings.Contains(others[0].Next, "--target sa-key") {
			t.Errorf("%s: other rotations %+v, want fleet-sa-key (sa-key) at step 1", name, others)
		}
	}
	r := cmd.Run(t, "kubectl-carotate", "status", "--contexts", "prod-a", "--request-timeout", "10s")
	if !LineHas(r.Stdout, "prod-a", "fleet-sa-key (sa-key, trust)", "step 1:") {
		t.Errorf("the fleet table lacks the sa-key rotation and its next step:\n%s", r.Stdout)
	}
	abort()
	for name, others := range rows() {
		if len(others) != 0 {
			t.Errorf("%s after abort: other rotations %+v", name, others)
		}
	}
}

// inspectDoc mirrors inspect -o json.
type inspectDoc struct {
	Sources []struct {
		Context, Source, Error string
		Certificates           []struct{ Subject string }
	}
	Verification []struct {
		Context, Chain, Against string
		Verifies                bool
	}
}

// TestInspectLiveFleet: inspect --live --all-contexts reads each context,
// the closed one within its timeout; and kubectl's --cluster, no longer
// hidden by an inspect flag of that name, picks the kubeconfig cluster.
func TestInspectLiveFleet(t *testing.T) {
	kc, closed := fleetKubeconfig(t)
	cmd := Cmd{Kubeconfig: kc}
	r := cmd.Run(t, "kubectl-carotate", "inspect", "--live", "--all-contexts", "--request-timeout", "3s", "-o", "json")
	if r.Code != 1 {
		t.Fatalf("inspect --live --all-contexts: exit %d, want 1 (one cluster unreadable)\n%s", r.Code, r.Stderr)
	}
	var d inspectDoc
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		t.Fatalf("%v\n%s", err, r.Stdout)
	}
	read := map[string]int{}
	for _, s := range d.Sources {
		switch {
		case s.Context == "retired" && s.Error != "":
		case s.Context == "retired":
			if s.Source != "kubeconfig CA" {
				t.Errorf("retired: %s was read: %+v", s.Source, s)
			}
		case s.Error != "" || len(s.Certificates) == 0:
			t.Errorf("%s: %s: %q, %d certificates", s.Context, s.Source, s.Error, len(s.Certificates))
		default:
			read[s.Context]++
		}
	}
	if read["prod-a"] != 3 || read["prod-b"] != 3 {
		t.Errorf("sources read per context: %v, want 3 for prod-a and prod-b", read)
	}
	verified := map[string]int{}
	for _, v := range d.Verification {
		if v.Verifies && v.Chain == "serving chain of "+Cluster.Server {
			verified[v.Context]++
		}
	}
	if verified["prod-a"] != 2 || verified["prod-b"] != 2 || verified["retired"] != 0 {
		t.Errorf("verifications that hold per context: %v", verified)
	}
	if !strings.Contains(r.Stderr, "error: context retired: ") {
		t.Errorf("stderr does not name the unreadable context:\n%s", r.Stderr)
	}

	// The table gains a CONTEXT column.
	r = cmd.Run(t, "kubectl-carotate", "inspect", "--live", "--contexts", "prod-b", "--request-timeout", "3s")
	if r.Code != 0 || !strings.HasPrefix(r.Stdout, "CONTEXT ") || !strings.Contains(r.Stdout, "prod-b: serving chain of "+Cluster.Server+" verifies against kubeconfig CA: yes") {
		t.Errorf("--contexts prod-b: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// --cluster is kubectl's: context prod-a with the cluster entry "gone".
	r = cmd.Run(t, "kubectl-carotate", "inspect", "--live", "--cluster", "gone", "--request-timeout", "3s", "-o", "json")
	var one inspectDoc
	if err := json.Unmarshal([]byte(r.Stdout), &one); err != nil || r.Code != 1 {
		t.Fatalf("--cluster gone: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	found := false
	for _, s := range one.Sources {
		if s.Source == "serving chain of "+closed {
			found = s.Error != ""
		}
	}
	if !found {
		t.Errorf("--cluster gone did not read the cluster entry gone (%s): %+v", closed, one.Sources)
	}
	// The old mode flag is gone, not silently accepted.
	if r := cmd.Run(t, "kubectl-carotate", "inspect", "--cluster"); r.Code == 0 {
		t.Errorf("inspect --cluster with no value: exit 0")
	}
}
