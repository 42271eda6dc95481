package rootca

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

func TestAccessChecks(t *testing.T) {
	verbs := func(p *pass) string {
		var s []string
		for _, c := range p.accessChecks() {
			s = append(s, c.Verb+" "+c.Resource)
		}
		return strings.Join(s, ", ")
	}
	read := "list namespaces, list configmaps, get configmaps, list secrets, get secrets"
	cases := []struct {
		p    *pass
		want string
	}{
		{&pass{DryRun: cmdutil.DryRunClient, Settle: time.Second, CreateMissing: true}, read},
		{&pass{DryRun: cmdutil.DryRunServer, Settle: time.Second}, read + ", patch configmaps, patch secrets"},
		{&pass{DryRun: cmdutil.DryRunNone, CreateMissing: true}, read + ", patch configmaps, patch secrets, create configmaps"},
		{&pass{DryRun: cmdutil.DryRunNone, Settle: time.Second}, read + ", patch configmaps, patch secrets, watch configmaps, watch secrets"},
	}
	for i, c := range cases {
		if got := verbs(c.p); got != c.want {
			t.Errorf("case %d: got %s\nwant %s", i, got, c.want)
		}
	}
}

// testAccess is an in-memory object store for the conflict and retry
// logic of pass.sync; the e2e tests cover the real API server.
type testAccess struct {
	cur        item
	patches    int
	failFirst  error // returned by the first patch, after applying it when applyFirst
	applyFirst bool
}

func (a *testAccess) get(_ context.Context, _, _ string) (item, error) { return a.cur, nil }

func (a *testAccess) decide(p *pass, it item) (checks.RootCADecision, []byte) {
	return rootCADecision(p, it)
}

func (a *testAccess) patch(_ context.Context, it item, value []byte, _ cmdutil.DryRun) (string, error) {
	a.patches++
	if it.rv != a.cur.rv {
		return "", apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, it.name, errors.New("rv"))
	}
	if a.patches == 1 && a.failFirst != nil {
		if a.applyFirst {
			a.cur.value, a.cur.rv = value, a.cur.rv+"+"
		}
		return "", a.failFirst
	}
	a.cur.value, a.cur.rv = value, a.cur.rv+"+"
	return a.cur.rv, nil
}

func TestSyncConflictsAndRetries(t *testing.T) {
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	target := checks.RootCATarget{Want: []*x509.Certificate{newCA.Cert, oldCA.Cert},
		Labels: map[string]string{checks.Fingerprint(oldCA.Cert): "old", checks.Fingerprint(newCA.Cert): "new"}}
	bundle := checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{oldCA.Cert})
	old := item{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "1", value: oldCA.PEM, present: true}
	newPass := func() *pass {
		return &pass{Command: "bundle", Target: target, TargetPEM: bundle, DryRun: cmdutil.DryRunNone, UndoDir: t.TempDir(),
			ErrOut: &bytes.Buffer{}, Now: time.Now, written: map[string]string{}, results: map[string]*reportObject{}, cancel: func() {}}
	}

	t.Run("conflict, then someone else bundled it", func(t *testing.T) {
		p := newPass()
		acc := &testAccess{cur: item{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "2", value: bundle, present: true}}
		obj := p.sync(context.Background(), acc, old)
		if obj.Result != resultAlready || obj.Found != "old" {
			t.Fatalf("%+v", obj)
		}
		// The undo file was opened before the write was tried; with nothing
		// recorded in it, it is removed.
		p.closeUndo()
		if files, _ := os.ReadDir(p.UndoDir); len(files) != 0 {
			t.Fatalf("an undo file without changes was left: %v", files)
		}
	})
	t.Run("conflict, then written over the fresh read", func(t *testing.T) {
		p := newPass()
		acc := &testAccess{cur: item{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "2", value: newCA.PEM, present: true}}
		obj := p.sync(context.Background(), acc, old)
		if obj.Result != resultUpdated || obj.ResourceVersion != "2+" || acc.patches != 2 {
			t.Fatalf("%+v after %d patches", obj, acc.patches)
		}
		p.closeUndo()
		_, changes, err := undofile.Read(p.undo.Path)
		if err != nil || len(changes) != 1 || changes[0].Previous != string(newCA.PEM) || changes[0].ResourceVersion != "2+" {
			t.Fatalf("the undo file must hold the value actually replaced: %+v %v", changes, err)
		}
	})
	t.Run("a timed-out write that landed is still recorded", func(t *testing.T) {
		p := newPass()
		acc := &testAccess{cur: old, failFirst: apierrors.NewServerTimeout(schema.GroupResource{Resource: "configmaps"}, "patch", 1), applyFirst: true}
		obj := p.sync(context.Background(), acc, old)
		if obj.Result != resultUpdated || obj.ResourceVersion != "1+" {
			t.Fatalf("%+v", obj)
		}
		p.closeUndo()
		_, changes, err := undofile.Read(p.undo.Path)
		if err != nil || len(changes) != 1 || changes[0].Previous != string(oldCA.PEM) {
			t.Fatalf("undo: %+v %v", changes, err)
		}
	})
	t.Run("a write whose answer was lost is recorded if it landed", func(t *testing.T) {
		// Not retried (no transient error), so only the re-read shows it
		// landed: it is ours, and undo must be able to put it back.
		p := newPass()
		lost := errors.New("decoding the response: connection closed by the test")
		acc := &testAccess{cur: old, failFirst: lost, applyFirst: true}
		obj := p.sync(context.Background(), acc, old)
		if obj.Result != resultUpdated || obj.ResourceVersion != "1+" || acc.patches != 1 {
			t.Fatalf("%+v after %d patches", obj, acc.patches)
		}
		p.closeUndo()
		_, changes, err := undofile.Read(p.undo.Path)
		if err != nil || len(changes) != 1 || changes[0].Previous != string(oldCA.PEM) {
			t.Fatalf("undo: %+v %v", changes, err)
		}
		// The same lost answer for a write that did not land fails.
		p = newPass()
		acc = &testAccess{cur: old, failFirst: lost}
		if obj := p.sync(context.Background(), acc, old); obj.Result != resultFailed || obj.Reason != lost.Error() {
			t.Fatalf("not landed: %+v", obj)
		}
	})
	t.Run("client dry run sends nothing", func(t *testing.T) {
		p := newPass()
		p.DryRun = cmdutil.DryRunClient
		acc := &testAccess{cur: old}
		if obj := p.sync(context.Background(), acc, old); obj.Result != resultUpdated || acc.patches != 0 || p.undo != nil {
			t.Fatalf("%+v, %d patches", obj, acc.patches)
		}
	})
	t.Run("content outside the rotation is left alone", func(t *testing.T) {
		p := newPass()
		other := testca.New(t, "other")
		it := old
		it.value = other.PEM
		acc := &testAccess{cur: it}
		obj := p.sync(context.Background(), acc, it)
		if obj.Result != resultSkipped || !obj.outside || acc.patches != 0 || !strings.HasSuffix(obj.Reason, "(--replace-other replaces it)") {
			t.Fatalf("%+v", obj)
		}
		p.ReplaceOther = true
		if obj := p.sync(context.Background(), acc, it); obj.Result != resultUpdated || acc.patches != 1 {
			t.Fatalf("--replace-other: %+v", obj)
		}
	})
}

// pagedConfigMaps is a list of n kube-root-ca.crt ConfigMaps served in
// pages as the API server serves them, counting the requests (the
// pager may ask for a page in a goroutine of its own).
func pagedConfigMaps(n int, value []byte, calls *atomic.Int32) cluster.ListFunc {
	return func(_ context.Context, lo metav1.ListOptions) (runtime.Object, error) {
		calls.Add(1)
		from := 0
		if lo.Continue != "" {
			from, _ = strconv.Atoi(lo.Continue)
		}
		to := min(from+int(lo.Limit), n)
		l := &corev1.ConfigMapList{}
		for i := from; i < to; i++ {
			l.Items = append(l.Items, corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: fmt.Sprintf("ns-%04d", i), Name: cluster.RootCAConfigMap, ResourceVersion: "1"},
				Data:       map[string]string{cluster.RootCAKey: string(value)}})
		}
		if to < n {
			l.Continue = strconv.Itoa(to)
		}
		return l, nil
	}
}

// TestWalkPagesAndStops: the walk syncs every object of every page, and
// stops listing once the undo file cannot be created.
func TestWalkPagesAndStops(t *testing.T) {
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	target := checks.RootCATarget{Want: []*x509.Certificate{newCA.Cert, oldCA.Cert},
		Labels: map[string]string{checks.Fingerprint(oldCA.Cert): "old", checks.Fingerprint(newCA.Cert): "new"}}
	const n = 2*cluster.PageSize + 7
	itemOf := func(obj runtime.Object) (item, bool) { return configMapItem(obj.(*corev1.ConfigMap)), true }
	walk := func(dry cmdutil.DryRun, undoDir string) (p *pass, calls, done int32, err error) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		p = &pass{Command: "bundle", Target: target, TargetPEM: checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{oldCA.Cert}),
			DryRun: dry, UndoDir: undoDir, ErrOut: &bytes.Buffer{}, Now: time.Now, written: map[string]string{}, results: map[string]*reportObject{}, cancel: cancel}
		var ticks, lists atomic.Int32
		err = p.walk(ctx, "", pagedConfigMaps(n, oldCA.PEM, &lists), itemOf, map[string]bool{}, configMapAccess{}, func() { ticks.Add(1) })
		return p, lists.Load(), ticks.Load(), err
	}

	p, calls, done, err := walk(cmdutil.DryRunClient, t.TempDir())
	if err != nil || calls != 3 || done != n || len(p.results) != n {
		t.Fatalf("dry run: %v, %d lists, %d done, %d results; want 3 lists and %d objects", err, calls, done, len(p.results), n)
	}
	for k, o := range p.results {
		if o.Result != resultUpdated {
			t.Fatalf("%s: %+v", k, o)
		}
	}

	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p, calls, _, err = walk(cmdutil.DryRunNone, filepath.Join(notADir, "undo"))
	if err == nil || !strings.Contains(err.Error(), "cannot create the undo file in") || calls > 2 || len(p.results) > cluster.PageSize {
		t.Fatalf("undo file fails: %v, after %d lists and %d results", err, calls, len(p.results))
	}
}

// TestDecisionCache: the cache answers what DecideRootCA answers, for each
// object, keeps no decision whose reason names its object, and stops
// growing at its bound.
func TestDecisionCache(t *testing.T) {
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	target := checks.RootCATarget{Want: []*x509.Certificate{newCA.Cert, oldCA.Cert},
		Labels: map[string]string{checks.Fingerprint(oldCA.Cert): "old", checks.Fingerprint(newCA.Cert): "new"}}
	bundle := checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{oldCA.Cert})
	var c decisionCache
	items := []item{
		{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", value: oldCA.PEM, present: true},
		{kind: "ConfigMap", namespace: "b", name: "kube-root-ca.crt", value: oldCA.PEM, present: true},
		{kind: "Secret", namespace: "b", name: "token", value: bundle, present: true},
		{kind: "ConfigMap", namespace: "c", name: "kube-root-ca.crt", value: []byte("garbage"), present: true},
		{kind: "ConfigMap", namespace: "d", name: "kube-root-ca.crt", value: []byte("garbage"), present: true},
		{kind: "ConfigMap", namespace: "e", name: "kube-root-ca.crt"},
		{kind: "ConfigMap", namespace: "f", name: "kube-root-ca.crt", value: []byte(""), present: true},
	}
	for round := range 2 {
		for _, it := range items {
			want := checks.DecideRootCA(it.source(), it.value, it.present, target)
			if got := c.decide(it, target); got != want {
				t.Errorf("round %d, %s: cached %+v, want %+v", round, it.source(), got, want)
			}
		}
	}
	if len(c.seen) != 3 { // old, the bundle, ""
		t.Errorf("the cache holds %d values, want 3: %v", len(c.seen), c.seen)
	}
	for i := range 2 * decisionCacheSize {
		other := testca.New(t, fmt.Sprintf("other-%d", i))
		c.decide(item{kind: "ConfigMap", namespace: "g", name: "x", value: other.PEM, present: true}, target)
	}
	if len(c.seen) != decisionCacheSize {
		t.Errorf("the cache holds %d values, want at most %d", len(c.seen), decisionCacheSize)
	}
}

// TestPassCollectsSooner: the pass runs with the collector's target at
// cluster.PassGCPercent and puts the previous one back (a GOGC the user
// set wins: cluster.CollectSooner's own test).
func TestPassCollectsSooner(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the pass keeps it")
	}
	gcPercent := cluster.GCPercent
	before := gcPercent()
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	client := fake.NewClientset(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: cluster.RootCAConfigMap},
			Data: map[string]string{cluster.RootCAKey: string(oldCA.PEM)}})
	during := 0
	client.PrependReactor("list", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		during = gcPercent()
		return false, nil, nil
	})
	p := &pass{Command: "bundle", Client: client,
		Target: checks.RootCATarget{Want: []*x509.Certificate{newCA.Cert, oldCA.Cert},
			Labels: map[string]string{checks.Fingerprint(oldCA.Cert): "old", checks.Fingerprint(newCA.Cert): "new"}},
		TargetPEM: checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{oldCA.Cert}),
		DryRun:    cmdutil.DryRunClient, UndoDir: t.TempDir(), ErrOut: &bytes.Buffer{}}
	r, err := p.run(context.Background())
	if err != nil || r.Namespaces.Updated != 1 {
		t.Fatalf("pass: %v, report %+v; want one ConfigMap updated (dry run)", err, r)
	}
	if during != cluster.PassGCPercent {
		t.Errorf("GOGC while listing = %d, want %d", during, cluster.PassGCPercent)
	}
	if got := gcPercent(); got != before {
		t.Errorf("GOGC after the pass = %d, want %d back", got, before)
	}
}
