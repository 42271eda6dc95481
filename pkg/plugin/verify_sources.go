package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// verifySources are the ServiceAccount root CA objects, judged once: the
// "sa" check reports them, the "pods" check looks each pod's source up.
// One entry per namespace and per legacy token Secret: small next to the
// pods.
type verifySources struct {
	rootCA map[string]checks.PodSource // namespace -> its kube-root-ca.crt
	// secrets holds legacy ServiceAccount token Secrets only: a pod's
	// other Secret volumes carry no API trust.
	secrets map[string]checks.PodSource // namespace/name
	items   []verifyItem
	// cmErr, secretErr and nsErr say which list failed: the checks that
	// need it are then incomplete.
	cmErr, secretErr, nsErr error
}

// lookup answers the pods check for the pods of namespace ns.
func (s *verifySources) lookup(ns string) checks.PodSourceLookup {
	return func(kind, name string) (checks.PodSource, bool) {
		switch kind {
		case checks.SourceRootCA:
			if name != rootCAConfigMap {
				return checks.PodSource{}, false
			}
			src, ok := s.rootCA[ns]
			if !ok && s.cmErr != nil {
				// Unknown is not missing: judge it as present and fine
				// rather than blame the pod for our failed list.
				return checks.PodSource{Exists: true, OK: true, Holds: "unknown"}, true
			}
			return src, true
		case checks.SourceSecret:
			src, ok := s.secrets[ns+"/"+name]
			return src, ok
		}
		return checks.PodSource{}, false
	}
}

// collectSources lists every kube-root-ca.crt and legacy token Secret
// (paginated, cluster-wide or in -n), and the namespaces, to find those
// that lack kube-root-ca.crt.
func (r *verifyRun) collectSources(ctx context.Context) *verifySources {
	o := r.o
	s := &verifySources{rootCA: map[string]checks.PodSource{}, secrets: map[string]checks.PodSource{}}
	cms := o.client.CoreV1().ConfigMaps(o.namespace)
	seen := map[string]bool{}
	s.cmErr = restartPages(ctx, metav1.ListOptions{FieldSelector: rootCAConfigMapSelector},
		func(ctx context.Context, lo metav1.ListOptions) ([]corev1.ConfigMap, string, error) {
			l, err := cms.List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []corev1.ConfigMap) {
			for i := range items {
				cm := &items[i]
				if seen["cm/"+cm.Namespace] {
					continue
				}
				seen["cm/"+cm.Namespace] = true
				v, has := cm.Data[rootCAKey]
				src, it := o.verifySource("ConfigMap", cm.Namespace, cm.Name, []byte(v), has, cm.ManagedFields, cm.CreationTimestamp.Time)
				s.rootCA[cm.Namespace] = src
				s.items = append(s.items, it)
			}
		}, func() {})

	secrets := o.client.CoreV1().Secrets(o.namespace)
	s.secretErr = restartPages(ctx, metav1.ListOptions{FieldSelector: rootCASecretSelector},
		func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Secret, string, error) {
			l, err := secrets.List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []corev1.Secret) {
			for i := range items {
				sec := &items[i]
				key := sec.Namespace + "/" + sec.Name
				if sec.Type != corev1.SecretTypeServiceAccountToken || seen["secret/"+key] {
					continue
				}
				seen["secret/"+key] = true
				v, has := sec.Data[rootCAKey]
				src, it := o.verifySource("Secret", sec.Namespace, sec.Name, v, has, sec.ManagedFields, sec.CreationTimestamp.Time)
				s.secrets[key] = src
				s.items = append(s.items, it)
			}
		}, func() {})

	// A namespace without kube-root-ca.crt leaves its new pods unable to
	// start: the publisher is not running, or not yet done.
	var active []string
	if o.namespace != "" {
		active = []string{o.namespace}
	} else {
		nss := o.client.CoreV1().Namespaces()
		s.nsErr = restartPages(ctx, metav1.ListOptions{}, func(ctx context.Context, lo metav1.ListOptions) ([]corev1.Namespace, string, error) {
			l, err := nss.List(ctx, lo)
			if err != nil {
				return nil, "", err
			}
			return l.Items, l.Continue, nil
		}, func(items []corev1.Namespace) {
			for i := range items {
				if items[i].Status.Phase != corev1.NamespaceTerminating {
					active = append(active, items[i].Name)
				}
			}
		}, func() { active = nil })
	}
	if s.cmErr == nil {
		sort.Strings(active)
		for _, ns := range active {
			if _, ok := s.rootCA[ns]; ok || seen["missing/"+ns] {
				continue
			}
			seen["missing/"+ns] = true
			s.rootCA[ns] = checks.PodSource{}
			s.items = append(s.items, verifyItem{Severity: checks.SeverityError, Kind: "ConfigMap", Namespace: ns, Name: rootCAConfigMap,
				Where: "data." + rootCAKey, Holds: "absent", Verdict: "missing",
				Detail: "the namespace has no kube-root-ca.crt: pods with a ServiceAccount token cannot start",
				Fix:    "check that kube-controller-manager runs with root-ca-certificate-publisher-controller enabled: it creates kube-root-ca.crt in every namespace"})
		}
	}
	return s
}

// verifySource judges one root CA object's ca.crt and says when it last
// changed.
func (o *VerifyOptions) verifySource(kind, ns, name string, value []byte, present bool, mf []metav1.ManagedFieldsEntry, created time.Time) (checks.PodSource, verifyItem) {
	var v checks.CAVerdict
	if !present {
		v = checks.CAVerdict{Reason: checks.CAEmpty, Holds: "absent", Problem: "has no ca.crt"}
	} else {
		v = o.rule.Judge(fmt.Sprintf("%s %s/%s %s", kind, ns, name, rootCAKey), value)
	}
	src := caSource(mf, created, len(o.rule.Old) > 0 && v.OK)
	src.OK, src.Holds, src.Problem = v.OK, v.Holds, v.Problem
	changed, by := src.ChangedAt, src.ChangedBy
	it := verifyItem{Severity: checks.SeverityOK, Kind: kind, Namespace: ns, Name: name, Where: "data." + rootCAKey, Holds: v.Holds, Verdict: v.Reason}
	when := "ca.crt last changed " + changed.UTC().Format(time.RFC3339)
	if by != "" {
		when += " by " + by
	} else {
		when += " (creation time: managedFields do not say)"
	}
	it.Detail = when
	if v.Note != "" {
		it.Detail = v.Note + "; " + when
	}
	if !v.OK {
		it.Severity = checks.SeverityError
		it.Detail = v.Problem + "; " + when
		it.Action, it.Fix = o.verifyRootCAAction(v)
	}
	return src, it
}

// verifyRootCAAction is how a root CA object gets the expected content:
// the controller-manager publishes its --root-ca-file and reverts anything
// else, so the flag comes first (a node step: the command prints it).
func (o *VerifyOptions) verifyRootCAAction(v checks.CAVerdict) (action, fix string) {
	what := o.CAFile
	if what == "" {
		what = o.caName
	}
	if o.rule.Expect == checks.ExpectNew && (v.Reason == checks.CAStillOld || v.Reason == checks.CAOutside) {
		return "kubectl carotate instructions --step 12.1", fmt.Sprintf("point kube-controller-manager's --root-ca-file at %s and restart it (step 12.1), then run kubectl carotate unbundle", what)
	}
	if o.rule.Expect == checks.ExpectBundle {
		return "kubectl carotate instructions --step 2", fmt.Sprintf("point kube-controller-manager's --root-ca-file at %s and restart it (step 2), then run kubectl carotate bundle", what)
	}
	return "kubectl carotate instructions --step 12.1", fmt.Sprintf("point kube-controller-manager's --root-ca-file at %s and restart it (steps 2 and 12.1): it publishes that file into every kube-root-ca.crt and legacy token Secret", what)
}

// caSource is a root CA object as a pod's trust source: when its ca.crt
// last changed and by whom, whether that was its creation, and whether the
// change is known to have changed the content: knownNew says the object
// holds the new CA of a rotation whose old CA is known, so a later write
// replaced the old content.
func caSource(mf []metav1.ManagedFieldsEntry, created time.Time, knownNew bool) checks.PodSource {
	at, by := verifyCAChange(mf, rootCAKey, created)
	src := checks.PodSource{Exists: true, ChangedAt: at, ChangedBy: by}
	src.Unchanged = by != "" && at.Truncate(time.Second).Equal(created.Truncate(time.Second))
	src.ContentChanged = by != "" && !src.Unchanged && knownNew
	return src
}

// verifyCAChange is when data[key] of an object last changed, and by whom.
//
// managedFields is the only record the API keeps of when a field changed:
// the entry of the manager that owns the key carries the time of its last
// change to the object. (A watch would only see changes made while verify
// runs; resourceVersions carry no time.) When no entry owns the key
// (managedFields stripped, or an object older than them), the creation
// time is used: it is never later than the last change, so a pod is never
// wrongly called current because of it.
func verifyCAChange(mf []metav1.ManagedFieldsEntry, key string, created time.Time) (time.Time, string) {
	var when time.Time
	var by string
	for _, e := range mf {
		if e.FieldsV1 == nil || e.Time == nil {
			continue
		}
		var set map[string]json.RawMessage
		if json.Unmarshal(e.FieldsV1.Raw, &set) != nil {
			continue
		}
		var data map[string]json.RawMessage
		if json.Unmarshal(set["f:data"], &data) != nil {
			continue
		}
		if _, ok := data["f:"+key]; !ok {
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

// report fills the "sa" section.
func (s *verifySources) report(sec *verifySection, o *VerifyOptions) {
	if s.cmErr != nil {
		sec.fail("listing kube-root-ca.crt ConfigMaps: %v", s.cmErr)
	}
	if s.secretErr != nil {
		sec.fail("listing legacy ServiceAccount token Secrets: %v", s.secretErr)
	}
	if s.nsErr != nil {
		sec.fail("listing namespaces (to find those without kube-root-ca.crt): %v", s.nsErr)
	}
	var cms, secrets, bad int
	for _, it := range s.items {
		sec.add(it)
		if it.Kind == "Secret" {
			secrets++
		} else {
			cms++
		}
		if it.Severity != checks.SeverityOK {
			bad++
		}
		sec.take(it)
	}
	sec.Summary = fmt.Sprintf("%s, %s: %d hold the expected CA, %d do not",
		plural(cms, "kube-root-ca.crt ConfigMap"), plural(secrets, "legacy token Secret"), cms+secrets-bad, bad)
	if secrets == 0 && s.secretErr == nil {
		sec.notef("no legacy ServiceAccount token Secrets (kubernetes.io/service-account-token) found")
	}
}
