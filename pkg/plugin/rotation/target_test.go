package rotation

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

func saKeyPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return checks.EncodePublicKeys([]crypto.PublicKey{k.Public()})
}

func TestTargetRecordNames(t *testing.T) {
	for target, want := range map[string]string{"": "carotate-state", "cluster-ca": "carotate-state", "sa-key": "carotate-state-sa-key"} {
		if got := NameOf(target); got != want {
			t.Errorf("NameOf(%q) = %q, want %q", target, got, want)
		}
	}
}

// The sa-key record lives beside the cluster-ca one, round-trips its
// public keys, and logs its own passes.
func TestSAKeyRecordRoundTrip(t *testing.T) {
	oldPEM, newPEM := saKeyPEM(t), saKeyPEM(t)
	rec := &Record{Lifecycle: Lifecycle{ID: "r1", State: StateActive, StartedAt: time.Unix(1767225600, 0).UTC()},
		Target: checks.TargetSAKey, OldSAPEM: oldPEM, NewSAPEM: newPEM}
	cm, err := rec.ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	if cm.Name != "carotate-state-sa-key" || cm.Data[KeyOldCA] != "" || cm.Data[KeyNewSAPublic] != string(newPEM) {
		t.Fatalf("ConfigMap %s: %v", cm.Name, cm.Data)
	}
	client := fake.NewClientset(cm, testRecordConfigMap(t))
	got, err := LoadTarget(context.Background(), client, checks.TargetSAKey)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "r1" || len(got.NewSAKeys) != 1 || len(got.OldSAKeys) != 1 {
		t.Fatalf("loaded %+v", got)
	}
	if err := AppendTargetPass(context.Background(), client, checks.TargetSAKey, Pass{Kind: "resign-tokens", Result: "ok", By: "x"}); err != nil {
		t.Fatal(err)
	}
	got, _ = LoadTarget(context.Background(), client, checks.TargetSAKey)
	ca, _ := Load(context.Background(), client)
	if len(got.Passes) != 1 || len(ca.Passes) != 0 {
		t.Errorf("the pass went to the wrong record: sa-key %d, cluster-ca %d", len(got.Passes), len(ca.Passes))
	}
	// A record of another target under the cluster-ca name is refused.
	cm.Name = ConfigMapName
	if _, err := FromConfigMap(cm); err != nil {
		t.Fatal(err)
	}
	client = fake.NewClientset(cm)
	if _, err := Load(context.Background(), client); err == nil || !strings.Contains(err.Error(), `of target "sa-key"`) {
		t.Errorf("want the target mismatch refused, got %v", err)
	}
}

func testRecordConfigMap(t *testing.T) *corev1.ConfigMap {
	cm, err := testRecord(t).ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	return cm
}

// The front-proxy-ca record keeps its CAs as old-ca.crt and new-ca.crt
// under its own name, beside the cluster-ca record, and says what it is.
func TestFrontProxyRecordRoundTrip(t *testing.T) {
	rec := testRecord(t)
	rec.ID, rec.Target = "fp1", checks.TargetFrontProxyCA
	cm, err := rec.ConfigMap()
	if err != nil {
		t.Fatal(err)
	}
	if cm.Name != "carotate-state-front-proxy-ca" || !strings.Contains(cm.Annotations["carotate.io/description"], "front-proxy CA rotation") {
		t.Fatalf("ConfigMap %s: %v", cm.Name, cm.Annotations)
	}
	client := fake.NewClientset(cm, testRecordConfigMap(t))
	got, err := LoadTarget(context.Background(), client, checks.TargetFrontProxyCA)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "fp1" || !checks.SameCertificates(got.NewCAs, rec.NewCAs) || !checks.SameCertificates(got.OldCAs, rec.OldCAs) {
		t.Fatalf("loaded %+v", got)
	}
	if f := got.FrontProxyFacts(); !checks.SameCertificates(f.NewCAs, rec.NewCAs) {
		t.Errorf("facts: %+v", f)
	}
	if v := ViewOf(got); v.Target != checks.TargetFrontProxyCA || len(v.NewCA) != 1 {
		t.Errorf("view: %+v", v)
	}
	ca, _ := Load(context.Background(), client)
	if ca.ID != testRecord(t).ID {
		t.Errorf("the cluster-ca record: %+v", ca)
	}
	if others := OtherActive(context.Background(), client); len(others) != 1 || others[0].Target != checks.TargetFrontProxyCA {
		t.Errorf("OtherActive: %v", others)
	}
}
