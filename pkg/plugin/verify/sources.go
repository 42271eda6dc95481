package verify

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// sources are the ServiceAccount root CA objects, judged once: the
// "sa" check reports them, the "pods" check looks each pod's source up.
// One entry per namespace and per legacy token Secret: small next to the
// pods.
type sources struct {
	rootCA map[string]checks.PodSource // namespace -> its kube-root-ca.crt
	// secrets holds legacy ServiceAccount token Secrets only: a pod's
	// other Secret volumes carry no API trust.
	secrets map[string]checks.PodSource // namespace/name
	items   []item
	// cmErr, secretErr and nsErr say which list failed: the checks that
	// need it are then incomplete.
	cmErr, secretErr, nsErr error

	// trustBundles are the cluster's ClusterTrustBundles (nil when not
	// read); bundleSrc the projections pods make of them, judged once per
	// projection (trustBundleSources).
	trustBundles *cluster.TrustBundles
	bundleSrc    map[string]checks.PodSource
}

// lookup answers the pods check for the pods of namespace ns.
func (s *sources) lookup(ns string) checks.PodSourceLookup {
	return func(kind, name string) (checks.PodSource, bool) {
		switch kind {
		case checks.SourceRootCA:
			if name != cluster.RootCAConfigMap {
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
		case checks.SourceTrustBundle:
			src, ok := s.bundleSrc[name]
			return src, ok
		}
		return checks.PodSource{}, false
	}
}

// trustBundleSources judges the ClusterTrustBundle projections of a pod
// not seen in an earlier pod: what the kubelet writes for them (the picked
// bundles, unified) against the rule, and when that last changed.
func (s *sources) trustBundleSources(pod *corev1.Pod, rule checks.CARule) {
	if s.trustBundles == nil {
		return
	}
	for _, ref := range cluster.PodTrustBundleRefs(pod) {
		if _, done := s.bundleSrc[ref.Key]; done {
			continue
		}
		if s.bundleSrc == nil {
			s.bundleSrc = map[string]checks.PodSource{}
		}
		tb := s.trustBundles
		if tb.Err != nil {
			// Unknown is not missing, as for kube-root-ca.crt.
			s.bundleSrc[ref.Key] = checks.PodSource{Exists: true, OK: true, Holds: "unknown"}
			continue
		}
		value, src := cluster.TrustBundleSource(ref, tb.All)
		switch {
		case !src.Exists:
			src.Problem = "picks no ClusterTrustBundle"
		case len(value) == 0:
			src.OK, src.Holds, src.Problem = false, "empty", "picks no ClusterTrustBundle (optional: the pod starts with an empty file)"
		default:
			v := rule.Judge("ClusterTrustBundle "+ref.Key, value)
			src.OK, src.Holds, src.Problem = v.OK, v.Holds, v.Problem
			src.ContentChanged = src.ChangedBy != "" && !src.Unchanged && len(rule.Old) > 0 && v.OK
		}
		s.bundleSrc[ref.Key] = src
	}
}

// collectSources lists every kube-root-ca.crt and legacy token Secret
// (paginated, cluster-wide or in -n), and the namespaces, to find those
// that lack kube-root-ca.crt.
func (r *run) collectSources(ctx context.Context) *sources {
	o := r.o
	s := &sources{rootCA: map[string]checks.PodSource{}, secrets: map[string]checks.PodSource{}}
	// A list that starts over shows its objects again.
	drop := func(kind string) func() {
		return func() { s.items = slices.DeleteFunc(s.items, func(it item) bool { return it.Kind == kind }) }
	}
	s.cmErr, s.secretErr = cluster.EachRootCAObject(ctx, o.client, o.namespace, drop("ConfigMap"), drop("Secret"), func(obj cluster.RootCAObject) {
		src, it := o.judgeSource(obj)
		if obj.Kind == "Secret" {
			s.secrets[obj.Namespace+"/"+obj.Name] = src
		} else {
			s.rootCA[obj.Namespace] = src
		}
		s.items = append(s.items, it)
	})

	// A namespace without kube-root-ca.crt leaves its new pods unable to
	// start: the publisher is not running, or not yet done.
	var active []string
	if o.namespace != "" {
		active = []string{o.namespace}
	} else {
		nss := o.client.CoreV1().Namespaces()
		_, s.nsErr = cluster.Each(ctx, cluster.PageSize, metav1.ListOptions{},
			func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return nss.List(ctx, lo) },
			func() { active = nil },
			func(ns *corev1.Namespace) {
				if ns.Status.Phase != corev1.NamespaceTerminating {
					active = append(active, ns.Name)
				}
			})
	}
	if s.cmErr == nil {
		sort.Strings(active)
		for _, ns := range active {
			if _, ok := s.rootCA[ns]; ok {
				continue
			}
			s.rootCA[ns] = checks.PodSource{}
			s.items = append(s.items, item{Severity: checks.SeverityError, Kind: "ConfigMap", Namespace: ns, Name: cluster.RootCAConfigMap,
				Where: "data." + cluster.RootCAKey, Holds: "absent", Verdict: "missing",
				Detail: "the namespace has no kube-root-ca.crt: pods with a ServiceAccount token cannot start",
				Fix:    "check that kube-controller-manager runs with root-ca-certificate-publisher-controller enabled: it creates kube-root-ca.crt in every namespace"})
		}
	}
	return s
}

// judgeSource judges one root CA object's ca.crt and says when it last
// changed.
func (o *Options) judgeSource(obj cluster.RootCAObject) (checks.PodSource, item) {
	kind, ns, name := obj.Kind, obj.Namespace, obj.Name
	var v checks.CAVerdict
	if !obj.Present {
		v = checks.CAVerdict{Reason: checks.CAEmpty, Holds: "absent", Problem: "has no ca.crt"}
	} else {
		v = o.rule.Judge(fmt.Sprintf("%s %s/%s %s", kind, ns, name, cluster.RootCAKey), obj.Value)
	}
	src := obj.Source(len(o.rule.Old) > 0 && v.OK)
	src.OK, src.Holds, src.Problem = v.OK, v.Holds, v.Problem
	changed, by := src.ChangedAt, src.ChangedBy
	it := item{Severity: checks.SeverityOK, Kind: kind, Namespace: ns, Name: name, Where: "data." + cluster.RootCAKey, Holds: v.Holds, Verdict: v.Reason}
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
		it.Action, it.Fix = o.rootCAAction(v)
	}
	return src, it
}

// rootCAAction is how a root CA object gets the expected content:
// the controller-manager publishes its --root-ca-file and reverts anything
// else, so the flag comes first (a node step: the command prints it).
func (o *Options) rootCAAction(v checks.CAVerdict) (action, fix string) {
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

// report fills the "sa" section.
func (s *sources) report(sec *section) {
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
		cmdutil.Plural(cms, "kube-root-ca.crt ConfigMap"), cmdutil.Plural(secrets, "legacy token Secret"), cms+secrets-bad, bad)
	if secrets == 0 && s.secretErr == nil {
		sec.notef("no legacy ServiceAccount token Secrets (kubernetes.io/service-account-token) found")
	}
}
