package checks

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// SAKeyEvidence is what the API shows of an sa-key rotation.
type SAKeyEvidence struct {
	// ID is the rotation's id, for the restart pass value.
	ID string
	// OldKIDs and NewKIDs are the recorded keys' kids.
	OldKIDs, NewKIDs []string
	// JWKS are the kids /openid/v1/jwks lists: the keys the API server
	// verifies tokens with.
	JWKS    []string
	JWKSErr error
	// TokenKID is the kid of a token issued now (TokenRequest).
	TokenKID string
	TokenErr error
	// ControlPlane are the mirror pods, for the flags in the evidence.
	ControlPlane []ControlPlanePod
	Secrets      []LegacyTokenSecret
	SecretsErr   error
	Pods         []TokenPod
	PodsErr      error
	// SwitchedAt is when the API server was first seen signing with the
	// new key (the resign-tokens pass, which runs right after step 2);
	// zero before. The real switch may be earlier: a pod started in between
	// counts as started before it, never the other way round.
	SwitchedAt time.Time
	Now        time.Time
}

// LegacyTokenSecret is a kubernetes.io/service-account-token Secret: the
// kid of its token, never the token.
type LegacyTokenSecret struct {
	Namespace, Name string
	// KID is "" when data.token is empty (the tokens controller has not
	// filled it yet) or unreadable (KIDErr).
	KID    string
	KIDErr string
}

// TokenPod is a running pod with a projected ServiceAccount token.
type TokenPod struct {
	Namespace, Name string
	Started         time.Time
	// Lifetime is the longest expirationSeconds of its token projections.
	Lifetime time.Duration
}

// JudgeSAKey judges the sa-key target's steps, in order.
func JudgeSAKey(ev SAKeyEvidence) []StepState {
	j := saJudge{ev: ev}
	verdicts := map[string]verdict{
		"1": j.step1(), "2": j.step2(), "3.1": j.step31(), "3.2": j.step32(), "4": j.step4(),
	}
	return stepStates(SAKeySteps, verdicts)
}

// stepStates are a target's steps with their verdicts, in order; a step
// done or not applicable has no next command.
func stepStates(steps []UpstreamStep, verdicts map[string]verdict) []StepState {
	out := make([]StepState, 0, len(steps))
	for _, s := range steps {
		st := StepState{UpstreamStep: s}
		st.judged(verdicts[s.Step])
		out = append(out, st)
	}
	return out
}

type saJudge struct{ ev SAKeyEvidence }

func saInstructions(step string) string {
	return "kubectl carotate instructions --target sa-key --step " + step
}

func hasAll(list, want []string) bool {
	for _, w := range want {
		if !slices.Contains(list, w) {
			return false
		}
	}
	return len(want) > 0
}

func hasAny(list, want []string) bool {
	for _, w := range want {
		if slices.Contains(list, w) {
			return true
		}
	}
	return false
}

// kidWords names a kid as old, new or neither.
func (j saJudge) kidWords(kid string) string {
	switch {
	case slices.Contains(j.ev.NewKIDs, kid):
		return kid + " (new)"
	case slices.Contains(j.ev.OldKIDs, kid):
		return kid + " (old)"
	}
	return kid + " (neither old nor new)"
}

func (j saJudge) jwksWords() string {
	var w []string
	for _, k := range j.ev.JWKS {
		w = append(w, j.kidWords(k))
	}
	return "/openid/v1/jwks lists " + strings.Join(w, ", ")
}

func (j saJudge) signsNew() bool {
	return j.ev.TokenErr == nil && slices.Contains(j.ev.NewKIDs, j.ev.TokenKID)
}

func (j saJudge) step1() verdict {
	next := saInstructions("1")
	switch {
	case j.ev.JWKSErr != nil:
		return verdict{StateUnknown, "cannot read /openid/v1/jwks: " + j.ev.JWKSErr.Error(), next}
	case hasAll(j.ev.JWKS, j.ev.NewKIDs):
		return verdict{StateDone, j.jwksWords(), next}
	}
	return verdict{StateNotDone, j.jwksWords() + ": not the new key " + strings.Join(j.ev.NewKIDs, ", "), next}
}

func (j saJudge) step2() verdict {
	next := saInstructions("2")
	if j.ev.TokenErr != nil {
		return verdict{StateUnknown, "cannot issue a token to read its key (TokenRequest): " + j.ev.TokenErr.Error(), next}
	}
	ev := "a token issued now (TokenRequest) is signed by kid " + j.kidWords(j.ev.TokenKID)
	if !j.signsNew() {
		return verdict{StateNotDone, ev, next}
	}
	var flags []string
	for _, p := range ComponentPods(j.ev.ControlPlane, ComponentControllerManager) {
		flags = append(flags, fmt.Sprintf("kube-controller-manager on %s: --service-account-private-key-file=%s", p.Node, p.Command.Value("service-account-private-key-file")))
	}
	newSecret := ""
	for _, s := range j.ev.Secrets {
		if slices.Contains(j.ev.NewKIDs, s.KID) {
			newSecret = s.Namespace + "/" + s.Name
			break
		}
	}
	switch {
	case newSecret != "":
		ev += "; legacy token Secret " + newSecret + " is signed by the new key, so the controller-manager signs with it"
	case len(flags) > 0:
		ev += "; " + strings.Join(flags, ", ") + " (which key that file holds the API cannot show; step 3.1 shows it when the tokens controller re-signs a Secret)"
	}
	return verdict{StateDone, ev, next}
}

func (j saJudge) step31() verdict {
	next := "kubectl carotate resign-tokens"
	if j.ev.SecretsErr != nil {
		return verdict{StateUnknown, "cannot list legacy token Secrets: " + j.ev.SecretsErr.Error(), next}
	}
	if len(j.ev.Secrets) == 0 {
		return verdict{StateNotApplicable, "no legacy token Secret (type kubernetes.io/service-account-token) exists", next}
	}
	var old, empty, other []string
	newCount := 0
	for _, s := range j.ev.Secrets {
		name := s.Namespace + "/" + s.Name
		switch {
		case slices.Contains(j.ev.NewKIDs, s.KID):
			newCount++
		case slices.Contains(j.ev.OldKIDs, s.KID):
			old = append(old, name)
		case s.KID == "" && s.KIDErr == "":
			empty = append(empty, name)
		default:
			other = append(other, name)
		}
	}
	var parts []string
	if len(old) > 0 {
		parts = append(parts, plural(len(old), "legacy token Secret")+" signed by the old key ("+sample(old)+")")
	}
	if len(empty) > 0 {
		parts = append(parts, plural(len(empty), "legacy token Secret")+" with no token yet ("+sample(empty)+"): the tokens controller fills it")
	}
	if len(other) > 0 {
		parts = append(parts, plural(len(other), "legacy token Secret")+" signed by neither key ("+sample(other)+")")
	}
	if len(parts) == 0 {
		return verdict{StateDone, fmt.Sprintf("every legacy token Secret (%d) is signed by the new key", newCount), next}
	}
	ev := strings.Join(parts, "; ") + fmt.Sprintf("; %d signed by the new key", newCount)
	if !j.signsNew() {
		ev += " (do step 2 first: until the API server and controller-manager sign with the new key, a re-signed token is signed by the old one again)"
		next = saInstructions("2")
	}
	return verdict{StateNotDone, ev, next}
}

func (j saJudge) step32() verdict {
	next := "kubectl carotate restart-workloads --value " + shq(RestartValue(j.ev.ID, SAPhaseSign)) + " --wait"
	if j.ev.PodsErr != nil {
		return verdict{StateUnknown, "cannot list pods: " + j.ev.PodsErr.Error(), next}
	}
	if j.ev.SwitchedAt.IsZero() {
		if !j.signsNew() {
			return verdict{StateNotDone, "the API server does not sign with the new key yet (step 2): every projected token is the old key's", saInstructions("2")}
		}
		return verdict{StateNotDone, "the switch to the new key is not recorded yet: kubectl carotate resign-tokens (step 3.1) records when the API server signs with it, which this step counts from", "kubectl carotate resign-tokens"}
	}
	var risk []string
	until := time.Time{}
	for _, p := range j.ev.Pods {
		end := j.ev.SwitchedAt.Add(p.Lifetime)
		if p.Started.Before(j.ev.SwitchedAt) && j.ev.Now.Before(end) {
			risk = append(risk, p.Namespace+"/"+p.Name)
			if end.After(until) {
				until = end
			}
		}
	}
	switched := j.ev.SwitchedAt.UTC().Format(time.RFC3339)
	if len(risk) == 0 {
		return verdict{StateDone, fmt.Sprintf("no pod with a projected token started before the switch was seen (%s) within its token lifetime: every kubelet has fetched a token from the new key", switched), next}
	}
	return verdict{StateNotDone, fmt.Sprintf("%s started before the switch was seen (%s) and may hold a token from the old key (%s): restart them, or wait until %s (the kubelet renews a token before 80%% of its lifetime)",
		plural(len(risk), "pod"), switched, sample(risk), until.UTC().Format(time.RFC3339)), next}
}

func (j saJudge) step4() verdict {
	next := saInstructions("4")
	switch {
	case j.ev.JWKSErr != nil:
		return verdict{StateUnknown, "cannot read /openid/v1/jwks: " + j.ev.JWKSErr.Error(), next}
	case hasAny(j.ev.JWKS, j.ev.OldKIDs):
		return verdict{StateNotDone, j.jwksWords() + ": the old key is still accepted", next}
	case !hasAll(j.ev.JWKS, j.ev.NewKIDs):
		return verdict{StateNotDone, j.jwksWords() + ": not the new key", saInstructions("1")}
	}
	return verdict{StateDone, j.jwksWords() + ": the old key is no longer accepted", next}
}

// SAKeyLeftovers are what still depends on the old key, for verify: the
// findings that make removing it (step 4) break clients.
func SAKeyLeftovers(steps []StepState) []StepState {
	var out []StepState
	for _, s := range steps {
		if (s.Step == "2" || s.Step == "3.1" || s.Step == "3.2") && s.State != StateDone && s.State != StateNotApplicable {
			out = append(out, s)
		}
	}
	return out
}
