package checks

import (
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

// The step judge: what the cluster shows (Evidence) turned into one state
// per upstream step, with the evidence in words and the next command. Each
// judgeStepN judges the step that renderer.stepN (steps.go) prints, in the
// same order; the judges read one another's results where the procedure
// does (step 1 shows through steps 2 and 5), so they live together here
// rather than between the renderer's helpers.

// Step states.
const (
	StateDone          = "done"
	StateNotDone       = "not done"
	StateUnknown       = "unknown"
	StateNotApplicable = "not applicable"
)

// StepState is one upstream step as the cluster shows it.
type StepState struct {
	UpstreamStep
	State    string `json:"state"`
	Evidence string `json:"evidence"`
	// Next is the command that does the step, for a step not done or
	// unknown.
	Next string `json:"next,omitempty"`
}

// UnjudgedSteps is every upstream step in state unknown, for when nothing
// can be judged; evidence says why.
func UnjudgedSteps(evidence string) []StepState {
	out := make([]StepState, 0, len(UpstreamSteps))
	for _, s := range UpstreamSteps {
		out = append(out, StepState{UpstreamStep: s, State: StateUnknown, Evidence: evidence})
	}
	return out
}

// PickNext is the next step: the first one not done, and its command.
// The unknown ones before it (node files) are named in a note so they are
// not skipped. When every step the API shows is done, an active
// rotation's next step is finish.
func PickNext(steps []StepState, active bool) (step, command string, notes []string) {
	var unknownBefore []string
	for _, s := range steps {
		switch s.State {
		case StateNotDone:
			if len(unknownBefore) > 0 {
				notes = append(notes, "Before step "+s.Step+", make sure of step(s) "+strings.Join(unknownBefore, ", ")+
					": the API cannot show them (kubectl carotate instructions --step N prints them).")
			}
			return s.Step, s.Next, notes
		case StateUnknown:
			// Rows that are not upstream steps (ClusterTrustBundles,
			// copies) carry their own command; the note is for node steps.
			if IsStep(s.Step) {
				unknownBefore = append(unknownBefore, s.Step)
			}
		}
	}
	if !active {
		return "", "", nil
	}
	if len(unknownBefore) > 0 {
		notes = append(notes, "Every step the API can show is done; make sure of step(s) "+strings.Join(unknownBefore, ", ")+" before finishing.")
	}
	return "finish", "kubectl carotate finish", notes
}

// verdict is one step's judgement.
type verdict struct{ state, evidence, next string }

// judged sets the row's state and evidence from v, and its next command
// unless the step is done or not applicable.
func (r *StepState) judged(v verdict) {
	r.State, r.Evidence = v.state, v.evidence
	if v.state != StateDone && v.state != StateNotApplicable {
		r.Next = v.next
	}
}

// judge holds what several steps read.
type judge struct {
	ev   Evidence
	rows map[string]*StepState
	// inCluster is each in-cluster step's command as instructions prints
	// it (one run per namespace: the instructions command); unbundle and
	// finishRestart are step 12.1's two, in their order.
	inCluster               map[string]string
	unbundle, finishRestart string
	// Where the ServiceAccount root CA stands decides the phase.
	allBundled, allNew bool
	podsCurrent        bool
	servesNew          bool
	serveTime          time.Time
}

// JudgeSteps judges every upstream step, in upstream order.
func JudgeSteps(ev Evidence) []StepState {
	j := &judge{ev: ev, rows: map[string]*StepState{}, inCluster: map[string]string{},
		allBundled: ev.RootCA.Bundled, allNew: ev.RootCA.Unbundled,
		podsCurrent: ev.Pods.Err == nil && len(ev.Pods.Restart) == 0 && len(ev.Pods.Lacking) == 0,
		servesNew:   ev.Serving.Err == nil && ChainVerifies(ev.Serving.Chain, ev.Rotation.New),
		serveTime:   APIServerStarted(ev.ControlPlane)}
	for _, s := range UpstreamSteps {
		j.rows[s.Step] = &StepState{UpstreamStep: s}
	}
	cmds := j.inClusterCommands()
	for step, list := range cmds {
		j.inCluster[step] = list[0]
		if len(list) > 1 && step != "12.1" {
			j.inCluster[step] = instructionsFor(step)
		}
	}
	if list := cmds["12.1"]; len(list) == 2 {
		j.unbundle, j.finishRestart = list[0], list[1]
	}
	// Step 1 shows through steps 2 and 5, step 8 (as a workload) through 4.
	for _, s := range []struct {
		step  string
		judge func() verdict
	}{
		{"2", j.judgeStep2}, {"5", j.judgeStep5}, {"1", j.judgeStep1}, {"3", j.judgeStep3}, {"4", j.judgeStep4},
		{"6", j.judgeStep6}, {"7", j.judgeStep7}, {"8", j.judgeStep8}, {"9.1", j.judgeStep91}, {"9.3", j.judgeStep93},
		{"9.2", j.judgeStep92}, {"9.4", j.judgeStep94}, {"10", j.judgeStep10}, {"11", j.judgeStep11},
		{"12.1", j.judgeStep121}, {"12.2", j.judgeStep122}, {"12.3", j.judgeStep123},
	} {
		j.rows[s.step].judged(s.judge())
	}
	out := make([]StepState, 0, len(UpstreamSteps))
	for _, s := range UpstreamSteps {
		out = append(out, *j.rows[s.Step])
	}
	return out
}

func instructionsFor(step string) string { return "kubectl carotate instructions --step " + step }

func (j *judge) component(name string) []ControlPlanePod {
	return ComponentPods(j.ev.ControlPlane, name)
}

// judgeStep1: the new CA files are on the nodes when a component reads
// them.
func (j *judge) judgeStep1() verdict {
	if j.rows["2"].State == StateDone || j.rows["5"].State == StateDone {
		return verdict{StateDone, "control-plane components read files that hold the new CA (steps 2 and 5)", ""}
	}
	return verdict{StateUnknown, "files on control-plane nodes are not visible through the API; they show once a component reads them (steps 2, 5)", instructionsFor("1")}
}

// judgeStep2: what the controller-manager publishes is its --root-ca-file.
func (j *judge) judgeStep2() verdict {
	rc := j.ev.RootCA
	flags := ""
	if kcm := j.component(ComponentControllerManager); len(kcm) > 0 {
		flags = fmt.Sprintf(" (mirror pod %s: --root-ca-file=%s)", kcm[0].Name, kcm[0].Command.Value("root-ca-file"))
	}
	next := instructionsFor("2")
	switch {
	case rc.Err != nil:
		return verdict{StateUnknown, "cannot read kube-root-ca.crt: " + rc.Err.Error(), next}
	case rc.KubeSystem == "":
		return verdict{StateUnknown, "kube-system has no kube-root-ca.crt: the controller-manager's root CA publisher does not run", next}
	case rc.PublishedByControllerManager() && (rc.KubeSystem == BundleHasBoth || rc.KubeSystem == BundleOnlyNew):
		if caveat := j.sharedBundleCaveat(); caveat != "" {
			return verdict{StateNotDone, caveat, next}
		}
		return verdict{StateDone, fmt.Sprintf("kube-controller-manager publishes %s in kube-system/kube-root-ca.crt%s", StateWords(rc.KubeSystem), flags), ""}
	case rc.PublishedByControllerManager():
		return verdict{StateNotDone, fmt.Sprintf("kube-controller-manager publishes %s: its --root-ca-file is not the bundle yet%s", StateWords(rc.KubeSystem), flags), next}
	}
	return verdict{StateUnknown, fmt.Sprintf("kube-system/kube-root-ca.crt holds %s, last written by %s, not the controller-manager: its --root-ca-file cannot be told%s",
		StateWords(rc.KubeSystem), or(rc.KubeSystemWriter, "an unknown writer"), flags), next}
}

// sharedBundleCaveat reports a controller-manager whose signing or client
// CA flag names the same file as its --root-ca-file while that file is the
// bundle: kubeadm issue 1350.
func (j *judge) sharedBundleCaveat() string {
	if j.ev.RootCA.KubeSystem != BundleHasBoth {
		return ""
	}
	for _, p := range j.component(ComponentControllerManager) {
		root := p.Command.Value("root-ca-file")
		for _, f := range []string{"cluster-signing-cert-file", "client-ca-file"} {
			if v := p.Command.Value(f); v != "" && v == root {
				return fmt.Sprintf("%s: --%s names the same file as --root-ca-file (%s), which is now the bundle: it must hold one CA; give it the separate new-CA copy (caveat of step 2)",
					p.Name, f, root)
			}
		}
	}
	return ""
}

// judgeStep3: every kube-root-ca.crt and legacy token Secret.
func (j *judge) judgeStep3() verdict {
	switch {
	case j.ev.RootCA.Err != nil:
		return verdict{StateUnknown, "cannot list kube-root-ca.crt: " + j.ev.RootCA.Err.Error(), j.inCluster["3"]}
	case j.allBundled:
		return verdict{StateDone, j.ev.RootCA.Summary, ""}
	}
	return verdict{StateNotDone, j.ev.RootCA.Summary, j.inCluster["3"]}
}

// podLine sums up the pods for steps 4 and 12.1: those started before
// their CA source changed.
func (j *judge) podLine() string {
	p := j.ev.Pods
	if p.Err != nil {
		return "cannot list pods: " + p.Err.Error()
	}
	var parts []string
	if n := len(p.Restart); n > 0 {
		parts = append(parts, fmt.Sprintf("%s started before their CA source last changed (%s)", plural(n, "pod"), sample(p.Restart)))
	}
	if n := len(p.Lacking); n > 0 {
		parts = append(parts, fmt.Sprintf("%s mount a CA source without the new CA (%s)", plural(n, "pod"), sample(p.Lacking)))
	}
	maybe := ""
	if n := len(p.Maybe); n > 0 {
		maybe = fmt.Sprintf("; %s started in the same second as their CA source was written, which cannot be told apart (%s; kubectl carotate verify --only pods names them)",
			plural(n, "pod"), sample(p.Maybe))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%s using the ServiceAccount CA, all started after it last changed", plural(p.WithCA, "running pod")) + maybe
	}
	return strings.Join(parts, "; ") + maybe
}

// judgeStep4: pods started before their source changed.
func (j *judge) judgeStep4() verdict {
	next := j.inCluster["4"]
	switch {
	case j.allNew:
		return verdict{StateDone, "superseded: the old CA is gone from every kube-root-ca.crt (step 12.1)", ""}
	case j.ev.Pods.Err != nil:
		return verdict{StateUnknown, j.podLine(), next}
	case !j.allBundled:
		return verdict{StateNotDone, "waits for step 3: " + j.podLine(), next}
	case j.podsCurrent:
		return verdict{StateDone, j.podLine(), ""}
	}
	return verdict{StateNotDone, j.podLine(), next}
}

// judgeStep5: the API server publishes its --client-ca-file.
func (j *judge) judgeStep5() verdict {
	ext := j.ev.ExtensionAuth
	next := instructionsFor("5")
	published := " (published in kube-system/" + extensionAuthName + ")"
	switch {
	case ext.Err != nil:
		return verdict{StateUnknown, "cannot read kube-system/" + extensionAuthName + ": " + ext.Err.Error(), next}
	case ext.ClientCA == BundleHasBoth || ext.ClientCA == BundleOnlyNew:
		e := "kube-apiserver's --client-ca-file holds " + StateWords(ext.ClientCA) + published
		state := StateDone
		if len(j.ev.Rotation.NewFP) > 0 && ext.FrontProxy != BundleHasBoth && ext.FrontProxy != BundleOnlyNew {
			state, e = StateNotDone, e+"; but --requestheader-client-ca-file holds "+string(ext.FrontProxy)+" of the front-proxy CAs"
		}
		for _, p := range j.component(ComponentAPIServer) {
			if v := p.Command.Value("kubelet-certificate-authority"); v != "" {
				e += fmt.Sprintf("; %s --kubelet-certificate-authority=%s is not visible through the API", p.Name, v)
			}
		}
		return verdict{state, e, next}
	}
	return verdict{StateNotDone, "kube-apiserver's --client-ca-file holds " + StateWords(ext.ClientCA) + published, next}
}

// extensionAuthName is where kube-apiserver publishes its client CAs.
const extensionAuthName = "extension-apiserver-authentication"

// judgeStep6: the scheduler's own client CA file.
func (j *judge) judgeStep6() verdict {
	sched := j.component(ComponentScheduler)
	var files []string
	for _, p := range sched {
		if v := p.Command.Value("client-ca-file"); v != "" {
			files = append(files, p.Name+" --client-ca-file="+v)
		}
	}
	switch {
	case len(sched) == 0:
		return verdict{StateUnknown, "no kube-scheduler mirror pod is visible: its flags cannot be read", instructionsFor("6")}
	case len(files) == 0:
		return verdict{StateNotApplicable, "kube-scheduler has no --client-ca-file: it reads the client CA the API server publishes (step 5)", ""}
	}
	return verdict{StateUnknown, strings.Join(files, ", ") + ": the file's content is not visible through the API", instructionsFor("6")}
}

// judgeStep7: this kubeconfig; others are not visible.
func (j *judge) judgeStep7() verdict {
	kc := j.ev.Kubeconfig
	line := "this kubeconfig trusts " + StateWords(kc.CA)
	switch kc.ClientIssuer {
	case IssuedByNew:
		line += ", its client certificate is issued by the new CA"
	case IssuedByOld:
		line += ", its client certificate is issued by the old CA (it stops working at step 12.2)"
	case IssuedByOther:
		line += ", its client certificate is issued by neither CA"
	}
	line += "; other kubeconfigs are not visible through the API"
	switch {
	case (kc.CA == BundleHasBoth || kc.CA == BundleOnlyNew) && kc.ClientIssuer != IssuedByOld:
		return verdict{StateDone, line, ""}
	case kc.CA == "system":
		return verdict{StateUnknown, "this kubeconfig trusts the system's CAs; other kubeconfigs are not visible through the API", instructionsFor("7")}
	}
	return verdict{StateNotDone, line, instructionsFor("7")}
}

// judgeStep8: cloud-controller-manager.
func (j *judge) judgeStep8() verdict {
	var static []string
	for _, p := range j.component(ComponentCloudController) {
		static = append(static, p.Name+" --root-ca-file="+p.Command.Value("root-ca-file"))
	}
	switch {
	case len(static) > 0:
		return verdict{StateUnknown, strings.Join(static, ", ") + ": the file's content is not visible through the API", instructionsFor("8")}
	case len(j.ev.CloudControllers) > 0:
		return verdict{j.rows["4"].State, strings.Join(j.ev.CloudControllers, ", ") + " runs as a workload: it trusts the ServiceAccount root CA, like step 4", j.inCluster["4"]}
	}
	return verdict{StateNotApplicable, "no cloud-controller-manager (no static pod, Deployment or DaemonSet by that name in kube-system)", ""}
}

// judgeStep91: the servers behind aggregated APIs and webhooks.
func (j *judge) judgeStep91() verdict {
	b := j.ev.Backends
	next := j.inCluster["9.1"]
	if b.Err != nil && len(b.APIs)+len(b.Webhooks) == 0 {
		return verdict{StateUnknown, "cannot list APIServices and webhooks: " + b.Err.Error(), next}
	}
	if len(b.APIs)+len(b.Webhooks) == 0 {
		return verdict{StateNotApplicable, "no aggregated API server (APIService with a service) and no webhook", ""}
	}
	var restart, noPods, urls []string
	for _, s := range b.Services {
		switch {
		case len(s.Restart) > 0:
			restart = append(restart, fmt.Sprintf("%s (%s)", s.Key, sample(s.Restart)))
		case s.Pods == 0:
			noPods = append(noPods, s.Key)
		}
	}
	for _, h := range b.Webhooks {
		if h.Service == "" && h.URL != "" {
			urls = append(urls, h.Name)
		}
	}
	e := fmt.Sprintf("%d services behind %d APIServices and %d webhooks", len(b.Services), len(b.APIs), len(b.Webhooks))
	switch {
	case len(restart) > 0:
		return verdict{StateNotDone, e + "; pods to restart: " + strings.Join(restart, ", "), next}
	case !j.allBundled && !j.allNew:
		return verdict{StateNotDone, e + "; waits for step 3", next}
	case len(urls) > 0:
		return verdict{StateUnknown, e + "; served outside the cluster (not visible): " + strings.Join(urls, ", "), next}
	}
	if len(noPods) > 0 {
		e += "; no running pod behind " + strings.Join(noPods, ", ")
	}
	return verdict{StateDone, e + "; their pods started after the CA last changed", ""}
}

// judgeStep92: which CA issued each kubelet's newest client certificate
// (CertificateSigningRequests), and, once the API server serves from the
// new CA, that every kubelet still renews its Lease (its kubelet.conf
// trusts the new CA). A Lease alone never shows the step done: a kubelet
// with an old-CA client certificate renews it until step 12.2.
func (j *judge) judgeStep92() verdict {
	n, k := j.ev.Nodes, j.ev.KubeletCerts
	next := instructionsFor("9.2")
	switch {
	case n.Err != nil:
		return verdict{StateUnknown, "cannot read nodes and their Leases: " + n.Err.Error(), next}
	case k.Err != nil:
		return verdict{StateUnknown, "cannot list CertificateSigningRequests, which show the CA that issued each kubelet's client certificate: " + k.Err.Error() +
			". On each node: " + KubeletIssuerCommand + "; one from the old CA gets 401 at step 12.2", next}
	case len(n.Names) == 0:
		return verdict{StateNotApplicable, "the cluster has no nodes", ""}
	}
	total := len(n.Names)
	by := KubeletIssuers(k, n.Names, j.ev.Rotation.Old, j.ev.Rotation.New)
	var bad []string
	if old := by[IssuedByOld]; len(old) > 0 {
		bad = append(bad, fmt.Sprintf("%d of %d nodes' newest kubelet client certificate is from the old CA (%s): it gets 401 at step 12.2", len(old), total, sample(old)))
	}
	if other := by[IssuedByOther]; len(other) > 0 {
		bad = append(bad, fmt.Sprintf("%d of %d nodes' newest kubelet client certificate is from neither CA (%s)", len(other), total, sample(other)))
	}
	leases := ""
	if j.servesNew && !j.serveTime.IsZero() {
		since := j.serveTime.UTC().Format(time.RFC3339)
		var stale []string
		for _, name := range n.Names {
			if renew, ok := n.Leases[name]; !ok || !renew.After(j.serveTime) {
				stale = append(stale, name)
			}
		}
		if len(stale) > 0 {
			bad = append(bad, fmt.Sprintf("%d of %d nodes have not renewed their Lease since kube-apiserver restarted at %s (%s): their kubelet does not get through (kubelet.conf does not trust the new CA, or, since step 12.2, its client certificate is from the old CA)",
				len(stale), total, since, sample(stale)))
		} else {
			leases = "; every node renewed its Lease since kube-apiserver restarted at " + since + ", so their kubelet.conf trusts the new CA"
		}
	}
	if len(bad) > 0 {
		return verdict{StateNotDone, strings.Join(bad, "; "), next}
	}
	renewed := by[IssuedByNew]
	if unknown := by[""]; len(unknown) > 0 {
		e := kubeletUnknownWords(unknown, total)
		if len(renewed) > 0 {
			e = fmt.Sprintf("%d of %d nodes have a kubelet client certificate from the new CA (%s); ", len(renewed), total, sample(renewed)) + e
		}
		return verdict{StateUnknown, e + leases, next}
	}
	return verdict{StateDone, fmt.Sprintf("all %d nodes' newest kubelet client certificate is issued by the new CA (%s)%s; clientCAFile is not visible through the API",
		total, sample(renewed), leases), ""}
}

// judgeStep93: the serving chain against the new CA.
func (j *judge) judgeStep93() verdict {
	s := j.ev.Serving
	next := instructionsFor("9.3")
	switch {
	case s.Err != nil:
		return verdict{StateUnknown, "cannot fetch the serving chain: " + s.Err.Error(), next}
	case j.servesNew:
		return verdict{StateDone, "the API server's serving chain verifies against the new CA (leaf issued by " + leafIssuer(s.Chain) + ")", ""}
	case ChainVerifies(s.Chain, j.ev.Rotation.Old):
		return verdict{StateNotDone, "the API server's serving chain verifies against the old CA only", next}
	}
	return verdict{StateNotDone, "the API server's serving chain verifies against neither CA (leaf issued by " + leafIssuer(s.Chain) + ")", next}
}

func leafIssuer(chain []*x509.Certificate) string {
	if len(chain) == 0 {
		return "nothing: no certificate"
	}
	return chain[0].Issuer.String()
}

// judgeStep94: pods started after the API server began serving from the
// new CA.
func (j *judge) judgeStep94() verdict {
	p := j.ev.Pods
	next := j.inCluster["9.4"]
	switch {
	case j.allNew && j.podsCurrent:
		return verdict{StateDone, "superseded: every pod that uses the ServiceAccount CA started after the old CA was removed (step 12.1)", ""}
	case !j.servesNew:
		return verdict{StateNotDone, "waits for step 9.3", next}
	case p.Err != nil:
		return verdict{StateUnknown, "cannot list pods: " + p.Err.Error(), next}
	case j.serveTime.IsZero():
		return verdict{StateUnknown, "no kube-apiserver mirror pod: when the API server switched certificates is not visible", next}
	case len(p.BeforeServe) > 0:
		return verdict{StateNotDone, fmt.Sprintf("%s started before kube-apiserver's last restart at %s (%s)", plural(len(p.BeforeServe), "pod"),
			j.serveTime.UTC().Format(time.RFC3339), sample(p.BeforeServe)), next}
	}
	return verdict{StateDone, fmt.Sprintf("%s using the ServiceAccount CA, all started after kube-apiserver's last restart at %s",
		plural(p.WithCA, "running pod"), j.serveTime.UTC().Format(time.RFC3339)), ""}
}

// judgeStep10: cluster-info.
func (j *judge) judgeStep10() verdict {
	ci := j.ev.ClusterInfo
	st, line := j.clusterInfoState()
	switch {
	case ci.Err != nil:
		return verdict{StateUnknown, "cannot read kube-public/cluster-info: " + ci.Err.Error(), j.inCluster["10"]}
	case !ci.Present:
		return verdict{StateNotApplicable, "kube-public/cluster-info does not exist: nodes do not join with bootstrap tokens", ""}
	case (st == BundleHasBoth || st == BundleOnlyNew) && ci.Report.Consistent:
		return verdict{StateDone, line, ""}
	}
	return verdict{StateNotDone, line, j.inCluster["10"]}
}

// clusterInfoState classifies the CA cluster-info carries.
func (j *judge) clusterInfoState() (BundleState, string) {
	ci := j.ev.ClusterInfo
	if ci.Err != nil || !ci.Present {
		return "", ""
	}
	rot := j.ev.Rotation
	var certs []*x509.Certificate
	byFP := map[string]*x509.Certificate{}
	for _, c := range append(append([]*x509.Certificate{}, rot.Old...), rot.New...) {
		byFP[Fingerprint(c)] = c
	}
	unknown := 0
	for _, ca := range ci.Report.CAs {
		if c, ok := byFP[ca.Fingerprint]; ok {
			certs = append(certs, c)
		} else {
			unknown++
		}
	}
	st := Classify("cluster-info", EncodePEM(certs), rot.Old, rot.New).State
	if unknown > 0 || len(ci.Report.CAs) == 0 {
		st = BundleOther
	}
	valid, signing := 0, 0
	for _, s := range ci.Report.Signatures {
		if s.Broken() {
			signing++
			continue
		}
		if s.State == SignatureValid {
			valid++
			signing++
		}
	}
	sig := fmt.Sprintf("signed for %d/%d tokens", valid, signing)
	if !ci.Report.Consistent {
		sig = "not consistent: " + strings.Join(ci.Report.Problems, "; ")
	}
	return st, fmt.Sprintf("cluster-info: %s, carries %s", sig, StateWords(st))
}

// judgeStep11: verify reads the logs; status does not.
func (j *judge) judgeStep11() verdict {
	if v := j.ev.Rotation.Verified; v != nil {
		return verdict{StateDone, fmt.Sprintf("kubectl carotate verify passed at %s (by %s)", v.At.UTC().Format(time.RFC3339), v.By), ""}
	}
	return verdict{StateUnknown, "status does not read logs; kubectl carotate verify checks pods, webhooks and TLS errors", j.inCluster["11"]}
}

// judgeStep121: the new CA alone everywhere pods look, published by the
// controller-manager, and no pod from before. The controller-manager's
// flag first (node), then unbundle, then the restart pass: the next
// command is the first of these not done.
func (j *judge) judgeStep121() verdict {
	rc := j.ev.RootCA
	next := instructionsFor("12.1")
	switch {
	case rc.Err != nil:
		return verdict{StateUnknown, "cannot list kube-root-ca.crt: " + rc.Err.Error(), next}
	case !j.allNew && rc.PublishedByControllerManager() && rc.KubeSystem != BundleOnlyNew:
		return verdict{StateNotDone, rc.Summary + "; kube-controller-manager still publishes " + StateWords(rc.KubeSystem), next}
	case !j.allNew:
		return verdict{StateNotDone, rc.Summary, or(j.unbundle, next)}
	case !rc.PublishedByControllerManager():
		return verdict{StateNotDone, rc.Summary + "; but kube-system/kube-root-ca.crt was last written by " + or(rc.KubeSystemWriter, "an unknown writer") +
			", not the controller-manager: its --root-ca-file is not shown to be the new CA alone", next}
	case !j.podsCurrent:
		return verdict{StateNotDone, j.podLine(), or(j.finishRestart, next)}
	}
	return verdict{StateDone, rc.Summary + ", published by kube-controller-manager; " + j.podLine(), ""}
}

// judgeStep122: the old CA gone from what the API shows.
func (j *judge) judgeStep122() verdict {
	ev := j.ev
	var left []string
	if ev.ExtensionAuth.Err == nil && ev.ExtensionAuth.ClientCA != BundleOnlyNew {
		left = append(left, "kube-apiserver's --client-ca-file holds "+StateWords(ev.ExtensionAuth.ClientCA))
	}
	if ev.Kubeconfig.CA != BundleOnlyNew && ev.Kubeconfig.CA != "system" {
		left = append(left, "this kubeconfig trusts "+StateWords(ev.Kubeconfig.CA))
	}
	if ciState, _ := j.clusterInfoState(); ev.ClusterInfo.Present && ciState != BundleOnlyNew {
		left = append(left, "cluster-info carries "+StateWords(ciState))
	}
	if moved := TransitionFlags(ev.ControlPlane); len(moved) > 0 {
		left = append(left, fmt.Sprintf("%s still name transition files (%s)", plural(len(moved), "control-plane flag"), sample(moved)))
	}
	if len(left) > 0 {
		return verdict{StateNotDone, strings.Join(left, "; "), instructionsFor("12.2")}
	}
	return verdict{StateDone, "the API server's client CA, this kubeconfig and cluster-info hold the new CA alone; no control-plane flag points at a transition file", ""}
}

// judgeStep123: kubelet files.
func (j *judge) judgeStep123() verdict {
	return verdict{StateUnknown, "kubelet files (clientCAFile, kubelet.conf) are not visible through the API", instructionsFor("12.3")}
}

// TransitionFlags lists the control-plane flags that still name a
// transition file (ca-bundle.crt, ca-new.crt, apiserver-new.crt, ...), as
// "component --flag=value".
func TransitionFlags(cp []ControlPlanePod) []string {
	var out []string
	for _, p := range cp {
		if !p.Mirror {
			continue
		}
		for _, f := range p.Command.Flags {
			if strings.HasPrefix(f.Value, "/") && OriginalPath(f.Value) != f.Value {
				out = append(out, fmt.Sprintf("%s --%s=%s", p.Component, f.Name, f.Value))
			}
		}
	}
	return out
}

// inClusterCommands are the in-cluster steps' commands exactly as
// instructions prints them.
func (j *judge) inClusterCommands() map[string][]string {
	rot := j.ev.Rotation
	// A cluster-info that could not be read may exist: keep its command.
	d := ClusterDescription{RotationID: rot.ID, ClusterInfo: j.ev.ClusterInfo.Present || j.ev.ClusterInfo.Err != nil,
		AggregatedAPIs: j.ev.Backends.APIs, Webhooks: j.ev.Backends.Webhooks,
		Files:      LocalFiles{OldCA: rot.OldFile, NewCA: rot.NewFile, Bundle: "ca-bundle.crt"},
		PassValues: j.passValues()}
	out := map[string][]string{}
	for _, s := range Render(d) {
		if s.Action == ActionInCluster {
			out[s.Step] = append(out[s.Step], s.Command)
		}
	}
	return out
}

// passValues are the restart pass values status recommends: a phase's
// pass is resumed with its value, unless it ran before the change it
// follows (then its value is on every template already and would roll
// nothing: the pods older than the change stay). See NextPassValue.
func (j *judge) passValues() map[string]string {
	rot := j.ev.Rotation
	return map[string]string{
		PhaseBundle: NextPassValue(rot.ID, PhaseBundle, rot.Passes, j.ev.RootCA.LastChange),
		PhaseServe:  NextPassValue(rot.ID, PhaseServe, rot.Passes, j.serveTime),
		PhaseFinish: NextPassValue(rot.ID, PhaseFinish, rot.Passes, j.ev.RootCA.LastChange),
	}
}

// plural is "1 pod", "2 pods".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// sample names the first three of names, and how many more there are.
func sample(names []string) string {
	const shown = 3
	if len(names) <= shown {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:shown], ", ") + fmt.Sprintf(" and %d more", len(names)-shown)
}

func or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}
