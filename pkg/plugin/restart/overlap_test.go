package restart

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/overlap"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// passServer is an API server for one pass over one Deployment: no
// rotation record, every right allowed, empty lists of the other kinds and
// of pods. It logs each request as "METHOD path".
type passServer struct {
	mu  sync.Mutex
	log []string
}

func (s *passServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.log = append(s.log, r.Method+" "+r.URL.Path)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	write := func(obj runtime.Object) { _ = json.NewEncoder(w).Encode(obj) }
	web := testDeployment("ns", "web", 1, "")
	web.TypeMeta = metav1.TypeMeta{Kind: "Deployment", APIVersion: "apps/v1"}
	switch p := r.URL.Path; {
	case strings.HasSuffix(p, "/selfsubjectaccessreviews"):
		var review authorizationv1.SelfSubjectAccessReview
		_ = json.NewDecoder(r.Body).Decode(&review)
		review.Status.Allowed = true
		write(&review)
	case strings.Contains(p, "/configmaps/"):
		w.WriteHeader(http.StatusNotFound)
		write(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound})
	case p == "/apis/apps/v1/deployments":
		write(&appsv1.DeploymentList{TypeMeta: metav1.TypeMeta{Kind: "DeploymentList", APIVersion: "apps/v1"}, Items: []appsv1.Deployment{*web}})
	case p == "/apis/apps/v1/daemonsets":
		write(&appsv1.DaemonSetList{TypeMeta: metav1.TypeMeta{Kind: "DaemonSetList", APIVersion: "apps/v1"}})
	case p == "/apis/apps/v1/statefulsets":
		write(&appsv1.StatefulSetList{TypeMeta: metav1.TypeMeta{Kind: "StatefulSetList", APIVersion: "apps/v1"}})
	case p == "/api/v1/pods":
		write(&corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}})
	case r.Method == http.MethodPatch && p == "/apis/apps/v1/namespaces/ns/deployments/web":
		_, _ = io.Copy(io.Discard, r.Body)
		web.Generation = 2
		write(web)
	default:
		w.WriteHeader(http.StatusNotFound)
		write(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: 404, Reason: metav1.StatusReasonNotFound})
	}
}

// Before its first patch a pass makes two rounds of requests, not one
// request after another: the rotation record and the preflight's 7
// reviews together, then the lists, the pods scan alongside the kinds'
// lists, which go one after another (each decodes a page: three at once
// raised the pass's memory floor, measured in docs/benchmarks.md). The
// undo file's directory comes from the record read once.
func TestRestartRequestsBeforeThePatchOverlap(t *testing.T) {
	s := &passServer{}
	isReview := func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") }
	isRecord := func(r *http.Request) bool {
		return r.Method == http.MethodGet && r.URL.Path == "/api/v1/namespaces/"+rotation.Namespace+"/configmaps/"+rotation.NameOf("")
	}
	isList := func(r *http.Request, paths ...string) bool {
		return r.Method == http.MethodGet && r.URL.Query().Get("limit") != "" && slices.Contains(paths, r.URL.Path)
	}
	first := overlap.NewGroup(8, func(r *http.Request) bool { return isReview(r) || isRecord(r) })
	// The last kind's list is still in flight with the pods scan; the
	// first two kinds' lists are never in flight together (each is held
	// until a patience runs out waiting for the other).
	podsAlongside := overlap.NewGroup(2, func(r *http.Request) bool { return isList(r, "/api/v1/pods", "/apis/apps/v1/statefulsets") })
	kindsTogether := overlap.NewGroup(2, func(r *http.Request) bool { return isList(r, "/apis/apps/v1/deployments", "/apis/apps/v1/daemonsets") })
	srv := httptest.NewServer(overlap.Hold(300*time.Millisecond, overlap.Hold(5*time.Second, s, first, podsAlongside), kindsTogether))
	t.Cleanup(srv.Close)
	counter := &overlap.Counter{}
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1, WrapTransport: counter.Wrap,
		ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	o, _, errOut := testOptions(t, client)
	o.UndoDir, o.Value = "", "v1"
	t.Setenv("HOME", t.TempDir())
	if err := runTest(t, o); err != nil {
		t.Fatalf("Run = %v\n%s", err, errOut)
	}
	if !first.Together() {
		t.Error("the rotation record and the 7 reviews were not all in flight at once")
	}
	if !podsAlongside.Together() {
		t.Error("the pods scan was not in flight alongside the kinds' lists")
	}
	if kindsTogether.Together() {
		t.Error("two kinds' lists were in flight at once")
	}
	if got := counter.Peak(); got < 8 {
		t.Errorf("at most %d requests in flight at once, want at least 8", got)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	patch := slices.IndexFunc(s.log, func(l string) bool { return strings.HasPrefix(l, "PATCH ") })
	if patch < 0 {
		t.Fatalf("no patch: %q", s.log)
	}
	if len(s.log[:patch]) != 12 {
		t.Errorf("%d requests before the first patch, want 12 (the record, 7 reviews, 3 lists, pods): %q", patch, s.log[:patch])
	}
}
