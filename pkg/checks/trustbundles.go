package checks

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// ClusterTrustBundles (certificates.k8s.io/v1, GA in Kubernetes 1.37) carry
// trust anchors that pods project into files (a clusterTrustBundle source
// of a projected volume), instead of or next to kube-root-ca.crt.
// kube-controller-manager publishes one for the signer
// kubernetes.io/kube-apiserver-serving from its --root-ca-file, as it does
// kube-root-ca.crt: a new object, named after a hash of the content, each
// time the content changes, the previous one deleted. Bundles without a
// signerName are made by users and nothing updates them.

// APIServerServingSigner is the signer whose ClusterTrustBundle
// kube-controller-manager publishes from its --root-ca-file.
const APIServerServingSigner = "kubernetes.io/kube-apiserver-serving"

// SourceTrustBundle is a pod's trust source that is a projected
// clusterTrustBundle (see PodCAVolume).
const SourceTrustBundle = "ClusterTrustBundle"

// TrustBundleEvidence is what status judges the ClusterTrustBundle rows by.
type TrustBundleEvidence struct {
	// Err: the bundles could not be listed. NotServed: the API server does
	// not serve certificates.k8s.io/v1 clustertrustbundles.
	Err       error
	NotServed bool
	// Published are the bundles of APIServerServingSigner.
	Published []TrustBundleFact
	// User are the bundles without a signer that hold an old or new
	// certificate of the rotation.
	User []TrustBundleFact
}

// TrustBundleFact is one ClusterTrustBundle against a rotation's CAs.
type TrustBundleFact struct {
	Name  string
	State BundleState
	// HoldsOld, HoldsNew: it holds an old, a new certificate (next to
	// anything else).
	HoldsOld, HoldsNew bool
	// ChangedAt is when its trustBundle last changed, ChangedBy who wrote it.
	ChangedAt time.Time
	ChangedBy string
}

// JudgeTrustBundleRows are status's rows for ClusterTrustBundles, one for
// each phase the bundles take part in: "3-ctb" after step 3 (every bundle
// that pods may read the cluster CA from trusts the new CA) and "12.1-ctb"
// after step 12.1 (none trusts the old CA any more). kubeSystem is what
// kube-system/kube-root-ca.crt holds when kube-controller-manager wrote it
// last ("" when not), to tell a lagging publisher from a controller-manager
// that was not restarted.
func JudgeTrustBundleRows(ev TrustBundleEvidence, kubeSystem BundleState) []StepState {
	bundle := StepState{UpstreamStep: UpstreamStep{Step: StepTrustBundlesBundle,
		Title: "ClusterTrustBundles trust the new CA (kube-apiserver-serving published by the controller-manager; user-made bundles: bundle --trust-bundles)",
		Kind:  "in-cluster", Phase: "bundle"}}
	finish := StepState{UpstreamStep: UpstreamStep{Step: StepTrustBundlesFinish,
		Title: "ClusterTrustBundles no longer trust the old CA (unbundle --trust-bundles)",
		Kind:  "in-cluster", Phase: "finish"}}
	// both gives both rows the same verdict.
	both := func(v verdict) []StepState {
		bundle.judged(v)
		finish.judged(v)
		return []StepState{bundle, finish}
	}
	noPublisher := "no ClusterTrustBundle of signer " + APIServerServingSigner + " (the controller-manager's kube-apiserver-serving-clustertrustbundle-publisher-controller does not run)"
	switch {
	case ev.NotServed:
		return both(verdict{StateNotApplicable, "the API server does not serve certificates.k8s.io/v1 ClusterTrustBundles", ""})
	case ev.Err != nil:
		return both(verdict{StateUnknown, "cannot list ClusterTrustBundles: " + ev.Err.Error(), "kubectl carotate verify --only trustbundles,copies"})
	case len(ev.Published) == 0 && len(ev.User) == 0:
		return both(verdict{StateNotApplicable, noPublisher + ", and no user-made bundle holds this rotation's CAs", ""})
	}

	var pubLacking, pubOld, userLacking, userOld []string
	for _, b := range ev.Published {
		if !b.HoldsNew {
			pubLacking = append(pubLacking, b.Name+" ("+StateWords(b.State)+")")
		}
		if b.HoldsOld {
			pubOld = append(pubOld, b.Name+" ("+StateWords(b.State)+")")
		}
	}
	for _, b := range ev.User {
		if b.HoldsOld && !b.HoldsNew {
			userLacking = append(userLacking, b.Name)
		}
		if b.HoldsOld {
			userOld = append(userOld, b.Name)
		}
	}
	// Why the published bundle is not what the phase wants: the
	// controller-manager publishes kube-root-ca.crt and this bundle from
	// the same --root-ca-file, so when kube-root-ca.crt already has it
	// and the bundle has not, the bundle's publisher lags or is off.
	why := func(kcmHasIt bool, notYet string) string {
		switch {
		case kubeSystem == "":
			return ""
		case kcmHasIt:
			return fmt.Sprintf("; kube-system/kube-root-ca.crt, written by kube-controller-manager, already holds %s: its ClusterTrustBundle publisher lags (it follows --root-ca-file within seconds of a restart) or is disabled (--controllers)", StateWords(kubeSystem))
		}
		return fmt.Sprintf("; kube-system/kube-root-ca.crt holds %s too: %s", StateWords(kubeSystem), notYet)
	}

	switch {
	case len(pubLacking) > 0:
		bundle.judged(verdict{StateNotDone, "the kube-apiserver-serving ClusterTrustBundle lacks the new CA: " + strings.Join(pubLacking, ", ") +
			why(kubeSystem == BundleHasBoth || kubeSystem == BundleOnlyNew, "the controller-manager's --root-ca-file is not the bundle yet, or it was not restarted (step 2)"),
			instructionsFor("2")})
	case len(userLacking) > 0:
		bundle.judged(verdict{StateNotDone, "user-made ClusterTrustBundle(s) trust the old CA without the new one: " + sampleList(userLacking),
			"kubectl carotate bundle --trust-bundles"})
	default:
		bundle.judged(verdict{StateDone, fmt.Sprintf("%s; %d user-made bundle(s) hold this rotation's CAs, none without the new CA",
			publishedWords(ev.Published, noPublisher, "holds the new CA"), len(ev.User)), ""})
	}

	switch {
	case len(pubOld) > 0:
		finish.judged(verdict{StateNotDone, "the kube-apiserver-serving ClusterTrustBundle still holds the old CA: " + strings.Join(pubOld, ", ") +
			why(kubeSystem == BundleOnlyNew, "the controller-manager's --root-ca-file still holds the old CA (step 12.1)"),
			instructionsFor("12.1")})
	case len(userOld) > 0:
		finish.judged(verdict{StateNotDone, "user-made ClusterTrustBundle(s) still trust the old CA: " + sampleList(userOld),
			"kubectl carotate unbundle --trust-bundles"})
	default:
		finish.judged(verdict{StateDone, publishedWords(ev.Published, noPublisher, "is free of the old CA") + "; no user-made bundle trusts the old CA", ""})
	}
	return []StepState{bundle, finish}
}

// The status rows that are not upstream steps of their own: the
// ClusterTrustBundles of the bundle and finish phases, and the copies of
// the old CA that only verify reads.
const (
	StepTrustBundlesBundle = "3-ctb"
	StepCopies             = "11-copies"
	StepTrustBundlesFinish = "12.1-ctb"
)

// CopiesRow is status's row for copies of the old CA in Secrets and
// ConfigMaps: status does not read every Secret of the cluster, so it
// points at the check that does, next.
func CopiesRow(next string) StepState {
	return StepState{UpstreamStep: UpstreamStep{Step: StepCopies,
		Title: "Copies of the old CA outside kube-root-ca.crt (Secrets, ConfigMaps, kubeconfigs stored in the cluster)",
		Kind:  "in-cluster", Phase: "finish"}, State: StateUnknown,
		Evidence: "status does not read every Secret and ConfigMap; verify --only copies does, and unbundle refuses while one trusts the old CA alone",
		Next:     next}
}

// WithTrustSurfaces puts the extra rows after the upstream step they
// belong to.
func WithTrustSurfaces(steps []StepState, extra []StepState) []StepState {
	out := make([]StepState, 0, len(steps)+len(extra))
	for _, s := range steps {
		out = append(out, s)
		for _, e := range extra {
			if base, _, _ := strings.Cut(e.Step, "-"); base == s.Step {
				out = append(out, e)
			}
		}
	}
	return out
}

// publishedWords names the published bundles and says what holds of
// them, or none says there are none.
func publishedWords(bs []TrustBundleFact, none, holds string) string {
	if len(bs) == 0 {
		return none
	}
	names := make([]string, 0, len(bs))
	for _, b := range bs {
		names = append(names, b.Name)
	}
	return "ClusterTrustBundle " + strings.Join(names, ", ") + " " + holds
}

func sampleList(names []string) string {
	const n = 3
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
}

// TrustBundleChange is what bundle --trust-bundles (add the new CA) and
// unbundle --trust-bundles (remove the old CA) do to one user-made
// ClusterTrustBundle.
type TrustBundleChange struct {
	// Relevant: the bundle holds an old certificate (bundle) or an old
	// certificate at all (unbundle); others are left out of the pass.
	Relevant bool
	Decision RootCADecision
	// Value is what the write sets spec.trustBundle to: for RootCAOther,
	// what --replace-other would write.
	Value []byte
}

// DecideTrustBundle decides one user-made ClusterTrustBundle's
// spec.trustBundle. Adding puts the new CA right before the first old
// certificate and keeps everything else; removing drops the old
// certificates and keeps everything else, but a bundle that would then
// lack the new CA (it trusted the old CA alone) is left alone unless
// replaced (RootCAOther: its value swaps the old CA for the new one).
func DecideTrustBundle(source string, value []byte, old, newCAs []*x509.Certificate, remove bool) TrustBundleChange {
	if ContainsPrivateKey(value) {
		return TrustBundleChange{Relevant: true, Decision: RootCADecision{Action: RootCAPrivateKey, Found: "private key",
			Reason: "spec.trustBundle holds private-key material; left alone (remove the key by hand)"}}
	}
	certs, err := ParseCertificates(source, value)
	if err != nil {
		return TrustBundleChange{}
	}
	oldSet, newSet := fingerprints(old), fingerprints(newCAs)
	labels := map[string]string{}
	for fp := range oldSet {
		labels[fp] = "old"
	}
	for fp := range newSet {
		if !oldSet[fp] {
			labels[fp] = "new"
		}
	}
	found := DescribeSet(certs, labels)
	var kept, dropped, missing []*x509.Certificate
	hasOld := false
	for _, c := range uniq(certs) {
		if oldSet[Fingerprint(c)] {
			hasOld = true
			dropped = append(dropped, c)
			continue
		}
		kept = append(kept, c)
	}
	if !hasOld {
		return TrustBundleChange{}
	}
	have := fingerprints(certs)
	for _, c := range uniq(newCAs) {
		if !have[Fingerprint(c)] && !oldSet[Fingerprint(c)] {
			missing = append(missing, c)
		}
	}
	ch := TrustBundleChange{Relevant: true}
	if !remove {
		if len(missing) == 0 {
			ch.Decision = RootCADecision{Action: RootCAInPlace, Found: found}
			return ch
		}
		var out []*x509.Certificate
		added := false
		for _, c := range uniq(certs) {
			if !added && oldSet[Fingerprint(c)] {
				out = append(out, missing...)
				added = true
			}
			out = append(out, c)
		}
		ch.Value = EncodePEM(out)
		ch.Decision = RootCADecision{Action: RootCAWrite, Found: found, Reason: "adds " + DescribeSet(missing, labels)}
		return ch
	}
	if len(missing) == 0 {
		ch.Value = EncodePEM(kept)
		ch.Decision = RootCADecision{Action: RootCAWrite, Found: found, Reason: "removes " + DescribeSet(dropped, labels)}
		return ch
	}
	ch.Value = EncodePEM(append(append([]*x509.Certificate{}, missing...), kept...))
	ch.Decision = RootCADecision{Action: RootCAOther, Found: found,
		Reason: "trusts the old CA without the new one: removing it would leave its readers without the cluster CA (bundle --trust-bundles adds the new CA first; --replace-other swaps the old CA for the new one)"}
	return ch
}
