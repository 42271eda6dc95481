package checks

import (
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"
)

// The step judge, table-tested per step: each case starts from the same
// cluster (judgeBase: the bundle published by the controller-manager, the
// API server still serving from the old CA), changes what the case is
// about, and checks the one step's state, evidence and next command.

var (
	judgeChanged = time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC) // ca.crt last written
	judgeServing = time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC) // kube-apiserver's mirror pod created
)

type judgeFixture struct {
	old, new, other testCert
	// servesOld, servesNew and servesOther are serving chains from each CA.
	servesOld, servesNew, servesOther []*x509.Certificate
}

func newJudgeFixture(t *testing.T) *judgeFixture {
	t.Helper()
	// Valid now: ChainVerifies checks the chain at the current time.
	live := func(cn string, parent *testCert) testCert {
		return makeCert(t, certSpec{cn: cn, leaf: parent != nil, parent: parent,
			notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(24 * time.Hour)})
	}
	f := &judgeFixture{old: live("old", nil), new: live("new", nil), other: live("other", nil)}
	f.servesOld = []*x509.Certificate{live("kube-apiserver", &f.old).cert}
	f.servesNew = []*x509.Certificate{live("kube-apiserver", &f.new).cert}
	f.servesOther = []*x509.Certificate{live("kube-apiserver", &f.other).cert}
	return f
}

func mirrorPod(node, component string, created time.Time, args ...string) ControlPlanePod {
	return ControlPlanePod{Node: node, Component: component, Name: component + "-" + node, Mirror: true, Created: created,
		Command: ParseCommandLine(append([]string{component}, args...), nil)}
}

const bundledSummary = "kube-root-ca.crt: 3/3 namespaces hold the bundle"

// base is the middle of the bundle phase: steps 1-5 and 7 done, the API
// server serving from the old CA, no backend, no cluster-info.
func (f *judgeFixture) base() Evidence {
	return Evidence{
		Rotation: RotationFacts{ID: "r1", Old: certs(f.old), New: certs(f.new), OldFile: "old-ca.crt", NewFile: "new-ca.crt"},
		ControlPlane: []ControlPlanePod{
			mirrorPod("cp-1", ComponentControllerManager, judgeChanged, "--root-ca-file=/etc/kubernetes/pki/ca-bundle.crt"),
			mirrorPod("cp-1", ComponentAPIServer, judgeServing, "--client-ca-file=/etc/kubernetes/pki/ca-bundle.crt"),
			mirrorPod("cp-1", ComponentScheduler, judgeChanged, "--kubeconfig=/etc/kubernetes/scheduler.conf"),
		},
		RootCA: RootCAEvidence{Summary: bundledSummary, Bundled: true, KubeSystem: BundleHasBoth,
			KubeSystemWriter: "kube-controller-manager", LastChange: judgeChanged},
		Pods:          PodEvidence{WithCA: 4},
		ExtensionAuth: ExtensionAuthEvidence{ClientCA: BundleHasBoth},
		Serving:       ServingEvidence{Chain: f.servesOld},
		Kubeconfig:    KubeconfigEvidence{CA: BundleHasBoth, ClientIssuer: IssuedByNew},
		ClusterInfo:   ClusterInfoEvidence{Report: ClusterInfoReport{Consistent: true}},
		Nodes: NodeEvidence{Names: []string{"n1", "n2"},
			Leases: map[string]time.Time{"n1": judgeServing.Add(time.Minute), "n2": judgeServing.Add(time.Minute)}},
	}
}

// finished is every in-cluster step of the finish phase done.
func (f *judgeFixture) finished(ev *Evidence) {
	ev.RootCA = RootCAEvidence{Summary: "kube-root-ca.crt: 0/3 namespaces hold the bundle, 3 the new CA alone", Bundled: true, Unbundled: true,
		KubeSystem: BundleOnlyNew, KubeSystemWriter: "kube-controller-manager", LastChange: judgeServing.Add(time.Hour)}
	ev.Serving.Chain = f.servesNew
}

type judgeCase struct {
	name                  string
	change                func(*Evidence)
	state, evidence, next string
}

func testStep(t *testing.T, f *judgeFixture, step string, cases []judgeCase) {
	t.Helper()
	for _, c := range cases {
		ev := f.base()
		if c.change != nil {
			c.change(&ev)
		}
		var got *StepState
		for _, s := range JudgeSteps(ev) {
			if s.Step == step {
				got = &s
			}
		}
		if got == nil {
			t.Fatalf("no step %s judged", step)
		}
		if got.State != c.state || got.Evidence != c.evidence || got.Next != c.next {
			t.Errorf("step %s, %s:\n got %q\n     %q\n     next %q\nwant %q\n     %q\n     next %q",
				step, c.name, got.State, got.Evidence, got.Next, c.state, c.evidence, c.next)
		}
	}
}

var errBoom = errors.New("boom")

const kcmFlags = " (mirror pod kube-controller-manager-cp-1: --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt)"

func TestJudgeStep1(t *testing.T) {
	f := newJudgeFixture(t)
	testStep(t, f, "1", []judgeCase{
		{"through step 2", nil, StateDone, "control-plane components read files that hold the new CA (steps 2 and 5)", ""},
		{"through step 5 alone", func(ev *Evidence) { ev.RootCA.KubeSystem = BundleOnlyOld },
			StateDone, "control-plane components read files that hold the new CA (steps 2 and 5)", ""},
		{"neither", func(ev *Evidence) { ev.RootCA.KubeSystem, ev.ExtensionAuth.ClientCA = BundleOnlyOld, BundleOnlyOld },
			StateUnknown, "files on control-plane nodes are not visible through the API; they show once a component reads them (steps 2, 5)",
			"kubectl carotate instructions --step 1"},
	})
}

func TestJudgeStep2(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 2"
	testStep(t, f, "2", []judgeCase{
		{"the controller-manager publishes the bundle", nil,
			StateDone, "kube-controller-manager publishes old+new (the bundle) in kube-system/kube-root-ca.crt" + kcmFlags, ""},
		{"the controller-manager publishes the old CA", func(ev *Evidence) { ev.RootCA.KubeSystem = BundleOnlyOld },
			StateNotDone, "kube-controller-manager publishes the old CA only: its --root-ca-file is not the bundle yet" + kcmFlags, next},
		{"the bundle shares the signing CA's file", func(ev *Evidence) {
			ev.ControlPlane[0] = mirrorPod("cp-1", ComponentControllerManager, judgeChanged,
				"--root-ca-file=/etc/kubernetes/pki/ca.crt", "--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt")
		}, StateNotDone, "kube-controller-manager-cp-1: --cluster-signing-cert-file names the same file as --root-ca-file (/etc/kubernetes/pki/ca.crt), " +
			"which is now the bundle: it must hold one CA; give it the separate new-CA copy (caveat of step 2)", next},
		{"kube-root-ca.crt not readable", func(ev *Evidence) { ev.RootCA.Err = errBoom },
			StateUnknown, "cannot read kube-root-ca.crt: boom", next},
		{"no root CA publisher", func(ev *Evidence) { ev.RootCA.KubeSystem = "" },
			StateUnknown, "kube-system has no kube-root-ca.crt: the controller-manager's root CA publisher does not run", next},
		{"written by someone else", func(ev *Evidence) { ev.RootCA.KubeSystemWriter = "kubectl-carotate" },
			StateUnknown, "kube-system/kube-root-ca.crt holds old+new (the bundle), last written by kubectl-carotate, not the controller-manager: " +
				"its --root-ca-file cannot be told" + kcmFlags, next},
		{"written by nobody known, no mirror pod", func(ev *Evidence) { ev.RootCA.KubeSystemWriter, ev.ControlPlane = "", nil },
			StateUnknown, "kube-system/kube-root-ca.crt holds old+new (the bundle), last written by an unknown writer, not the controller-manager: " +
				"its --root-ca-file cannot be told", next},
	})
}

func TestJudgeStep3(t *testing.T) {
	f := newJudgeFixture(t)
	bundle := "kubectl carotate bundle --old-ca old-ca.crt --new-ca new-ca.crt --out ca-bundle.crt"
	notBundled := "kube-root-ca.crt: 1/3 namespaces hold the bundle, 2 not the new CA (a, b)"
	testStep(t, f, "3", []judgeCase{
		{"every root CA holds the bundle", nil, StateDone, bundledSummary, ""},
		{"some do not", func(ev *Evidence) { ev.RootCA.Bundled, ev.RootCA.Summary = false, notBundled }, StateNotDone, notBundled, bundle},
		{"not readable", func(ev *Evidence) { ev.RootCA.Err = errBoom }, StateUnknown, "cannot list kube-root-ca.crt: boom", bundle},
	})
}

func TestJudgeStep4(t *testing.T) {
	f := newJudgeFixture(t)
	restart := "kubectl carotate restart-workloads --value r1/bundle --wait"
	testStep(t, f, "4", []judgeCase{
		{"every pod current", nil, StateDone, "4 running pods using the ServiceAccount CA, all started after it last changed", ""},
		{"superseded", func(ev *Evidence) { ev.RootCA.Unbundled = true },
			StateDone, "superseded: the old CA is gone from every kube-root-ca.crt (step 12.1)", ""},
		{"a pod to restart", func(ev *Evidence) { ev.Pods.Restart = []string{"app/web-1"} },
			StateNotDone, "1 pod started before their CA source last changed (app/web-1)", restart},
		{"pods lacking the new CA, and a tie", func(ev *Evidence) {
			ev.Pods.Lacking, ev.Pods.Maybe = []string{"a/1", "a/2", "a/3", "a/4"}, []string{"b/1"}
		}, StateNotDone, "4 pods mount a CA source without the new CA (a/1, a/2, a/3 and 1 more); 1 pod started in the same second as their CA source was written, " +
			"which cannot be told apart (b/1; kubectl carotate verify --only pods names them)", restart},
		{"a tie alone is not a restart", func(ev *Evidence) { ev.Pods.Maybe = []string{"b/1"} },
			StateDone, "4 running pods using the ServiceAccount CA, all started after it last changed; 1 pod started in the same second as their CA source was written, " +
				"which cannot be told apart (b/1; kubectl carotate verify --only pods names them)", ""},
		{"before the bundle", func(ev *Evidence) { ev.RootCA.Bundled = false },
			StateNotDone, "waits for step 3: 4 running pods using the ServiceAccount CA, all started after it last changed", restart},
		{"an early pass rolls again under a new value", func(ev *Evidence) {
			ev.Pods.Restart = []string{"app/web-1"}
			ev.Rotation.Passes = []PassRun{{Value: "r1/bundle", Started: judgeChanged.Add(-time.Minute)}}
		}, StateNotDone, "1 pod started before their CA source last changed (app/web-1)", "kubectl carotate restart-workloads --value r1/bundle-2 --wait"},
		{"a pass after the bundle is resumed", func(ev *Evidence) {
			ev.Pods.Restart = []string{"app/web-1"}
			ev.Rotation.Passes = []PassRun{{Value: "r1/bundle", Started: judgeChanged.Add(time.Minute)}}
		}, StateNotDone, "1 pod started before their CA source last changed (app/web-1)", restart},
		{"pods not readable", func(ev *Evidence) { ev.Pods.Err = errBoom }, StateUnknown, "cannot list pods: boom", restart},
	})
}

func TestJudgeStep5(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 5"
	published := " (published in kube-system/extension-apiserver-authentication)"
	testStep(t, f, "5", []judgeCase{
		{"the client CA holds the bundle", nil, StateDone, "kube-apiserver's --client-ca-file holds old+new (the bundle)" + published, ""},
		{"the kubelet CA is named, not visible", func(ev *Evidence) {
			ev.ControlPlane[1] = mirrorPod("cp-1", ComponentAPIServer, judgeServing, "--kubelet-certificate-authority=/etc/kubernetes/pki/ca-bundle.crt")
		}, StateDone, "kube-apiserver's --client-ca-file holds old+new (the bundle)" + published +
			"; kube-apiserver-cp-1 --kubelet-certificate-authority=/etc/kubernetes/pki/ca-bundle.crt is not visible through the API", ""},
		{"the front-proxy CA is not rotated yet", func(ev *Evidence) {
			ev.Rotation.OldFP, ev.Rotation.NewFP = certs(f.other), certs(f.new)
			ev.ExtensionAuth.FrontProxy = BundleOnlyOld
		}, StateNotDone, "kube-apiserver's --client-ca-file holds old+new (the bundle)" + published +
			"; but --requestheader-client-ca-file holds only-old of the front-proxy CAs", next},
		{"the old CA alone", func(ev *Evidence) { ev.ExtensionAuth.ClientCA = BundleOnlyOld },
			StateNotDone, "kube-apiserver's --client-ca-file holds the old CA only" + published, next},
		{"not readable", func(ev *Evidence) { ev.ExtensionAuth.Err = errBoom },
			StateUnknown, "cannot read kube-system/extension-apiserver-authentication: boom", next},
	})
}

func TestJudgeStep6(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 6"
	testStep(t, f, "6", []judgeCase{
		{"no client CA file", nil, StateNotApplicable,
			"kube-scheduler has no --client-ca-file: it reads the client CA the API server publishes (step 5)", ""},
		{"its own client CA file", func(ev *Evidence) {
			ev.ControlPlane[2] = mirrorPod("cp-1", ComponentScheduler, judgeChanged, "--client-ca-file=/etc/kubernetes/pki/ca.crt")
		}, StateUnknown, "kube-scheduler-cp-1 --client-ca-file=/etc/kubernetes/pki/ca.crt: the file's content is not visible through the API", next},
		{"no mirror pod", func(ev *Evidence) { ev.ControlPlane = ev.ControlPlane[:2] },
			StateUnknown, "no kube-scheduler mirror pod is visible: its flags cannot be read", next},
	})
}

func TestJudgeStep7(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 7"
	others := "; other kubeconfigs are not visible through the API"
	testStep(t, f, "7", []judgeCase{
		{"the bundle and a new client certificate", nil,
			StateDone, "this kubeconfig trusts old+new (the bundle), its client certificate is issued by the new CA" + others, ""},
		{"an old client certificate", func(ev *Evidence) { ev.Kubeconfig.ClientIssuer = IssuedByOld },
			StateNotDone, "this kubeconfig trusts old+new (the bundle), its client certificate is issued by the old CA (it stops working at step 12.2)" + others, next},
		{"a token user of the old CA", func(ev *Evidence) { ev.Kubeconfig = KubeconfigEvidence{CA: BundleOnlyOld} },
			StateNotDone, "this kubeconfig trusts the old CA only" + others, next},
		{"a client certificate of neither", func(ev *Evidence) { ev.Kubeconfig.ClientIssuer = IssuedByOther },
			StateDone, "this kubeconfig trusts old+new (the bundle), its client certificate is issued by neither CA" + others, ""},
		{"the system's CAs", func(ev *Evidence) { ev.Kubeconfig = KubeconfigEvidence{CA: "system"} },
			StateUnknown, "this kubeconfig trusts the system's CAs" + others, next},
	})
}

func TestJudgeStep8(t *testing.T) {
	f := newJudgeFixture(t)
	workload := "Deployment kube-system/cloud-controller-manager runs as a workload: it trusts the ServiceAccount root CA, like step 4"
	testStep(t, f, "8", []judgeCase{
		{"none", nil, StateNotApplicable, "no cloud-controller-manager (no static pod, Deployment or DaemonSet by that name in kube-system)", ""},
		{"a static pod", func(ev *Evidence) {
			ev.ControlPlane = append(ev.ControlPlane, mirrorPod("cp-1", ComponentCloudController, judgeChanged, "--root-ca-file=/etc/kubernetes/pki/ca.crt"))
		}, StateUnknown, "cloud-controller-manager-cp-1 --root-ca-file=/etc/kubernetes/pki/ca.crt: the file's content is not visible through the API",
			"kubectl carotate instructions --step 8"},
		{"a workload, rolled", func(ev *Evidence) { ev.CloudControllers = []string{"Deployment kube-system/cloud-controller-manager"} },
			StateDone, workload, ""},
		{"a workload, to roll", func(ev *Evidence) {
			ev.CloudControllers = []string{"Deployment kube-system/cloud-controller-manager"}
			ev.Pods.Restart = []string{"kube-system/cloud-controller-manager-1"}
		}, StateNotDone, workload, "kubectl carotate restart-workloads --value r1/bundle --wait"},
	})
}

func TestJudgeStep91(t *testing.T) {
	f := newJudgeFixture(t)
	restart := "kubectl carotate restart-workloads -n kube-system --value r1/bundle --wait"
	metrics := func(ev *Evidence) {
		ev.Backends.APIs = []ServiceRef{{Name: "v1beta1.metrics.k8s.io", Namespace: "kube-system", Service: "metrics-server"}}
		ev.Backends.Services = []BackendService{{Key: "kube-system/metrics-server", Pods: 1}}
	}
	behind := "1 services behind 1 APIServices and 0 webhooks"
	testStep(t, f, "9.1", []judgeCase{
		{"no backend", nil, StateNotApplicable, "no aggregated API server (APIService with a service) and no webhook", ""},
		{"its pods rolled", metrics, StateDone, behind + "; their pods started after the CA last changed", ""},
		{"no pod behind it", func(ev *Evidence) { metrics(ev); ev.Backends.Services[0].Pods = 0 },
			StateDone, behind + "; no running pod behind kube-system/metrics-server; their pods started after the CA last changed", ""},
		{"a pod to roll", func(ev *Evidence) {
			metrics(ev)
			ev.Backends.Services[0].Restart = []string{"kube-system/metrics-server-1"}
		},
			StateNotDone, behind + "; pods to restart: kube-system/metrics-server (kube-system/metrics-server-1)", restart},
		{"before the bundle", func(ev *Evidence) { metrics(ev); ev.RootCA.Bundled = false },
			StateNotDone, behind + "; waits for step 3", restart},
		{"a webhook served by URL", func(ev *Evidence) {
			metrics(ev)
			ev.Backends.Webhooks = []ServiceRef{{Name: "ValidatingWebhookConfiguration policy/check", URL: "https://policy.example:8443/check"}}
		}, StateUnknown, "1 services behind 1 APIServices and 1 webhooks; served outside the cluster (not visible): ValidatingWebhookConfiguration policy/check", restart},
		{"not listable", func(ev *Evidence) { ev.Backends.Err = errBoom },
			StateUnknown, "cannot list APIServices and webhooks: boom", ""},
	})
}

func TestJudgeStep92(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 9.2"
	servesNew := func(ev *Evidence) { ev.Serving.Chain = f.servesNew }
	// The kubelets' client certificates as CertificateSigningRequests
	// return them: from the new CA (step 9.2 done on the node), the old
	// (a rotation before the controller-manager's signing switch) or
	// another CA.
	issued := func(ca *testCert, node, csr string) KubeletCert {
		c := makeCert(t, certSpec{cn: "system:node:" + node, leaf: true, parent: ca,
			notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(24 * time.Hour)})
		return KubeletCert{CSR: csr, Created: judgeServing, Cert: c.cert}
	}
	certs := func(byNode map[string]KubeletCert) func(*Evidence) {
		return func(ev *Evidence) { ev.KubeletCerts.Newest = byNode }
	}
	bothNew := certs(map[string]KubeletCert{"n1": issued(&f.new, "n1", "carotate-r1-n1"), "n2": issued(&f.new, "n2", "carotate-r1-n2")})
	then := func(changes ...func(*Evidence)) func(*Evidence) {
		return func(ev *Evidence) {
			for _, c := range changes {
				c(ev)
			}
		}
	}
	const unknownBoth = "2 of 2 nodes have no issued request of signer kubernetes.io/kube-apiserver-client-kubelet left (n1, n2; kube-controller-manager deletes them an hour after they are issued): " +
		"which CA issued their kubelet's client certificate is not visible through the API. On each: openssl x509 -issuer -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem. " +
		"A kubelet that still presents an old-CA certificate gets 401 at step 12.2 and its node goes NotReady"
	const leasesRenewed = "; every node renewed its Lease since kube-apiserver restarted at 2026-01-01T11:00:00Z, so their kubelet.conf trusts the new CA"
	testStep(t, f, "9.2", []judgeCase{
		{"no request left", nil, StateUnknown, unknownBoth, next},
		// The defect this judge fixes: Leases renewed through the API
		// server on the new CA show kubelet.conf's trust, not which CA
		// issued the certificate the kubelet presents.
		{"Leases renewed, no request left", servesNew, StateUnknown, unknownBoth + leasesRenewed, next},
		{"every node renewed from the new CA", bothNew, StateDone,
			"all 2 nodes' newest kubelet client certificate is issued by the new CA (n1 (CSR carotate-r1-n1), n2 (CSR carotate-r1-n2)); clientCAFile is not visible through the API", ""},
		{"renewed, and Leases since the serving switch", then(bothNew, servesNew), StateDone,
			"all 2 nodes' newest kubelet client certificate is issued by the new CA (n1 (CSR carotate-r1-n1), n2 (CSR carotate-r1-n2))" + leasesRenewed +
				"; clientCAFile is not visible through the API", ""},
		{"renewed, a Lease stale since the serving switch", then(bothNew, servesNew, func(ev *Evidence) { ev.Nodes.Leases["n2"] = judgeServing.Add(-time.Minute) }),
			StateNotDone, "1 of 2 nodes have not renewed their Lease since kube-apiserver restarted at 2026-01-01T11:00:00Z (n2): " +
				"their kubelet does not get through (kubelet.conf does not trust the new CA, or, since step 12.2, its client certificate is from the old CA)", next},
		{"a kubelet rotated before the signing switch", certs(map[string]KubeletCert{"n1": issued(&f.new, "n1", "carotate-r1-n1"), "n2": issued(&f.old, "n2", "csr-x7k2p")}),
			StateNotDone, "1 of 2 nodes' newest kubelet client certificate is from the old CA (n2 (CSR csr-x7k2p)): it gets 401 at step 12.2", next},
		{"from neither CA", certs(map[string]KubeletCert{"n1": issued(&f.other, "n1", "csr-a"), "n2": issued(&f.new, "n2", "carotate-r1-n2")}),
			StateNotDone, "1 of 2 nodes' newest kubelet client certificate is from neither CA (n1 (CSR csr-a))", next},
		{"old wins over unknown", certs(map[string]KubeletCert{"n1": issued(&f.old, "n1", "csr-b")}),
			StateNotDone, "1 of 2 nodes' newest kubelet client certificate is from the old CA (n1 (CSR csr-b)): it gets 401 at step 12.2", next},
		{"one renewed, one not visible", certs(map[string]KubeletCert{"n1": issued(&f.new, "n1", "carotate-r1-n1")}), StateUnknown,
			"1 of 2 nodes have a kubelet client certificate from the new CA (n1 (CSR carotate-r1-n1)); 1 of 2 nodes have no issued request of signer " +
				"kubernetes.io/kube-apiserver-client-kubelet left (n2; kube-controller-manager deletes them an hour after they are issued): " +
				"which CA issued their kubelet's client certificate is not visible through the API. On each: openssl x509 -issuer -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem. " +
				"A kubelet that still presents an old-CA certificate gets 401 at step 12.2 and its node goes NotReady", next},
		{"requests not listable", func(ev *Evidence) { ev.KubeletCerts.Err = errBoom }, StateUnknown,
			"cannot list CertificateSigningRequests, which show the CA that issued each kubelet's client certificate: boom. " +
				"On each node: openssl x509 -issuer -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem; one from the old CA gets 401 at step 12.2", next},
		{"nodes not readable", func(ev *Evidence) { ev.Nodes.Err = errBoom }, StateUnknown, "cannot read nodes and their Leases: boom", next},
		{"no nodes", func(ev *Evidence) { ev.Nodes = NodeEvidence{} }, StateNotApplicable, "the cluster has no nodes", ""},
	})
}

func TestJudgeStep93(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 9.3"
	testStep(t, f, "9.3", []judgeCase{
		{"the old CA", nil, StateNotDone, "the API server's serving chain verifies against the old CA only", next},
		{"the new CA", func(ev *Evidence) { ev.Serving.Chain = f.servesNew },
			StateDone, "the API server's serving chain verifies against the new CA (leaf issued by CN=new)", ""},
		{"neither", func(ev *Evidence) { ev.Serving.Chain = f.servesOther },
			StateNotDone, "the API server's serving chain verifies against neither CA (leaf issued by CN=other)", next},
		{"no handshake", func(ev *Evidence) { ev.Serving = ServingEvidence{Err: errBoom} },
			StateUnknown, "cannot fetch the serving chain: boom", next},
	})
}

func TestJudgeStep94(t *testing.T) {
	f := newJudgeFixture(t)
	restart := "kubectl carotate restart-workloads --value r1/serve --wait"
	servesNew := func(ev *Evidence) { ev.Serving.Chain = f.servesNew }
	testStep(t, f, "9.4", []judgeCase{
		{"before 9.3", nil, StateNotDone, "waits for step 9.3", restart},
		{"every pod after the restart", servesNew, StateDone,
			"4 running pods using the ServiceAccount CA, all started after kube-apiserver's last restart at 2026-01-01T11:00:00Z", ""},
		{"pods from before", func(ev *Evidence) { servesNew(ev); ev.Pods.BeforeServe = []string{"app/web-1", "app/web-2"} },
			StateNotDone, "2 pods started before kube-apiserver's last restart at 2026-01-01T11:00:00Z (app/web-1, app/web-2)", restart},
		{"superseded by 12.1", func(ev *Evidence) { f.finished(ev); ev.Pods.BeforeServe = []string{"app/web-1"} },
			StateDone, "superseded: every pod that uses the ServiceAccount CA started after the old CA was removed (step 12.1)", ""},
		{"pods not readable", func(ev *Evidence) { servesNew(ev); ev.Pods.Err = errBoom }, StateUnknown, "cannot list pods: boom", restart},
		{"no kube-apiserver mirror pod", func(ev *Evidence) { servesNew(ev); ev.ControlPlane = nil },
			StateUnknown, "no kube-apiserver mirror pod: when the API server switched certificates is not visible", restart},
	})
}

func TestJudgeStep10(t *testing.T) {
	f := newJudgeFixture(t)
	update := "kubectl carotate update-cluster-info --ca ca-bundle.crt"
	carrying := func(tcs ...testCert) func(*Evidence) {
		return func(ev *Evidence) {
			ev.ClusterInfo.Present = true
			for _, c := range tcs {
				ev.ClusterInfo.Report.CAs = append(ev.ClusterInfo.Report.CAs, Describe(c.cert))
			}
			ev.ClusterInfo.Report.Signatures = []TokenSignature{{TokenID: "abcdef", State: SignatureValid}, {TokenID: "ghijkl", State: SignatureValid}}
		}
	}
	testStep(t, f, "10", []judgeCase{
		{"no cluster-info", nil, StateNotApplicable, "kube-public/cluster-info does not exist: nodes do not join with bootstrap tokens", ""},
		{"the bundle, signed", carrying(f.old, f.new), StateDone, "cluster-info: signed for 2/2 tokens, carries old+new (the bundle)", ""},
		{"the old CA", carrying(f.old), StateNotDone, "cluster-info: signed for 2/2 tokens, carries the old CA only", update},
		{"a CA outside the rotation", carrying(f.old, f.new, f.other), StateNotDone, "cluster-info: signed for 2/2 tokens, carries other certificates", update},
		{"a stale signature", func(ev *Evidence) {
			carrying(f.old, f.new)(ev)
			ev.ClusterInfo.Report.Signatures[1].State = SignatureStale
			ev.ClusterInfo.Report.Consistent, ev.ClusterInfo.Report.Problems = false, []string{"token ghijkl's signature is stale"}
		}, StateNotDone, "cluster-info: not consistent: token ghijkl's signature is stale, carries old+new (the bundle)", update},
		{"not readable", func(ev *Evidence) { ev.ClusterInfo.Err = errBoom }, StateUnknown, "cannot read kube-public/cluster-info: boom", update},
	})
}

func TestJudgeStep11(t *testing.T) {
	f := newJudgeFixture(t)
	testStep(t, f, "11", []judgeCase{
		{"no verify pass", nil, StateUnknown, "status does not read logs; kubectl carotate verify checks pods, webhooks and TLS errors",
			"kubectl carotate verify --ca ca-bundle.crt --expect bundle"},
		{"verify passed", func(ev *Evidence) { ev.Rotation.Verified = &LoggedPass{At: judgeServing.Add(time.Hour), By: "alice"} },
			StateDone, "kubectl carotate verify passed at 2026-01-01T12:00:00Z (by alice)", ""},
	})
}

func TestJudgeStep121(t *testing.T) {
	f := newJudgeFixture(t)
	next := "kubectl carotate instructions --step 12.1"
	unbundledSummary := "kube-root-ca.crt: 0/3 namespaces hold the bundle, 3 the new CA alone"
	testStep(t, f, "12.1", []judgeCase{
		{"the controller-manager still publishes the bundle", nil,
			StateNotDone, bundledSummary + "; kube-controller-manager still publishes old+new (the bundle)", next},
		{"its flag done, unbundle next", func(ev *Evidence) { ev.RootCA.KubeSystem = BundleOnlyNew },
			StateNotDone, bundledSummary, "kubectl carotate unbundle --keep new-ca.crt"},
		{"unbundled by someone else", func(ev *Evidence) { f.finished(ev); ev.RootCA.KubeSystemWriter = "kubectl-carotate" },
			StateNotDone, unbundledSummary + "; but kube-system/kube-root-ca.crt was last written by kubectl-carotate, not the controller-manager: " +
				"its --root-ca-file is not shown to be the new CA alone", next},
		{"pods to roll", func(ev *Evidence) { f.finished(ev); ev.Pods.Restart = []string{"app/web-1"} },
			StateNotDone, "1 pod started before their CA source last changed (app/web-1)", "kubectl carotate restart-workloads --value r1/finish --wait"},
		{"done", f.finished, StateDone,
			unbundledSummary + ", published by kube-controller-manager; 4 running pods using the ServiceAccount CA, all started after it last changed", ""},
		{"not readable", func(ev *Evidence) { ev.RootCA.Err = errBoom }, StateUnknown, "cannot list kube-root-ca.crt: boom", next},
	})
}

func TestJudgeStep122(t *testing.T) {
	f := newJudgeFixture(t)
	clean := func(ev *Evidence) {
		f.finished(ev)
		ev.ExtensionAuth.ClientCA, ev.Kubeconfig.CA = BundleOnlyNew, BundleOnlyNew
		ev.ControlPlane = []ControlPlanePod{mirrorPod("cp-1", ComponentAPIServer, judgeServing, "--client-ca-file=/etc/kubernetes/pki/ca.crt")}
	}
	testStep(t, f, "12.2", []judgeCase{
		{"mid-rotation", nil, StateNotDone, "kube-apiserver's --client-ca-file holds old+new (the bundle); this kubeconfig trusts old+new (the bundle); " +
			"2 control-plane flags still name transition files (kube-controller-manager --root-ca-file=/etc/kubernetes/pki/ca-bundle.crt, " +
			"kube-apiserver --client-ca-file=/etc/kubernetes/pki/ca-bundle.crt)", "kubectl carotate instructions --step 12.2"},
		{"cluster-info still carries the bundle", func(ev *Evidence) {
			clean(ev)
			ev.ClusterInfo.Present, ev.ClusterInfo.Report.CAs = true, []CertInfo{Describe(f.old.cert), Describe(f.new.cert)}
		}, StateNotDone, "cluster-info carries old+new (the bundle)", "kubectl carotate instructions --step 12.2"},
		{"the system's CAs are not the old CA", func(ev *Evidence) { clean(ev); ev.Kubeconfig.CA = "system" },
			StateDone, "the API server's client CA, this kubeconfig and cluster-info hold the new CA alone; no control-plane flag points at a transition file", ""},
		{"done", clean, StateDone,
			"the API server's client CA, this kubeconfig and cluster-info hold the new CA alone; no control-plane flag points at a transition file", ""},
	})
}

func TestJudgeStep123(t *testing.T) {
	f := newJudgeFixture(t)
	testStep(t, f, "12.3", []judgeCase{
		{"never visible", nil, StateUnknown, "kubelet files (clientCAFile, kubelet.conf) are not visible through the API", "kubectl carotate instructions --step 12.3"},
	})
}

// TestJudgeStepsInOrder: one state per upstream step, in upstream order,
// each with its title.
func TestJudgeStepsInOrder(t *testing.T) {
	f := newJudgeFixture(t)
	got := JudgeSteps(f.base())
	if len(got) != len(UpstreamSteps) {
		t.Fatalf("%d steps judged, want %d", len(got), len(UpstreamSteps))
	}
	for i, s := range UpstreamSteps {
		g := got[i]
		if g.Step != s.Step || g.Title != s.Title || g.Kind != s.Kind || g.Phase != s.Phase || g.State == "" || g.Evidence == "" {
			t.Errorf("step %d: %+v, want upstream step %s judged", i, g, s.Step)
		}
		if (g.State == StateDone || g.State == StateNotApplicable) != (g.Next == "") {
			t.Errorf("step %s is %s with next %q", g.Step, g.State, g.Next)
		}
	}
}

func TestPickNext(t *testing.T) {
	steps := []StepState{
		{UpstreamStep: UpstreamStep{Step: "1"}, State: StateUnknown},
		{UpstreamStep: UpstreamStep{Step: "2"}, State: StateNotDone, Next: "kubectl carotate instructions --step 2"},
		{UpstreamStep: UpstreamStep{Step: "3"}, State: StateNotDone, Next: "kubectl carotate bundle"},
	}
	step, next, notes := PickNext(steps, true)
	if step != "2" || next != "kubectl carotate instructions --step 2" || len(notes) != 1 || !strings.Contains(notes[0], "step(s) 1") {
		t.Errorf("next %q %q notes %q", step, next, notes)
	}
	step, next, notes = PickNext([]StepState{{UpstreamStep: UpstreamStep{Step: "1"}, State: StateDone}, {UpstreamStep: UpstreamStep{Step: "12.3"}, State: StateUnknown}}, true)
	if step != "finish" || next != "kubectl carotate finish" || len(notes) != 1 || !strings.Contains(notes[0], "12.3") {
		t.Errorf("all done: next %q %q notes %q", step, next, notes)
	}
	if step, next, notes = PickNext([]StepState{{UpstreamStep: UpstreamStep{Step: "1"}, State: StateDone}}, false); step != "" || next != "" || notes != nil {
		t.Errorf("a rotation that is not active has no next step, got %q %q %q", step, next, notes)
	}
}
