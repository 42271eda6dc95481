package cluster

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCAChange(t *testing.T) {
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t1, t2 := metav1.NewTime(created.Add(time.Hour)), metav1.NewTime(created.Add(2*time.Hour))
	fields := func(raw string) *metav1.FieldsV1 { return &metav1.FieldsV1{Raw: []byte(raw)} }
	mf := []metav1.ManagedFieldsEntry{
		{Manager: "kubectl-label", Time: &t2, FieldsV1: fields(`{"f:metadata":{"f:labels":{"f:x":{}}}}`)},
		{Manager: "kube-controller-manager", Time: &t1, FieldsV1: fields(`{"f:data":{".":{},"f:ca.crt":{}}}`)},
	}
	if when, by := CAChange(mf, "ca.crt", created); !when.Equal(t1.Time) || by != "kube-controller-manager" {
		t.Fatalf("a later label change is not a CA change: %s %s", when, by)
	}
	mf = append(mf, metav1.ManagedFieldsEntry{Manager: "kubectl-carotate", Time: &t2, FieldsV1: fields(`{"f:data":{"f:ca.crt":{}}}`)})
	if when, by := CAChange(mf, "ca.crt", created); !when.Equal(t2.Time) || by != "kubectl-carotate" {
		t.Fatalf("latest owner of ca.crt: %s %s", when, by)
	}
	if when, by := CAChange(nil, "ca.crt", created); !when.Equal(created) || by != "" {
		t.Fatalf("no managedFields: %s %q", when, by)
	}
}
