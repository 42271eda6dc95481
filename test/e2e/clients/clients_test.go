//go:build e2e

// Package clients_test proves the in-cluster client simulator (test/clients)
// against the local control plane: the clients of quiet pods never fail; an
// API server that stops or stalls shows as seconds unreachable; the bound
// token of a deleted pod gets 401s; and when the API server serves from a
// new CA, the clients of pods started before fail TLS verification, those
// of pods started once kube-root-ca.crt holds the new CA do not, and the
// client that reloads its CA file recovers without a pod restart.
package clients_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/carotate/kubectl-carotate/test/clients"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

// deployment creates a Deployment whose pods are labelled app=name; a
// volume, when given, is mounted into its container.
func deployment(t *testing.T, client kubernetes.Interface, ns, name string, replicas int32, volumes ...corev1.Volume) {
	t.Helper()
	labels := map[string]string{"app": name}
	tmpl := PodTemplate(labels)
	for _, v := range volumes {
		tmpl.Spec.Volumes = append(tmpl.Spec.Volumes, v)
		tmpl.Spec.Containers[0].VolumeMounts = append(tmpl.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: v.Name, MountPath: "/var/run/" + v.Name})
	}
	Must(t, Create(client.AppsV1().Deployments(ns).Create(context.Background(), &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: tmpl},
	}, metav1.CreateOptions{})))
}

// start starts a simulator with cfg (the admin, the cluster's address and
// 10 requests a second by default) and stops it when the test ends.
func start(t *testing.T, cfg clients.Config) *clients.Simulator {
	t.Helper()
	if cfg.Admin == nil {
		cfg.Admin = RESTConfig(t)
	}
	if cfg.Host == "" {
		cfg.Host = Cluster.Server
	}
	if cfg.Interval == 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	cfg.Logf = t.Logf
	sim, err := clients.New(cfg)
	Must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	Must(t, sim.Start(ctx))
	t.Cleanup(func() {
		sim.Stop()
		t.Logf("final figures:\n%s", text(sim.Report()))
	})
	return sim
}

// text is the summary line, the step table and the pod table.
func text(r clients.Report) string {
	var b bytes.Buffer
	fmt.Fprintln(&b, r.Summary)
	_ = r.WriteTable(&b)
	_ = r.WritePods(&b)
	for _, p := range r.Pods {
		for _, o := range []string{"tls", "unauthorized", "unreachable", "other"} {
			if e, ok := p.Examples[o]; ok {
				fmt.Fprintf(&b, "%s first %s: %s\n", p.Name, o, e)
			}
		}
	}
	return b.String()
}

// waitFor polls the simulator's report until ok holds.
func waitFor(t *testing.T, sim *clients.Simulator, timeout time.Duration, what string, ok func(clients.Report) bool) clients.Report {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		r := sim.Report()
		if ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s\n%s", what, timeout, text(r))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// podsOf are the reports of the pods of Deployment name, in ns.
func podsOf(r clients.Report, ns, name string) []clients.PodReport {
	var out []clients.PodReport
	for _, p := range r.Pods {
		if p.Namespace == ns && strings.HasPrefix(p.Name, name+"-") {
			out = append(out, p)
		}
	}
	return out
}

// each is true when there are n pods of the Deployment and every one
// satisfies ok in step (all steps when step is "").
func each(r clients.Report, ns, name string, n int, step string, ok func(clients.Counts) bool) bool {
	ps := podsOf(r, ns, name)
	if len(ps) != n {
		return false
	}
	for _, p := range ps {
		c := p.Total
		if step != "" {
			c = p.Step(step)
		}
		if !ok(c) {
			return false
		}
	}
	return true
}

func atLeast(n int) func(clients.Counts) bool {
	return func(c clients.Counts) bool { return c.Requests >= n }
}

var summaryLine = regexp.MustCompile(`^in-cluster clients: 3, requests [1-9][0-9]*, TLS failures 0, 401s 0, API unreachable 0\.0 s$`)

// TestQuiet: while nothing changes, every client of the selected pods
// succeeds; a pod the selector leaves out gets none; a deleted pod's client
// stops.
func TestQuiet(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "clients-quiet")
	deployment(t, client, ns, "app", 3)
	deployment(t, client, ns, "other", 1)
	sim := start(t, clients.Config{Namespaces: []string{ns}, Selector: "app=app"})
	WaitRolledOut(t, client, ns)
	r := waitFor(t, sim, time.Minute, "3 clients with 20 requests each", func(r clients.Report) bool {
		return each(r, ns, "app", 3, "", atLeast(20))
	})
	for _, p := range r.Pods {
		c := p.Total
		if c.OK != c.Requests || c.TLSFailures != 0 || c.Unauthorized != 0 || c.Unreachable != 0 || c.OtherErrors != 0 || c.UnreachableSeconds != 0 {
			t.Errorf("%s: %+v, want every request answered", p.Name, c)
		}
		if p.CASource != "ConfigMap kube-root-ca.crt" || !slices.Equal(p.CA, []string{Cluster.PKI.CA.Cert.Subject.CommonName}) {
			t.Errorf("%s trusts %v from %s, want the cluster CA from kube-root-ca.crt", p.Name, p.CA, p.CASource)
		}
	}
	if len(podsOf(r, ns, "other")) != 0 || len(r.Pods) != 3 {
		t.Errorf("clients for %d pods, want the 3 of app=app only", len(r.Pods))
	}
	if !summaryLine.MatchString(r.Summary.String()) {
		t.Errorf("summary line %q does not match %s", r.Summary, summaryLine)
	}

	// One pod goes: its client stops, the others go on.
	_, err := client.AppsV1().Deployments(ns).Patch(ctx, "app", types.MergePatchType, []byte(`{"spec":{"replicas":2}}`), metav1.PatchOptions{})
	Must(t, err)
	r = waitFor(t, sim, time.Minute, "a stopped client", func(r clients.Report) bool {
		return slices.ContainsFunc(r.Pods, func(p clients.PodReport) bool { return !p.Stopped.IsZero() })
	})
	time.Sleep(time.Second)
	later := sim.Report()
	for _, p := range r.Pods {
		q, _ := later.Pod(p.Namespace, p.Name)
		switch stopped := !p.Stopped.IsZero(); {
		case stopped && q.Total.Requests != p.Total.Requests:
			t.Errorf("%s: stopped, yet its requests went from %d to %d", p.Name, p.Total.Requests, q.Total.Requests)
		case !stopped && q.Total.Requests <= p.Total.Requests:
			t.Errorf("%s: running, yet its requests stayed at %d", p.Name, p.Total.Requests)
		}
	}
}

// TestTokenOfDeletedPod: a pod force-deleted while its container goes on
// (Linger) keeps a bound token that no longer authenticates: 401s for it,
// none for its neighbour or its replacement.
func TestTokenOfDeletedPod(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "clients-token")
	deployment(t, client, ns, "app", 2)
	// The API server caches a valid token for 10 s: linger well past it.
	sim := start(t, clients.Config{Namespaces: []string{ns}, Linger: 25 * time.Second})
	WaitRolledOut(t, client, ns)
	r := waitFor(t, sim, time.Minute, "2 clients with 10 answers each", func(r clients.Report) bool {
		return each(r, ns, "app", 2, "", func(c clients.Counts) bool { return c.OK >= 10 })
	})
	victim, neighbour := podsOf(r, ns, "app")[0], podsOf(r, ns, "app")[1]
	sim.SetStep("deleted")
	Must(t, client.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
	deleted := time.Now()
	r = waitFor(t, sim, 40*time.Second, "401s for the deleted pod's client", func(r clients.Report) bool {
		p, _ := r.Pod(ns, victim.Name)
		return p.Step("deleted").Unauthorized >= 5
	})
	t.Logf("the deleted pod's token was refused %s after the deletion", time.Since(deleted).Round(100*time.Millisecond))
	p, _ := r.Pod(ns, victim.Name)
	if !strings.Contains(p.Examples["unauthorized"], "Unauthorized") || p.Total.TLSFailures != 0 {
		t.Errorf("deleted pod: %+v, examples %v", p.Total, p.Examples)
	}
	n, _ := r.Pod(ns, neighbour.Name)
	if c := n.Step("deleted"); c.OK == 0 || c.Unauthorized != 0 || c.OK != c.Requests {
		t.Errorf("neighbour in step deleted: %+v, want every request answered", c)
	}
	r = waitFor(t, sim, time.Minute, "the replacement's client answered", func(r clients.Report) bool {
		return len(r.Pods) == 3 && r.Pods[2].Total.OK >= 5
	})
	if c := r.Pods[2].Total; c.Unauthorized != 0 || c.OK != c.Requests {
		t.Errorf("replacement %s: %+v", r.Pods[2].Name, c)
	}
	r = waitFor(t, sim, 40*time.Second, "the deleted pod's client stopped after lingering", func(r clients.Report) bool {
		p, _ := r.Pod(ns, victim.Name)
		return !p.Stopped.IsZero()
	})
	if p, _ := r.Pod(ns, victim.Name); p.Stopped.Sub(deleted) < 20*time.Second {
		t.Errorf("the deleted pod's client stopped %s after the deletion, want the 25 s linger", p.Stopped.Sub(deleted))
	}
	if r.Summary.TLSFailures != 0 || r.Summary.Unauthorized < 5 {
		t.Errorf("summary %s", r.Summary)
	}
}

// TestAPIServerDown: a stopped API server (connection refused) and a
// stalled one (SIGSTOP: connections hang until the client's timeout) are
// seconds unreachable, merged over clients, not TLS failures or 401s.
func TestAPIServerDown(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "clients-down")
	deployment(t, client, ns, "app", 2)
	sim := start(t, clients.Config{Namespaces: []string{ns}, Timeout: 2 * time.Second})
	WaitRolledOut(t, client, ns)
	waitFor(t, sim, time.Minute, "2 clients with 10 answers each", func(r clients.Report) bool {
		return each(r, ns, "app", 2, "", func(c clients.Counts) bool { return c.OK >= 10 })
	})
	api := Cluster.Component(localcluster.APIServer)
	t.Cleanup(func() {
		_ = api.Resume()
		if !api.Running() {
			Must(t, Cluster.StartComponent(ctx, localcluster.APIServer))
		}
		// A killed API server can wedge the controller-manager and the
		// scheduler (HARNESS-NOTES): the next test needs both.
		Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, nil))
		Must(t, Cluster.Restart(ctx, localcluster.Scheduler, nil))
	})

	// The step starts once the process is gone: while it shuts down it
	// may still answer.
	Must(t, Cluster.StopComponent(localcluster.APIServer))
	sim.SetStep("stopped")
	stopped := time.Now()
	time.Sleep(5 * time.Second)
	sim.SetStep("starting")
	stoppedFor := time.Since(stopped).Seconds()
	Must(t, Cluster.StartComponent(ctx, localcluster.APIServer))
	sim.SetStep("back")
	waitFor(t, sim, time.Minute, "answers again", func(r clients.Report) bool {
		return each(r, ns, "app", 2, "back", func(c clients.Counts) bool { return c.OK >= 3 })
	})
	time.Sleep(2 * time.Second) // long enough to see an outage that never ends

	sim.SetStep("paused")
	paused := time.Now()
	Must(t, api.Pause())
	time.Sleep(6 * time.Second)
	sim.SetStep("resumed")
	pausedFor := time.Since(paused).Seconds()
	Must(t, api.Resume())
	r := waitFor(t, sim, time.Minute, "answers after the pause", func(r clients.Report) bool {
		return each(r, ns, "app", 2, "resumed", func(c clients.Counts) bool { return c.OK >= 3 })
	})

	for _, step := range []struct {
		name   string
		window float64
	}{{"stopped", stoppedFor}, {"paused", pausedFor}} {
		s := r.Step(step.name)
		t.Logf("step %s: %.1f s long, API unreachable %.1f s, %d requests got no answer", step.name, step.window, s.UnreachableSeconds, s.Unreachable)
		// Two clients saw the same outage: one wall clock, not a sum.
		if s.UnreachableSeconds < step.window-2 || s.UnreachableSeconds > step.window+0.01 || s.Unreachable == 0 {
			t.Errorf("step %s (%.1f s): %+v, want about %.1f s unreachable", step.name, step.window, s, step.window)
		}
		// A request that hangs in a pause may be answered at the resume;
		// a stopped API server answers nothing.
		if step.name == "stopped" && s.OK != 0 {
			t.Errorf("step %s: %d answers while the API server was down", step.name, s.OK)
		}
	}
	if r.Summary.TLSFailures != 0 || r.Summary.Unauthorized != 0 {
		t.Errorf("an API server down is not a TLS failure or a 401: %s", r.Summary)
	}
	if back := r.Step("back"); back.UnreachableSeconds > 1 {
		t.Errorf("step back: %.1f s unreachable after the API server was ready", back.UnreachableSeconds)
	}
}

// TestServingCA: the API server restarts serving a certificate from a new
// CA. The clients of pods started before kube-root-ca.crt held the new CA
// fail TLS verification; those of pods started after, and of a pod that
// projects a ClusterTrustBundle holding the new CA, do not. The clients
// that reload their CA file recover once client-go re-reads it, without a
// pod restart; the static ones never do.
func TestServingCA(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	oldCN := Cluster.PKI.CA.Cert.Subject.CommonName
	newCA, err := localcluster.NewCA("kubernetes-new", 24*time.Hour)
	Must(t, err)
	bundle := append(append([]byte{}, Cluster.PKI.CA.CertPEM...), newCA.CertPEM...)
	// The simulators' own admin must go on reading pods through the switch.
	admin := RESTConfig(t)
	admin.CAData = bundle

	ns := CreateNamespace(t, client, "clients-ca")
	ctbName := "clients-e2e-" + ns
	Must(t, Create(client.CertificatesV1().ClusterTrustBundles().Create(ctx, &certificatesv1.ClusterTrustBundle{
		ObjectMeta: metav1.ObjectMeta{Name: ctbName},
		Spec:       certificatesv1.ClusterTrustBundleSpec{TrustBundle: string(newCA.CertPEM)},
	}, metav1.CreateOptions{})))
	t.Cleanup(func() { _ = client.CertificatesV1().ClusterTrustBundles().Delete(ctx, ctbName, metav1.DeleteOptions{}) })
	deployment(t, client, ns, "before", 2)
	deployment(t, client, ns, "trust-bundle", 1, corev1.Volume{Name: "trust", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		Sources: []corev1.VolumeProjection{{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr.To(ctbName), Path: "ca.crt"}}}}}})

	static := start(t, clients.Config{Admin: admin, Namespaces: []string{ns}, Interval: 200 * time.Millisecond, VolumeDelay: 2 * time.Second})
	reload := start(t, clients.Config{Admin: admin, Namespaces: []string{ns}, Interval: 200 * time.Millisecond, VolumeDelay: 2 * time.Second, ReloadCA: true})
	sims := []*clients.Simulator{static, reload}
	setStep := func(step string) {
		for _, s := range sims {
			s.SetStep(step)
		}
	}
	reloadStarted := time.Now()
	WaitRolledOut(t, client, ns)
	for _, s := range sims {
		waitFor(t, s, time.Minute, "the first clients made requests", func(r clients.Report) bool {
			return each(r, ns, "before", 2, "", atLeast(10)) && each(r, ns, "trust-bundle", 1, "", atLeast(10))
		})
	}
	r := static.Report()
	if !each(r, ns, "before", 2, "", func(c clients.Counts) bool { return c.OK == c.Requests && c.TLSFailures == 0 }) {
		t.Errorf("pods before the rotation: not every request answered\n%s", text(r))
	}
	// The bundle pod trusts only the new CA: it cannot verify the old one.
	for _, p := range podsOf(r, ns, "trust-bundle") {
		if p.CASource != "ClusterTrustBundle "+ctbName || !slices.Equal(p.CA, []string{"kubernetes-new"}) ||
			p.Total.OK != 0 || p.Total.TLSFailures == 0 || !strings.Contains(p.Examples["tls"], "certificate signed by unknown authority") {
			t.Errorf("trust-bundle pod before the switch: %+v", p)
		}
	}
	beforeUIDs := map[string]string{}
	for _, p := range podsOf(r, ns, "before") {
		beforeUIDs[p.Name] = p.UID
	}

	// Step 2: the controller-manager publishes old+new in kube-root-ca.crt;
	// pods started from now on trust both.
	setStep("2")
	bundlePath, err := Cluster.PKI.WriteFile(fmt.Sprintf("clients-ca-bundle-%d.crt", time.Now().UnixNano()), bundle)
	Must(t, err)
	kcm := Cluster.Component(localcluster.ControllerManager)
	origRootCA := kcm.Get("root-ca-file")
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": origRootCA}))
		WaitRootCA(t, client, Cluster.PKI.CA.CertPEM)
	})
	Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"root-ca-file": bundlePath}))
	WaitRootCA(t, client, bundle)
	deployment(t, client, ns, "after", 2)
	WaitRolledOut(t, client, ns)
	for _, s := range sims {
		waitFor(t, s, time.Minute, "the clients of pods started after the bundle made requests", func(r clients.Report) bool {
			return each(r, ns, "after", 2, "", atLeast(10))
		})
	}
	for _, p := range podsOf(static.Report(), ns, "after") {
		if !slices.Equal(p.CA, []string{oldCN, "kubernetes-new"}) {
			t.Errorf("%s started after the bundle trusts %v", p.Name, p.CA)
		}
	}

	// Step 9.3: the API server serves a certificate from the new CA.
	setStep("9.3")
	leaf, err := newCA.Issue(localcluster.CertSpec{CommonName: "kube-apiserver", Server: true,
		IPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("10.96.0.1")},
		DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}})
	Must(t, err)
	stamp := time.Now().UnixNano()
	certPath, err := Cluster.PKI.WriteFile(fmt.Sprintf("apiserver-clients-%d.crt", stamp), leaf.CertPEM)
	Must(t, err)
	keyPath, err := Cluster.PKI.WriteFile(fmt.Sprintf("apiserver-clients-%d.key", stamp), leaf.KeyPEM)
	Must(t, err)
	api := Cluster.Component(localcluster.APIServer)
	origCert, origKey := api.Get("tls-cert-file"), api.Get("tls-private-key-file")
	_, err = Cluster.UseAdminKubeconfig(bundle, nil)
	Must(t, err)
	t.Cleanup(func() {
		Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{"tls-cert-file": origCert, "tls-private-key-file": origKey}))
		_, err := Cluster.UseAdminKubeconfig(Cluster.PKI.CA.CertPEM, nil)
		Must(t, err)
	})
	Must(t, Cluster.Restart(ctx, localcluster.APIServer, map[string]string{"tls-cert-file": certPath, "tls-private-key-file": keyPath}))
	switched := time.Now()
	setStep("new CA served")
	for _, s := range sims {
		waitFor(t, s, time.Minute, "requests to the API server serving from the new CA", func(r clients.Report) bool {
			return each(r, ns, "before", 2, "new CA served", atLeast(10)) && each(r, ns, "after", 2, "new CA served", atLeast(10)) &&
				each(r, ns, "trust-bundle", 1, "new CA served", atLeast(10))
		})
	}
	for _, s := range sims {
		r := s.Report()
		for _, p := range podsOf(r, ns, "before") {
			if c := p.Step("new CA served"); c.TLSFailures == 0 || c.OK != 0 || !strings.Contains(p.Examples["tls"], "certificate signed by unknown authority") {
				t.Errorf("%s %s, started before the bundle, with the new CA served: %+v, want only TLS failures (examples %v)", r.Variant, p.Name, c, p.Examples)
			}
		}
		for _, name := range []string{"after", "trust-bundle"} {
			if !each(r, ns, name, podCount(name), "new CA served", func(c clients.Counts) bool { return c.OK == c.Requests && c.TLSFailures == 0 }) {
				t.Errorf("%s %s pods, which trust the new CA: not every request answered\n%s", r.Variant, name, text(r))
			}
		}
		if !each(r, ns, "after", 2, "", func(c clients.Counts) bool { return c.TLSFailures == 0 && c.Unauthorized == 0 }) {
			t.Errorf("%s: pods started after the bundle saw TLS failures or 401s\n%s", r.Variant, text(r))
		}
	}
	// The kubelet has rewritten every pod's ca.crt by now; the static
	// clients never read it again.
	for _, p := range podsOf(static.Report(), ns, "before") {
		if !slices.Equal(p.Volume, []string{oldCN, "kubernetes-new"}) || !slices.Equal(p.CA, []string{oldCN}) {
			t.Errorf("%s: volume %v, CA loaded %v", p.Name, p.Volume, p.CA)
		}
	}

	// client-go re-reads a CA file when a request comes 5 minutes after
	// its last check, which was when the client started.
	r = waitFor(t, reload, time.Until(reloadStarted.Add(6*time.Minute+30*time.Second)), "the reloading clients recovered", func(r clients.Report) bool {
		return each(r, ns, "before", 2, "new CA served", func(c clients.Counts) bool { return c.OK > 0 })
	})
	t.Logf("the reloading clients recovered %s after the switch, %s after they started",
		time.Since(switched).Round(time.Second), time.Since(reloadStarted).Round(time.Second))
	setStep("recovered")
	for _, s := range sims {
		waitFor(t, s, time.Minute, "requests after the recovery", func(r clients.Report) bool {
			return each(r, ns, "before", 2, "recovered", atLeast(10))
		})
	}
	for _, s := range sims {
		r := s.Report()
		for _, p := range podsOf(r, ns, "before") {
			c := p.Step("recovered")
			switch {
			case p.UID != beforeUIDs[p.Name] || !p.Stopped.IsZero():
				t.Errorf("%s %s: restarted or stopped (%+v)", r.Variant, p.Name, p)
			case s == reload && (c.OK != c.Requests || c.TLSFailures != 0):
				t.Errorf("reloading %s after its CA reload: %+v, want every request answered", p.Name, c)
			case s == static && (c.OK != 0 || c.TLSFailures == 0):
				t.Errorf("static %s: %+v, want TLS failures until its pod restarts", p.Name, c)
			}
		}
	}
	for _, s := range sims {
		s.Stop()
	}
}

func podCount(deployment string) int {
	if deployment == "trust-bundle" {
		return 1
	}
	return 2
}

// TestNothingLeft runs last: every simulator above has stopped, so none of
// its clients and none of its watches may remain (nothing else in this test
// binary runs informers).
func TestNothingLeft(t *testing.T) {
	buf := make([]byte, 4<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	var left []string
	for _, g := range strings.Split(stacks, "\n\n") {
		if strings.Contains(g, "kubectl-carotate/test/clients.") || strings.Contains(g, "k8s.io/client-go/tools/cache.") {
			left = append(left, g)
		}
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines of the simulators still running:\n%s", len(left), strings.Join(left, "\n\n"))
	}
}
