package cluster

import (
	"context"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// The copies pass: one paginated list of the ConfigMaps and one of the
// Secrets of the cluster (or of -n), each value scanned for copies of the
// old CA (checks.ScanCopies) and forgotten before the next page; only the
// places that hold an old certificate are kept, as fingerprints.
//
// What it leaves out, and why:
//   - kube-root-ca.crt ConfigMaps and ServiceAccount token Secrets
//     (server-side field selectors): the sa check judges them, and the
//     controller-manager rewrites them;
//   - kube-public/cluster-info and kube-system/extension-apiserver-
//     authentication: the clients and webhooks checks judge them;
//   - Helm release Secrets (type helm.sh/release.v1, server-side): their
//     data is a gzip-compressed record of manifests whose objects are
//     read themselves, and they are the largest Secrets of most clusters;
//   - the objects the caller names in Skip: the rotation's own record,
//     which holds the old CA on purpose.
//
// A metadata-only list first would not narrow the set (any key of any
// object may hold a PEM, and metadata does not show the values) and would
// cost a GET per object: the field selectors narrow instead, server-side.

// HelmReleaseSecretType is the type of Helm 3's release Secrets.
const HelmReleaseSecretType = "helm.sh/release.v1"

// Page sizes of the copies pass. ConfigMaps and Secrets range from bytes
// to a MiB, and the values of one page (plus the one the pager fetches
// meanwhile, and the response bodies they were decoded from) are what the
// pass holds. Sizes are only known once a page has arrived, and large
// objects cluster (a namespace of trust stores or keystores after
// thousands of small objects), so pages stay small: copyPageMax objects,
// fewer after an object larger than copyPageBytes/copyPageMax (as many as
// fit copyPageBytes at the size of the largest object of the page before,
// at least copyPageMin), growing back at most twofold a page. A page then
// carries at most 4 MiB of values in objects up to 512 KiB, 12 MiB in the
// worst case of 1.5 MiB objects (etcd's limit). On 40,000 objects such
// pages cost little time next to pages of 500 (docs/benchmarks.md): the
// API server's work per object dominates.
const (
	copyPageBytes = 4 << 20
	copyPageMin   = 4
	copyPageMax   = 8
)

// copyMemoryLimit is the Go runtime's soft memory limit during the pass,
// unless GOMEMLIMIT sets one: each page leaves its response body and
// decoded objects behind as garbage, and with the runtime's default pacing
// (collect when the heap has doubled) a run of large pages piled up
// 40 MiB of it in the benchmark. Near the limit the collector runs sooner;
// it never thrashes for it, since the runtime caps the time it spends.
const copyMemoryLimit = 24 << 20

var (
	copyConfigMapSelector = fields.OneTermNotEqualSelector("metadata.name", RootCAConfigMap).String()
	copySecretSelector    = fields.AndSelectors(
		fields.OneTermNotEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)),
		fields.OneTermNotEqualSelector("type", HelmReleaseSecretType)).String()
)

// CopyHit is one place of one object that holds an old certificate.
type CopyHit struct {
	Kind      string // ConfigMap, Secret or ClusterTrustBundle
	Namespace string
	Name      string
	// Key is the data key (binaryData keys too), or spec.trustBundle.
	Key   string
	Place checks.CopyPlace
}

// Where names the place in the object: data.KEY, and the embedded field.
func (h CopyHit) Where() string {
	w := "data." + h.Key
	if h.Kind == "ClusterTrustBundle" {
		w = h.Key
	}
	if h.Place.Field != checks.CopyFieldPEM {
		w += " (" + h.Place.Field + ")"
	}
	return w
}

// CopyScan is what one copies pass looks for, and where.
type CopyScan struct {
	// Namespace narrows the pass ("" for every namespace).
	Namespace string
	CAs       checks.CopyCAs
	// Skip names objects ("Kind/namespace/name") that are never findings:
	// the rotation's own record.
	Skip map[string]bool
	// Progress, when set, is called after each page with the objects read.
	Progress func(kind string, read int)
}

// CopyCounts sum a copies pass.
type CopyCounts struct {
	ConfigMaps, Secrets int
	// Values is how many values could hold a certificate and were scanned.
	Values int
	// Skipped names the objects left out because Skip names them.
	Skipped []string
	// MaxPage is the most value bytes one page carried.
	MaxPage int
}

// SkipKey is how CopyScan.Skip names an object.
func SkipKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// otherChecks are the ConfigMaps that other checks judge.
var otherChecks = map[string]bool{
	SkipKey("ConfigMap", ClusterInfoNamespace, ClusterInfoName):     true,
	SkipKey("ConfigMap", metav1.NamespaceSystem, ExtensionAuthName): true,
}

// ScanCopies walks the ConfigMaps, then the Secrets, and calls each for
// every place that holds an old certificate. The two lists fail apart
// (listing Secrets cluster-wide is often forbidden where ConfigMaps are
// not): cmErr and secErr. A list that starts over after its continue token
// expired calls reset(kind), and each sees that kind's hits again.
func ScanCopies(ctx context.Context, client kubernetes.Interface, scan CopyScan, reset func(kind string), each func(CopyHit)) (c CopyCounts, cmErr, secErr error) {
	defer SoftMemoryLimit(copyMemoryLimit)()
	keep := func(kind, ns, name string) bool {
		k := SkipKey(kind, ns, name)
		if scan.Skip[k] {
			c.Skipped = append(c.Skipped, kind+" "+ns+"/"+name)
		}
		return !scan.Skip[k] && !otherChecks[k]
	}
	scanValue := func(kind, ns, name, key string, value []byte) {
		c.Values++
		for _, p := range checks.ScanCopies(value) {
			if scan.CAs.HoldsOld(p) {
				each(CopyHit{Kind: kind, Namespace: ns, Name: name, Key: key, Place: p})
			}
		}
	}

	cms := client.CoreV1().ConfigMaps(scan.Namespace)
	cmPages := &valuePages{limit: copyPageMax}
	_, cmErr = Each(ctx, PageSize, metav1.ListOptions{FieldSelector: copyConfigMapSelector},
		cmPages.wrap(func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return cms.List(ctx, lo) }),
		func() { c.ConfigMaps, c.Skipped = 0, nil; reset("ConfigMap") },
		func(cm *corev1.ConfigMap) {
			c.ConfigMaps++
			if scan.Progress != nil && c.ConfigMaps%PageSize == 0 {
				scan.Progress("ConfigMaps", c.ConfigMaps)
			}
			if !keep("ConfigMap", cm.Namespace, cm.Name) {
				return
			}
			for _, k := range sortedKeys(cm.Data) {
				if v := cm.Data[k]; checks.MayHoldCopy(v) {
					scanValue("ConfigMap", cm.Namespace, cm.Name, k, []byte(v))
				}
			}
			for _, k := range sortedKeys(cm.BinaryData) {
				if v := cm.BinaryData[k]; checks.MayHoldCopyBytes(v) {
					scanValue("ConfigMap", cm.Namespace, cm.Name, k, v)
				}
			}
		})

	secrets := client.CoreV1().Secrets(scan.Namespace)
	secPages := &valuePages{limit: copyPageMax}
	_, secErr = Each(ctx, PageSize, metav1.ListOptions{FieldSelector: copySecretSelector},
		secPages.wrap(func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return secrets.List(ctx, lo) }),
		func() {
			c.Secrets = 0
			c.Skipped = slices.DeleteFunc(c.Skipped, func(s string) bool { return strings.HasPrefix(s, "Secret ") })
			reset("Secret")
		},
		func(s *corev1.Secret) {
			c.Secrets++
			if scan.Progress != nil && c.Secrets%PageSize == 0 {
				scan.Progress("Secrets", c.Secrets)
			}
			if !keep("Secret", s.Namespace, s.Name) {
				return
			}
			for _, k := range sortedKeys(s.Data) {
				if v := s.Data[k]; checks.MayHoldCopyBytes(v) {
					scanValue("Secret", s.Namespace, s.Name, k, v)
				}
			}
		})
	c.MaxPage = max(cmPages.maxBytes, secPages.maxBytes)
	return c, cmErr, secErr
}

// TrustBundleCopies are the places of user-made ClusterTrustBundles that
// hold an old certificate: copies like any other, except that bundle and
// unbundle --trust-bundles update them. A signer's bundles belong to its
// controller and are judged by the trustbundles check.
func TrustBundleCopies(tb TrustBundles, cas checks.CopyCAs) []CopyHit {
	var out []CopyHit
	for _, b := range tb.All {
		if !b.UserMade() {
			continue
		}
		for _, p := range checks.ScanCopies(b.Value) {
			if cas.HoldsOld(p) {
				out = append(out, CopyHit{Kind: "ClusterTrustBundle", Name: b.Name, Key: TrustBundleKey, Place: p})
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// valuePages sizes the pages of one list by the bytes of the values it
// carried (see copyPageBytes).
type valuePages struct {
	limit    int64
	maxBytes int
}

// wrap sets each page's limit before the pager's request and measures the
// page after it. The pager asks for pages one after the other, so there
// is no race on limit.
func (v *valuePages) wrap(list ListFunc) ListFunc {
	return func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
		lo.Limit = v.limit
		obj, err := list(ctx, lo)
		if err != nil {
			return obj, err
		}
		var total, largest int
		switch l := obj.(type) {
		case *corev1.ConfigMapList:
			for i := range l.Items {
				n := 0
				for _, s := range l.Items[i].Data {
					n += len(s)
				}
				for _, b := range l.Items[i].BinaryData {
					n += len(b)
				}
				total, largest = total+n, max(largest, n)
			}
		case *corev1.SecretList:
			for i := range l.Items {
				n := 0
				for _, b := range l.Items[i].Data {
					n += len(b)
				}
				total, largest = total+n, max(largest, n)
			}
		}
		v.maxBytes = max(v.maxBytes, total)
		next := int64(copyPageBytes / max(largest, 1))
		next = min(next, 2*v.limit, copyPageMax)
		v.limit = max(next, copyPageMin)
		return obj, nil
	}
}
