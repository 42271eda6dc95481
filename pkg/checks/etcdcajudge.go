package checks

import (
	"crypto/x509"
	"fmt"
	"sort"
	"strings"
	"time"
)

// EtcdCAEvidence is what the API shows of an etcd-ca rotation. The etcd
// CA itself and the files that hold it are not among it: the flags say
// which files etcd and kube-apiserver read, the mirror pods when they last
// started, /readyz/etcd whether the API server reaches etcd, and the Node
// objects' marks that a step's checks passed on that node.
type EtcdCAEvidence struct {
	RotationID     string
	OldCAs, NewCAs []*x509.Certificate
	// ControlPlane are the mirror pods: the flags etcd and the API servers
	// run with, and when each started.
	ControlPlane    []ControlPlanePod
	ControlPlaneErr error
	// ReadyzErr is the error of GET /readyz/etcd (nil: "ok").
	ReadyzErr error
	// Marks are the control-plane nodes' etcd-ca annotations: node, then
	// step, then the value (ROTATION/TIME); MarksErr the error reading them.
	Marks    map[string]map[string]string
	MarksErr error
}

// etcdFlags are the flags each step sets, per component.
var etcdFlags = map[string][][2]string{
	"1": {{ComponentEtcd, "trusted-ca-file"}, {ComponentEtcd, "peer-trusted-ca-file"}, {ComponentAPIServer, "etcd-cafile"}},
	"2": {{ComponentEtcd, "cert-file"}, {ComponentEtcd, "peer-cert-file"}, {ComponentAPIServer, "etcd-certfile"}},
}

// JudgeEtcdCA judges the etcd-ca target's steps, in order.
func JudgeEtcdCA(ev EtcdCAEvidence) []StepState {
	j := etcdJudge{ev: ev}
	return stepStates(EtcdCASteps, map[string]verdict{"1": j.step("1"), "2": j.step("2"), "3": j.step("3")})
}

type etcdJudge struct{ ev EtcdCAEvidence }

func etcdInstructions(step string) string {
	return "kubectl carotate instructions --target etcd-ca --step " + step
}

// nodes are the nodes that run etcd or an API server, sorted.
func (j etcdJudge) nodes() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range j.ev.ControlPlane {
		if p.Mirror && (p.Component == ComponentEtcd || p.Component == ComponentAPIServer) && !seen[p.Node] {
			seen[p.Node] = true
			out = append(out, p.Node)
		}
	}
	sort.Strings(out)
	return out
}

func (j etcdJudge) pod(node, component string) (ControlPlanePod, bool) {
	for _, p := range ComponentPods(j.ev.ControlPlane, component) {
		if p.Node == node {
			return p, true
		}
	}
	return ControlPlanePod{}, false
}

// wrongFlags are the flags of a node that do not show step's files:
// step 1 the bundle, step 2 the new certificates, step 3 kubeadm's names.
func (j etcdJudge) wrongFlags(node, step string) []string {
	out, _ := j.flagCheck(node, step)
	return out
}

// flagCheck is wrongFlags, and whether each wrong flag names an original
// file again (what step 3 does).
func (j etcdJudge) flagCheck(node, step string) (out []string, movedBack bool) {
	movedBack = true
	var want [][2]string
	keep := isBundleVariant
	switch step {
	case "1":
		want = etcdFlags["1"]
	case "2":
		want, keep = etcdFlags["2"], isNewVariant
	default:
		want = append(append(want, etcdFlags["1"]...), etcdFlags["2"]...)
		keep = func(v string) bool { return v != "" && OriginalPath(v) == v }
	}
	words := map[string]string{"1": "not step 1's bundle", "2": "not step 2's certificate from the new CA", "3": "not the original file: step 3 has not moved it back"}[step]
	for _, f := range want {
		p, ok := j.pod(node, f[0])
		if !ok {
			continue
		}
		if v := p.Command.Value(f[1]); !keep(v) {
			if v == "" || OriginalPath(v) != v {
				movedBack = false
			}
			if v == "" {
				v = "(not set)"
			}
			out = append(out, fmt.Sprintf("%s on %s: --%s=%s (%s)", f[0], node, f[1], v, words))
		}
	}
	return out, movedBack
}

// mark is the time a node recorded that step's checks passed there for
// this rotation.
func (j etcdJudge) mark(node, step string) (time.Time, bool) {
	v, ok := j.ev.Marks[node][step]
	if !ok {
		return time.Time{}, false
	}
	at, found := strings.CutPrefix(v, j.ev.RotationID+"/")
	if !found {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339, at)
	return t, err == nil
}

// started is when the newest of a node's etcd and API server started.
func (j etcdJudge) started(node string) time.Time {
	var t time.Time
	for _, c := range []string{ComponentEtcd, ComponentAPIServer} {
		if p, ok := j.pod(node, c); ok && p.Created.After(t) {
			t = p.Created
		}
	}
	return t
}

// nodeVerdict judges step on one node.
func (j etcdJudge) nodeVerdict(node, step string) verdict {
	wrong, movedBack := j.flagCheck(node, step)
	marked := ""
	for _, s := range []string{"3", "2", "1"} {
		if s < step {
			break
		}
		if _, ok := j.mark(node, s); ok {
			marked = s
			break
		}
	}
	switch {
	case len(wrong) > 0 && movedBack && (marked == "2" || marked == "3"):
		// Step 3 has put these flags back; its mark or step 2's says the
		// earlier steps passed their checks here.
		at, _ := j.mark(node, marked)
		return verdict{StateDone, fmt.Sprintf("%s: step 3 has moved the flags back to kubeadm's names, and step %s's checks passed there at %s", node, marked, at.UTC().Format(time.RFC3339)), ""}
	case len(wrong) > 0:
		return verdict{StateNotDone, strings.Join(wrong, ", "), ""}
	case step == "3":
		if _, ok := j.mark(node, "2"); !ok {
			// Before the rotation the flags name the originals too.
			return verdict{StateNotDone, node + ": the flags name kubeadm's files, but no check of step 2 passed there in this rotation, so they hold the old CA", ""}
		}
	}
	flags := fmt.Sprintf("%s: the flags name step %s's files", node, step)
	if step == "3" {
		flags = node + ": the flags name kubeadm's files again"
	}
	if t := j.started(node); !t.IsZero() {
		flags += " (etcd and kube-apiserver restarted by " + t.UTC().Format(time.RFC3339) + ")"
	}
	if marked == "" {
		return verdict{StateUnknown, flags + "; the API cannot show what the files hold, and step " + step + "'s checks have not recorded a pass on " + node +
			": run them there (" + etcdInstructions(step) + " --node " + node + ", its last commands)", ""}
	}
	at, _ := j.mark(node, marked)
	if latest := j.latestMark(node); latest == marked && at.Add(mirrorLag).Before(j.started(node)) {
		return verdict{StateUnknown, fmt.Sprintf("%s; but etcd or kube-apiserver restarted after step %s's checks passed there at %s: run them again (%s --node %s)",
			flags, marked, at.UTC().Format(time.RFC3339), etcdInstructions(marked), node), ""}
	}
	return verdict{StateDone, fmt.Sprintf("%s; step %s's checks (new certificates against the CA, etcd /health, /readyz) passed there at %s", flags, marked, at.UTC().Format(time.RFC3339)), ""}
}

// mirrorLag is how long after a static pod restarts its mirror pod may
// appear: the kubelet re-creates it through the API server, which may be
// the pod restarting. A mirror pod newer than a node's last mark by more
// than this is a restart after the checks ran.
const mirrorLag = time.Minute

func (j etcdJudge) latestMark(node string) string {
	for _, s := range []string{"3", "2", "1"} {
		if _, ok := j.mark(node, s); ok {
			return s
		}
	}
	return ""
}

func (j etcdJudge) step(step string) verdict {
	next := etcdInstructions(step)
	if j.ev.ControlPlaneErr != nil {
		return verdict{StateUnknown, "the static pods' flags cannot be read (mirror pods in kube-system: " + j.ev.ControlPlaneErr.Error() + ")", next}
	}
	if len(ComponentPods(j.ev.ControlPlane, ComponentEtcd)) == 0 {
		return verdict{StateUnknown, "no etcd mirror pod in kube-system: etcd does not run as a kubeadm static pod here (external etcd?), so its flags are not visible", next}
	}
	if j.ev.MarksErr != nil {
		return verdict{StateUnknown, "the control-plane Node objects cannot be read: " + j.ev.MarksErr.Error(), next}
	}
	var notDone, unknown, done []string
	for _, n := range j.nodes() {
		v := j.nodeVerdict(n, step)
		switch v.state {
		case StateNotDone:
			notDone = append(notDone, v.evidence)
		case StateUnknown:
			unknown = append(unknown, v.evidence)
		default:
			done = append(done, v.evidence)
		}
	}
	readyz := "kube-apiserver's /readyz/etcd: ok"
	if j.ev.ReadyzErr != nil {
		readyz = "kube-apiserver's /readyz/etcd fails: " + j.ev.ReadyzErr.Error()
	}
	switch {
	case len(notDone) > 0:
		return verdict{StateNotDone, strings.Join(notDone, "; ") + "; " + readyz, next}
	case j.ev.ReadyzErr != nil:
		return verdict{StateNotDone, readyz + "; " + strings.Join(append(unknown, done...), "; "), next}
	case len(unknown) > 0:
		return verdict{StateUnknown, strings.Join(append(unknown, done...), "; ") + "; " + readyz, next}
	}
	return verdict{StateDone, strings.Join(done, "; ") + "; " + readyz, next}
}

// EtcdCALeftovers are what may still depend on the old etcd CA, for
// verify: steps 1 and 2 not done make dropping it (step 3) cut etcd off.
func EtcdCALeftovers(steps []StepState) []StepState { return FrontProxyLeftovers(steps) }
