package restart

import (
	"context"
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// The store keeps of a watched workload what --wait reads, not the
// object, and of the others nothing: the reflector's transform turns a
// watched Deployment into that and any other into its namespace and name;
// the store's state and notifications follow adds, updates, re-lists and
// deletes of the watched ones only.
func TestRestartWaitStoreKeepsWhatWaitReads(t *testing.T) {
	var changed []string
	s := newWorkloadStore(checks.KindDeployment, defaultAnnotation, func(key string) { changed = append(changed, key) })
	s.watch("a", "web")
	web := testDeployment("a", "web", 3, "v")
	web.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: "x"}}
	web.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl"}}
	web.Status = appsv1.DeploymentStatus{ObservedGeneration: 1, UpdatedReplicas: 3}
	want := *workloadOf(web)
	want.UID, want.ResourceVersion, want.Selector = "", "", ""

	obj, err := s.Transformer()(web.DeepCopy())
	if err != nil {
		t.Fatal(err)
	}
	tracked, ok := obj.(*trackedWorkload)
	if !ok {
		t.Fatalf("the transform kept a %T, want a *trackedWorkload", obj)
	}
	if tracked.Workload != want {
		t.Fatalf("tracked:\n%+v\nwant:\n%+v", tracked.Workload, want)
	}
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err != nil || key != "a/web" {
		t.Fatalf("reflector key = %q, %v", key, err)
	}
	other, err := s.Transformer()(testDeployment("b", "api", 1, ""))
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := other.(*unwatchedWorkload); !ok || *u != (unwatchedWorkload{namespace: "b", name: "api"}) {
		t.Fatalf("the transform kept %#v of a workload nobody watches", other)
	}
	if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(other); err != nil || key != "b/api" {
		t.Fatalf("reflector key = %q, %v", key, err)
	}
	synced := func() bool {
		select {
		case <-s.synced:
			return true
		default:
			return false
		}
	}
	if synced() {
		t.Fatal("synced before the first list")
	}

	// The first list: the watched one converted by the transform, one raw
	// nobody watches.
	if err := s.Replace([]any{obj, testDeployment("b", "api", 1, "")}, "1"); err != nil {
		t.Fatal(err)
	}
	if !synced() {
		t.Fatal("not synced after the first list")
	}
	if got, ok := s.get("a", "web"); !ok || got == nil || *got != want {
		t.Fatalf("get a/web = %+v, %v", got, ok)
	}
	if got, ok := s.get("b", "api"); ok || got != nil || len(s.watched) != 1 {
		t.Fatalf("b/api is not watched, yet get = %+v, %v (%d kept)", got, ok, len(s.watched))
	}
	if !slices.Equal(changed, []string{"Deployment/a/web"}) {
		t.Fatalf("changed = %q", changed)
	}

	// Watched from now on (before its patch): shown by nothing yet, then
	// by its next event.
	changed = nil
	s.watch("b", "api")
	if got, ok := s.get("b", "api"); !ok || got != nil {
		t.Fatalf("b/api before any event: %+v, %v", got, ok)
	}
	if err := s.Update(other); err != nil { // converted before it was watched
		t.Fatal(err)
	}
	if got, ok := s.get("b", "api"); !ok || got != nil {
		t.Fatalf("b/api after an event converted before it was watched: %+v, %v", got, ok)
	}
	api := testDeployment("b", "api", 1, "v")
	api.Generation = 2
	if err := s.Update(api); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.get("b", "api"); got == nil || got.Generation != 2 || got.Value != "v" {
		t.Fatalf("b/api after its event: %+v", got)
	}
	// A seed (a fresh read) does not overwrite what the watch showed.
	seed := *workloadOf(testDeployment("b", "api", 1, "old"))
	s.seed(&seed)
	if got, _ := s.get("b", "api"); got.Value != "v" {
		t.Fatalf("a seed overwrote the watch's state: %+v", got)
	}

	web.Generation, web.Status.ObservedGeneration = 2, 2
	if err := s.Update(web); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.get("a", "web"); got.Generation != 2 || got.Status.ObservedGeneration != 2 {
		t.Fatalf("update not kept: %+v", got)
	}
	// A re-list without a/web: it is gone, and its waiter is told.
	if err := s.Replace([]any{testDeployment("b", "api", 1, "v")}, "2"); err != nil {
		t.Fatal(err)
	}
	if got, ok := s.get("a", "web"); ok || got != nil {
		t.Fatal("a/web kept after a re-list without it")
	}
	if err := s.Delete(cache.DeletedFinalStateUnknown{Key: "b/api", Obj: testDeployment("b", "api", 1, "")}); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.get("b", "api"); ok {
		t.Fatal("b/api kept after its deletion")
	}
	slices.Sort(changed)
	if !slices.Equal(changed, []string{"Deployment/a/web", "Deployment/a/web", "Deployment/b/api", "Deployment/b/api", "Deployment/b/api", "Deployment/b/api"}) {
		t.Fatalf("changed = %q", changed)
	}
	// Forgotten: nothing of it is kept, and its events are dropped.
	s.forget("a", "web")
	s.forget("b", "api")
	if len(s.watched) != 0 {
		t.Fatalf("%d workloads kept after their waits ended", len(s.watched))
	}
	changed = nil
	if err := s.Update(web); err != nil {
		t.Fatal(err)
	}
	if len(s.watched) != 0 || len(changed) != 0 {
		t.Fatalf("an event of a forgotten workload was kept (%d) or told (%q)", len(s.watched), changed)
	}

	// A workload subscribed while the watch showed nothing of it since: a
	// seed from a fresh read is its state.
	s.watch("c", "db")
	seed = *workloadOf(testDeployment("c", "db", 1, "v"))
	s.seed(&seed)
	if got, ok := s.get("c", "db"); !ok || got == nil || got.Value != "v" || got.UID != "" {
		t.Fatalf("c/db after a seed: %+v, %v", got, ok)
	}
	if err := s.Add(&corev1.Pod{}); err == nil {
		t.Fatal("a Pod was accepted into the Deployment store")
	}
}

// The tracker follows the cluster: a status written after it started
// wakes the subscriber, and Get shows it.
func TestRestartWaitTrackerFollowsTheCluster(t *testing.T) {
	d, api := testDeployment("ns", "web", 1, ""), testDeployment("ns", "api", 1, "")
	client := fakeClient(d, api)
	o, _, _ := testOptions(t, client)
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.client = client
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := o.workloadTracker(ctx, []*cluster.Workload{workloadOf(d)})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	if w, ok := tr.Get(checks.KindDeployment, "ns", "web"); !ok || w.Status.ObservedGeneration != 0 {
		t.Fatalf("Get = %+v, %v", w, ok)
	}
	changed, unsubscribe := tr.Subscribe(checks.KindDeployment, "ns", "web")
	defer unsubscribe()
	d.Status.ObservedGeneration, d.Status.UpdatedReplicas = 1, 1
	if _, err := client.AppsV1().Deployments("ns").UpdateStatus(ctx, d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		w, _ := tr.Get(checks.KindDeployment, "ns", "web")
		if w.Status.ObservedGeneration == 1 {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("the tracker never showed the new status: %+v", w)
		}
	}
	if _, ok := tr.Get(checks.KindStatefulSet, "ns", "web"); ok {
		t.Fatal("a StatefulSet that does not exist was found")
	}

	// One not named at the start is kept from its subscription on.
	if w, ok := tr.Get(checks.KindDeployment, "ns", "api"); ok || w != nil {
		t.Fatalf("ns/api is watched by nobody, yet Get = %+v, %v", w, ok)
	}
	apiChanged, unsubscribeAPI := tr.Subscribe(checks.KindDeployment, "ns", "api")
	defer unsubscribeAPI()
	if w, ok := tr.Get(checks.KindDeployment, "ns", "api"); !ok || w != nil {
		t.Fatalf("ns/api subscribed, before any event: Get = %+v, %v", w, ok)
	}
	api.Generation = 2
	if _, err := client.AppsV1().Deployments("ns").Update(ctx, api, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	for {
		w, ok := tr.Get(checks.KindDeployment, "ns", "api")
		if !ok {
			t.Fatal("ns/api reported gone")
		}
		if w != nil && w.Generation == 2 {
			break
		}
		select {
		case <-apiChanged:
		case <-ctx.Done():
			t.Fatalf("the tracker never showed ns/api's change: %+v", w)
		}
	}
}

// Pods cached while OnDelete pods are replaced keep what that reads.
func TestRestartPodTrimmerKeepsWhatWaitReads(t *testing.T) {
	now := metav1.Now()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-0", UID: "u", DeletionTimestamp: &now,
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{defaultAnnotation: "v", "other": "big"},
		OwnerReferences: []metav1.OwnerReference{{Kind: "StatefulSet", Name: "web", UID: "s", Controller: new(true)}},
		ManagedFields:   []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}},
		Spec:   corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app", Image: "x"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}, HostIP: "10.0.0.1"}}
	obj, _ := trimmer(defaultAnnotation)(p)
	got := obj.(*corev1.Pod)
	if got.Annotations[defaultAnnotation] != "v" || len(got.Annotations) != 1 || got.Labels != nil || got.ManagedFields != nil ||
		len(got.Spec.Containers) != 0 || got.Spec.NodeName != "n1" || got.Status.HostIP != "" || !podReady(got) ||
		got.UID != "u" || got.DeletionTimestamp == nil || metav1.GetControllerOf(got).UID != "s" {
		t.Fatalf("trimmed pod: %+v", got)
	}
}
