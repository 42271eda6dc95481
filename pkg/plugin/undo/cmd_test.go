package undo

import (
	"bytes"
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

func TestUndoGroup(t *testing.T) {
	changes := []undofile.Change{
		{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "OLD", ResourceVersion: "5"},
		// One write of two keys records one resourceVersion for both.
		{Kind: "ConfigMap", Namespace: "kube-public", Name: "cluster-info", Key: "kubeconfig", Previous: "K0", ResourceVersion: "7"},
		{Kind: "ConfigMap", Namespace: "kube-public", Name: "cluster-info", Key: "jws-kubeconfig-abc", Absent: true, ResourceVersion: "7"},
		// The same key written again later: the first value is the one
		// from before the command, the last version the one after it.
		{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "MIDDLE", ResourceVersion: "9"},
		{Kind: "ConfigMap", Namespace: "b", Name: "kube-root-ca.crt", Key: "ca.crt", Created: true, ResourceVersion: "11"},
		{Kind: "Secret", Namespace: "a", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: "S", ResourceVersion: "12"},
	}
	got := group(changes)
	if len(got) != 4 {
		t.Fatalf("want 4 objects, got %d", len(got))
	}
	a, info, b, s := got[0], got[1], got[2], got[3]
	if a.Name != "kube-root-ca.crt" || a.ResourceVersion != "9" || a.prevOf("ca.crt").Previous != "OLD" || len(a.keys) != 1 {
		t.Errorf("a: %+v", a)
	}
	if info.ResourceVersion != "7" || strings.Join(info.keys, ",") != "kubeconfig,jws-kubeconfig-abc" || !info.prevOf("jws-kubeconfig-abc").Absent {
		t.Errorf("cluster-info: %+v", info)
	}
	if !b.Created || b.Created && b.Namespace != "b" {
		t.Errorf("b: %+v", b)
	}
	if s.Kind != "Secret" || s.Namespace != "a" {
		t.Errorf("a ConfigMap and a Secret of the same name are different objects: %+v", s)
	}
}

func TestUndoAccessChecks(t *testing.T) {
	objs := group([]undofile.Change{
		{Kind: "ConfigMap", Namespace: "a", Name: "x", Key: "k", ResourceVersion: "1"},
		{Kind: "ConfigMap", Namespace: "b", Name: "x", Key: "k", Created: true, ResourceVersion: "2"},
		{Kind: "Secret", Namespace: "a", Name: "s", Key: "k", ResourceVersion: "3"},
	})
	str := func(cs []cmdutil.AccessCheck) string {
		var s []string
		for _, c := range cs {
			s = append(s, c.String())
		}
		return strings.Join(s, "; ")
	}
	if got, want := str(accessChecks(objs, cmdutil.DryRunNone, false)),
		"get configmaps in all namespaces; patch configmaps in all namespaces; delete configmaps in all namespaces; get secrets in all namespaces; patch secrets in all namespaces"; got != want {
		t.Errorf("cluster-wide:\n got %s\nwant %s", got, want)
	}
	if got, want := str(accessChecks(objs, cmdutil.DryRunServer, true)),
		"get configmaps in namespace a; patch configmaps in namespace a; get configmaps in namespace b; delete configmaps in namespace b; get secrets in namespace a; patch secrets in namespace a"; got != want {
		t.Errorf("per namespace:\n got %s\nwant %s", got, want)
	}
	if got, want := str(accessChecks(objs, cmdutil.DryRunClient, false)), "get configmaps in all namespaces; get secrets in all namespaces"; got != want {
		t.Errorf("client dry run:\n got %s\nwant %s", got, want)
	}
}

func TestPrintUndoReport(t *testing.T) {
	r := &report{UndoFile: "f", Command: "bundle", DryRun: cmdutil.DryRunNone, Restored: 1, Deleted: 1, Skipped: 1,
		Objects: []result{
			{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Keys: []string{"ca.crt"}, Result: "restored"},
			{Kind: "ConfigMap", Namespace: "b", Name: "kube-root-ca.crt", Keys: []string{"ca.crt"}, Result: "deleted", Reason: "created by the command"},
			{Kind: "ConfigMap", Namespace: "kube-public", Name: "cluster-info", Keys: []string{"kubeconfig", "jws-kubeconfig-abc"}, Result: "skipped",
				Reason: "changed since (resourceVersion 9, the undo file has 7)"},
		}}
	var b bytes.Buffer
	if err := printReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"KIND        NAMESPACE     NAME               KEYS                            RESULT     REASON\n" +
		"ConfigMap   a             kube-root-ca.crt   ca.crt                          restored\n" +
		"ConfigMap   b             kube-root-ca.crt   ca.crt                          deleted    created by the command\n" +
		"ConfigMap   kube-public   cluster-info       kubeconfig,jws-kubeconfig-abc   skipped    changed since (resourceVersion 9, the undo file has 7)\n" +
		"1 restored, 1 deleted, 1 skipped, 0 failed\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	r.DryRun = cmdutil.DryRunServer
	r.Objects = nil
	if err := printReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	if want := "1 restored, 1 deleted, 1 skipped, 0 failed (server dry run)\n"; b.String() != want {
		t.Fatalf("got %q", b.String())
	}
}

// Which objects undo writes without reading them first: only root CA
// keys of ConfigMaps and Secrets, and only when the file says what the
// command wrote there.
func TestWrittenKnownOnlyForRootCAObjects(t *testing.T) {
	set := []byte("CERTS")
	for _, tc := range []struct {
		name  string
		set   []byte
		obj   object
		known bool
	}{
		{"ConfigMap ca.crt", set, object{Kind: "ConfigMap", ResourceVersion: "7", keys: []string{"ca.crt"}}, true},
		{"Secret ca.crt", set, object{Kind: "Secret", ResourceVersion: "7", keys: []string{"ca.crt"}}, true},
		{"an older file without the value", nil, object{Kind: "ConfigMap", ResourceVersion: "7", keys: []string{"ca.crt"}}, false},
		{"created by the command", set, object{Kind: "ConfigMap", Created: true, keys: []string{"ca.crt"}}, false},
		{"no resourceVersion recorded", set, object{Kind: "ConfigMap", keys: []string{"ca.crt"}}, false},
		{"another key", set, object{Kind: "ConfigMap", keys: []string{"ca.crt", "kubeconfig"}}, false},
		{"a ClusterTrustBundle", set, object{Kind: kindTrustBundle, keys: []string{"spec.trustBundle"}}, false},
		{"a workload", set, object{Kind: "Deployment", keys: []string{"spec.template.metadata.annotations[ca-rotation]"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := &restorer{rootCASet: tc.set}
			cur, known := u.written(&tc.obj)
			if known != tc.known {
				t.Fatalf("known = %v, want %v", known, tc.known)
			}
			if known && (cur.rv != tc.obj.ResourceVersion || string(cur.values["ca.crt"]) != "CERTS") {
				t.Fatalf("what it holds: %+v", cur)
			}
		})
	}
}
