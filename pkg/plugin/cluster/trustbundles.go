package cluster

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// TrustBundleKey is where a ClusterTrustBundle keeps its certificates, as
// an undo file names it.
const TrustBundleKey = "spec.trustBundle"

// trustBundlePageSize keeps a page of ClusterTrustBundles small: each may
// hold a large trust store.
const trustBundlePageSize = 100

// TrustBundle is one ClusterTrustBundle as the checks see it.
type TrustBundle struct {
	Name string
	// Signer is spec.signerName: "" for a bundle a user made, which no
	// controller updates.
	Signer          string
	Labels          map[string]string
	Value           []byte
	ResourceVersion string
	Created         time.Time
	// ChangedAt and ChangedBy: when spec.trustBundle was last written, and
	// by which field manager (the creation time and "" when managedFields
	// do not say).
	ChangedAt time.Time
	ChangedBy string
}

// UserMade tells whether the bundle has no signer: made by a user, and
// ours to update in a rotation. A signer's bundles belong to its controller.
func (b TrustBundle) UserMade() bool { return b.Signer == "" }

// TrustBundleOf is what the checks need of a ClusterTrustBundle.
func TrustBundleOf(b *certificatesv1.ClusterTrustBundle) TrustBundle {
	at, by := FieldChange(b.ManagedFields, b.CreationTimestamp.Time, "f:spec", "f:trustBundle")
	return TrustBundle{Name: b.Name, Signer: b.Spec.SignerName, Labels: b.Labels, Value: []byte(b.Spec.TrustBundle),
		ResourceVersion: b.ResourceVersion, Created: b.CreationTimestamp.Time, ChangedAt: at, ChangedBy: by}
}

// TrustBundles is every ClusterTrustBundle of the cluster: few and small
// next to pods or Secrets, so they are read once and kept.
type TrustBundles struct {
	All []TrustBundle
	// NotServed: the API server does not serve certificates.k8s.io/v1
	// clustertrustbundles (a cluster before Kubernetes 1.33 or with the
	// API off); Err: the list failed otherwise.
	NotServed bool
	Err       error
}

// ReadTrustBundles lists every ClusterTrustBundle, paged.
func ReadTrustBundles(ctx context.Context, client kubernetes.Interface) TrustBundles {
	var tb TrustBundles
	ctbs := client.CertificatesV1().ClusterTrustBundles()
	_, err := Each(ctx, trustBundlePageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return ctbs.List(ctx, lo) },
		func() { tb.All = nil },
		func(b *certificatesv1.ClusterTrustBundle) { tb.All = append(tb.All, TrustBundleOf(b)) })
	switch {
	case apierrors.IsNotFound(err):
		tb.NotServed, tb.All = true, nil
	case err != nil:
		tb.Err, tb.All = err, nil
	}
	return tb
}

// Published are the bundles kube-controller-manager publishes from its
// --root-ca-file.
func (tb TrustBundles) Published() []TrustBundle {
	var out []TrustBundle
	for _, b := range tb.All {
		if b.Signer == checks.APIServerServingSigner {
			out = append(out, b)
		}
	}
	return out
}

// Evidence is the bundles against a rotation's CAs, for status.
func (tb TrustBundles) Evidence(oldCAs, newCAs []*x509.Certificate) checks.TrustBundleEvidence {
	ev := checks.TrustBundleEvidence{Err: tb.Err, NotServed: tb.NotServed}
	for _, b := range tb.All {
		if !b.UserMade() && b.Signer != checks.APIServerServingSigner {
			continue
		}
		certs, _ := checks.ParseCertificates("ClusterTrustBundle "+b.Name, b.Value)
		f := checks.TrustBundleFact{Name: b.Name, State: checks.Classify("ClusterTrustBundle "+b.Name, b.Value, oldCAs, newCAs).State,
			ChangedAt: b.ChangedAt, ChangedBy: b.ChangedBy}
		for _, c := range certs {
			f.HoldsOld = f.HoldsOld || checks.Contains(oldCAs, c)
			f.HoldsNew = f.HoldsNew || checks.Contains(newCAs, c) && !checks.Contains(oldCAs, c)
		}
		switch {
		case !b.UserMade():
			ev.Published = append(ev.Published, f)
		case f.HoldsOld || f.HoldsNew:
			ev.User = append(ev.User, f)
		}
	}
	return ev
}

// TrustBundleRef is a pod's clusterTrustBundle projection: one bundle by
// name, or every bundle of a signer whose labels match a selector.
type TrustBundleRef struct {
	// Key names the projection as a pod's trust source.
	Key    string
	Name   string
	Signer string
	// Selector is nil for a projection without labelSelector, which
	// matches no bundle.
	Selector labels.Selector
	Optional bool
	err      error
}

// TrustBundleRefOf reads a projection as the kubelet does.
func TrustBundleRefOf(p *corev1.ClusterTrustBundleProjection) TrustBundleRef {
	r := TrustBundleRef{Optional: p.Optional != nil && *p.Optional}
	switch {
	case p.Name != nil:
		r.Name, r.Key = *p.Name, *p.Name
	case p.SignerName != nil:
		r.Signer = *p.SignerName
		sel := "no labelSelector: matches none"
		if p.LabelSelector != nil {
			r.Selector, r.err = metav1.LabelSelectorAsSelector(p.LabelSelector)
			switch s := metav1.FormatLabelSelector(p.LabelSelector); {
			case r.err != nil:
				sel = "invalid labelSelector"
			case s == "<none>":
				sel = "all labels"
			default:
				sel = "labels " + s
			}
		}
		r.Key = fmt.Sprintf("of signer %s (%s)", r.Signer, sel)
	default:
		r.Key = "<invalid projection>"
	}
	return r
}

// PodTrustBundleRefs are the clusterTrustBundle projections of a pod's
// volumes.
func PodTrustBundleRefs(pod *corev1.Pod) []TrustBundleRef {
	var out []TrustBundleRef
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ClusterTrustBundle != nil {
				out = append(out, TrustBundleRefOf(s.ClusterTrustBundle))
			}
		}
	}
	return out
}

// Select is the bundles the projection picks, by name.
func (r TrustBundleRef) Select(all []TrustBundle) []TrustBundle {
	var out []TrustBundle
	for _, b := range all {
		switch {
		case r.Name != "":
			if b.Name == r.Name {
				out = append(out, b)
			}
		case r.Signer != "" && r.Selector != nil && r.err == nil:
			if b.Signer == r.Signer && r.Selector.Matches(labels.Set(b.Labels)) {
				out = append(out, b)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// TrustBundleSource is what a pod that projects r reads: the certificates
// of the bundles it picks (the kubelet unifies them), and when that
// content last changed. A bundle by name changes when its trustBundle is
// written (a creation is no change). A signer's selection changes whenever
// a bundle of it is created: the controller-manager's publisher creates a
// new bundle for new content and deletes the previous one, so the newest
// creation or write among the picked bundles is the last change.
func TrustBundleSource(r TrustBundleRef, all []TrustBundle) (value []byte, src checks.PodSource) {
	picked := r.Select(all)
	if len(picked) == 0 {
		return nil, checks.PodSource{Exists: r.Optional}
	}
	var buf bytes.Buffer
	var by []string
	for _, b := range picked {
		buf.Write(b.Value)
		if !bytes.HasSuffix(b.Value, []byte("\n")) {
			buf.WriteByte('\n')
		}
		at := b.ChangedAt
		if r.Name == "" && b.Created.After(at) {
			at = b.Created
		}
		if at.After(src.ChangedAt) {
			src.ChangedAt = at
		}
		if b.ChangedBy != "" {
			by = append(by, b.ChangedBy)
		}
	}
	src.Exists = true
	if len(picked) == 1 {
		b := picked[0]
		src.ChangedBy = b.ChangedBy
		src.Unchanged = r.Name != "" && b.ChangedBy != "" && b.ChangedAt.Truncate(time.Second).Equal(b.Created.Truncate(time.Second))
	} else {
		src.ChangedBy = strings.Join(by, ", ")
	}
	return buf.Bytes(), src
}

// FieldChange is when the field at path (managedFields notation, e.g.
// "f:data", "f:ca.crt") of an object last changed, and by whom: see
// CAChange, which it generalises.
func FieldChange(mf []metav1.ManagedFieldsEntry, created time.Time, path ...string) (time.Time, string) {
	var when time.Time
	var by string
	for _, e := range mf {
		if e.FieldsV1 == nil || e.Time == nil || !ownsField(e.FieldsV1.Raw, path) {
			continue
		}
		if e.Time.After(when) || when.IsZero() {
			when, by = e.Time.Time, e.Manager
		}
	}
	if when.IsZero() {
		return created, ""
	}
	return when, by
}
