package clients

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// RootCAConfigMap is the ConfigMap the ServiceAccount admission plugin
// projects into every pod's kube-api-access volume as ca.crt.
const RootCAConfigMap = "kube-root-ca.crt"

// caSource is where a pod's ca.crt comes from: a ClusterTrustBundle
// projection when the pod has one, else its namespace's kube-root-ca.crt.
type caSource struct {
	ctb *corev1.ClusterTrustBundleProjection
}

func (s caSource) String() string {
	switch {
	case s.ctb == nil:
		return "ConfigMap " + RootCAConfigMap
	case s.ctb.Name != nil:
		return "ClusterTrustBundle " + *s.ctb.Name
	case s.ctb.SignerName != nil:
		sel := "<none>"
		if s.ctb.LabelSelector != nil {
			sel = metav1.FormatLabelSelector(s.ctb.LabelSelector)
		}
		return fmt.Sprintf("ClusterTrustBundles of signer %s (labels %s)", *s.ctb.SignerName, sel)
	}
	return "ClusterTrustBundle <invalid projection>"
}

// sourceOf reads a pod's projected volumes as the kubelet would fill them:
// the CA it trusts (a clusterTrustBundle source anywhere in its projected
// volumes wins, in volume order; else the configMap source of
// kube-root-ca.crt) and whether it has a ServiceAccount token at all. A
// pod without a token (automountServiceAccountToken: false and no token
// projection of its own) or without a CA has no in-cluster config: why
// is returned.
func sourceOf(pod *corev1.Pod) (src caSource, why string) {
	var token, rootCA bool
	var ctb *corev1.ClusterTrustBundleProjection
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			switch {
			case s.ServiceAccountToken != nil:
				token = true
			case s.ClusterTrustBundle != nil && ctb == nil:
				ctb = s.ClusterTrustBundle.DeepCopy()
			case s.ConfigMap != nil && s.ConfigMap.Name == RootCAConfigMap:
				rootCA = true
			}
		}
	}
	switch {
	case !token:
		return src, "no ServiceAccount token in its volumes"
	case ctb == nil && !rootCA:
		return src, "no " + RootCAConfigMap + " or ClusterTrustBundle in its volumes"
	}
	return caSource{ctb: ctb}, ""
}

// bundleContent is what the kubelet writes for a clusterTrustBundle
// projection: the named bundle, or every bundle of the signer whose labels
// match (a nil selector matches none, an empty one all), unified and
// deduplicated.
func bundleContent(p *corev1.ClusterTrustBundleProjection, all []*certificatesv1.ClusterTrustBundle) ([]byte, error) {
	var picked []*certificatesv1.ClusterTrustBundle
	switch {
	case p.Name != nil:
		for _, b := range all {
			if b.Name == *p.Name {
				picked = append(picked, b)
			}
		}
	case p.SignerName != nil:
		if p.LabelSelector == nil {
			break
		}
		sel, err := metav1.LabelSelectorAsSelector(p.LabelSelector)
		if err != nil {
			return nil, err
		}
		for _, b := range all {
			if b.Spec.SignerName == *p.SignerName && sel.Matches(labels.Set(b.Labels)) {
				picked = append(picked, b)
			}
		}
	}
	slices.SortFunc(picked, func(a, b *certificatesv1.ClusterTrustBundle) int { return strings.Compare(a.Name, b.Name) })
	var out bytes.Buffer
	seen := map[string]bool{}
	for _, b := range picked {
		rest := []byte(b.Spec.TrustBundle)
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			if block.Type != "CERTIFICATE" || seen[string(block.Bytes)] {
				continue
			}
			seen[string(block.Bytes)] = true
			_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes})
		}
	}
	return out.Bytes(), nil
}

// subjects are the common names of the certificates in a PEM bundle, for
// reports ("which CA did this pod trust").
func subjects(pemData []byte) []string {
	var out []string
	rest := pemData
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return out
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c.Subject.CommonName)
		}
	}
}
