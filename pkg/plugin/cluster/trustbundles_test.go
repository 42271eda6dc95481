package cluster

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

func TestTrustBundleProjections(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	pub := func(name string, created time.Time, labels map[string]string) TrustBundle {
		return TrustBundle{Name: name, Signer: "kubernetes.io/kube-apiserver-serving", Labels: labels, Value: []byte(name + "\n"),
			Created: created, ChangedAt: created, ChangedBy: "kube-controller-manager"}
	}
	all := []TrustBundle{
		pub("kubernetes.io:kube-apiserver-serving:b", t0.Add(time.Hour), nil),
		pub("kubernetes.io:kube-apiserver-serving:a", t0, map[string]string{"tier": "x"}),
		{Name: "corp", Value: []byte("corp"), Created: t0, ChangedAt: t0.Add(2 * time.Hour), ChangedBy: "kubectl-carotate"},
		{Name: "fresh", Value: []byte("fresh"), Created: t0, ChangedAt: t0, ChangedBy: "kubectl-create"},
	}
	signer := "kubernetes.io/kube-apiserver-serving"
	cases := []struct {
		name      string
		proj      corev1.ClusterTrustBundleProjection
		key       string
		value     string
		exists    bool
		changed   time.Time
		unchanged bool
	}{
		{"by name: the last write counts", corev1.ClusterTrustBundleProjection{Name: ptr.To("corp")}, "corp", "corp\n", true, t0.Add(2 * time.Hour), false},
		{"by name, never written since created", corev1.ClusterTrustBundleProjection{Name: ptr.To("fresh")}, "fresh", "fresh\n", true, t0, true},
		{"by name, absent", corev1.ClusterTrustBundleProjection{Name: ptr.To("gone")}, "gone", "", false, time.Time{}, false},
		{"by name, absent but optional", corev1.ClusterTrustBundleProjection{Name: ptr.To("gone"), Optional: ptr.To(true)}, "gone", "", true, time.Time{}, false},
		{"signer, all labels: the newest creation is the change", corev1.ClusterTrustBundleProjection{SignerName: &signer, LabelSelector: &metav1.LabelSelector{}},
			"of signer " + signer + " (all labels)", "kubernetes.io:kube-apiserver-serving:a\nkubernetes.io:kube-apiserver-serving:b\n", true, t0.Add(time.Hour), false},
		{"signer with a selector", corev1.ClusterTrustBundleProjection{SignerName: &signer, LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "x"}}},
			"of signer " + signer + " (labels tier=x)", "kubernetes.io:kube-apiserver-serving:a\n", true, t0, false},
		{"signer without a selector matches none", corev1.ClusterTrustBundleProjection{SignerName: &signer},
			"of signer " + signer + " (no labelSelector: matches none)", "", false, time.Time{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := TrustBundleRefOf(&tc.proj)
			if ref.Key != tc.key {
				t.Fatalf("key %q, want %q", ref.Key, tc.key)
			}
			value, src := TrustBundleSource(ref, all)
			if string(value) != tc.value || src.Exists != tc.exists || !src.ChangedAt.Equal(tc.changed) || src.Unchanged != tc.unchanged {
				t.Fatalf("got %q %+v", value, src)
			}
		})
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		Volumes: []corev1.Volume{{Name: "trust", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr.To("corp"), Path: "ca.pem"}}}}}}},
		Containers: []corev1.Container{{Name: "app", VolumeMounts: []corev1.VolumeMount{{Name: "trust", MountPath: "/etc/trust"}}}},
	}}
	in := PodInput(pod)
	if len(in.Volumes) != 1 || in.Volumes[0].Kind != "ClusterTrustBundle" || in.Volumes[0].Object != "corp" || in.Volumes[0].File != "ca.pem" {
		t.Fatalf("PodInput volumes: %+v", in.Volumes)
	}
	if m := in.CAMounts(); len(m) != 1 || m[0].File != "/etc/trust/ca.pem" {
		t.Fatalf("mounts: %+v", m)
	}
	if refs := PodTrustBundleRefs(pod); len(refs) != 1 || refs[0].Key != "corp" {
		t.Fatalf("refs: %+v", refs)
	}
}

func TestFieldChange(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	entry := func(manager string, at time.Time, fields string) metav1.ManagedFieldsEntry {
		return metav1.ManagedFieldsEntry{Manager: manager, Time: &metav1.Time{Time: at}, FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
	}
	mf := []metav1.ManagedFieldsEntry{
		entry("kubectl-create", t0, `{"f:metadata":{"f:labels":{}},"f:spec":{"f:signerName":{},"f:trustBundle":{}}}`),
		entry("kubectl-carotate", t0.Add(time.Hour), `{"f:spec":{"f:trustBundle":{}}}`),
		entry("labeller", t0.Add(2*time.Hour), `{"f:metadata":{"f:labels":{"f:x":{}}}}`),
	}
	if at, by := FieldChange(mf, t0, "f:spec", "f:trustBundle"); !at.Equal(t0.Add(time.Hour)) || by != "kubectl-carotate" {
		t.Fatalf("trustBundle: %s %s", at, by)
	}
	if at, by := FieldChange(mf[2:], t0.Add(-time.Hour), "f:spec", "f:trustBundle"); !at.Equal(t0.Add(-time.Hour)) || by != "" {
		t.Fatalf("no owner: %s %q, want the creation time", at, by)
	}
}

// TestValuePages: the copies pass asks for pages of at most 8 objects,
// fewer after one over 512 KiB (as many as fit copyPageBytes), growing back
// at most twofold.
func TestValuePages(t *testing.T) {
	var asked []int64
	sizes := [][]int{
		{10, 10, 10, 10}, // small: at the ceiling already
		{800 << 10, 10},  // an 800 KiB Secret: shrink to fit
		{2 << 20},        // a 2 MiB object: the floor
		{100, 100, 100},  // small again: grow back twofold
		{100},
	}
	page := 0
	v := &valuePages{limit: copyPageMax}
	list := v.wrap(func(_ context.Context, lo metav1.ListOptions) (runtime.Object, error) {
		asked = append(asked, lo.Limit)
		l := &corev1.SecretList{}
		for _, n := range sizes[page] {
			l.Items = append(l.Items, corev1.Secret{Data: map[string][]byte{"k": make([]byte, n)}})
		}
		page++
		return l, nil
	})
	for range sizes {
		if _, err := list(context.Background(), metav1.ListOptions{Limit: 500}); err != nil {
			t.Fatal(err)
		}
	}
	want := []int64{8, 8, 5, 4, 8}
	if len(asked) != len(want) {
		t.Fatalf("asked %v", asked)
	}
	for i := range want {
		if asked[i] != want[i] {
			t.Fatalf("limits asked %v, want %v", asked, want)
		}
	}
	if v.limit != 8 || v.maxBytes != 2<<20 {
		t.Fatalf("after the last page: limit %d, max page %d bytes", v.limit, v.maxBytes)
	}
	if !strings.Contains(copySecretSelector, "type!=kubernetes.io/service-account-token") || !strings.Contains(copySecretSelector, "type!=helm.sh/release.v1") {
		t.Fatalf("secret selector %q", copySecretSelector)
	}
}
