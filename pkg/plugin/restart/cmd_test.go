package restart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// testOptions builds options the way NewCmdRestartWorkloads does,
// with a fake client; the fake stands in for the API only in these unit
// tests of the command's own logic (the e2e tests use a real apiserver).
func testOptions(t *testing.T, client kubernetes.Interface) (*Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	env := &cmdutil.Env{
		IOStreams: genericiooptions.IOStreams{Out: out, ErrOut: errOut},
		Factory:   cmdutil.NewConfigFactory(genericclioptions.NewConfigFlags(false), "test", nil),
	}
	o := &Options{Env: env, Kinds: []string{"deployments", "daemonsets", "statefulsets"},
		Annotation: defaultAnnotation, Pacing: cmdutil.Pacing{Concurrency: 4}, MaxInFlight: 2, Timeout: time.Minute, DryRunFlag: "none", UndoDir: t.TempDir()}
	o.NewClient = func() (kubernetes.Interface, error) { return client, nil }
	o.Now = func() time.Time { return time.Date(2026, 11, 30, 15, 4, 5, 0, time.FixedZone("CET", 3600)) }
	return o, out, errOut
}

// workloadOf is the Workload of a Deployment, DaemonSet or StatefulSet.
func workloadOf(obj any) *cluster.Workload {
	w, _ := cluster.WorkloadFrom(obj, defaultAnnotation)
	return w
}

// testFlags is the kubectl flags behind a test's options.
func testFlags(o *Options) *genericclioptions.ConfigFlags {
	return o.Factory.(*cmdutil.ConfigFactory).ConfigFlags
}

func runTest(t *testing.T, o *Options) error {
	t.Helper()
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return o.Run(context.Background())
}

// fakeClient answers every SelfSubjectAccessReview with allowed.
func fakeClient(objs ...runtime.Object) *fake.Clientset {
	c := fake.NewClientset(objs...)
	c.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = true
		return true, r, nil
	})
	return c
}

func testDeployment(ns, name string, replicas int32, value string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + ns + "-" + name), Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": name}}}},
	}
	if value != "" {
		d.Spec.Template.Annotations = map[string]string{defaultAnnotation: value}
	}
	return d
}

func patches(c *fake.Clientset) []string {
	var out []string
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			out = append(out, p.GetResource().Resource+"/"+p.GetNamespace()+"/"+p.GetName())
		}
	}
	return out
}

func TestRestartValidate(t *testing.T) {
	tests := []struct {
		name string
		set  func(o *Options)
		want string
	}{
		{"bad dry-run", func(o *Options) { o.DryRunFlag = "yes" }, `invalid --dry-run value "yes": must be "none", "client", or "server"`},
		{"bad kind", func(o *Options) { o.Kinds = []string{"deploy", "jobs"} }, `unknown kind "jobs" in --kinds`},
		{"bad annotation", func(o *Options) { o.Annotation = "ca rotation" }, `invalid --annotation "ca rotation"`},
		{"value with space", func(o *Options) { o.Value = "a b" }, `invalid --value "a b"`},
		{"value not UTF-8", func(o *Options) { o.Value = "x\xff\xfe" }, `invalid --value "x\xff\xfe": not valid UTF-8`},
		{"value too long", func(o *Options) { o.Value = strings.Repeat("x", 254) }, "invalid --value: 254 bytes, at most 253"},
		{"-n and -A", func(o *Options) { *testFlags(o).Namespace = "a"; o.AllNamespaces = true }, "-n/--namespace and -A/--all-namespaces cannot be used together"},
		{"-n and selector", func(o *Options) { *testFlags(o).Namespace = "a"; o.NamespaceSelector = "x=y" }, "-n/--namespace and --namespace-selector"},
		{"-n and exclude", func(o *Options) { *testFlags(o).Namespace = "a"; o.ExcludeNamespaces = []string{"b"} }, "-n/--namespace and --exclude-namespace"},
		{"bad namespace selector", func(o *Options) { o.NamespaceSelector = "a=(" }, "invalid --namespace-selector"},
		{"bad selector", func(o *Options) { o.Selector = "a=(" }, "invalid -l/--selector"},
		{"bad excluded name", func(o *Options) { o.ExcludeNamespaces = []string{"Kube_System"} }, `invalid --exclude-namespace "Kube_System"`},
		{"concurrency", func(o *Options) { o.Pacing.Concurrency = -1 }, "--concurrency must be 0 (adapt) or more"},
		{"max in flight", func(o *Options) { o.MaxInFlight = 0 }, "--max-in-flight must be at least 1"},
		{"timeout", func(o *Options) { o.Timeout = 0 }, "--timeout must be positive"},
		{"wait and dry run", func(o *Options) { o.Wait, o.DryRunFlag = true, "server" }, "--wait cannot be used with --dry-run=server"},
		{"ondelete needs wait", func(o *Options) { o.DeleteOnDeletePods = true }, "--delete-ondelete-pods needs --wait"},
		{"output", func(o *Options) { o.Output = "wide" }, `unsupported output format "wide"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, _ := testOptions(t, fakeClient())
			ns := ""
			testFlags(o).Namespace = &ns
			tt.set(o)
			if err := o.Complete(nil, nil); err != nil {
				t.Fatal(err)
			}
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestRestartRateLimitDefaultsUnlessGiven(t *testing.T) {
	o, _, _ := testOptions(t, fakeClient())
	cmd := &cobra.Command{}
	f := o.Factory.(*cmdutil.ConfigFactory)
	cmd.Flags().Float32Var(&f.QPS, "qps", 50, "")
	cmd.Flags().IntVar(&f.Burst, "burst", 100, "")
	if err := o.Complete(cmd, nil); err != nil {
		t.Fatal(err)
	}
	if qps, burst := o.Pacing.RateLimit(); qps != cmdutil.Unthrottled || burst != 0 {
		t.Fatalf("without --qps: qps %v burst %d, want no rate limit", qps, burst)
	}
	if qps, burst := o.Pacing.PageRateLimit(); qps != 1000 || burst != 1000 {
		t.Fatalf("without --qps, the page reader's ceiling: qps %v burst %d", qps, burst)
	}
	if err := cmd.Flags().Set("qps", "7"); err != nil {
		t.Fatal(err)
	}
	if err := o.Complete(cmd, nil); err != nil {
		t.Fatal(err)
	}
	if qps, burst := o.Pacing.RateLimit(); qps != 7 || burst != 100 {
		t.Fatalf("with --qps 7: qps %v burst %d", qps, burst)
	}
}

func TestRestartParseKinds(t *testing.T) {
	got, err := parseKinds([]string{"sts,deploy", "DaemonSets.apps", "deployment"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range got {
		names = append(names, k.Resource)
	}
	if strings.Join(names, ",") != "deployments,daemonsets,statefulsets" {
		t.Fatalf("kinds = %v", names)
	}
	if _, err := parseKinds([]string{""}); err == nil {
		t.Fatal("empty --kinds accepted")
	}
}

func TestRestartDefaultValueIsFreshUTC(t *testing.T) {
	o, _, _ := testOptions(t, fakeClient())
	v, src, err := o.defaultValue(context.Background())
	if err != nil || v != "20261130T140405Z" || src != "generated" {
		t.Fatalf("value %q from %q (%v), want 20261130T140405Z from generated", v, src, err)
	}
	o.Value = "rot-1/bundle"
	if v, src, _ := o.defaultValue(context.Background()); v != "rot-1/bundle" || src != "flag" {
		t.Fatalf("--value not used: %q %q", v, src)
	}
}

func TestRestartPatchBody(t *testing.T) {
	if got := string(patchBody("ca-rotation", "v1", "", false)); got != `{"spec":{"template":{"metadata":{"annotations":{"ca-rotation":"v1"}}}}}` {
		t.Fatalf("patch = %s", got)
	}
	if got := string(patchBody("ca-rotation", "v1", "42", false)); got != `{"metadata":{"resourceVersion":"42"},"spec":{"template":{"metadata":{"annotations":{"ca-rotation":"v1"}}}}}` {
		t.Fatalf("patch with a precondition = %s", got)
	}
	if got := string(patchBody("example.com/rot", `a"b`, "", true)); got != `{"spec":{"paused":false,"template":{"metadata":{"annotations":{"example.com/rot":"a\"b"}}}}}` {
		t.Fatalf("patch = %s", got)
	}
}

func TestRestartScope(t *testing.T) {
	s := scope{exclude: map[string]bool{"b": true}}
	if !s.covers("a") || s.covers("b") {
		t.Fatal("exclusion not honoured")
	}
	o, _, _ := testOptions(t, fakeClient())
	o.scope = s
	if lo := o.listOptions("app=x"); lo.FieldSelector != "metadata.namespace!=b" || lo.LabelSelector != "app=x" {
		t.Fatalf("list options %+v", lo)
	}
}

// TestRestartRunReportsEverything runs a whole pass against a fake client:
// one patch per workload that lacks the value, none for the current one,
// and every kind of "will not roll" reported in the tables.
func TestRestartRunReportsEverything(t *testing.T) {
	const value = "20261130T140405Z"
	paused := testDeployment("a", "frozen", 1, "")
	paused.Spec.Paused = true
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "agent", UID: "uid-agent"},
		Spec:   appsv1.DaemonSetSpec{UpdateStrategy: appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2}}
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "db"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr.To[int32](0)}}
	dsPod := func(name, ann string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: name,
			OwnerReferences: []metav1.OwnerReference{{Kind: "DaemonSet", Name: "agent", UID: "uid-agent", Controller: ptr.To(true)}}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}
		if ann != "" {
			p.Annotations = map[string]string{defaultAnnotation: ann}
		}
		return p
	}
	client := fakeClient(
		testDeployment("a", "web", 2, ""),
		testDeployment("a", "done", 2, value),
		paused,
		testDeployment("b", "idle", 0, "older"),
		ds, sts,
		dsPod("agent-1", "older"), dsPod("agent-2", ""),
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "debug"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "backup-1",
			OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "backup", Controller: ptr.To(true)}}}, Status: corev1.PodStatus{Phase: corev1.PodRunning}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "b", Name: "old-job",
			OwnerReferences: []metav1.OwnerReference{{Kind: "Job", Name: "old", Controller: ptr.To(true)}}}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded}},
	)
	o, out, errOut := testOptions(t, client)
	if err := runTest(t, o); err != nil {
		t.Fatalf("Run: %v\nstderr:\n%s", err, errOut)
	}
	sent := patches(client)
	sort.Strings(sent) // patches go out concurrently
	got := strings.Join(sent, " ")
	want := "daemonsets/a/agent deployments/a/frozen deployments/a/web deployments/b/idle statefulsets/b/db"
	if got != want {
		t.Fatalf("patches sent:\n  %s\nwant:\n  %s", got, want)
	}
	d, err := client.AppsV1().Deployments("a").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || d.Spec.Template.Annotations[defaultAnnotation] != value || d.Spec.Template.Labels["app"] != "web" {
		t.Fatalf("web after the pass: %v %v", d.Spec.Template.ObjectMeta, err)
	}
	wantOut := `NAMESPACE   KIND          PATCHED   CURRENT   SKIPPED                     FAILED   ROLLED OUT
a           Deployment    2         1         1 (paused)                  0        -
a           DaemonSet     1         0         1 (OnDelete)                0        -
b           Deployment    1         0         1 (0 replicas)              0        -
b           StatefulSet   1         0         1 (0 replicas)              0        -
b           Pod           -         -         1 (Job pod), 1 (bare pod)   -        -

Not rolled by this pass:
NAMESPACE   OBJECT                   REASON       WHAT TO DO
a           deployment.apps/frozen   paused       patched; rolls once resumed: kubectl rollout resume deployment/frozen -n a (or re-run with --value 20261130T140405Z --resume-paused)
a           daemonset.apps/agent     OnDelete     patched; 2 pod(s) still run an older template: delete them one at a time, or re-run with --value 20261130T140405Z --wait --delete-ondelete-pods
b           deployment.apps/idle     0 replicas   nothing to roll; pods created later get the new template
b           statefulset.apps/db      0 replicas   nothing to roll; pods created later get the new template
b           pod/backup-1             Job pod      owned by Job backup: runs to completion; the next run trusts the CA of that moment
b           pod/debug                bare pod     no controller recreates it: delete it and create it again

Pass ca-rotation=20261130T140405Z: 6 workloads, 5 patched, 1 already current, 4 skipped, 0 failed; 2 pod(s) no patch restarts
`
	if out.String() != wantOut {
		t.Fatalf("stdout:\n%s\nwant:\n%s", out, wantOut)
	}
	for _, want := range []string{
		"Pass value ca-rotation=20261130T140405Z (new for this run; resume this pass with --value 20261130T140405Z)",
		"Listed 6 workloads in all namespaces (deployments 4, daemonsets 1, statefulsets 1) and 2 pod(s) no patch restarts",
		"restart-workloads: 6/6 done",
	} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}

	// The same value again patches nothing and says so.
	client.ClearActions()
	o2, out2, _ := testOptions(t, client)
	o2.Value = value
	o2.Output = "json"
	if err := runTest(t, o2); err != nil {
		t.Fatal(err)
	}
	if p := patches(client); len(p) != 0 {
		t.Fatalf("second run with the same value patched %v", p)
	}
	var rep report
	if err := json.Unmarshal(out2.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.Current != 6 || rep.Totals.Patched != 0 || rep.ValueSource != "flag" {
		t.Fatalf("second run totals %+v source %q", rep.Totals, rep.ValueSource)
	}
}

func TestRestartDryRunClientSendsNoWrite(t *testing.T) {
	client := fakeClient(testDeployment("a", "web", 1, ""))
	o, out, _ := testOptions(t, client)
	o.DryRunFlag = "client"
	if err := runTest(t, o); err != nil {
		t.Fatal(err)
	}
	if p := patches(client); len(p) != 0 {
		t.Fatalf("client dry run patched %v", p)
	}
	for _, a := range client.Actions() {
		if a.GetVerb() == "create" && a.GetResource().Resource == "selfsubjectaccessreviews" {
			r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
			if r.Spec.ResourceAttributes.Verb == "patch" {
				t.Fatalf("client dry run asked for patch rights")
			}
		}
	}
	if !strings.HasSuffix(out.String(), "1 patched, 0 already current, 0 skipped, 0 failed (dry run)\n") {
		t.Fatalf("stdout lacks the dry-run wording:\n%s", out)
	}
}

func TestRestartDryRunServerSendsDryRunAll(t *testing.T) {
	client := fakeClient(testDeployment("a", "web", 1, ""))
	var dryRun []string
	client.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		dryRun = a.(k8stesting.PatchActionImpl).PatchOptions.DryRun
		return true, testDeployment("a", "web", 1, "x"), nil
	})
	o, out, _ := testOptions(t, client)
	o.DryRunFlag = "server"
	if err := runTest(t, o); err != nil {
		t.Fatal(err)
	}
	if len(dryRun) != 1 || dryRun[0] != metav1.DryRunAll {
		t.Fatalf("server dry run sent DryRun %v", dryRun)
	}
	if !strings.HasSuffix(out.String(), "(server dry run)\n") {
		t.Fatalf("stdout lacks the server dry-run wording:\n%s", out)
	}
}

func TestRestartPreflightStopsBeforeAnyWrite(t *testing.T) {
	client := fake.NewClientset(testDeployment("a", "web", 1, ""))
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = r.Spec.ResourceAttributes.Verb != "patch"
		return true, r, nil
	})
	o, _, _ := testOptions(t, client)
	err := runTest(t, o)
	if err == nil || !strings.Contains(err.Error(), "missing RBAC permissions, nothing was changed") ||
		!strings.Contains(err.Error(), "patch deployments.apps in all namespaces") || !strings.Contains(err.Error(), "patch statefulsets.apps in all namespaces") {
		t.Fatalf("Run = %v", err)
	}
	if p := patches(client); len(p) != 0 {
		t.Fatalf("patched %v despite the preflight failure", p)
	}
}

func TestRestartNamespaceMustExist(t *testing.T) {
	o, _, _ := testOptions(t, fakeClient())
	ns := "nope"
	testFlags(o).Namespace = &ns
	if err := runTest(t, o); err == nil || err.Error() != `namespace "nope" not found, nothing was changed` {
		t.Fatalf("Run = %v", err)
	}
}

// TestRestartConflictRereadsAndPatchesAgain: a 409 (which a patch without a
// resourceVersion should not get, but a webhook could cause) leads to a
// fresh read and a second patch, or to "already current" when the read
// shows the value.
func TestRestartConflictRereadsAndPatchesAgain(t *testing.T) {
	for _, tt := range []struct {
		name        string
		setMeantime bool
		lostAnswer  bool // the first patch fails with an error that is neither retried nor a refusal
		wantPatches int
		wantResult  patchOutcome
	}{
		{"still lacks the value", false, false, 2, resultPatched},
		{"someone set the value", true, false, 1, resultCurrent},
		// The answer was lost: the re-read shows whether the write was ours.
		{"answer lost, the patch landed", true, true, 1, resultPatched},
		{"answer lost, the patch did not land", false, true, 1, resultFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			client := fakeClient(testDeployment("a", "web", 1, ""))
			patches := 0
			client.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
				patches++
				if patches == 1 {
					if tt.setMeantime {
						d := testDeployment("a", "web", 1, "v1")
						d.ResourceVersion = ""
						_ = client.Tracker().Update(schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}, d, "a")
					}
					if tt.lostAnswer {
						return true, nil, errors.New("decoding the response: connection closed by the test")
					}
					return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("the object has been modified"))
				}
				return false, nil, nil
			})
			o, _, _ := testOptions(t, client)
			o.Value, o.Output = "v1", "json"
			if err := runTest(t, o); (err != nil) != (tt.wantResult == resultFailed) {
				t.Fatal(err)
			}
			var rep report
			_ = json.Unmarshal(o.Out.(*bytes.Buffer).Bytes(), &rep)
			if patches != tt.wantPatches || len(rep.Workloads) != 1 || rep.Workloads[0].result != tt.wantResult {
				t.Fatalf("patches %d, report %+v", patches, rep.Workloads)
			}
		})
	}
}

// TestRestartFailuresAreAggregated: one workload's failure does not stop the
// others; all are reported, and the exit code is 1.
func TestRestartFailuresAreAggregated(t *testing.T) {
	client := fakeClient(testDeployment("a", "bad", 1, ""), testDeployment("a", "good", 1, ""), testDeployment("b", "good", 1, ""))
	transient := 0
	client.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		switch {
		case a.GetNamespace() == "a" && a.(k8stesting.PatchAction).GetName() == "bad":
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "bad", errors.New("denied by policy"))
		case a.GetNamespace() == "b" && transient == 0:
			transient++
			return true, nil, apierrors.NewServiceUnavailable("apiserver restarting")
		}
		return false, nil, nil
	})
	o, out, _ := testOptions(t, client)
	o.Value = "v1"
	err := runTest(t, o)
	var ee *cmdutil.ExitError
	if !errors.As(err, &ee) || ee.Code != 1 || !strings.Contains(err.Error(), "1 of 3 workloads failed; re-run with --value v1") {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(out.String(), "a           deployment.apps/bad   patch: deployments.apps \"bad\" is forbidden: denied by policy") {
		t.Fatalf("failure not listed:\n%s", out)
	}
	if !strings.Contains(out.String(), "3 workloads, 2 patched, 0 already current, 0 skipped, 1 failed") {
		t.Fatalf("totals wrong (the transient error must have been retried):\n%s", out)
	}
}

// fakeTracker is a controller stand-in: a rollout completes only
// when the test completes it, so the test can see how many the scheduler
// lets roll at once.
type fakeTracker struct {
	mu        sync.Mutex
	cond      *sync.Cond
	state     map[string]*cluster.Workload
	subs      map[string][]chan struct{}
	rolling   map[string]bool
	maxActive int
	patched   int
}

func newFakeTracker(targets []*cluster.Workload) *fakeTracker {
	f := &fakeTracker{state: map[string]*cluster.Workload{}, subs: map[string][]chan struct{}{}, rolling: map[string]bool{}}
	f.cond = sync.NewCond(&f.mu)
	for _, t := range targets {
		c := *t
		f.state[t.Key()] = &c
	}
	return f
}

func (f *fakeTracker) Get(kind, ns, name string) (*cluster.Workload, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.state[kind+"/"+ns+"/"+name]
	if !ok {
		return nil, false
	}
	c := *t
	return &c, true
}

func (f *fakeTracker) Subscribe(kind, ns, name string) (<-chan struct{}, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan struct{}, 1)
	k := kind + "/" + ns + "/" + name
	f.subs[k] = append(f.subs[k], ch)
	return ch, func() {}
}

func (f *fakeTracker) Seed(*cluster.Workload) {}

func (f *fakeTracker) Stop() {}

// patch is the fake Restarter: the template changes and a rollout starts.
func (f *fakeTracker) patch(_ context.Context, t *cluster.Workload, value string) (patchResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.state[t.Key()]
	s.Generation++
	s.Value, s.HasValue = value, true
	f.rolling[t.Key()] = true
	f.patched++
	f.maxActive = max(f.maxActive, len(f.rolling))
	f.cond.Broadcast()
	return patchResult{Generation: s.Generation}, nil
}

// completeWhenFull completes one rollout at a time, and only once the
// scheduler has filled every slot it may fill: a scheduler that admitted
// too few would hang here, one that admitted too many shows in maxActive.
func (f *fakeTracker) completeWhenFull(total, slots int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for done := 0; done < total; done++ {
		for len(f.rolling) < min(slots, total-done) {
			f.cond.Wait()
		}
		for k := range f.rolling {
			s := f.state[k]
			s.Status = checks.WorkloadStatus{ObservedGeneration: s.Generation, Replicas: s.Replicas, UpdatedReplicas: s.Replicas, AvailableReplicas: s.Replicas}
			delete(f.rolling, k)
			for _, ch := range f.subs[k] {
				select {
				case ch <- struct{}{}:
				default:
				}
			}
			break
		}
	}
}

func TestRestartWaitCapsRolloutsInFlight(t *testing.T) {
	var objs []runtime.Object
	for _, name := range []string{"a1", "a2", "a3", "a4", "a5", "a6", "a7"} {
		d := testDeployment("ns", name, 2, "")
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 2}
		objs = append(objs, d)
	}
	idle := testDeployment("ns", "idle", 0, "") // takes no slot
	objs = append(objs, idle)
	client := fakeClient(objs...)
	o, out, errOut := testOptions(t, client)
	o.Wait, o.MaxInFlight, o.Output = true, 3, "json"
	var targets []*cluster.Workload
	for _, obj := range objs {
		targets = append(targets, workloadOf(obj.(*appsv1.Deployment)))
	}
	tr := newFakeTracker(targets)
	o.NewTracker = func(context.Context, []*cluster.Workload) (tracker, error) { return tr, nil }
	o.Restarter = func(ctx context.Context, t *cluster.Workload, value string) (patchResult, error) {
		if t.Replicas == 0 {
			return patchResult{Generation: t.Generation + 1}, nil
		}
		return tr.patch(ctx, t, value)
	}
	completer := make(chan struct{})
	go func() { tr.completeWhenFull(7, 3); close(completer) }()
	if err := runTest(t, o); err != nil {
		t.Fatalf("Run: %v\n%s", err, errOut)
	}
	<-completer
	if tr.maxActive != 3 || tr.patched != 7 {
		t.Fatalf("max rolling at once %d (want 3), patched %d (want 7)", tr.maxActive, tr.patched)
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Totals.RolledOut != 7 || rep.Totals.Skipped != 1 || rep.Totals.Patched != 8 {
		t.Fatalf("totals %+v", rep.Totals)
	}
}

func TestRestartWaitReportsTimeout(t *testing.T) {
	d := testDeployment("ns", "stuck", 1, "")
	client := fakeClient(d)
	o, out, _ := testOptions(t, client)
	o.Wait, o.Timeout, o.Value = true, 50*time.Millisecond, "v"
	tr := newFakeTracker([]*cluster.Workload{workloadOf(d)})
	o.NewTracker = func(context.Context, []*cluster.Workload) (tracker, error) { return tr, nil }
	o.Restarter = tr.patch
	err := runTest(t, o)
	if err == nil || !strings.Contains(err.Error(), "1 of 1 workloads failed") {
		t.Fatalf("Run = %v", err)
	}
	if !strings.Contains(out.String(), "rollout did not finish within 50ms: Waiting for deployment spec update to be observed...") {
		t.Fatalf("timeout not reported:\n%s", out)
	}
}

func TestRestartProgressPlainLines(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, false, 3, true, cmdutil.DryRunServer)
	p.start()
	p.finished(&item{result: resultPatched})
	p.finished(&item{result: resultFailed})
	p.eventf("deployment.apps/web -n a rolled out")
	p.stop()
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 2 || lines[0] != "deployment.apps/web -n a rolled out" ||
		!strings.HasPrefix(lines[1], "restart-workloads: 2/3 done, 0 rolling, 1 failed, ") || !strings.HasSuffix(lines[1], " (server dry run)") ||
		strings.Contains(b.String(), "\r") {
		t.Fatalf("progress output:\n%q", b.String())
	}
}

func TestRestartProgressRedrawsOnATerminal(t *testing.T) {
	var b bytes.Buffer
	p := newProgress(&b, true, 2, false, cmdutil.DryRunNone)
	p.started = time.Now()
	p.finished(&item{result: resultPatched})
	p.draw(false)
	p.eventf("deployment.apps/web -n a: patch failed")
	p.draw(true)
	want := "\r\x1b[Krestart-workloads: 1/2 done, 0s" + // the progress line
		"\r\x1b[Kdeployment.apps/web -n a: patch failed\n" + // cleared for an event
		"\r\x1b[Krestart-workloads: 1/2 done, 0s\n" // redrawn, ended
	if b.String() != want {
		t.Fatalf("terminal output:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestRestartOrdinalOrder(t *testing.T) {
	if !ordinalLess("web-9", "web-10") || ordinalLess("web-10", "web-2") {
		t.Fatal("ordinals compared as strings")
	}
}

// The pass runs with the collector's lower target and puts the previous
// one back; a GOGC the user set wins (cluster.CollectSooner's own test).
func TestRestartPassCollectsSooner(t *testing.T) {
	if _, set := os.LookupEnv("GOGC"); set {
		t.Skip("GOGC is set: the pass keeps it")
	}
	gcPercent := cluster.GCPercent
	before := gcPercent()
	client := fakeClient(testDeployment("a", "web", 1, ""))
	o, _, _ := testOptions(t, client)
	during := 0
	o.Restarter = func(ctx context.Context, w *cluster.Workload, value string) (patchResult, error) {
		during = gcPercent()
		return o.patch(ctx, w, value)
	}
	if err := runTest(t, o); err != nil {
		t.Fatal(err)
	}
	if during != restartGCPercent {
		t.Errorf("GOGC during the patches = %d, want %d", during, restartGCPercent)
	}
	if got := gcPercent(); got != before {
		t.Errorf("GOGC after the pass = %d, want %d back", got, before)
	}
}
