//go:build e2e

package rootca

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
)

// caOwners are the managedFields entries of obj that own data.ca.crt, in
// the order the API server lists them.
func caOwners(t *testing.T, cm *corev1.ConfigMap) []metav1.ManagedFieldsEntry {
	t.Helper()
	var owners []metav1.ManagedFieldsEntry
	for _, e := range cm.ManagedFields {
		var set struct {
			Data map[string]json.RawMessage `json:"f:data"`
		}
		if e.FieldsV1 != nil && json.Unmarshal(e.FieldsV1.Raw, &set) == nil && set.Data["f:ca.crt"] != nil {
			owners = append(owners, e)
		}
	}
	return owners
}

func describeOwners(owners []metav1.ManagedFieldsEntry) string {
	var s []string
	for _, e := range owners {
		at := "no time"
		if e.Time != nil {
			at = e.Time.UTC().Format(time.RFC3339)
		}
		s = append(s, e.Manager+" "+string(e.Operation)+" at "+at)
	}
	return strings.Join(s, ", ")
}

// step2 is status's evidence for step 2 (what the controller-manager
// publishes).
func step2(t *testing.T) string {
	t.Helper()
	res := Carotate(t, "status", "-o", "json")
	if res.Code != 0 {
		t.Fatalf("status: exit %d: %s", res.Code, res.Stderr)
	}
	var doc struct {
		Steps []struct{ Step, Evidence string }
	}
	Must(t, json.Unmarshal([]byte(res.Stdout), &doc))
	for _, s := range doc.Steps {
		if s.Step == "2" {
			return s.Evidence
		}
	}
	t.Fatalf("status has no step 2:\n%s", res.Stdout)
	return ""
}

// kubeSystemRootCA waits until kube-system/kube-root-ca.crt holds want and
// satisfies ok.
func kubeSystemRootCA(t *testing.T, client kubernetes.Interface, want []byte, ok func(*corev1.ConfigMap) bool) *corev1.ConfigMap {
	t.Helper()
	var cm *corev1.ConfigMap
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		cm, err = client.CoreV1().ConfigMaps("kube-system").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil && bytes.Equal([]byte(cm.Data["ca.crt"]), want) && ok(cm), nil
	})
	Must(t, err)
	return cm
}

// TestStatusAndUnbundleAgreeOnTheWriter: who last wrote ca.crt of
// kube-system/kube-root-ca.crt is one rule for status (step 2) and for
// unbundle's controller-manager check: the newest managedFields entry by
// time. The API server lists Apply entries before Update entries whatever
// their times, so the last entry is not always the newest write; here it
// is not, once with two real writers and once with entries set explicitly.
func TestStatusAndUnbundleAgreeOnTheWriter(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	cms := client.CoreV1().ConfigMaps("kube-system")
	r := newRotation(t)
	// Keeping the bundle passes the serving-chain check (the API server
	// serves from the old CA) and differs from what kube-system holds (the
	// old CA alone), so only the controller-manager check can refuse.
	keep := filepath.Join(r.dir, "keep.crt")
	Must(t, os.WriteFile(keep, r.bundle, 0o644))

	// Earlier tests leave ca.crt last written by kubectl-carotate: write
	// something else, and the controller-manager puts its own back.
	_, err := cms.Patch(ctx, "kube-root-ca.crt", types.MergePatchType, []byte(`{"data":{"ca.crt":`+jsonString(r.bundle)+`}}`),
		metav1.PatchOptions{FieldManager: "e2e-setup"})
	Must(t, err)
	published := kubeSystemRootCA(t, client, r.oldPEM, func(cm *corev1.ConfigMap) bool {
		o := caOwners(t, cm)
		return len(o) == 1 && o[0].Manager == "kube-controller-manager"
	})
	t.Cleanup(func() {
		cm, err := cms.Get(context.Background(), "kube-root-ca.crt", metav1.GetOptions{})
		Must(t, err)
		cm.ManagedFields, cm.Labels = published.ManagedFields, published.Labels
		_, err = cms.Update(context.Background(), cm, metav1.UpdateOptions{FieldManager: "e2e-setup"})
		Must(t, err)
	})
	if res := Carotate(t, "start", "--new-ca", r.new); res.Code != 0 {
		t.Fatalf("start: exit %d: %s", res.Code, res.Stderr)
	}
	t.Cleanup(func() {
		_ = cms.Delete(context.Background(), "carotate-state", metav1.DeleteOptions{})
	})

	t.Run("a newer server-side apply listed before the controller-manager's write", func(t *testing.T) {
		// Time in managedFields has whole seconds: apply in a later one.
		kcmAt := caOwners(t, published)[0].Time.Time
		time.Sleep(time.Until(kcmAt.Add(time.Second + 100*time.Millisecond)))
		// The same ca.crt, so the controller-manager leaves it; the label
		// makes it a change, which is what gives the entry a time.
		apply := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"kube-root-ca.crt","namespace":"kube-system","labels":{"carotate-e2e":"gitops"}},` +
			`"data":{"ca.crt":` + jsonString(r.oldPEM) + `}}`
		_, err := cms.Patch(ctx, "kube-root-ca.crt", types.ApplyPatchType, []byte(apply), metav1.PatchOptions{FieldManager: "e2e-gitops"})
		Must(t, err)
		cm := kubeSystemRootCA(t, client, r.oldPEM, func(*corev1.ConfigMap) bool { return true })
		o := caOwners(t, cm)
		if len(o) != 2 || o[0].Manager != "e2e-gitops" || o[1].Manager != "kube-controller-manager" || o[0].Time == nil || !o[0].Time.After(o[1].Time.Time) {
			t.Fatalf("want the newer apply listed before the controller-manager's older write, have %s", describeOwners(o))
		}

		if ev := step2(t); !strings.Contains(ev, "last written by e2e-gitops, not the controller-manager") {
			t.Errorf("status step 2 does not name the newest writer: %q", ev)
		}
		before := takeSnapshot(t)
		res := Carotate(t, "unbundle", "--keep", keep, "--undo-dir", r.undoDir, "--dry-run=server")
		if strings.Contains(res.Stderr, "refusing to unbundle") || res.Code != 0 {
			t.Errorf("unbundle takes kube-controller-manager for the writer where status does not: exit %d\n%s", res.Code, res.Stderr)
		}
		assertNoWrites(t, before)
	})

	t.Run("the controller-manager's newer entry listed before an older one", func(t *testing.T) {
		cm, err := cms.Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		Must(t, err)
		now, hourAgo := metav1.NewTime(time.Now()), metav1.NewTime(time.Now().Add(-time.Hour))
		owns := &metav1.FieldsV1{Raw: []byte(`{"f:data":{".":{},"f:ca.crt":{}}}`)}
		cm.ManagedFields = []metav1.ManagedFieldsEntry{
			{Manager: "e2e-admin", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &hourAgo, FieldsType: "FieldsV1", FieldsV1: owns},
			{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", FieldsV1: owns},
		}
		cm, err = cms.Update(ctx, cm, metav1.UpdateOptions{FieldManager: "e2e-setup"})
		Must(t, err)
		o := caOwners(t, cm)
		if len(o) != 2 || o[0].Manager != "kube-controller-manager" || o[1].Manager != "e2e-admin" {
			t.Fatalf("want the controller-manager's newer entry listed first, have %s", describeOwners(o))
		}

		if ev := step2(t); !strings.Contains(ev, "kube-controller-manager publishes the old CA only") {
			t.Errorf("status step 2 does not name the controller-manager: %q", ev)
		}
		before := takeSnapshot(t)
		res := Carotate(t, "unbundle", "--keep", keep, "--undo-dir", r.undoDir)
		if res.Code != 1 {
			t.Fatalf("unbundle while the newest writer is the controller-manager: exit %d\n%s", res.Code, res.Stderr)
		}
		mustContain(t, "stderr", res.Stderr, "refusing to unbundle, nothing was changed: kube-system/kube-root-ca.crt holds",
			"last written by kube-controller-manager")
		assertNoWrites(t, before)
	})
}

func jsonString(b []byte) string {
	s, _ := json.Marshal(string(b))
	return string(s)
}
