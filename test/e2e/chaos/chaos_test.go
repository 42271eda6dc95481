//go:build e2e

// Package chaos kills kube-apiserver with SIGKILL under the mutating
// commands, each time on an event seen through a watch (a write of the
// command: the first, the n-th of a pass, an OnDelete pod replaced during
// --wait), never after a delay, and checks from outside the plugin:
//   - the kill landed while the command ran, and cut its connection; the
//     command then failed, or connected again and finished (it retried);
//   - a failed first attempt says the API server went away and to run it
//     again (in words, not an address), and a re-run without --value
//     resumes the same pass;
//   - every object was written exactly once: etcd's per-key write counter
//     for kube-root-ca.crt, metadata.generation for workloads, pod uids for
//     OnDelete replacements, ReplicaSet and ControllerRevision counts, and
//     bundle's undo files recording each object once.
//
// The plugin talks to the API server through a relay 100 ms away (as a
// distant control plane would be), so every kill lands between a write and
// its acknowledgment. The drill's bundle and unbundle write nothing (the
// controller-manager publishes first), so bundle and undo are disrupted in
// a cluster whose controller-manager is stopped, where they write every
// kube-root-ca.crt.
//
// CHAOS_SEED=<n> explores other kill points; the default seed is fixed.
package chaos

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	"github.com/carotate/kubectl-carotate/test/drill/drilltest"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) {
	os.Exit(Main(m, localcluster.Options{MirrorPods: true, NodeKubelets: true}))
}

const defaultSeed = 9

func seed(t *testing.T) int64 {
	s := int64(defaultSeed)
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		Must(t, err)
		s = n
	}
	t.Logf("chaos seed %d (CHAOS_SEED=%d reproduces this run)", s, s)
	return s
}

// assertDisrupted checks one kill from outside the plugin: it landed while
// the command ran, and the command felt it.
func assertDisrupted(t *testing.T, dis drill.Disruption) {
	t.Helper()
	if !dis.Fired || !dis.Landed {
		t.Errorf("%s: no kill landed while it ran (%s %s; it ran %s)", dis.Command, dis.Point, dis.Event, dis.Took)
		return
	}
	// It was connected when the API server died, so whatever was on its
	// connections failed; it either failed too or connected again and
	// finished: it retried.
	if dis.Cut == 0 {
		t.Errorf("%s: no connection of it was open at the kill (%s in): the kill cut nothing", dis.Command, dis.KilledAfter)
	}
	if dis.First.Code == 0 && dis.Reopened == 0 {
		t.Errorf("%s: exit 0 without connecting again after the kill: it needed nothing more of the API server, the kill hit nothing", dis.Command)
	}
	if dis.First.Code == 0 {
		return
	}
	// A failure must say it was the API server and what to do, in words
	// an admin reads at the end of the output, whatever the address.
	lines := strings.Split(strings.TrimSpace(dis.First.Stderr), "\n")
	tail := strings.Join(lines[max(0, len(lines)-5):], "\n")
	msg := strings.ToLower(tail)
	if !strings.Contains(msg, "api server") || !(strings.Contains(msg, "re-run") || strings.Contains(msg, "run it again") || strings.Contains(msg, "run the same command again")) {
		t.Errorf("%s failed (exit %d) without saying, at the end, that the API server went away and to run it again:\n%s",
			dis.Command, dis.First.Code, tail)
	}
	if dis.Rerun == nil || dis.Rerun.Code != 0 {
		t.Errorf("%s: the re-run did not finish", dis.Command)
	}
	if slices.Contains(dis.RerunArgs, "--value") {
		t.Errorf("%s: the re-run named --value (%v); it must resume from the rotation record", dis.Command, dis.RerunArgs)
	}
}

// survivedOneKill checks a command run under one kill (d.Disrupt's
// result err): exactly one disruption, whose first attempt succeeded
// through it (assertDisrupted); it returns that disruption.
func survivedOneKill(t *testing.T, d *drill.Drill, err error) drill.Disruption {
	t.Helper()
	logDisruptions(t, d.Disruptions)
	if len(d.Disruptions) != 1 {
		t.Fatalf("%d disruptions, want 1 (%v)", len(d.Disruptions), err)
	}
	dis := d.Disruptions[0]
	if dis.First == nil || dis.First.Code != 0 {
		t.Fatalf("%s under a kill: the first attempt did not succeed: %+v", dis.Command, dis.First)
	}
	Must(t, err)
	assertDisrupted(t, dis)
	return dis
}

func logDisruptions(t *testing.T, ds []drill.Disruption) {
	for _, dis := range ds {
		rerun := ""
		if dis.Rerun != nil {
			rerun = fmt.Sprintf(", re-run %v: exit %d", dis.RerunArgs, dis.Rerun.Code)
		}
		first := -1
		if dis.First != nil {
			first = dis.First.Code
		}
		t.Logf("chaos: %s: %s (%s): fired %v, landed %v, SIGKILL pid %d %s into %s; connections: %d cut, %d opened after (%d found no API server); exit %d%s",
			dis.Command, dis.Point, dis.Event, dis.Fired, dis.Landed, dis.KilledPid, dis.KilledAfter.Round(time.Millisecond), dis.Took.Round(time.Millisecond),
			dis.Cut, dis.Reopened, dis.Refused, first, rerun)
	}
}

// TestChaosRootCAWrites kills the API server under bundle (after its first
// write of kube-root-ca.crt), under undo of that bundle (mid-pass), and
// under bundle again (mid-pass), with the controller-manager stopped so
// that nothing else writes those ConfigMaps: etcd's version of each key
// then counts the plugin's writes, and must rise by exactly one per
// command, whatever its attempts. It runs first: the drill below needs the
// controller-manager back, which it is at the end.
func TestChaosRootCAWrites(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	rng := rand.New(rand.NewSource(seed(t)))
	const extra = 20
	for i := range extra {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("chaos-rootca-%02d", i)}}, metav1.CreateOptions{})
		Must(t, err)
	}
	WaitRootCA(t, client, Cluster.PKI.CA.CertPEM)
	Must(t, Cluster.StopComponent(localcluster.ControllerManager))
	t.Cleanup(func() {
		Must(t, Cluster.StartComponent(ctx, localcluster.ControllerManager))
		// The root CA publisher puts the old CA back wherever it is not.
		WaitRootCA(t, client, Cluster.PKI.CA.CertPEM)
	})

	dir := t.TempDir()
	newCA, err := localcluster.NewCA("kubernetes-chaos", 365*24*time.Hour)
	Must(t, err)
	oldFile, newFile := filepath.Join(dir, "old-ca.crt"), filepath.Join(dir, "new-ca.crt")
	Must(t, os.WriteFile(oldFile, Cluster.PKI.CA.CertPEM, 0o600))
	Must(t, os.WriteFile(newFile, newCA.CertPEM, 0o600))
	bundle := []*x509.Certificate{newCA.Cert, Cluster.PKI.CA.Cert}

	total := len(rootCAVersions(t))
	if total < extra {
		t.Fatalf("%d kube-root-ca.crt in etcd, want at least %d", total, extra)
	}
	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: dir, Narrator: drill.LogfNarrator(t.Logf)}
	t.Cleanup(d.Close)
	// A low rate stretches a pass over seconds, so mid-pass is mid-pass.
	rate := []string{"--qps", "5", "--burst", "1"}
	midPass := func() drill.Kill {
		n := 3 + rng.Intn(total-8)
		return drill.KillAfterRootCAWrites(fmt.Sprintf("%s (after %d of %d writes)", drill.PointMidPass, n, total), n, rate...)
	}

	// writesOnce runs one command under k and checks that it wrote every
	// kube-root-ca.crt exactly once, leaving want in it, as the
	// kubectl-carotate field manager.
	writesOnce := func(what string, want []*x509.Certificate, k drill.Kill, args ...string) {
		t.Helper()
		before := rootCAVersions(t)
		from := len(d.Disruptions)
		_, err := d.Disrupt(ctx, k, args...)
		logDisruptions(t, d.Disruptions[from:])
		Must(t, err)
		after := rootCAVersions(t)
		cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=kube-root-ca.crt"})
		Must(t, err)
		if len(cms.Items) != total {
			t.Errorf("%s: %d kube-root-ca.crt, want %d", what, len(cms.Items), total)
		}
		for _, cm := range cms.Items {
			ns := cm.Namespace
			if n := after[ns] - before[ns]; n != 1 {
				t.Errorf("%s: %s/kube-root-ca.crt written %d times (etcd version %d -> %d), want once", what, ns, n, before[ns], after[ns])
			}
			certs, err := checks.ParseCertificates(ns, []byte(cm.Data["ca.crt"]))
			if err != nil || !checks.SameCertificates(certs, want) {
				t.Errorf("%s: %s/kube-root-ca.crt does not hold what it should (%d certificates, %v)", what, ns, len(certs), err)
			}
			if who := caOwner(cm.ManagedFields); who != "kubectl-carotate" {
				t.Errorf("%s: %s/kube-root-ca.crt ca.crt last written by %q, want kubectl-carotate", what, ns, who)
			}
		}
	}
	// undoRecordsOnce checks that the undo files bundle left in dir, over
	// all its attempts, record every kube-root-ca.crt once, with the value
	// it held before: the old CA, never our own bundle. Without that
	// record undo cannot put it back.
	undoRecordsOnce := func(dir string) []undoFile {
		t.Helper()
		files := undoFiles(t, dir, "bundle")
		recorded := map[string]int{}
		for _, f := range files {
			for _, c := range f.changes {
				recorded[c.Namespace]++
				if c.Kind != "ConfigMap" || c.Previous != string(Cluster.PKI.CA.CertPEM) {
					t.Errorf("bundle's undo file %s records %s %s/%s as %d bytes, want the old CA", f.path, c.Kind, c.Namespace, c.Name, len(c.Previous))
				}
			}
		}
		if len(recorded) != total {
			t.Errorf("bundle's undo files record %d kube-root-ca.crt, want %d", len(recorded), total)
		}
		for ns, n := range recorded {
			if n != 1 {
				t.Errorf("bundle's undo files record %s/kube-root-ca.crt %d times, want once", ns, n)
			}
		}
		return files
	}
	bundleArgs := func(undoDir string) []string {
		return []string{"bundle", "--old-ca", oldFile, "--new-ca", newFile, "--settle", "0", "--undo-dir", undoDir}
	}

	first := filepath.Join(dir, "undo-1")
	writesOnce("bundle", bundle, drill.KillAfterRootCAWrites(drill.PointFirstWrite, 1, rate...), bundleArgs(first)...)
	files := undoRecordsOnce(first)

	// undo puts the old CA back, one write each, however many files the
	// attempts of bundle left (the first under a kill).
	before := rootCAVersions(t)
	for i, f := range files {
		k := drill.Kill{}
		if i == 0 {
			k = midPass()
		}
		from := len(d.Disruptions)
		_, err = d.Disrupt(ctx, k, "undo", f.path)
		logDisruptions(t, d.Disruptions[from:])
		Must(t, err)
		// The write whose answer the kill cut off is sent again and meets
		// its own resourceVersion precondition: undo reads it back and
		// reports it restored, not "changed since ... left as they are"
		// (as it did before 2026-12-06, about an object it had restored).
		for _, dis := range d.Disruptions[from:] {
			if dis.First == nil || dis.First.Code != 0 {
				continue
			}
			for _, row := range strings.Split(dis.First.Stdout, "\n") {
				// KIND NAMESPACE NAME KEYS RESULT REASON
				if f := strings.Fields(row); len(f) > 4 && f[0] == "ConfigMap" && f[4] != "restored" {
					t.Errorf("undo under a kill finished, and reports an object it was to restore as %s: %s", f[4], row)
				}
			}
			// The kill lands between a write and its answer (the relay's
			// 100 ms): without a write read back this test proved nothing.
			if dis.Fired && !strings.Contains(dis.First.Stdout, "an answer was lost") {
				t.Errorf("the kill cut no write's answer, so no resent write was exercised:\n%s", dis.First.Stdout)
			}
		}
	}
	after := rootCAVersions(t)
	for ns := range before {
		if n := after[ns] - before[ns]; n != 1 {
			t.Errorf("undo: %s/kube-root-ca.crt written %d times (etcd version %d -> %d), want once", ns, n, before[ns], after[ns])
		}
	}
	// undo's own undo files record every object it restored once, the
	// lost answer's too: undoing the undo must put the bundle back there.
	undone := map[string]int{}
	for _, f := range undoFiles(t, first, "undo") {
		for _, c := range f.changes {
			undone[c.Namespace]++
			if c.Previous == string(Cluster.PKI.CA.CertPEM) {
				t.Errorf("undo's undo file %s records %s/%s as holding the old CA before undo", f.path, c.Namespace, c.Name)
			}
		}
	}
	for ns := range before {
		if undone[ns] != 1 {
			t.Errorf("undo's undo files record %s/kube-root-ca.crt %d times, want once", ns, undone[ns])
		}
	}
	WaitRootCA(t, client, Cluster.PKI.CA.CertPEM)

	second := filepath.Join(dir, "undo-2")
	writesOnce("bundle again", bundle, midPass(), bundleArgs(second)...)
	undoRecordsOnce(second)

	if len(d.Disruptions) != 3 {
		t.Errorf("%d disruptions, want 3", len(d.Disruptions))
	}
	for _, dis := range d.Disruptions {
		assertDisrupted(t, dis)
	}
}

// TestChaosDrill runs the whole rotation (test/drill) with a kill under
// every restart-workloads and update-cluster-info.
func TestChaosDrill(t *testing.T) {
	s := seed(t)
	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: t.TempDir(), Narrator: drill.LogfNarrator(t.Logf),
		Chaos: rand.New(rand.NewSource(s))}
	out, err := d.Run(context.Background())
	logDisruptions(t, d.Disruptions)
	if err != nil {
		t.Fatalf("drill (seed %d): %v", s, err)
	}
	// Two passes of two restart-workloads each, update-cluster-info twice.
	if len(d.Disruptions) != 6 {
		t.Errorf("%d disruptions, want 6", len(d.Disruptions))
	}
	points := map[string]bool{}
	failed := 0
	for _, dis := range d.Disruptions {
		points[strings.SplitN(dis.Point, " (", 2)[0]] = true
		assertDisrupted(t, dis)
		if dis.First == nil || dis.First.Code == 0 {
			continue
		}
		failed++
		// The re-run took the pass value from the record: the same pass.
		if i := slices.Index(strings.Fields(dis.Command), "--value"); i >= 0 && dis.Rerun != nil {
			v := strings.Fields(dis.Command)[i+1]
			if !strings.Contains(dis.Rerun.Stderr, "ca-rotation="+v) {
				t.Errorf("%s: the re-run without --value did not resume pass %s:\n%s", dis.Command, v, dis.Rerun.Stderr)
			}
		}
	}
	for _, p := range []string{drill.PointFirstWrite, drill.PointMidPass, drill.PointWait, drill.PointOutage} {
		if !points[p] {
			t.Errorf("no kill %s", p)
		}
	}
	// The long outage outlasts the pass's --timeout under it: that first
	// attempt cannot have finished.
	if failed == 0 {
		t.Error("no first attempt failed: the re-run path was not taken")
	}
	drilltest.AssertEndState(t, out)
}

// rootCAVersions is etcd's version (writes since creation) of every
// kube-root-ca.crt, by namespace, read from etcd's JSON gateway: the
// count of writes that reached storage, which no client can fake.
func rootCAVersions(t *testing.T) map[string]int64 {
	t.Helper()
	prefix := "/registry/configmaps/"
	end := prefix[:len(prefix)-1] + string(rune(prefix[len(prefix)-1]+1))
	body, err := json.Marshal(map[string]any{
		"key": base64.StdEncoding.EncodeToString([]byte(prefix)), "range_end": base64.StdEncoding.EncodeToString([]byte(end)), "keys_only": true,
	})
	Must(t, err)
	var resp struct {
		Kvs []struct {
			Key     string `json:"key"`
			Version string `json:"version"`
		} `json:"kvs"`
	}
	url := Cluster.Component(localcluster.Etcd).Get("listen-client-urls") + "/v3/kv/range"
	err = wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			return false, nil
		}
		defer r.Body.Close()
		if r.StatusCode != http.StatusOK {
			return false, fmt.Errorf("%s: %s", url, r.Status)
		}
		return true, json.NewDecoder(r.Body).Decode(&resp)
	})
	Must(t, err)
	out := map[string]int64{}
	for _, kv := range resp.Kvs {
		k, err := base64.StdEncoding.DecodeString(kv.Key)
		Must(t, err)
		ns, name, _ := strings.Cut(strings.TrimPrefix(string(k), prefix), "/")
		if name != "kube-root-ca.crt" {
			continue
		}
		v, err := strconv.ParseInt(kv.Version, 10, 64)
		Must(t, err)
		out[ns] = v
	}
	return out
}

// caOwner is the field manager that owns data.ca.crt.
func caOwner(mf []metav1.ManagedFieldsEntry) string {
	for i := len(mf) - 1; i >= 0; i-- {
		if mf[i].FieldsV1 != nil && strings.Contains(string(mf[i].FieldsV1.Raw), `"f:ca.crt"`) {
			return mf[i].Manager
		}
	}
	return ""
}

type undoFile struct {
	path    string
	changes []struct{ Kind, Namespace, Name, Previous string }
}

// undoFiles reads the undo files of command in dir (the JSON lines format:
// a header, then one change per line).
func undoFiles(t *testing.T, dir, command string) []undoFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.undo.jsonl"))
	Must(t, err)
	var out []undoFile
	for _, p := range paths {
		data, err := os.ReadFile(p)
		Must(t, err)
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		var h struct{ Command string }
		Must(t, json.Unmarshal([]byte(lines[0]), &h))
		if h.Command != command {
			continue
		}
		f := undoFile{path: p}
		for _, l := range lines[1:] {
			var c struct{ Kind, Namespace, Name, Previous string }
			Must(t, json.Unmarshal([]byte(l), &c))
			f.changes = append(f.changes, c)
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		t.Fatalf("no undo file of %s in %s", command, dir)
	}
	return out
}
