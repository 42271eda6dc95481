package cluster

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// The ServiceAccount root CA: the kube-root-ca.crt ConfigMap of every
// namespace (what projected ServiceAccount token volumes mount as ca.crt)
// and the ca.crt key of legacy token Secrets.
const (
	RootCAConfigMap = "kube-root-ca.crt"
	RootCAKey       = "ca.crt"
	// ControllerManagerFieldManager is how the controller-manager's writes
	// show in managedFields (its user agent up to the first "/").
	ControllerManagerFieldManager = "kube-controller-manager"
	// sampleNames is how many object names a summary line lists.
	sampleNames = 3
)

var (
	// RootCAConfigMapSelector and RootCASecretSelector select the root CA
	// objects server-side.
	RootCAConfigMapSelector = fields.OneTermEqualSelector("metadata.name", RootCAConfigMap).String()
	RootCASecretSelector    = fields.OneTermEqualSelector("type", string(corev1.SecretTypeServiceAccountToken)).String()
)

// CAChange is when data[key] of an object last changed, and by whom.
//
// managedFields is the only record the API keeps of when a field changed:
// the entry of the manager that owns the key carries the time of its last
// change to the object. (A watch would only see changes made while verify
// runs; resourceVersions carry no time.) When no entry owns the key
// (managedFields stripped, or an object older than them), the creation
// time is used: it is never later than the last change, so a pod is never
// wrongly called current because of it.
func CAChange(mf []metav1.ManagedFieldsEntry, key string, created time.Time) (time.Time, string) {
	return FieldChange(mf, created, "f:data", "f:"+key)
}

// ownsField tells whether a managedFields entry's field set holds path.
func ownsField(raw []byte, path []string) bool {
	for _, step := range path {
		var set map[string]json.RawMessage
		if json.Unmarshal(raw, &set) != nil {
			return false
		}
		next, ok := set[step]
		if !ok {
			return false
		}
		raw = next
	}
	return true
}

// RootCAState is what the ServiceAccount root CA objects (every
// kube-root-ca.crt and legacy token Secret) hold, judged against a
// rotation's CAs, and who last wrote kube-system's copy. status judges
// steps 2, 3 and 12.1 from it; restart-workloads checks from it that the
// step a rotation's pass follows is done.
type RootCAState struct {
	// CMs and Secrets count the objects by what they hold.
	CMs, Secrets         map[checks.BundleState]int
	CMTotal, SecretTotal int
	CMErr, SecretErr     error
	// CMNotNew names the first namespaces whose kube-root-ca.crt lacks the
	// new CA.
	CMNotNew []string
	// RootSrc and SecretSrc are what a pod's CA source is looked up in:
	// one small entry per namespace and per legacy token Secret.
	RootSrc   map[string]checks.PodSource
	SecretSrc map[string]checks.PodSource
	// KubeSystemCM is what kube-system/kube-root-ca.crt holds, and
	// kubeSystemCMWriter who last wrote its ca.crt: the controller-manager
	// rewrites it within moments to its --root-ca-file, so when it is the
	// writer, that content is what the flag says.
	KubeSystemCM       checks.BundleState
	KubeSystemCMWriter string
	// LastChange is the newest change of ca.crt among all of them; an
	// object created since (a new namespace) changed nothing a running pod
	// read, so creations do not count.
	LastChange time.Time
}

// RootCAObject is one ServiceAccount root CA object as the readers see it:
// its ca.crt, and when and by whom that key was last written.
type RootCAObject struct {
	Kind      string // "ConfigMap" or "Secret"
	Namespace string
	Name      string
	Value     []byte
	Present   bool
	Created   time.Time
	// ChangedAt and ChangedBy: see CAChange.
	ChangedAt time.Time
	ChangedBy string
}

// Unchanged tells whether ca.crt was last written when the object was
// created (a creation is not a change).
func (o RootCAObject) Unchanged() bool {
	return o.ChangedBy != "" && o.ChangedAt.Truncate(time.Second).Equal(o.Created.Truncate(time.Second))
}

// Source is the object as a pod's trust source (ok and holds as the
// caller judged its value; knownNew as for CASource).
func (o RootCAObject) Source(knownNew bool) checks.PodSource {
	return checks.PodSource{Exists: true, ChangedAt: o.ChangedAt, ChangedBy: o.ChangedBy, Unchanged: o.Unchanged(),
		ContentChanged: o.ChangedBy != "" && !o.Unchanged() && knownNew}
}

func rootCAObjectOf(kind, ns, name string, value []byte, present bool, mf []metav1.ManagedFieldsEntry, created time.Time) RootCAObject {
	at, by := CAChange(mf, RootCAKey, created)
	return RootCAObject{Kind: kind, Namespace: ns, Name: name, Value: value, Present: present, Created: created, ChangedAt: at, ChangedBy: by}
}

// EachRootCAObject lists every kube-root-ca.crt ConfigMap, then every
// legacy ServiceAccount token Secret, in namespace ns ("" for all), paged,
// and calls each with them. An object seen again after a restarted list is
// passed once. The two lists fail apart: cmErr for the ConfigMaps, secErr
// for the Secrets. resetCMs and resetSecrets are called when a list starts
// over.
func EachRootCAObject(ctx context.Context, client kubernetes.Interface, ns string, resetCMs, resetSecrets func(), each func(RootCAObject)) (cmErr, secErr error) {
	seen := map[string]bool{}
	_, cmErr = Each(ctx, PageSize, metav1.ListOptions{FieldSelector: RootCAConfigMapSelector},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().ConfigMaps(ns).List(ctx, lo)
		},
		func() { seen = map[string]bool{}; resetCMs() },
		func(cm *corev1.ConfigMap) {
			if seen[cm.Namespace] {
				return
			}
			seen[cm.Namespace] = true
			v, ok := cm.Data[RootCAKey]
			each(rootCAObjectOf("ConfigMap", cm.Namespace, cm.Name, []byte(v), ok, cm.ManagedFields, cm.CreationTimestamp.Time))
		})
	seen = map[string]bool{}
	_, secErr = Each(ctx, PageSize, metav1.ListOptions{FieldSelector: RootCASecretSelector},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Secrets(ns).List(ctx, lo)
		},
		func() { seen = map[string]bool{}; resetSecrets() },
		func(sec *corev1.Secret) {
			key := sec.Namespace + "/" + sec.Name
			if sec.Type != corev1.SecretTypeServiceAccountToken || seen[key] {
				return
			}
			seen[key] = true
			v, ok := sec.Data[RootCAKey]
			each(rootCAObjectOf("Secret", sec.Namespace, sec.Name, v, ok, sec.ManagedFields, sec.CreationTimestamp.Time))
		})
	return cmErr, secErr
}

// ReadRootCAState reads every kube-root-ca.crt and legacy token Secret and
// classifies each against oldCAs and newCAs. A failed list is kept in
// CMErr or SecretErr: the steps that need it are then unknown.
func ReadRootCAState(ctx context.Context, client kubernetes.Interface, oldCAs, newCAs []*x509.Certificate) *RootCAState {
	s := &RootCAState{}
	resetCMs := func() {
		s.CMs, s.CMTotal, s.CMNotNew = map[checks.BundleState]int{}, 0, nil
		s.RootSrc = map[string]checks.PodSource{}
	}
	resetSecrets := func() {
		s.Secrets, s.SecretTotal = map[checks.BundleState]int{}, 0
		s.SecretSrc = map[string]checks.PodSource{}
	}
	resetCMs()
	resetSecrets()
	s.CMErr, s.SecretErr = EachRootCAObject(ctx, client, "", resetCMs, resetSecrets, func(o RootCAObject) {
		st := checks.Classify(o.Kind+" "+o.Namespace+"/"+o.Name, o.Value, oldCAs, newCAs).State
		ok := st == checks.BundleHasBoth || st == checks.BundleOnlyNew
		src := o.Source(ok)
		src.OK, src.Holds = ok, string(st)
		if !ok {
			src.Problem = "does not hold the new CA"
		}
		if !o.Unchanged() && o.ChangedBy != "" && o.ChangedAt.After(s.LastChange) {
			s.LastChange = o.ChangedAt
		}
		if o.Kind == "Secret" {
			s.SecretSrc[o.Namespace+"/"+o.Name] = src
			s.Secrets[st]++
			s.SecretTotal++
			return
		}
		s.RootSrc[o.Namespace] = src
		s.CMs[st]++
		s.CMTotal++
		if !ok && len(s.CMNotNew) < sampleNames {
			s.CMNotNew = append(s.CMNotNew, o.Namespace)
		}
		if o.Namespace == metav1.NamespaceSystem {
			s.KubeSystemCM, s.KubeSystemCMWriter = st, o.ChangedBy
		}
	})
	return s
}

// AllHold tells whether every kube-root-ca.crt (and every legacy token
// Secret, when they could be listed) holds one of states.
func (s *RootCAState) AllHold(states ...checks.BundleState) bool {
	if s.CMErr != nil || s.CMTotal == 0 {
		return false
	}
	cms, secrets := 0, 0
	for _, st := range states {
		cms += s.CMs[st]
		secrets += s.Secrets[st]
	}
	return cms == s.CMTotal && (s.SecretErr != nil || secrets == s.SecretTotal)
}

// Bundled: every object trusts the new CA (the bundle, or the new CA alone
// once step 12.1 has begun).
func (s *RootCAState) Bundled() bool { return s.AllHold(checks.BundleHasBoth, checks.BundleOnlyNew) }

// Unbundled: every object holds the new CA alone.
func (s *RootCAState) Unbundled() bool { return s.AllHold(checks.BundleOnlyNew) }

// ControllerManagerPublishes tells whether kube-controller-manager last
// wrote kube-system/kube-root-ca.crt with one of states: then its
// --root-ca-file holds that.
func (s *RootCAState) ControllerManagerPublishes(states ...checks.BundleState) bool {
	if s.KubeSystemCMWriter != ControllerManagerFieldManager {
		return false
	}
	for _, st := range states {
		if s.KubeSystemCM == st {
			return true
		}
	}
	return false
}

// Line sums the objects up for status's evidence column.
func (s *RootCAState) Line() string {
	line := fmt.Sprintf("kube-root-ca.crt: %d/%d namespaces hold the bundle", s.CMs[checks.BundleHasBoth], s.CMTotal)
	if n := s.CMs[checks.BundleOnlyNew]; n > 0 {
		line += fmt.Sprintf(", %d the new CA alone", n)
	}
	if n := s.CMTotal - s.CMs[checks.BundleHasBoth] - s.CMs[checks.BundleOnlyNew]; n > 0 {
		line += fmt.Sprintf(", %d not the new CA (%s)", n, strings.Join(s.CMNotNew, ", "))
	}
	switch {
	case s.SecretErr != nil:
		line += "; legacy token Secrets: not readable (" + shortErr(s.SecretErr) + ")"
	case s.SecretTotal > 0:
		line += fmt.Sprintf("; legacy token Secrets: %d/%d the bundle, %d the new CA alone", s.Secrets[checks.BundleHasBoth], s.SecretTotal, s.Secrets[checks.BundleOnlyNew])
	}
	return line
}

func shortErr(err error) string {
	if apierrors.IsForbidden(err) {
		return "forbidden"
	}
	return err.Error()
}
