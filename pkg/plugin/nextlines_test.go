package plugin

import (
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"mvdan.cc/sh/v3/syntax"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Every "next:" line verify and status print is a command an admin pastes
// mid-incident. checkRunnable parses one with a real shell parser and
// checks each call in it: kubectl carotate calls against our own command
// tree (the subcommand and its flags exist, each value is what the flag
// takes), other kubectl calls against the flags we print for them.

// errorfer is what the checker reports to: a *testing.T, or a collector.
type errorfer interface {
	Helper()
	Errorf(format string, args ...any)
}

type problems []string

func (p *problems) Helper() {}
func (p *problems) Errorf(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// shellWord is a word's value as the shell would see it; dynamic is set
// when part of it comes from a command substitution or a variable.
func shellWord(w *syntax.Word) (value string, dynamic bool) {
	var b strings.Builder
	var parts func([]syntax.WordPart)
	parts = func(ps []syntax.WordPart) {
		for _, p := range ps {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				parts(p.Parts)
			default:
				dynamic = true
				b.WriteString("$DYNAMIC")
			}
		}
	}
	parts(w.Parts)
	return b.String(), dynamic
}

// fileFlags take a path: what verify once printed there was a description
// ("rotation X's bundle (new+old)"), which no shell can run.
var fileFlags = map[string]bool{"ca": true, "old-ca": true, "new-ca": true, "keep": true, "out": true, "certificate-authority": true, "kubeconfig": true}

func checkPath(t errorfer, line, flag, v string) {
	t.Helper()
	if v == "" || strings.ContainsAny(v, " \t\n'\"()") {
		t.Errorf("%q: --%s %q is not a file path", line, flag, v)
	}
}

func checkRunnable(t errorfer, line string) {
	t.Helper()
	if line == "" {
		return
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
	if err != nil {
		t.Errorf("%q does not parse as a shell command: %v", line, err)
		return
	}
	calls := 0
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		calls++
		var args []string
		for _, w := range call.Args {
			v, _ := shellWord(w)
			args = append(args, v)
		}
		if args[0] != "kubectl" {
			return true
		}
		if len(args) > 1 && args[1] == "carotate" {
			checkCarotateCall(t, line, args[2:])
		} else {
			checkKubectlCall(t, line, args[1:])
		}
		return true
	})
	if calls == 0 {
		t.Errorf("%q holds no command", line)
	}
}

func checkCarotateCall(t errorfer, line string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%q: kubectl carotate without a subcommand", line)
		return
	}
	root := NewCmdCarotate(genericiooptions.NewTestIOStreamsDiscard(), BuildInfo{})
	var sub *cobra.Command
	for _, c := range root.Commands() {
		if c.Name() == args[0] || c.HasAlias(args[0]) {
			sub = c
		}
	}
	if sub == nil {
		t.Errorf("%q: no subcommand %q", line, args[0])
		return
	}
	if err := sub.ParseFlags(args[1:]); err != nil {
		t.Errorf("%q: %v", line, err)
		return
	}
	if sub.Args != nil {
		if err := sub.Args(sub, sub.Flags().Args()); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
	sub.Flags().Visit(func(fl *pflag.Flag) {
		v := fl.Value.String()
		switch name := fl.Name; {
		case fileFlags[name]:
			checkPath(t, line, name, v)
		case name == "value":
			if err := restartValidateValue(v); err != nil {
				t.Errorf("%q: %v", line, err)
			}
		case name == "namespace":
			if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
				t.Errorf("%q: -n %q: %v", line, v, errs)
			}
		case name == "kinds":
			if _, err := restartParseKinds(strings.Split(strings.Trim(v, "[]"), ",")); err != nil {
				t.Errorf("%q: %v", line, err)
			}
		case name == "step":
			if _, ok := checks.LookupStep(v); !ok {
				t.Errorf("%q: no step %q", line, v)
			}
		case name == "phase":
			if v != checks.PhaseBundle && v != checks.PhaseServe && v != checks.PhaseFinish {
				t.Errorf("%q: no phase %q", line, v)
			}
		case name == "expect":
			if v != string(checks.ExpectBundle) && v != string(checks.ExpectNew) {
				t.Errorf("%q: --expect %q", line, v)
			}
		}
	})
}

// kubectlFlags are the flags of the kubectl calls we print, and whether
// they take a value.
var kubectlFlags = map[string]bool{
	"-n": true, "--namespace": true, "-c": true, "--container": true, "-o": true, "-f": true, "-p": true,
	"--type": true, "--certificate-authority": true, "--force": false, "--embed-certs": false,
	"--insecure-skip-tls-verify": true,
}

func checkKubectlCall(t errorfer, line string, args []string) {
	t.Helper()
	positional := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			positional++
			continue
		}
		name, value, inline := strings.Cut(a, "=")
		takes, known := kubectlFlags[name]
		if !known {
			if strings.HasPrefix(name, "--since") {
				if _, err := time.ParseDuration(value); err != nil {
					t.Errorf("%q: --since=%q: %v", line, value, err)
				}
				continue
			}
			t.Errorf("%q: kubectl flag %s is not one we print", line, name)
			continue
		}
		if takes && !inline {
			if i+1 >= len(args) {
				t.Errorf("%q: %s lacks its value", line, name)
				continue
			}
			i++
			value = args[i]
		}
		if takes && value == "" {
			t.Errorf("%q: %s has an empty value", line, name)
		}
		if name == "--certificate-authority" {
			checkPath(t, line, "certificate-authority", value)
		}
	}
	if positional == 0 {
		t.Errorf("%q: kubectl without a subcommand", line)
	}
}

// TestCheckRunnableCatchesDescriptions: the checker itself fails on what
// verify once printed when the CAs came from the rotation record.
func TestCheckRunnableCatchesDescriptions(t *testing.T) {
	for _, bad := range []string{
		`kubectl config set-cluster local --embed-certs --certificate-authority=rotation 20261202-1dd963's bundle (new+old)`,
		`kubectl carotate update-cluster-info --ca rotation 20261202-1dd963's bundle (new+old)`,
		`kubectl carotate restart-workloads --value 'a b'`,
		`kubectl carotate restart-workloads --kinds jobs`,
		`kubectl carotate instructions --step 13`,
		`kubectl carotate nosuch`,
		`point kube-controller-manager's --root-ca-file at x.crt`,
	} {
		var p problems
		checkRunnable(&p, bad)
		if len(p) == 0 {
			t.Errorf("checkRunnable accepts %q", bad)
		}
	}
}

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
			o.Common = &Common{ConfigFlags: cf}
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
		oldCAs: []*x509.Certificate{oldCA.cert}, newCAs: []*x509.Certificate{newCA.cert}}
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
		rot := &instructionsCAs{id: r.ID, record: &r, oldCAs: r.oldCAs, newCAs: r.newCAs, oldFile: "old-ca.crt", newFile: "new-ca.crt", exportOld: true, exportNew: true}
		return &statusEvidence{rot: rot, now: changed.Add(2 * time.Hour), cp: []instructionsMirrorPod{kcm, apis},
			rootCAState: &rootCAState{cms: map[checks.BundleState]int{st: 3}, cmTotal: 3, secrets: map[checks.BundleState]int{}, kubeSystemCM: st, kubeSystemCMWriter: writer, lastChange: changed},
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
		statusPickNext(report, ev.rot.record)
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
