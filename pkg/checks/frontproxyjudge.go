package checks

import (
	"crypto/x509"
	"fmt"
	"strings"
)

// FrontProxyEvidence is what the API shows of a front-proxy-ca rotation.
type FrontProxyEvidence struct {
	OldCAs, NewCAs []*x509.Certificate
	// ControlPlane are the mirror pods: the flags the API servers run with.
	ControlPlane    []ControlPlanePod
	ControlPlaneErr error
	// RequestHeaderCA is requestheader-client-ca-file of
	// kube-system/extension-apiserver-authentication: the callers
	// aggregated API servers trust.
	RequestHeaderCA []byte
	ExtErr          error
	// APIServices are the APIServices served from the cluster (with a
	// service), each with its Available condition.
	APIServices    []AggregatedAPI
	APIServicesErr error
}

// AggregatedAPI is an APIService backed by a service, as its Available
// condition shows it: the aggregator checks it by calling the service
// with the proxy client certificate.
type AggregatedAPI struct {
	Name      string `json:"name"`
	Service   string `json:"service"`
	Available bool   `json:"available"`
	Reason    string `json:"reason,omitempty"`
	Message   string `json:"message,omitempty"`
}

// JudgeFrontProxy judges the front-proxy-ca target's steps, in order.
func JudgeFrontProxy(ev FrontProxyEvidence) []StepState {
	j := fpJudge{ev: ev}
	j.published = Classify("extension-apiserver-authentication requestheader-client-ca-file", ev.RequestHeaderCA, ev.OldCAs, ev.NewCAs)
	return stepStates(FrontProxySteps, map[string]verdict{"1": j.step1(), "2": j.step2(), "3": j.step3()})
}

type fpJudge struct {
	ev        FrontProxyEvidence
	published Comparison
}

func fpInstructions(step string) string {
	return "kubectl carotate instructions --target front-proxy-ca --step " + step
}

// publishedWords says what extension-apiserver-authentication holds.
func (j fpJudge) publishedWords() string {
	what := map[BundleState]string{BundleHasBoth: "the old and new front-proxy CAs", BundleOnlyOld: "the old front-proxy CA alone",
		BundleOnlyNew: "the new front-proxy CA alone", BundleOther: "certificates other than the old and new front-proxy CAs"}[j.published.State]
	if j.published.State == BundleInvalid {
		what = "no readable certificate (" + j.published.Err.Error() + ")"
	}
	return "kube-system/" + extensionAuthName + " publishes " + what + " as requestheader-client-ca-file"
}

// apiServers are the API servers' flags: node, then the value of flag.
func (j fpJudge) apiServers(flag string) map[string]string {
	out := map[string]string{}
	for _, p := range ComponentPods(j.ev.ControlPlane, ComponentAPIServer) {
		out[p.Node] = p.Command.Value(flag)
	}
	return out
}

// flagsWhere names the API servers whose flag value satisfies keep.
func (j fpJudge) flagsWhere(flag string, keep func(string) bool) []string {
	var out []string
	for _, p := range ComponentPods(j.ev.ControlPlane, ComponentAPIServer) {
		if v := p.Command.Value(flag); keep(v) {
			out = append(out, fmt.Sprintf("kube-apiserver on %s: --%s=%s", p.Node, flag, v))
		}
	}
	return out
}

func isBundleVariant(p string) bool { return p != "" && VariantPath(p, variantBundle) == p }
func isNewVariant(p string) bool    { return p != "" && VariantPath(p, variantNew) == p }

// unavailable are the APIServices whose Available condition is not true.
func (j fpJudge) unavailable() []string {
	var out []string
	for _, a := range j.ev.APIServices {
		if !a.Available {
			w := a.Name + " (" + a.Service
			if a.Reason != "" {
				w += ", " + a.Reason
			}
			if a.Message != "" {
				w += ": " + a.Message
			}
			out = append(out, w+")")
		}
	}
	return out
}

// apisWords says whether the aggregated APIs answer.
func (j fpJudge) apisWords() string {
	switch {
	case j.ev.APIServicesErr != nil:
		return "the APIServices cannot be read: " + j.ev.APIServicesErr.Error()
	case len(j.ev.APIServices) == 0:
		return "no APIService is served from the cluster, so none shows whether the proxy client certificate is accepted"
	}
	if u := j.unavailable(); len(u) > 0 {
		return plural(len(u), "APIService") + " not Available: " + sample(u)
	}
	return fmt.Sprintf("every APIService served from the cluster (%d) is Available: the aggregated API servers accept the proxy client certificate", len(j.ev.APIServices))
}

func (j fpJudge) apisAnswer() bool {
	return j.ev.APIServicesErr == nil && len(j.unavailable()) == 0
}

// flagsVisible is false when the judges cannot see the API servers' flags.
func (j fpJudge) flagsVisible() (bool, string) {
	if j.ev.ControlPlaneErr != nil {
		return false, "the API servers' flags cannot be read (mirror pods in kube-system: " + j.ev.ControlPlaneErr.Error() + ")"
	}
	if len(ComponentPods(j.ev.ControlPlane, ComponentAPIServer)) == 0 {
		return false, "no kube-apiserver mirror pod in kube-system shows the API servers' flags"
	}
	return true, ""
}

// step3Begun tells whether step 3 has moved every API server off the
// bundle after the new CA was published (the ConfigMap may still hold the
// old CA too until it is published afresh): step 3 copies step 2's
// certificate over the original before it points the flag back.
func (j fpJudge) step3Begun() bool {
	visible, _ := j.flagsVisible()
	return j.ev.ExtErr == nil && (j.published.State == BundleOnlyNew || j.published.State == BundleHasBoth) && visible &&
		len(j.flagsWhere("requestheader-client-ca-file", isBundleVariant)) == 0
}

func (j fpJudge) step1() verdict {
	next := fpInstructions("1")
	if j.ev.ExtErr != nil {
		return verdict{StateUnknown, "cannot read kube-system/" + extensionAuthName + ": " + j.ev.ExtErr.Error(), next}
	}
	ev := j.publishedWords()
	switch j.published.State {
	case BundleOnlyNew:
		return verdict{StateDone, ev + " (step 3 is done or under way)", next}
	case BundleHasBoth:
	default:
		return verdict{StateNotDone, ev, next}
	}
	visible, why := j.flagsVisible()
	if !visible {
		return verdict{StateDone, ev + "; " + why + ": which API server runs with the bundle is not known", next}
	}
	on := j.flagsWhere("requestheader-client-ca-file", isBundleVariant)
	left := j.flagsWhere("requestheader-client-ca-file", func(v string) bool { return !isBundleVariant(v) })
	switch {
	case len(on) == 0:
		// Only an API server that ran with the bundle published the new
		// CA; none does now: step 3 has moved them off it.
		return verdict{StateDone, ev + "; " + strings.Join(left, ", ") + " (off step 1's bundle again: step 3 is under way)", next}
	case len(left) > 0:
		// The ConfigMap keeps what one API server published: the others
		// may still trust the old CA alone.
		return verdict{StateNotDone, ev + ", but " + strings.Join(left, ", ") + " (not step 1's bundle: step 1 is not done there, or step 3 has begun)", next}
	}
	return verdict{StateDone, ev + "; " + strings.Join(on, ", "), next}
}

func (j fpJudge) step2() verdict {
	next := fpInstructions("2")
	visible, why := j.flagsVisible()
	if !visible {
		return verdict{StateUnknown, why + "; the API does not show which CA issued the proxy client certificate", next}
	}
	if j.step3Begun() {
		what := "step 3 has moved the API servers back to kubeadm's file names"
		if j.published.State == BundleOnlyNew {
			what = "the old front-proxy CA is dropped (step 3)"
		}
		if !j.apisAnswer() {
			return verdict{StateNotDone, what + " and " + j.apisWords() + ": the proxy client certificate may not be from the new CA", next}
		}
		return verdict{StateDone, what + " and " + j.apisWords(), next}
	}
	if old := j.flagsWhere("proxy-client-cert-file", func(v string) bool { return !isNewVariant(v) }); len(old) > 0 {
		return verdict{StateNotDone, strings.Join(old, ", ") + " (not step 2's certificate from the new CA)", next}
	}
	ev := strings.Join(j.flagsWhere("proxy-client-cert-file", isNewVariant), ", ") + " (step 2's certificate; the script checked on the node that the new CA issued it)"
	if !j.apisAnswer() {
		return verdict{StateNotDone, ev + "; but " + j.apisWords(), next}
	}
	return verdict{StateDone, ev + "; " + j.apisWords(), next}
}

func (j fpJudge) step3() verdict {
	next := fpInstructions("3")
	if j.ev.ExtErr != nil {
		return verdict{StateUnknown, "cannot read kube-system/" + extensionAuthName + ": " + j.ev.ExtErr.Error(), next}
	}
	ev := j.publishedWords()
	if j.published.State != BundleOnlyNew {
		return verdict{StateNotDone, ev, next}
	}
	visible, why := j.flagsVisible()
	if !visible {
		return verdict{StateUnknown, ev + "; " + why, next}
	}
	if left := j.flagsWhere("requestheader-client-ca-file", isBundleVariant); len(left) > 0 {
		return verdict{StateNotDone, ev + ", but " + strings.Join(left, ", ") + " (still the bundle)", next}
	}
	if !j.apisAnswer() {
		return verdict{StateNotDone, ev + "; but " + j.apisWords(), next}
	}
	return verdict{StateDone, ev + "; " + j.apisWords(), next}
}

// TargetNext is a target's first step not done and its command; with every
// step done, an active rotation's next is finish.
func TargetNext(target string, steps []StepState, active bool) (step, command string) {
	for _, s := range steps {
		if s.State == StateNotDone || s.State == StateUnknown {
			return s.Step, s.Next
		}
	}
	if !active {
		return "", ""
	}
	return "finish", "kubectl carotate finish --target " + target
}

// FrontProxyLeftovers are what still depends on the old front-proxy CA,
// for verify: the findings that make dropping it (step 3) break the
// aggregated APIs.
func FrontProxyLeftovers(steps []StepState) []StepState {
	var out []StepState
	for _, s := range steps {
		if (s.Step == "1" || s.Step == "2") && s.State != StateDone && s.State != StateNotApplicable {
			out = append(out, s)
		}
	}
	return out
}
