package clients

import (
	"bytes"
	"testing"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// kubeAPIAccess is the volume the ServiceAccount admission plugin adds.
var kubeAPIAccess = corev1.Volume{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
	Sources: []corev1.VolumeProjection{
		{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr.To[int64](3607)}},
		{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
			Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
	},
}}}

func ctbVolume(p corev1.ClusterTrustBundleProjection) corev1.Volume {
	return corev1.Volume{Name: "trust", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ClusterTrustBundle: &p}}}}}
}

func TestSourceOf(t *testing.T) {
	byName := corev1.ClusterTrustBundleProjection{Name: ptr.To("mine"), Path: "ca.crt"}
	for _, tc := range []struct {
		name    string
		volumes []corev1.Volume
		source  string
		why     string
	}{
		{"kube-api-access", []corev1.Volume{kubeAPIAccess}, "ConfigMap kube-root-ca.crt", ""},
		{"a bundle wins", []corev1.Volume{kubeAPIAccess, ctbVolume(byName)}, "ClusterTrustBundle mine", ""},
		{"by signer", []corev1.Volume{kubeAPIAccess, ctbVolume(corev1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/s"),
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}, Path: "ca.crt"})},
			"ClusterTrustBundles of signer example.com/s (labels a=b)", ""},
		{"no automount", nil, "", "no ServiceAccount token in its volumes"},
		{"a bundle but no token", []corev1.Volume{ctbVolume(byName)}, "", "no ServiceAccount token in its volumes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, why := sourceOf(&corev1.Pod{Spec: corev1.PodSpec{Volumes: tc.volumes}})
			if why != tc.why || (why == "" && src.String() != tc.source) {
				t.Errorf("got %q, %q; want %q, %q", src, why, tc.source, tc.why)
			}
		})
	}
}

func TestBundleContent(t *testing.T) {
	a, b := selfSignedPEM(t), selfSignedPEM(t)
	bundle := func(name, signer string, labels map[string]string, pems ...[]byte) *certificatesv1.ClusterTrustBundle {
		return &certificatesv1.ClusterTrustBundle{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
			Spec: certificatesv1.ClusterTrustBundleSpec{SignerName: signer, TrustBundle: string(bytes.Join(pems, nil))}}
	}
	all := []*certificatesv1.ClusterTrustBundle{
		bundle("example.com:s:2", "example.com/s", map[string]string{"k": "v"}, b, a),
		bundle("example.com:s:1", "example.com/s", map[string]string{"k": "v"}, a),
		bundle("example.com:s:3", "example.com/s", map[string]string{"k": "other"}, b),
		bundle("plain", "", nil, b),
	}
	for _, tc := range []struct {
		name string
		p    corev1.ClusterTrustBundleProjection
		want []byte
	}{
		{"by name", corev1.ClusterTrustBundleProjection{Name: ptr.To("plain")}, b},
		{"missing name", corev1.ClusterTrustBundleProjection{Name: ptr.To("nope")}, nil},
		{"signer and labels, deduplicated", corev1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/s"),
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"k": "v"}}}, append(append([]byte{}, a...), b...)},
		{"signer, nil selector matches none", corev1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/s")}, nil},
		{"signer, empty selector matches all", corev1.ClusterTrustBundleProjection{SignerName: ptr.To("example.com/s"),
			LabelSelector: &metav1.LabelSelector{}}, append(append([]byte{}, a...), b...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bundleContent(&tc.p, all)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("got %d bytes %v, want %d bytes %v", len(got), subjects(got), len(tc.want), subjects(tc.want))
			}
		})
	}
}
