package plugin

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// Every "next:" line verify and status print is a command an admin pastes
// mid-incident. checkRunnable parses one with a real shell parser and
// checks each call in it: kubectl carotate calls against our own command
// tree (the subcommand and its flags exist, each value is what the flag
// takes), other kubectl calls against the flags we print for them.

// TestVerifyNextLinesRunnable builds the findings of every check that
// prints a command, with the CAs from files and from the rotation record.
func TestVerifyNextLinesRunnable(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newVerifyTestCA(t, dir, "old"), newVerifyTestCA(t, dir, "new")
	kubeconfig := dir + "/kubeconfig"
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: my-cluster
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: me
  user: {token: abc}
contexts:
- name: my-context
  context: {cluster: my-cluster, user: me}
current-context: my-context
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, fromRecord := range []bool{false, true} {
		for _, expect := range []checks.Expect{checks.ExpectBundle, checks.ExpectNew} {
			want := []*x509.Certificate{newCA.cert}
			if expect == checks.ExpectBundle {
				want = append(want, oldCA.cert)
			}
			o := &VerifyOptions{rule: checks.NewCARule(expect, want, []*x509.Certificate{oldCA.cert})}
			if fromRecord {
				o.caKey, o.caName = rotationKeyBundle, "rotation r1's bundle (new+old)"
			} else {
				o.CAFile = dir + "/ca-bundle.crt"
			}
			cf := genericclioptions.NewConfigFlags(true)
			*cf.KubeConfig = kubeconfig
			o.Common = &Common{Factory: cmdutil.NewConfigFactory(cf, "test", nil)}
			o.cfg = &rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAData: oldCA.pem}}
			r := &verifyRun{o: o}

			var lines []string
			lines = append(lines, r.verifyKubeconfigItem().Action)
			o.cfg.Insecure, o.cfg.TLSClientConfig.CAData = true, nil
			lines = append(lines, r.verifyKubeconfigItem().Action)
			lines = append(lines, r.verifyClusterInfoItem(ClusterInfoStatus{Present: true, Namespace: "kube-public", Name: "cluster-info"}).Action)
			for _, reason := range []string{checks.CAStillOld, checks.CALacks, checks.CAOutside} {
				a, _ := o.verifyRootCAAction(checks.CAVerdict{Reason: reason})
				lines = append(lines, a)
			}
			lines = append(lines, verifyServingAction, "kubectl carotate instructions --step 9.2")
			for _, l := range lines {
				if l == "" {
					t.Errorf("record=%v expect=%s: an empty next line among %q", fromRecord, expect, lines)
				}
				checkRunnable(t, l)
			}
			if !strings.Contains(lines[0], "kubectl config set-cluster my-cluster ") {
				t.Errorf("the kubeconfig's cluster is not named: %q", lines[0])
			}
			if fromRecord && !strings.HasPrefix(lines[0], "kubectl -n kube-system get configmap carotate-state -o jsonpath='{.data.ca-bundle\\.crt}' > ca-bundle.crt && ") {
				t.Errorf("from the record, the CA file is not written first: %q", lines[0])
			}
			if fromRecord && lines[2] != "kubectl carotate update-cluster-info" {
				t.Errorf("from the record, update-cluster-info needs no --ca: %q", lines[2])
			}
		}
	}
}

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
