//go:build e2e

// Package restart tests "kubectl carotate restart-workloads" against the
// local control plane, where the controllers and KWOK really roll pods.
// Each test labels its own namespaces and scopes the pass to them with
// --namespace-selector, so tests do not see each other's workloads.
package restart

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func TestMain(m *testing.M) { os.Exit(Main(m, localcluster.Options{})) }

// report mirrors the fields of restart-workloads -o json that the tests read.
type report struct {
	Value       string `json:"value"`
	ValueSource string `json:"valueSource"`
	DryRun      string `json:"dryRun"`
	UndoFile    string `json:"undoFile"`
	Totals      struct {
		Workloads, Patched, Skipped, Failed, RolledOut, UnrolledPods int
		Current                                                      int `json:"alreadyCurrent"`
	} `json:"totals"`
	Workloads []struct {
		Kind, Namespace, Name, Result, Skipped, Rollout, Error string
		OldPods, DeletedPods                                   int
	} `json:"workloads"`
	Pods []struct{ Namespace, Name, Reason string } `json:"pods"`
}

func (r report) item(t *testing.T, kind, ns, name string) (result, skipped, rollout string, oldPods, deleted int) {
	t.Helper()
	for _, w := range r.Workloads {
		if w.Kind == kind && w.Namespace == ns && w.Name == name {
			return w.Result, w.Skipped, w.Rollout, w.OldPods, w.DeletedPods
		}
	}
	t.Fatalf("%s %s/%s not in the report", kind, ns, name)
	return
}

// restartJSON runs restart-workloads with -o json and decodes the report.
func restartJSON(t *testing.T, cmd Cmd, args ...string) (report, Result) {
	t.Helper()
	res := cmd.Run(t, "kubectl-carotate", append([]string{"restart-workloads", "-o", "json"}, args...)...)
	var rep report
	if err := json.Unmarshal([]byte(res.Stdout), &rep); err != nil {
		t.Fatalf("restart-workloads -o json printed no report (exit %d): %v\n%s", res.Code, err, res.Stdout)
	}
	return rep, res
}

// namespaces creates n namespaces labelled restart-e2e=<label>.
func namespaces(t *testing.T, client kubernetes.Interface, label string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		ns := CreateNamespace(t, client, label)
		setNamespaceLabels(t, client, ns, map[string]string{"restart-e2e": label})
		out = append(out, ns)
	}
	return out
}

func setNamespaceLabels(t *testing.T, client kubernetes.Interface, ns string, labels map[string]string) {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"labels": labels}})
	_, err := client.CoreV1().Namespaces().Patch(context.Background(), ns, types.StrategicMergePatchType, b, metav1.PatchOptions{})
	Must(t, err)
}

type workloads struct {
	client kubernetes.Interface
	ns     string
}

func (w workloads) deployment(t *testing.T, name string, replicas int32, mutate ...func(*appsv1.Deployment)) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: PodTemplate(labels)}}
	for _, m := range mutate {
		m(d)
	}
	Must(t, Create(w.client.AppsV1().Deployments(w.ns).Create(context.Background(), d, metav1.CreateOptions{})))
}

func (w workloads) daemonSet(t *testing.T, name string, mutate ...func(*appsv1.DaemonSet)) {
	t.Helper()
	labels := map[string]string{"app": name}
	d := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: PodTemplate(labels)}}
	for _, m := range mutate {
		m(d)
	}
	Must(t, Create(w.client.AppsV1().DaemonSets(w.ns).Create(context.Background(), d, metav1.CreateOptions{})))
}

func (w workloads) statefulSet(t *testing.T, name string, replicas int32, mutate ...func(*appsv1.StatefulSet)) {
	t.Helper()
	labels := map[string]string{"app": name}
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: appsv1.StatefulSetSpec{
		Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: PodTemplate(labels)}}
	for _, m := range mutate {
		m(s)
	}
	Must(t, Create(w.client.AppsV1().StatefulSets(w.ns).Create(context.Background(), s, metav1.CreateOptions{})))
}

// templateValues returns kind/ns/name -> the ca-rotation annotation of the
// pod template ("<none>" when absent), for every workload in namespaces.
func templateValues(t *testing.T, client kubernetes.Interface, nss ...string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	get := func(a map[string]string) string {
		if v, ok := a["ca-rotation"]; ok {
			return v
		}
		return "<none>"
	}
	for _, ns := range nss {
		ds, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, d := range ds.Items {
			out["Deployment/"+ns+"/"+d.Name] = get(d.Spec.Template.Annotations)
		}
		dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, d := range dss.Items {
			out["DaemonSet/"+ns+"/"+d.Name] = get(d.Spec.Template.Annotations)
		}
		stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		Must(t, err)
		for _, d := range stss.Items {
			out["StatefulSet/"+ns+"/"+d.Name] = get(d.Spec.Template.Annotations)
		}
	}
	return out
}

// resourceVersions returns kind/ns/name -> resourceVersion of every workload.
func resourceVersions(t *testing.T, client kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	ds, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, d := range ds.Items {
		out["Deployment/"+d.Name] = d.ResourceVersion
	}
	dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, d := range dss.Items {
		out["DaemonSet/"+d.Name] = d.ResourceVersion
	}
	stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, d := range stss.Items {
		out["StatefulSet/"+d.Name] = d.ResourceVersion
	}
	return out
}

// waitSettled waits until no controller writes the workloads in ns any
// more (two reads a second apart agree), so that a later resourceVersion
// change can only come from the command under test.
func waitSettled(t *testing.T, client kubernetes.Interface, ns string) map[string]string {
	t.Helper()
	var last map[string]string
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 2*time.Minute, false, func(context.Context) (bool, error) {
		cur := resourceVersions(t, client, ns)
		same := last != nil && fmt.Sprint(cur) == fmt.Sprint(last)
		last = cur
		return same, nil
	})
	Must(t, err)
	return last
}

func TestRollsAllKindsAndResumesWithTheSameValue(t *testing.T) {
	client := Client(t)
	nss := namespaces(t, client, "roll", 3)
	for _, ns := range nss {
		w := workloads{client, ns}
		w.deployment(t, "web", 2)
		w.daemonSet(t, "agent")
		w.statefulSet(t, "db", 2)
	}
	before := map[string]sets.Set[types.UID]{}
	for _, ns := range nss {
		WaitRolledOut(t, client, ns)
		before[ns] = PodUIDs(t, client, ns)
		if before[ns].Len() != 7 { // 2 + one per node (3) + 2
			t.Fatalf("%s: want 7 running pods, have %d", ns, before[ns].Len())
		}
	}
	scope := []string{"--namespace-selector", "restart-e2e=roll"}

	rep, res := restartJSON(t, Cmd{}, append(scope, "--wait")...)
	if res.Code != 0 || rep.Totals.Workloads != 9 || rep.Totals.Patched != 9 || rep.Totals.RolledOut != 9 || rep.ValueSource != "generated" {
		t.Fatalf("first pass: exit %d, totals %+v, source %q", res.Code, rep.Totals, rep.ValueSource)
	}
	first := rep.Value
	if _, err := time.Parse("20060102T150405Z", first); err != nil {
		t.Fatalf("generated value %q is not a UTC timestamp: %v", first, err)
	}
	if !strings.Contains(res.Stderr, "resume this pass with --value "+first) {
		t.Fatalf("stderr does not say how to resume:\n%s", res.Stderr)
	}
	for k, v := range templateValues(t, client, nss...) {
		if v != first {
			t.Errorf("%s carries %q, want %q", k, v, first)
		}
	}
	after := map[string]sets.Set[types.UID]{}
	for _, ns := range nss {
		// --wait returned only once every rollout was complete.
		after[ns] = PodUIDs(t, client, ns)
		if kept := before[ns].Intersection(after[ns]); kept.Len() != 0 || after[ns].Len() != 7 {
			t.Fatalf("%s: %d of the old pods survived, %d pods run", ns, kept.Len(), after[ns].Len())
		}
	}

	// The same value again: nothing is patched, nothing rolls, and it says so.
	gens := generations(t, client, nss...)
	rep, res = restartJSON(t, Cmd{}, append(scope, "--value", first, "--wait")...)
	if res.Code != 0 || rep.Totals.Patched != 0 || rep.Totals.Current != 9 || rep.Totals.RolledOut != 9 {
		t.Fatalf("same value again: exit %d, totals %+v", res.Code, rep.Totals)
	}
	if g := generations(t, client, nss...); fmt.Sprint(g) != fmt.Sprint(gens) {
		t.Fatalf("same value again changed generations:\n%v\n%v", gens, g)
	}
	res = Carotate(t, append([]string{"restart-workloads", "--value", first}, scope...)...)
	if res.Code != 0 || !strings.Contains(res.Stdout, "9 workloads, 0 patched, 9 already current") {
		t.Fatalf("the table does not say everything is current: exit %d\n%s", res.Code, res.Stdout)
	}
	for _, ns := range nss {
		if cur := PodUIDs(t, client, ns); !cur.Equal(after[ns]) {
			t.Fatalf("%s: pods changed although nothing was patched", ns)
		}
	}

	// A new pass rolls everything again.
	rep, res = restartJSON(t, Cmd{}, append(scope, "--value", "pass-2", "--wait")...)
	if res.Code != 0 || rep.Totals.Patched != 9 || rep.Totals.RolledOut != 9 {
		t.Fatalf("second pass: exit %d, totals %+v", res.Code, rep.Totals)
	}
	for _, ns := range nss {
		if kept := after[ns].Intersection(PodUIDs(t, client, ns)); kept.Len() != 0 {
			t.Fatalf("%s: %d pods survived the second pass", ns, kept.Len())
		}
	}
}

func generations(t *testing.T, client kubernetes.Interface, nss ...string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, ns := range nss {
		ds, err := client.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{})
		Must(t, err)
		for _, d := range ds.Items {
			out["Deployment/"+ns+"/"+d.Name] = d.Generation
		}
		dss, err := client.AppsV1().DaemonSets(ns).List(context.Background(), metav1.ListOptions{})
		Must(t, err)
		for _, d := range dss.Items {
			out["DaemonSet/"+ns+"/"+d.Name] = d.Generation
		}
		stss, err := client.AppsV1().StatefulSets(ns).List(context.Background(), metav1.ListOptions{})
		Must(t, err)
		for _, d := range stss.Items {
			out["StatefulSet/"+ns+"/"+d.Name] = d.Generation
		}
	}
	return out
}

func TestSelectorsAndExclusions(t *testing.T) {
	client := Client(t)
	nss := namespaces(t, client, "scope", 4)
	setNamespaceLabels(t, client, nss[0], map[string]string{"team": "a"})
	setNamespaceLabels(t, client, nss[1], map[string]string{"team": "a"})
	setNamespaceLabels(t, client, nss[2], map[string]string{"team": "b"})
	for _, ns := range nss {
		w := workloads{client, ns}
		w.deployment(t, "api", 0, func(d *appsv1.Deployment) { d.Labels["tier"] = "api" })
		w.deployment(t, "web", 0, func(d *appsv1.Deployment) { d.Labels["tier"] = "web" })
		w.statefulSet(t, "db", 0, func(s *appsv1.StatefulSet) { s.Labels["tier"] = "api" })
	}
	// team=a minus nss[1], label tier=api: only nss[0]'s api and db.
	rep, res := restartJSON(t, Cmd{}, "--namespace-selector", "restart-e2e=scope,team=a", "--exclude-namespace", nss[1], "-l", "tier=api", "--value", "s1")
	if res.Code != 0 || rep.Totals.Patched != 2 {
		t.Fatalf("exit %d, totals %+v", res.Code, rep.Totals)
	}
	// -n with --kinds: only nss[2]'s Deployments.
	rep, res = restartJSON(t, Cmd{}, "-n", nss[2], "--kinds", "deploy", "--value", "s1")
	if res.Code != 0 || rep.Totals.Patched != 2 {
		t.Fatalf("exit %d, totals %+v", res.Code, rep.Totals)
	}
	want := map[string]string{
		"Deployment/" + nss[0] + "/api": "s1", "Deployment/" + nss[0] + "/web": "<none>", "StatefulSet/" + nss[0] + "/db": "s1",
		"Deployment/" + nss[1] + "/api": "<none>", "Deployment/" + nss[1] + "/web": "<none>", "StatefulSet/" + nss[1] + "/db": "<none>",
		"Deployment/" + nss[2] + "/api": "s1", "Deployment/" + nss[2] + "/web": "s1", "StatefulSet/" + nss[2] + "/db": "<none>",
		"Deployment/" + nss[3] + "/api": "<none>", "Deployment/" + nss[3] + "/web": "<none>", "StatefulSet/" + nss[3] + "/db": "<none>",
	}
	got := templateValues(t, client, nss...)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("annotations after the scoped passes:\n got %v\nwant %v", got, want)
	}
	res = Carotate(t, "restart-workloads", "-n", "no-such-namespace")
	if res.Code != 1 || !strings.Contains(res.Stderr, `namespace "no-such-namespace" not found, nothing was changed`) {
		t.Fatalf("missing namespace: exit %d, stderr %q", res.Code, res.Stderr)
	}
}

// TestReportsWhatDoesNotRoll: paused, OnDelete, zero replicas and a bare
// pod are each reported; then --resume-paused and --delete-ondelete-pods
// roll the paused and OnDelete ones.
func TestReportsWhatDoesNotRoll(t *testing.T) {
	client := Client(t)
	ns := namespaces(t, client, "odd", 1)[0]
	w := workloads{client, ns}
	w.deployment(t, "frozen", 1)
	w.deployment(t, "idle", 0)
	w.daemonSet(t, "agent", func(d *appsv1.DaemonSet) { d.Spec.UpdateStrategy.Type = appsv1.OnDeleteDaemonSetStrategyType })
	w.statefulSet(t, "db", 2, func(s *appsv1.StatefulSet) { s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType })
	Must(t, Create(client.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "debug"}, Spec: PodTemplate(nil).Spec}, metav1.CreateOptions{})))
	// A Job's pod: KWOK completes a running Job pod at once, so this one
	// waits for a node that does not exist; it is a real pod the Job
	// controller made, owned by the Job, which is what the report judges.
	job := PodTemplate(map[string]string{"app": "batch"})
	job.Spec.RestartPolicy = corev1.RestartPolicyNever
	job.Spec.NodeSelector = map[string]string{"restart-e2e/no-such-node": "true"}
	Must(t, Create(client.BatchV1().Jobs(ns).Create(context.Background(), &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "batch"}, Spec: batchv1.JobSpec{Template: job}}, metav1.CreateOptions{})))
	jobPod := waitJobPod(t, client, ns, "batch")
	WaitRolledOutOnDelete(t, client, ns)
	_, err := client.AppsV1().Deployments(ns).Patch(context.Background(), "frozen", types.StrategicMergePatchType,
		[]byte(`{"spec":{"paused":true}}`), metav1.PatchOptions{})
	Must(t, err)
	before := PodUIDs(t, client, ns)
	if before.Len() != 7 { // frozen 1, agent 3, db 2, debug 1 (the Job's pod is Pending)
		t.Fatalf("want 7 running pods, have %d", before.Len())
	}
	scope := []string{"--namespace-selector", "restart-e2e=odd", "--value", "odd-1"}

	rep, res := restartJSON(t, Cmd{}, scope...)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	check := func(kind, name, wantResult, wantSkipped string, wantOld int) {
		t.Helper()
		result, skipped, _, old, _ := rep.item(t, kind, ns, name)
		if result != wantResult || skipped != wantSkipped || old != wantOld {
			t.Errorf("%s %s: result %q skipped %q oldPods %d, want %q %q %d", kind, name, result, skipped, old, wantResult, wantSkipped, wantOld)
		}
	}
	check("Deployment", "frozen", "patched", "paused", 0)
	check("Deployment", "idle", "patched", "0 replicas", 0)
	check("DaemonSet", "agent", "patched", "OnDelete", 3)
	check("StatefulSet", "db", "patched", "OnDelete", 2)
	unrolled := map[string]string{}
	for _, p := range rep.Pods {
		unrolled[p.Name] = p.Reason
	}
	if len(unrolled) != 2 || unrolled["debug"] != "bare pod" || unrolled[jobPod] != "Job pod" {
		t.Errorf("bare pod and Job pod not reported: %+v", rep.Pods)
	}
	if rep.Totals.Skipped != 4 || rep.Totals.UnrolledPods != 2 || rep.Totals.Failed != 0 {
		t.Errorf("totals %+v", rep.Totals)
	}
	// The patch reached the templates, yet no pod was replaced.
	WaitRolledOutOnDelete(t, client, ns)
	if cur := PodUIDs(t, client, ns); !cur.Equal(before) {
		t.Fatalf("pods changed: paused and OnDelete workloads must not roll by themselves")
	}
	// The table names each one and what to do.
	res = Carotate(t, append([]string{"restart-workloads"}, scope...)...)
	for _, want := range []string{
		"kubectl rollout resume deployment/frozen -n " + ns,
		"deployment.apps/frozen   paused       carries the value; rolls once resumed",
		"daemonset.apps/agent     OnDelete     carries the value; 3 pod(s) still run an older template",
		"statefulset.apps/db      OnDelete     carries the value; 2 pod(s) still run an older template",
		"deployment.apps/idle     0 replicas", "pod/debug                bare pod",
		"pod/" + jobPod, "Job pod",
	} {
		if !strings.Contains(res.Stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, res.Stdout)
		}
	}

	// Opt in: resume the paused one, replace the OnDelete pods one by one.
	rep, res = restartJSON(t, Cmd{}, append(scope, "--wait", "--resume-paused", "--delete-ondelete-pods")...)
	if res.Code != 0 {
		t.Fatalf("exit %d", res.Code)
	}
	for _, c := range []struct {
		kind, name string
		deleted    int
	}{{"Deployment", "frozen", 0}, {"DaemonSet", "agent", 3}, {"StatefulSet", "db", 2}} {
		_, skipped, rollout, _, deleted := rep.item(t, c.kind, ns, c.name)
		if skipped != "" || rollout != "complete" || deleted != c.deleted {
			t.Errorf("%s %s: skipped %q rollout %q deleted %d, want rolled out with %d pods deleted", c.kind, c.name, skipped, rollout, deleted, c.deleted)
		}
	}
	d, err := client.AppsV1().Deployments(ns).Get(context.Background(), "frozen", metav1.GetOptions{})
	Must(t, err)
	if d.Spec.Paused {
		t.Errorf("frozen is still paused")
	}
	after := PodUIDs(t, client, ns)
	if kept := before.Intersection(after); kept.Len() != 1 || after.Len() != 7 {
		t.Fatalf("want only the bare pod to survive and 7 pods running; %d survived, %d run", kept.Len(), after.Len())
	}
	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	Must(t, err)
	for _, p := range pods.Items {
		if p.Name != "debug" && p.Name != jobPod && p.DeletionTimestamp == nil && p.Annotations["ca-rotation"] != "odd-1" {
			t.Errorf("pod %s runs a template without the pass value", p.Name)
		}
	}
}

// waitJobPod returns the name of the pod the Job controller made for job.
func waitJobPod(t *testing.T, client kubernetes.Interface, ns, job string) string {
	t.Helper()
	var name string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
		if err != nil || len(pods.Items) == 0 {
			return false, nil
		}
		name = pods.Items[0].Name
		return true, nil
	})
	if err != nil {
		t.Fatalf("the Job controller made no pod for %s/%s: %v", ns, job, err)
	}
	return name
}

// WaitRolledOutOnDelete waits until the pods of ns run (OnDelete workloads
// have no rollout status): every Deployment, DaemonSet and StatefulSet has
// as many available pods as it wants.
func WaitRolledOutOnDelete(t *testing.T, client kubernetes.Interface, ns string) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		ds, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, d := range ds.Items {
			if d.Status.ObservedGeneration < d.Generation || d.Status.AvailableReplicas != *d.Spec.Replicas {
				return false, nil
			}
		}
		dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, d := range dss.Items {
			if d.Status.ObservedGeneration < d.Generation || d.Status.DesiredNumberScheduled == 0 || d.Status.NumberAvailable != d.Status.DesiredNumberScheduled {
				return false, nil
			}
		}
		stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		for _, s := range stss.Items {
			if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != *s.Spec.Replicas {
				return false, nil
			}
		}
		return true, nil
	})
	Must(t, err)
}

// rolloutEvent is one watch event of a workload, to be replayed in
// resourceVersion order across the three kinds.
type rolloutEvent struct {
	rv      int64
	key     string
	changed bool // generation above the one before the run (our patch)
	done    bool // complete by kubectl rollout status's rules
}

// TestMaxInFlightOne watches every workload of a namespace while a pass
// with --max-in-flight 1 runs, and replays the events in the order etcd
// wrote them (resourceVersions here are etcd revisions): at no point may two
// workloads be rolling.
func TestMaxInFlightOne(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := namespaces(t, client, "inflight", 1)[0]
	w := workloads{client, ns}
	for _, name := range []string{"a", "b", "c"} {
		w.deployment(t, name, 2)
	}
	w.daemonSet(t, "agent")
	w.statefulSet(t, "db", 2)
	WaitRolledOut(t, client, ns)
	startGen := generations(t, client, ns)

	// Watch from a list's resourceVersion, so no event of the run is missed.
	list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	Must(t, err)
	opts := metav1.ListOptions{ResourceVersion: list.ResourceVersion}
	watchCtx, stop := context.WithCancel(ctx)
	var mu sync.Mutex
	var events []rolloutEvent
	var wg sync.WaitGroup
	collect := func(wi watch.Interface, toEvent func(obj any) (rolloutEvent, bool)) {
		wg.Go(func() {
			defer wi.Stop()
			for {
				select {
				case e, ok := <-wi.ResultChan():
					if !ok {
						return
					}
					if ev, ok := toEvent(e.Object); ok {
						mu.Lock()
						events = append(events, ev)
						mu.Unlock()
					}
				case <-watchCtx.Done():
					return
				}
			}
		})
	}
	rvOf := func(m metav1.Object) int64 { n, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64); return n }
	dw, err := client.AppsV1().Deployments(ns).Watch(ctx, opts)
	Must(t, err)
	collect(dw, func(obj any) (rolloutEvent, bool) {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return rolloutEvent{}, false
		}
		s, want := d.Status, *d.Spec.Replicas
		key := "Deployment/" + ns + "/" + d.Name
		return rolloutEvent{rv: rvOf(d), key: key, changed: d.Generation > startGen[key],
			done: s.ObservedGeneration >= d.Generation && s.UpdatedReplicas >= want && s.Replicas <= s.UpdatedReplicas && s.AvailableReplicas >= s.UpdatedReplicas}, true
	})
	dsw, err := client.AppsV1().DaemonSets(ns).Watch(ctx, opts)
	Must(t, err)
	collect(dsw, func(obj any) (rolloutEvent, bool) {
		d, ok := obj.(*appsv1.DaemonSet)
		if !ok {
			return rolloutEvent{}, false
		}
		s := d.Status
		key := "DaemonSet/" + ns + "/" + d.Name
		return rolloutEvent{rv: rvOf(d), key: key, changed: d.Generation > startGen[key],
			done: s.ObservedGeneration >= d.Generation && s.UpdatedNumberScheduled >= s.DesiredNumberScheduled && s.NumberAvailable >= s.DesiredNumberScheduled}, true
	})
	sw, err := client.AppsV1().StatefulSets(ns).Watch(ctx, opts)
	Must(t, err)
	collect(sw, func(obj any) (rolloutEvent, bool) {
		d, ok := obj.(*appsv1.StatefulSet)
		if !ok {
			return rolloutEvent{}, false
		}
		s, want := d.Status, *d.Spec.Replicas
		key := "StatefulSet/" + ns + "/" + d.Name
		return rolloutEvent{rv: rvOf(d), key: key, changed: d.Generation > startGen[key],
			done: s.ObservedGeneration >= d.Generation && s.ReadyReplicas >= want && s.UpdatedReplicas >= want}, true
	})

	rep, res := restartJSON(t, Cmd{}, "--namespace-selector", "restart-e2e=inflight", "--wait", "--max-in-flight", "1", "--value", "one")
	stop()
	wg.Wait()
	if res.Code != 0 || rep.Totals.RolledOut != 5 {
		t.Fatalf("exit %d, totals %+v", res.Code, rep.Totals)
	}

	sort.Slice(events, func(i, j int) bool { return events[i].rv < events[j].rv })
	rolling := map[string]bool{}
	started := sets.New[string]()
	maxRolling := 0
	for _, e := range events {
		switch {
		case e.changed && !e.done:
			rolling[e.key] = true
			started.Insert(e.key)
		case e.done:
			delete(rolling, e.key)
		}
		if len(rolling) > 1 {
			t.Errorf("at resourceVersion %d these rolled at once: %v", e.rv, sets.List(sets.KeySet(rolling)))
		}
		maxRolling = max(maxRolling, len(rolling))
	}
	// Without this the test could pass by never seeing a rollout at all.
	if started.Len() != 5 || maxRolling != 1 {
		t.Fatalf("saw %d of 5 rollouts start (%v), at most %d at once", started.Len(), sets.List(started), maxRolling)
	}
}

// TestDryRunChangesNothing: server and client dry runs report what they
// would patch and leave every resourceVersion as it was.
func TestDryRunChangesNothing(t *testing.T) {
	client := Client(t)
	ns := namespaces(t, client, "dry", 1)[0]
	w := workloads{client, ns}
	w.deployment(t, "web", 1)
	w.daemonSet(t, "agent")
	w.statefulSet(t, "db", 1)
	WaitRolledOut(t, client, ns)
	before := waitSettled(t, client, ns)
	for _, mode := range []string{"server", "client"} {
		rep, res := restartJSON(t, Cmd{}, "--namespace-selector", "restart-e2e=dry", "--dry-run="+mode)
		if res.Code != 0 || rep.DryRun != mode || rep.Totals.Patched != 3 {
			t.Fatalf("--dry-run=%s: exit %d, dryRun %q, totals %+v", mode, res.Code, rep.DryRun, rep.Totals)
		}
		if after := resourceVersions(t, client, ns); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("--dry-run=%s changed resourceVersions:\n%v\n%v", mode, before, after)
		}
	}
	res := Carotate(t, "restart-workloads", "--namespace-selector", "restart-e2e=dry", "--dry-run=server")
	if res.Code != 0 || !strings.HasSuffix(strings.TrimSpace(res.Stdout), "3 patched, 0 already current, 0 skipped, 0 failed (server dry run)") {
		t.Fatalf("server dry run wording: exit %d\n%s", res.Code, res.Stdout)
	}
	if after := resourceVersions(t, client, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("--dry-run=server changed resourceVersions:\n%v\n%v", before, after)
	}
}

// TestRBACLimitedUserStopsBeforeAnyWrite: a user bound to "view" gets the
// preflight error naming every missing right, and nothing is patched.
func TestRBACLimitedUserStopsBeforeAnyWrite(t *testing.T) {
	client := Client(t)
	ns := namespaces(t, client, "rbac", 1)[0]
	workloads{client, ns}.deployment(t, "web", 0)
	user, err := Cluster.PKI.CA.Issue(localcluster.CertSpec{CommonName: "restart-readonly", Client: true})
	Must(t, err)
	kubeconfig := filepath.Join(t.TempDir(), "readonly.conf")
	Must(t, localcluster.WriteKubeconfig(kubeconfig, Cluster.Server, Cluster.PKI.CA.CertPEM, user))
	BindClusterRole(t, client, "restart-readonly", "view", "list", "apps", "deployments")

	before := waitSettled(t, client, ns)
	res := Cmd{Kubeconfig: kubeconfig}.Run(t, "kubectl-carotate", "restart-workloads", "--wait")
	for _, want := range []string{"missing RBAC permissions, nothing was changed",
		"patch deployments.apps in all namespaces", "patch daemonsets.apps in all namespaces", "patch statefulsets.apps in all namespaces"} {
		if res.Code != 1 || !strings.Contains(res.Stderr, want) {
			t.Errorf("exit %d, stderr lacks %q:\n%s", res.Code, want, res.Stderr)
		}
	}
	if strings.Contains(res.Stderr, "list deployments") || strings.Contains(res.Stderr, "watch deployments") {
		t.Errorf("view may list and watch; the error must name only what is missing:\n%s", res.Stderr)
	}
	res = Cmd{Kubeconfig: kubeconfig}.Run(t, "kubectl-carotate", "restart-workloads", "-n", ns)
	if res.Code != 1 || !strings.Contains(res.Stderr, "patch deployments.apps in namespace "+ns) {
		t.Errorf("-n: exit %d, stderr:\n%s", res.Code, res.Stderr)
	}
	if after := resourceVersions(t, client, ns); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a refused run changed workloads:\n%v\n%v", before, after)
	}
}

// TestSurvivesAPIServerRestart stops and starts kube-apiserver while a pass
// over 300 workloads (no pods, to keep it light) is patching. The run, or a
// re-run with the same value, finishes; every workload carries the value;
// and none rolled twice: each Deployment has exactly two ReplicaSets and
// each DaemonSet and StatefulSet exactly two ControllerRevisions (created,
// patched once). It runs last: the apiserver restart disturbs watches.
func TestSurvivesAPIServerRestart(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	const label = "restart-resilience"
	nss := namespaces(t, client, "resilience", 30)
	tmplLabels := func(m map[string]string) { m[label] = "yes" }
	for _, ns := range nss {
		w := workloads{client, ns}
		for i := range 6 {
			w.deployment(t, fmt.Sprintf("d%d", i), 0, func(d *appsv1.Deployment) { tmplLabels(d.Spec.Template.Labels) })
		}
		for i := range 2 {
			// A node selector no node matches: a DaemonSet without pods.
			w.daemonSet(t, fmt.Sprintf("ds%d", i), func(d *appsv1.DaemonSet) {
				tmplLabels(d.Spec.Template.Labels)
				d.Spec.Template.Spec.NodeSelector = map[string]string{"carotate.example/none": "true"}
			})
			w.statefulSet(t, fmt.Sprintf("sts%d", i), 0, func(s *appsv1.StatefulSet) { tmplLabels(s.Spec.Template.Labels) })
		}
	}
	const total = 300
	waitHistory(t, client, label, 1)

	// Count patches as they land, through a watch on Deployments.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	seen := make(chan struct{}, total)
	dw, err := client.AppsV1().Deployments("").Watch(watchCtx, metav1.ListOptions{LabelSelector: "app"})
	Must(t, err)
	go func() {
		defer dw.Stop()
		for e := range dw.ResultChan() {
			if d, ok := e.Object.(*appsv1.Deployment); ok && d.Spec.Template.Annotations["ca-rotation"] == "res-1" {
				select {
				case seen <- struct{}{}:
				default:
				}
			}
		}
	}()

	// A low rate keeps the pass busy for half a minute, so the apiserver is
	// certainly stopped in the middle of it.
	args := []string{"restart-workloads", "--namespace-selector", "restart-e2e=resilience", "--value", "res-1", "--qps", "10", "--burst", "10", "--concurrency", "4", "-o", "json"}
	done := make(chan Result, 1)
	go func() { done <- Cmd{Timeout: 5 * time.Minute}.Run(t, "kubectl-carotate", args...) }()
	select {
	case <-seen:
	case r := <-done:
		t.Fatalf("the pass ended before patching anything: exit %d\n%s", r.Code, r.Stderr)
	}
	stopWatch()
	Must(t, Cluster.StopComponent(localcluster.APIServer))
	Must(t, Cluster.StartComponent(ctx, localcluster.APIServer))
	select {
	case r := <-done:
		// It cannot have finished its 300 patches at 10 per second while
		// the apiserver was away unless it had finished before the stop.
		t.Fatalf("the pass ended before the apiserver came back (exit %d): the restart did not happen mid-run", r.Code)
	default:
	}
	first := <-done
	var rep report
	if err := json.Unmarshal([]byte(first.Stdout), &rep); err == nil {
		t.Logf("first run: exit %d, totals %+v", first.Code, rep.Totals)
	}
	if first.Code != 0 {
		// Resuming is the documented way out: the same value, and only what
		// does not carry it yet is patched.
		rep2, res := restartJSON(t, Cmd{}, args[1:len(args)-2]...)
		if res.Code != 0 || rep2.Totals.Failed != 0 || rep2.Totals.Patched+rep2.Totals.Current != total {
			t.Fatalf("the re-run did not finish the pass: exit %d, totals %+v", res.Code, rep2.Totals)
		}
	}
	for k, v := range templateValues(t, client, nss...) {
		if v != "res-1" {
			t.Errorf("%s carries %q", k, v)
		}
	}
	waitHistory(t, client, label, 2)
}

// waitHistory waits until every Deployment has want ReplicaSets and every
// DaemonSet and StatefulSet want ControllerRevisions, then checks that
// none has more: a workload patched twice with different values would.
func waitHistory(t *testing.T, client kubernetes.Interface, label string, want int) {
	t.Helper()
	var counts map[string]int
	count := func(ctx context.Context) error {
		counts = map[string]int{}
		rss, err := client.AppsV1().ReplicaSets("").List(ctx, metav1.ListOptions{LabelSelector: label})
		if err != nil {
			return err
		}
		for _, rs := range rss.Items {
			if ref := metav1.GetControllerOf(&rs); ref != nil {
				counts["Deployment/"+rs.Namespace+"/"+ref.Name]++
			}
		}
		crs, err := client.AppsV1().ControllerRevisions("").List(ctx, metav1.ListOptions{LabelSelector: label})
		if err != nil {
			return err
		}
		for _, cr := range crs.Items {
			if ref := metav1.GetControllerOf(&cr); ref != nil {
				counts[ref.Kind+"/"+cr.Namespace+"/"+ref.Name]++
			}
		}
		return nil
	}
	err := wait.PollUntilContextTimeout(context.Background(), time.Second, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		if count(ctx) != nil || len(counts) != 300 {
			return false, nil
		}
		for _, n := range counts {
			if n < want {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		t.Fatalf("history did not reach %d per workload (%d workloads seen): %v", want, len(counts), err)
	}
	for k, n := range counts {
		if n != want {
			t.Errorf("%s has %d revisions, want %d", k, n, want)
		}
	}
}
