package plugin

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

func rootCATestReport() *rootCAReport {
	return &rootCAReport{
		Command: "bundle", DryRun: DryRunNone, Settle: "10s",
		Namespaces: rootCACounts{Total: 3, Already: 1, Reverted: 1, Skipped: 1},
		Secrets:    rootCACounts{Total: 1, Updated: 1},
		Objects: []rootCAObject{
			{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Found: "new+old", Result: rootCAAlready},
			{Kind: "ConfigMap", Namespace: "b", Name: "kube-root-ca.crt", Found: "old", Result: rootCAReverted, Reason: "kube-controller-manager put back old"},
			{Kind: "ConfigMap", Namespace: "c", Name: "kube-root-ca.crt", Found: "-", Result: rootCASkipped, Reason: "namespace is terminating"},
			{Kind: "Secret", Namespace: "a", Name: "tok", Found: "old", Result: rootCAUpdated, Reason: "adds new"},
		},
	}
}

func TestPrintRootCAReportTable(t *testing.T) {
	var b bytes.Buffer
	if err := printRootCAReport(&b, "", rootCATestReport()); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"KIND        NAMESPACE   NAME               FOUND     RESULT     REASON\n" +
		"ConfigMap   a           kube-root-ca.crt   new+old   already\n" +
		"ConfigMap   b           kube-root-ca.crt   old       reverted   kube-controller-manager put back old\n" +
		"ConfigMap   c           kube-root-ca.crt   -         skipped    namespace is terminating\n" +
		"Secret      a           tok                old       updated    adds new\n" +
		"\n" +
		"OBJECTS                         TOTAL   ALREADY BUNDLED   UPDATED   CREATED   REVERTED   SKIPPED   FAILED\n" +
		"namespaces (kube-root-ca.crt)   3       1                 0         0         1          1         0\n" +
		"legacy token Secrets (ca.crt)   1       0                 1         0         0          0         0\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintRootCAReportDryRunAndUnbundle(t *testing.T) {
	r := &rootCAReport{Command: "unbundle", DryRun: DryRunServer,
		Namespaces: rootCACounts{Total: 1, Updated: 1},
		Objects:    []rootCAObject{{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Found: "kept+CN=x (0011)", Result: rootCAUpdated, Reason: "removes CN=x (0011)"}},
	}
	var b bytes.Buffer
	if err := printRootCAReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"KIND        NAMESPACE   NAME               FOUND              RESULT                     REASON\n" +
		"ConfigMap   a           kube-root-ca.crt   kept+CN=x (0011)   updated (server dry run)   removes CN=x (0011)\n" +
		"\n" +
		"OBJECTS                         TOTAL   ALREADY UNBUNDLED   UPDATED   CREATED   REVERTED   SKIPPED   FAILED\n" +
		"namespaces (kube-root-ca.crt)   1       0                   1         0         0          0         0\n" +
		"legacy token Secrets (ca.crt)   0       0                   0         0         0          0         0\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintRootCAReportJSON(t *testing.T) {
	var b bytes.Buffer
	if err := printRootCAReport(&b, outputJSON, rootCATestReport()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"command": "bundle"`, `"reverted": 1`, `"reason": "kube-controller-manager put back old"`, `"objects": [`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "outside") {
		t.Errorf("internal fields must not be printed")
	}
}

func TestRootCAReportOutcome(t *testing.T) {
	r := rootCATestReport()
	hint, err := r.outcome("DO STEP 2")
	if hint != "DO STEP 2" || err == nil || err.Error() != "1 of 2 objects written were changed back within 10s by kube-controller-manager" {
		t.Fatalf("revert: hint %q, err %v", hint, err)
	}

	r = rootCATestReport()
	r.Objects[1].Result, r.Objects[1].Reason = rootCAFailed, "boom"
	r.Objects = append(r.Objects, rootCAObject{Kind: "Secret", Namespace: "z", Name: "s", Result: rootCASkipped, outside: true})
	hint, err = r.outcome("DO STEP 2")
	want := "1 objects failed (see the RESULT column); 1 objects hold certificates outside this rotation and were left alone (see the REASON column; --replace-other replaces them)"
	if hint != "" || err == nil || err.Error() != want {
		t.Fatalf("failed+outside: hint %q, err %v", hint, err)
	}

	r = rootCATestReport()
	r.Objects = r.Objects[:1]
	if hint, err := r.outcome("x"); hint != "" || err != nil {
		t.Fatalf("all in place: %q %v", hint, err)
	}
}

func TestRootCAOwner(t *testing.T) {
	entry := func(manager, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate, FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	mf := []metav1.ManagedFieldsEntry{
		entry("kube-controller-manager", `{"f:data":{".":{},"f:ca.crt":{}}}`),
		entry("kubectl-label", `{"f:metadata":{"f:labels":{"f:x":{}}}}`),
		{Manager: "broken"},
	}
	if got := rootCAOwner(mf, "ca.crt"); got != "kube-controller-manager" {
		t.Fatalf("owner %q", got)
	}
	mf = append(mf, entry("kubectl-carotate", `{"f:data":{"f:ca.crt":{}}}`))
	if got := rootCAOwner(mf, "ca.crt"); got != "kubectl-carotate" {
		t.Fatalf("the last entry owning the key wins: %q", got)
	}
	if got := rootCAOwner(mf, "other"); got != "" {
		t.Fatalf("unowned key: %q", got)
	}
	if got := rootCAOwner([]metav1.ManagedFieldsEntry{entry("x", `not json`)}, "ca.crt"); got != "" {
		t.Fatalf("bad fieldsV1: %q", got)
	}
}

func TestRootCAAccessChecks(t *testing.T) {
	verbs := func(p *rootCAPass) string {
		var s []string
		for _, c := range p.accessChecks() {
			s = append(s, c.Verb+" "+c.Resource)
		}
		return strings.Join(s, ", ")
	}
	read := "list namespaces, list configmaps, get configmaps, list secrets, get secrets"
	cases := []struct {
		p    *rootCAPass
		want string
	}{
		{&rootCAPass{DryRun: DryRunClient, Settle: time.Second, CreateMissing: true}, read},
		{&rootCAPass{DryRun: DryRunServer, Settle: time.Second}, read + ", patch configmaps, patch secrets"},
		{&rootCAPass{DryRun: DryRunNone, CreateMissing: true}, read + ", patch configmaps, patch secrets, create configmaps"},
		{&rootCAPass{DryRun: DryRunNone, Settle: time.Second}, read + ", patch configmaps, patch secrets, watch configmaps, watch secrets"},
	}
	for i, c := range cases {
		if got := verbs(c.p); got != c.want {
			t.Errorf("case %d: got %s\nwant %s", i, got, c.want)
		}
	}
}

func TestRootCAProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := &rootCAProgress{w: &b, what: "namespaces", total: 3, now: func() time.Time { return now }}
	p.tick()
	now = now.Add(time.Second)
	p.tick() // too soon to print
	now = now.Add(2 * time.Second)
	p.tick()
	p.finish()
	if want := "namespaces: 3/3 done\nnamespaces: 3/3 done\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	q := &rootCAProgress{w: &b, what: "legacy token Secrets", total: -1, now: time.Now}
	q.finish()
	if want := "legacy token Secrets: 0 done\n"; b.String() != want {
		t.Fatalf("got %q", b.String())
	}
}

// rootCATestAccess is an in-memory object store for the conflict and retry
// logic of rootCAPass.sync; the e2e tests cover the real API server.
type rootCATestAccess struct {
	cur        rootCAItem
	patches    int
	failFirst  error // returned by the first patch, after applying it when applyFirst
	applyFirst bool
}

func (a *rootCATestAccess) get(_ context.Context, _, _ string) (rootCAItem, error) { return a.cur, nil }

func (a *rootCATestAccess) patch(_ context.Context, it rootCAItem, value []byte, _ DryRun) (string, error) {
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

func TestRootCASyncConflictsAndRetries(t *testing.T) {
	oldCA, newCA := newServingTestCA(t, "old"), newServingTestCA(t, "new")
	target := checks.RootCATarget{Want: []*x509.Certificate{newCA.cert, oldCA.cert},
		Labels: map[string]string{checks.Fingerprint(oldCA.cert): "old", checks.Fingerprint(newCA.cert): "new"}}
	bundle := checks.BuildBundle([]*x509.Certificate{newCA.cert}, []*x509.Certificate{oldCA.cert})
	item := rootCAItem{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "1", value: oldCA.pem, present: true}
	newPass := func() *rootCAPass {
		return &rootCAPass{Command: "bundle", Target: target, TargetPEM: bundle, DryRun: DryRunNone, UndoDir: t.TempDir(),
			ErrOut: &bytes.Buffer{}, Now: time.Now, written: map[string]string{}, results: map[string]*rootCAObject{}, cancel: func() {}}
	}

	t.Run("conflict, then someone else bundled it", func(t *testing.T) {
		p := newPass()
		acc := &rootCATestAccess{cur: rootCAItem{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "2", value: bundle, present: true}}
		obj := p.sync(context.Background(), acc, item)
		if obj.Result != rootCAAlready || obj.Found != "old" {
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
		acc := &rootCATestAccess{cur: rootCAItem{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "2", value: newCA.pem, present: true}}
		obj := p.sync(context.Background(), acc, item)
		if obj.Result != rootCAUpdated || obj.ResourceVersion != "2+" || acc.patches != 2 {
			t.Fatalf("%+v after %d patches", obj, acc.patches)
		}
		p.closeUndo()
		_, changes, err := ReadUndoFile(p.undo.Path)
		if err != nil || len(changes) != 1 || changes[0].Previous != string(newCA.pem) || changes[0].ResourceVersion != "2+" {
			t.Fatalf("the undo file must hold the value actually replaced: %+v %v", changes, err)
		}
	})
	t.Run("a timed-out write that landed is still recorded", func(t *testing.T) {
		p := newPass()
		acc := &rootCATestAccess{cur: item, failFirst: apierrors.NewServerTimeout(schema.GroupResource{Resource: "configmaps"}, "patch", 1), applyFirst: true}
		obj := p.sync(context.Background(), acc, item)
		if obj.Result != rootCAUpdated || obj.ResourceVersion != "1+" {
			t.Fatalf("%+v", obj)
		}
		p.closeUndo()
		_, changes, err := ReadUndoFile(p.undo.Path)
		if err != nil || len(changes) != 1 || changes[0].Previous != string(oldCA.pem) {
			t.Fatalf("undo: %+v %v", changes, err)
		}
	})
	t.Run("client dry run sends nothing", func(t *testing.T) {
		p := newPass()
		p.DryRun = DryRunClient
		acc := &rootCATestAccess{cur: item}
		if obj := p.sync(context.Background(), acc, item); obj.Result != rootCAUpdated || acc.patches != 0 || p.undo != nil {
			t.Fatalf("%+v, %d patches", obj, acc.patches)
		}
	})
	t.Run("content outside the rotation is left alone", func(t *testing.T) {
		p := newPass()
		other := newServingTestCA(t, "other")
		it := item
		it.value = other.pem
		acc := &rootCATestAccess{cur: it}
		obj := p.sync(context.Background(), acc, it)
		if obj.Result != rootCASkipped || !obj.outside || acc.patches != 0 || !strings.HasSuffix(obj.Reason, "(--replace-other replaces it)") {
			t.Fatalf("%+v", obj)
		}
		p.ReplaceOther = true
		if obj := p.sync(context.Background(), acc, it); obj.Result != rootCAUpdated || acc.patches != 1 {
			t.Fatalf("--replace-other: %+v", obj)
		}
	})
}
