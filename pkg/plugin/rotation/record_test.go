package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"strings"
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
)

func testCA(t *testing.T, cn string) (*x509.Certificate, []byte, []byte) {
	t.Helper()
	cert, _, certPEM, keyPEM, err := checks.GenerateCA(cn, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM, keyPEM
}

func testRecord(t *testing.T) *Record {
	t.Helper()
	oldCert, oldPEM, _ := testCA(t, "old")
	newCert, newPEM, _ := testCA(t, "new")
	return &Record{Lifecycle: Lifecycle{ID: "20260101-abcdef", State: StateActive, StartedBy: "alice", StartedAt: time.Unix(1767225600, 0).UTC(),
		OldCASource: "--old-ca old.crt"},
		OldCAPEM: oldPEM, NewCAPEM: newPEM, OldCAs: []*x509.Certificate{oldCert}, NewCAs: []*x509.Certificate{newCert}}
}

func TestRotationRecordRoundTrip(t *testing.T) {
	rec := testRecord(t)
	rec.Passes = []Pass{{Kind: "bundle", At: time.Unix(1767225700, 0).UTC(), By: "alice", Result: "ok", UndoFile: "/home/alice/.kube/carotate/x/bundle.undo.jsonl"}}
	cm, err := rec.ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	if cm.Namespace != "kube-system" || cm.Name != "carotate-state" {
		t.Errorf("record written to %s/%s", cm.Namespace, cm.Name)
	}
	if cm.Data[KeyBundle] != string(checks.BuildBundle(rec.NewCAs, rec.OldCAs)) {
		t.Error("the record's bundle is not new then old")
	}
	got, err := FromConfigMap(cm)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != rec.ID || got.State != StateActive || got.StartedBy != "alice" || !got.StartedAt.Equal(rec.StartedAt) ||
		len(got.Passes) != 1 || got.Passes[0].UndoFile != rec.Passes[0].UndoFile ||
		!checks.SameCertificates(got.OldCAs, rec.OldCAs) || !checks.SameCertificates(got.NewCAs, rec.NewCAs) {
		t.Errorf("round trip: got %+v", got)
	}
	if got.FrontProxy() {
		t.Error("a record without front-proxy CAs says it rotates the front-proxy CA")
	}
	if v := got.RestartValue("bundle"); v != "20260101-abcdef/bundle" {
		t.Errorf("restart value %q", v)
	}
}

func TestRotationRecordRefusesKeys(t *testing.T) {
	rec := testRecord(t)
	_, _, keyPEM := testCA(t, "leaked")
	rec.NewCAPEM = append(append([]byte{}, rec.NewCAPEM...), keyPEM...)
	if _, err := rec.ConfigMap(); err == nil || !strings.Contains(err.Error(), "private-key material") {
		t.Errorf("configMap with a key in the new CA: %v", err)
	}

	// A record someone edited by hand to hold a key is refused on read,
	// naming the key, never echoing it.
	cm, err := testRecord(t).ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	cm.Data[KeyOldCA] += string(keyPEM)
	_, err = FromConfigMap(cm)
	if err == nil || !strings.Contains(err.Error(), "private-key material in old-ca.crt") {
		t.Fatalf("reading a record with a key: %v", err)
	}
	for _, line := range strings.Split(string(keyPEM), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") && strings.Contains(err.Error(), line) {
			t.Fatal("the error echoes key material")
		}
	}
}

func TestRotationRecordDamaged(t *testing.T) {
	cm, err := testRecord(t).ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*corev1.ConfigMap){
		"bad json":        func(cm *corev1.ConfigMap) { cm.Data[KeyRecord] = "{" },
		"no new CA":       func(cm *corev1.ConfigMap) { delete(cm.Data, KeyNewCA) },
		"garbage old CA":  func(cm *corev1.ConfigMap) { cm.Data[KeyOldCA] = "not a certificate" },
		"no id and state": func(cm *corev1.ConfigMap) { cm.Data[KeyRecord] = "{}" },
	} {
		c := cm.DeepCopy()
		mutate(c)
		if _, err := FromConfigMap(c); err == nil || !strings.Contains(err.Error(), "fix or delete it") && !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestAppendPassConflict: two admins log passes at once; the write that
// loses the race re-reads and appends to the winner's record.
func TestAppendPassConflict(t *testing.T) {
	rec := testRecord(t)
	cm, err := rec.ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	cm.ResourceVersion = "1"
	client := fake.NewClientset(cm)
	conflicts := 0
	client.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if conflicts > 0 {
			return false, nil, nil
		}
		conflicts++
		// Another admin's pass lands first.
		other := testRecord(t)
		other.Passes = []Pass{{Kind: "update-cluster-info", Result: "ok", By: "bob"}}
		ocm, err := other.ConfigMap()
		if err != nil {
			t.Fatal(err)
		}
		ocm.ResourceVersion = "2"
		if err := client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, ocm, "kube-system"); err != nil {
			t.Fatal(err)
		}
		return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "carotate-state", errors.New("changed"))
	})
	if err := AppendPass(context.Background(), client, Pass{Kind: "bundle", Result: "ok", By: "alice"}); err != nil {
		t.Fatal(err)
	}
	got, err := Load(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if conflicts != 1 || len(got.Passes) != 2 || got.Passes[0].By != "bob" || got.Passes[1].Kind != "bundle" || got.Passes[1].At.IsZero() {
		t.Errorf("after a conflict: %d conflicts, passes %+v", conflicts, got.Passes)
	}
}

func TestAppendPassWithoutActiveRotation(t *testing.T) {
	ctx := context.Background()
	if err := AppendPass(ctx, fake.NewClientset(), Pass{Kind: "bundle", By: "x"}); !errors.Is(err, ErrNoActive) {
		t.Errorf("no record: %v, want ErrNoActive", err)
	}
	rec := testRecord(t)
	rec.State = StateFinished
	cm, err := rec.ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(cm)
	if err := AppendPass(ctx, client, Pass{Kind: "bundle", By: "x"}); !errors.Is(err, ErrNoActive) {
		t.Errorf("finished record: %v, want ErrNoActive", err)
	}
	after, _ := client.CoreV1().ConfigMaps("kube-system").Get(ctx, "carotate-state", metav1.GetOptions{})
	if after.Data[KeyRecord] != cm.Data[KeyRecord] {
		t.Error("a pass was logged into a finished rotation")
	}
}
