package plugin

import (
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// rootCAState is what the ServiceAccount root CA objects (every
// kube-root-ca.crt and legacy token Secret) hold, judged against a
// rotation's CAs, and who last wrote kube-system's copy. status judges
// steps 2, 3 and 12.1 from it; restart-workloads checks from it that the
// step a rotation's pass follows is done.
type rootCAState struct {
	// cms and secrets count the objects by what they hold.
	cms, secrets      map[checks.BundleState]int
	cmTotal, secTotal int
	cmErr, secErr     error
	// cmNotNew names the first namespaces whose kube-root-ca.crt lacks the
	// new CA.
	cmNotNew []string
	// rootSrc and secretSrc are what a pod's CA source is looked up in:
	// one small entry per namespace and per legacy token Secret.
	rootSrc   map[string]checks.PodSource
	secretSrc map[string]checks.PodSource
	// kubeSystemCM is what kube-system/kube-root-ca.crt holds, and
	// kubeSystemCMWriter who last wrote its ca.crt: the controller-manager
	// rewrites it within moments to its --root-ca-file, so when it is the
	// writer, that content is what the flag says.
	kubeSystemCM       checks.BundleState
	kubeSystemCMWriter string
	// lastChange is the newest change of ca.crt among all of them; an
	// object created since (a new namespace) changed nothing a running pod
	// read, so creations do not count.
	lastChange time.Time
}

// readRootCAState lists every kube-root-ca.crt and legacy token Secret
// (paginated) and classifies each against oldCAs and newCAs. A failed list
// is kept in cmErr or secErr: the steps that need it are then unknown.
func readRootCAState(ctx context.Context, client kubernetes.Interface, oldCAs, newCAs []*x509.Certificate) *rootCAState {
	s := &rootCAState{}
	classify := func(source string, data []byte) checks.BundleState {
		return checks.Classify(source, data, oldCAs, newCAs).State
	}
	source := func(st checks.BundleState, mf []metav1.ManagedFieldsEntry, created time.Time) checks.PodSource {
		src := statusPodSource(st, mf, created)
		if src.ChangedAt.Truncate(time.Second).After(created.Truncate(time.Second)) && src.ChangedAt.After(s.lastChange) {
			s.lastChange = src.ChangedAt
		}
		return src
	}
	var seen map[string]bool
	resetCMs := func() {
		s.cms, s.cmTotal, s.cmNotNew, seen = map[checks.BundleState]int{}, 0, nil, map[string]bool{}
		s.rootSrc = map[string]checks.PodSource{}
	}
	resetCMs()
	s.cmErr = restartPages(ctx, metav1.ListOptions{FieldSelector: rootCAConfigMapSelector, Limit: rootCAPageSize},
		func(ctx context.Context, lo metav1.ListOptions) ([]corev1.ConfigMap, string, error) {
			l, err := client.CoreV1().ConfigMaps("").List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []corev1.ConfigMap) {
			for i := range items {
				cm := &items[i]
				if seen[cm.Namespace] {
					continue
				}
				seen[cm.Namespace] = true
				st := classify("ConfigMap "+cm.Namespace+"/"+cm.Name, []byte(cm.Data[rootCAKey]))
				s.rootSrc[cm.Namespace] = source(st, cm.ManagedFields, cm.CreationTimestamp.Time)
				s.cms[st]++
				s.cmTotal++
				if st != checks.BundleHasBoth && st != checks.BundleOnlyNew && len(s.cmNotNew) < statusSampleNames {
					s.cmNotNew = append(s.cmNotNew, cm.Namespace)
				}
				if cm.Namespace == metav1.NamespaceSystem {
					s.kubeSystemCM = st
					_, s.kubeSystemCMWriter = verifyCAChange(cm.ManagedFields, rootCAKey, cm.CreationTimestamp.Time)
				}
			}
		}, resetCMs)
	var secSeen map[string]bool
	resetSecrets := func() {
		s.secrets, s.secTotal, secSeen = map[checks.BundleState]int{}, 0, map[string]bool{}
		s.secretSrc = map[string]checks.PodSource{}
	}
	resetSecrets()
	s.secErr = restartPages(ctx, metav1.ListOptions{FieldSelector: rootCASecretSelector, Limit: rootCAPageSize},
		func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Secret, string, error) {
			l, err := client.CoreV1().Secrets("").List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []corev1.Secret) {
			for i := range items {
				sec := &items[i]
				key := sec.Namespace + "/" + sec.Name
				if sec.Type != corev1.SecretTypeServiceAccountToken || secSeen[key] {
					continue
				}
				secSeen[key] = true
				st := classify("Secret "+key, sec.Data[rootCAKey])
				s.secretSrc[key] = source(st, sec.ManagedFields, sec.CreationTimestamp.Time)
				s.secrets[st]++
				s.secTotal++
			}
		}, resetSecrets)
	return s
}

// allHold tells whether every kube-root-ca.crt (and every legacy token
// Secret, when they could be listed) holds one of states.
func (s *rootCAState) allHold(states ...checks.BundleState) bool {
	if s.cmErr != nil || s.cmTotal == 0 {
		return false
	}
	cms, secrets := 0, 0
	for _, st := range states {
		cms += s.cms[st]
		secrets += s.secrets[st]
	}
	return cms == s.cmTotal && (s.secErr != nil || secrets == s.secTotal)
}

// bundled: every object trusts the new CA (the bundle, or the new CA alone
// once step 12.1 has begun).
func (s *rootCAState) bundled() bool { return s.allHold(checks.BundleHasBoth, checks.BundleOnlyNew) }

// unbundled: every object holds the new CA alone.
func (s *rootCAState) unbundled() bool { return s.allHold(checks.BundleOnlyNew) }

// controllerManagerPublishes tells whether kube-controller-manager last
// wrote kube-system/kube-root-ca.crt with one of states: then its
// --root-ca-file holds that.
func (s *rootCAState) controllerManagerPublishes(states ...checks.BundleState) bool {
	if s.kubeSystemCMWriter != controllerManagerFieldManager {
		return false
	}
	for _, st := range states {
		if s.kubeSystemCM == st {
			return true
		}
	}
	return false
}

// line sums the objects up for status's evidence column.
func (s *rootCAState) line() string {
	line := fmt.Sprintf("kube-root-ca.crt: %d/%d namespaces hold the bundle", s.cms[checks.BundleHasBoth], s.cmTotal)
	if n := s.cms[checks.BundleOnlyNew]; n > 0 {
		line += fmt.Sprintf(", %d the new CA alone", n)
	}
	if n := s.cmTotal - s.cms[checks.BundleHasBoth] - s.cms[checks.BundleOnlyNew]; n > 0 {
		line += fmt.Sprintf(", %d not the new CA (%s)", n, strings.Join(s.cmNotNew, ", "))
	}
	switch {
	case s.secErr != nil:
		line += "; legacy token Secrets: not readable (" + statusShortErr(s.secErr) + ")"
	case s.secTotal > 0:
		line += fmt.Sprintf("; legacy token Secrets: %d/%d the bundle, %d the new CA alone", s.secrets[checks.BundleHasBoth], s.secTotal, s.secrets[checks.BundleOnlyNew])
	}
	return line
}
