package e2eutil

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// TargetStatus is "status --target T -o json": the steps and the next
// command.
type TargetStatus struct {
	Steps []checks.StepState
	Next  string
}

// Step is step n of the report (zero when absent).
func (st TargetStatus) Step(n string) checks.StepState {
	for _, s := range st.Steps {
		if s.Step == n {
			return s
		}
	}
	return checks.StepState{}
}

// StatusOf runs status --target target -o json.
func StatusOf(t testing.TB, target string) TargetStatus {
	t.Helper()
	r := Carotate(t, "status", "--target", target, "-o", "json")
	var st TargetStatus
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Fatalf("status: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	return st
}

// StatusWhen polls status until step shows state (the mirror pods follow
// a restarted static pod within seconds, as a kubelet's do), as an admin
// runs each step's check; it returns the last report.
func StatusWhen(t testing.TB, target, step, state string) TargetStatus {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		st := StatusOf(t, target)
		if st.Step(step).State == state || time.Now().After(deadline) {
			return st
		}
		time.Sleep(2 * time.Second)
	}
}

// TargetScript prints the script of a target's phase inside the kubeadm
// node, lints it and writes it into dir; it returns the file's name.
func TargetScript(t testing.TB, dir, target, phase string) string {
	t.Helper()
	s := InNode(t, dir, "kubectl", "carotate", "instructions", "--target", target, "-o", "script", "--phase", phase)
	LintScript(t, s)
	file := target + "-" + phase + ".sh"
	Must(t, os.WriteFile(filepath.Join(dir, file), []byte(s), 0o644))
	return file
}

// FinishWhenDone checks that status shows every step of target done, with
// finish as the next command, then finishes the rotation and checks that
// its record says so and holds no key material.
func FinishWhenDone(t testing.TB, client kubernetes.Interface, target, lastStep string) {
	t.Helper()
	st := StatusWhen(t, target, lastStep, checks.StateDone)
	for _, s := range st.Steps {
		if s.State != checks.StateDone {
			t.Errorf("step %s: %s: %s", s.Step, s.State, s.Evidence)
		}
	}
	if st.Next != "kubectl carotate finish --target "+target {
		t.Errorf("next: %q", st.Next)
	}
	if r := Carotate(t, "finish", "--target", target); r.Code != 0 {
		t.Errorf("finish: exit %d: %s", r.Code, r.Stderr)
	}
	cm, err := client.CoreV1().ConfigMaps("kube-system").Get(context.Background(), "carotate-state-"+target, metav1.GetOptions{})
	Must(t, err)
	if !strings.Contains(cm.Data["rotation.json"], `"state": "finished"`) {
		t.Errorf("the record: %v", cm.Data["rotation.json"])
	}
	for k, v := range cm.Data {
		if checks.ContainsPrivateKey([]byte(v)) {
			t.Errorf("the record's %s holds key material", k)
		}
	}
}
