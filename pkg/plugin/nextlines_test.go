package plugin

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// Every "next:" line status prints is a command an admin pastes
// mid-incident. checkRunnable parses one with a real shell parser and
// checks each call in it: kubectl carotate calls against our own command
// tree (the subcommand and its flags exist, each value is what the flag
// takes), other kubectl calls against the flags we print for them.

// TestStatusNextLinesRunnable judges a rotation at each of its stages and
// checks every next command status would print.
func TestStatusNextLinesRunnable(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newVerifyTestCA(t, dir, "old"), newVerifyTestCA(t, dir, "new")
	rec := &rotationRecord{ID: "20260101-abcdef", State: rotationActive, OldCAPEM: oldCA.pem, NewCAPEM: newCA.pem,
		OldCAs: []*x509.Certificate{oldCA.cert}, NewCAs: []*x509.Certificate{newCA.cert}}
	now := time.Now()
	servesOld := []*x509.Certificate{verifyTestLeaf(t, oldCA, now.Add(-time.Hour), now.Add(time.Hour))}
	servesNew := []*x509.Certificate{verifyTestLeaf(t, newCA, now.Add(-time.Hour), now.Add(time.Hour))}
	changed := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	kcm := instructionsMirrorPod{Node: "cp-1", Component: checks.ComponentControllerManager, Name: "kube-controller-manager-cp-1", Mirror: true,
		Command: checks.ParseCommandLine([]string{"kube-controller-manager", "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt"}, nil)}
	apis := instructionsMirrorPod{Node: "cp-1", Component: checks.ComponentAPIServer, Name: "kube-apiserver-cp-1", Mirror: true, Created: changed.Add(time.Hour),
		Command: checks.ParseCommandLine([]string{"kube-apiserver", "--client-ca-file=/etc/kubernetes/pki/ca-bundle.crt"}, nil)}
	stage := func(st checks.BundleState, writer string, passes []rotationPass) *statusEvidence {
		chain := servesOld
		if st == checks.BundleOnlyNew {
			chain = servesNew
		}
		r := *rec
		r.Passes = passes
		rot := &instructionsCAs{ID: r.ID, Record: &r, Old: r.OldCAs, New: r.NewCAs, OldFile: "old-ca.crt", NewFile: "new-ca.crt", ExportOld: true, ExportNew: true}
		return &statusEvidence{rot: rot, now: changed.Add(2 * time.Hour), cp: []instructionsMirrorPod{kcm, apis},
			RootCAState: &cluster.RootCAState{CMs: map[checks.BundleState]int{st: 3}, CMTotal: 3, Secrets: map[checks.BundleState]int{}, KubeSystemCM: st, KubeSystemCMWriter: writer, LastChange: changed},
			podsRestart: []string{"app/web-1"}, chain: chain, clusterInfo: ClusterInfoStatus{Present: true}, kubeconfigCA: checks.BundleOnlyOld,
			backendPods: map[string]*statusBackend{}, leases: map[string]time.Time{}}
	}
	early := []rotationPass{{Kind: "restart-workloads", Value: rec.ID + "/bundle", Started: changed.Add(-time.Minute), Result: "ok"}}
	for name, ev := range map[string]*statusEvidence{
		"nothing done":                stage(checks.BundleOnlyOld, controllerManagerFieldManager, nil),
		"bundled":                     stage(checks.BundleHasBoth, controllerManagerFieldManager, nil),
		"bundled after an early pass": stage(checks.BundleHasBoth, controllerManagerFieldManager, early),
		"unbundled":                   stage(checks.BundleOnlyNew, controllerManagerFieldManager, nil),
		"written by someone else":     stage(checks.BundleHasBoth, fieldManager, nil),
	} {
		rows := ev.judge()
		report := &statusReport{Steps: rows}
		statusPickNext(report, ev.rot.Record)
		for _, r := range rows {
			checkRunnable(t, r.Next)
		}
		checkRunnable(t, report.Next)
		if name == "bundled after an early pass" {
			for _, r := range rows {
				if r.Step == "4" && !strings.Contains(r.Next, "--value "+rec.ID+"/bundle-2 ") {
					t.Errorf("a bundle pass that ran before the bundle was published: step 4 recommends %q, want a new value", r.Next)
				}
			}
		}
		if name == "bundled" {
			for _, r := range rows {
				if r.Step == "4" && !strings.Contains(r.Next, "--value "+rec.ID+"/bundle ") {
					t.Errorf("step 4 recommends %q, want the bundle pass", r.Next)
				}
			}
		}
	}
	checkRunnable(t, (&StatusOptions{}).noRotation().Next)
}
