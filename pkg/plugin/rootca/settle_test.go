package rootca

import (
	"crypto/x509"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/testca"
)

// TestObserveNamesNewestWriter: the writer a revert is credited to is the
// newest managedFields entry owning ca.crt by time, not the last in the
// list. The API server lists Apply entries before Update entries whatever
// their times, so the two differ on real objects.
func TestObserveNamesNewestWriter(t *testing.T) {
	oldCA, newCA := testca.New(t, "old"), testca.New(t, "new")
	target := checks.RootCATarget{Want: []*x509.Certificate{newCA.Cert, oldCA.Cert},
		Labels: map[string]string{checks.Fingerprint(oldCA.Cert): "old", checks.Fingerprint(newCA.Cert): "new"}}
	t1, t2 := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	owns := &metav1.FieldsV1{Raw: []byte(`{"f:data":{".":{},"f:ca.crt":{}}}`)}
	entry := func(manager string, op metav1.ManagedFieldsOperationType, at *metav1.Time) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Operation: op, Time: at, FieldsV1: owns}
	}
	cases := []struct {
		name string
		mf   []metav1.ManagedFieldsEntry
		want string
	}{
		{"a newer apply listed first", []metav1.ManagedFieldsEntry{
			entry("gitops", metav1.ManagedFieldsOperationApply, &t2),
			entry("kube-controller-manager", metav1.ManagedFieldsOperationUpdate, &t1),
		}, "gitops put back old"},
		{"the controller-manager's newer entry listed first", []metav1.ManagedFieldsEntry{
			entry("kube-controller-manager", metav1.ManagedFieldsOperationApply, &t2),
			entry("admin", metav1.ManagedFieldsOperationUpdate, &t1),
		}, "kube-controller-manager put back old"},
		{"no entry owns ca.crt", nil, "someone put back old"},
	}
	for _, c := range cases {
		p := &pass{Target: target, written: map[string]string{"ConfigMap/a/kube-root-ca.crt": "5"},
			results: map[string]*reportObject{"ConfigMap/a/kube-root-ca.crt": {Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Result: resultUpdated}}}
		s := &settling{pass: p, cancel: func() {}, pending: 1}
		s.observe(item{kind: "ConfigMap", namespace: "a", name: "kube-root-ca.crt", rv: "6", value: oldCA.PEM, present: true}, c.mf)
		if got := p.results["ConfigMap/a/kube-root-ca.crt"]; got.Result != resultReverted || got.Reason != c.want {
			t.Errorf("%s: %s %q, want reverted %q", c.name, got.Result, got.Reason, c.want)
		}
	}
}
