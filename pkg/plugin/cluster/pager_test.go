package cluster

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// podServer serves /api/v1/pods from n pods in pages of the requested
// limit, and fails as fail says for the request numbered i (from 1).
type podServer struct {
	n        int
	fail     func(i int, r *http.Request) int // an HTTP status to fail with, 0 to answer
	requests atomic.Int64
	mu       sync.Mutex
	limits   []string
}

func (s *podServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := int(s.requests.Add(1))
	s.mu.Lock()
	s.limits = append(s.limits, r.URL.Query().Get("limit"))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if code := s.fail(i, r); code != 0 {
		w.WriteHeader(code)
		reason := metav1.StatusReasonServiceUnavailable
		if code == http.StatusGone {
			reason = metav1.StatusReasonExpired
		}
		_ = json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: int32(code), Reason: reason})
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	from, _ := strconv.Atoi(r.URL.Query().Get("continue"))
	if limit == 0 {
		limit = s.n
	}
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "42"}}
	for k := from; k < from+limit && k < s.n; k++ {
		list.Items = append(list.Items, corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p" + strconv.Itoa(k), Namespace: "default"}})
	}
	if from+limit < s.n {
		list.Continue = strconv.Itoa(from + limit)
	}
	_ = json.NewEncoder(w).Encode(&list)
}

func podClient(t *testing.T, s *podServer) kubernetes.Interface {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: 1000, Burst: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listPods(c kubernetes.Interface) ListFunc {
	return func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		return c.CoreV1().Pods("").List(ctx, o)
	}
}

// fastRetries makes WithRetry try every 10 ms for 100 ms.
func fastRetries(t *testing.T) {
	savedDelay, savedBudget, savedFirst := RetryDelay, RetryBudget, FirstContactBudget
	t.Cleanup(func() { RetryDelay, RetryBudget, FirstContactBudget = savedDelay, savedBudget, savedFirst })
	RetryDelay.Duration, RetryDelay.Factor, RetryDelay.Jitter, RetryDelay.Cap = 10*time.Millisecond, 1, 0, 10*time.Millisecond
	RetryBudget, FirstContactBudget = 100*time.Millisecond, 100*time.Millisecond
}

func TestEachPageHonoursThePageSize(t *testing.T) {
	s := &podServer{n: 5, fail: func(int, *http.Request) int { return 0 }}
	var names []string
	rv, err := Each(context.Background(), 2, metav1.ListOptions{Limit: 500}, listPods(podClient(t, s)), nil, func(p *corev1.Pod) {
		names = append(names, p.Name)
	})
	if err != nil || rv != "42" {
		t.Fatalf("Each = %q, %v", rv, err)
	}
	if len(names) != 5 || names[0] != "p0" || names[4] != "p4" {
		t.Fatalf("visited %v", names)
	}
	if len(s.limits) != 3 {
		t.Fatalf("%d requests for 5 items in pages of 2, want 3", len(s.limits))
	}
	for _, l := range s.limits {
		if l != "2" {
			t.Fatalf("a page was asked with limit=%s, want 2 (the page size, whatever the caller's Limit)", l)
		}
	}
}

// TestEachPageRetriesBounded: a page that keeps failing is tried under one
// budget (no retry wrapped in another: that squares the tries), and the
// error comes back; a page that fails twice then answers costs 3 requests.
func TestEachPageRetriesBounded(t *testing.T) {
	fastRetries(t)
	Stalls.answered.Store(true)
	s := &podServer{n: 5, fail: func(int, *http.Request) int { return http.StatusServiceUnavailable }}
	_, err := Each(context.Background(), 2, metav1.ListOptions{}, listPods(podClient(t, s)), nil, func(*corev1.Pod) {})
	if !apierrors.IsServiceUnavailable(err) {
		t.Fatalf("a list that always fails: %v", err)
	}
	// 100 ms budget, 10 ms between tries: at most 11 tries, however slow
	// the machine; a nested retry would make up to 121.
	if n := s.requests.Load(); n < 1 || n > 11 {
		t.Fatalf("%d requests for a page that always fails, want 2 to 11", n)
	}

	// Room for three tries however loaded the machine: only the count of
	// requests is asserted.
	RetryBudget = time.Minute
	s = &podServer{n: 5, fail: func(i int, r *http.Request) int {
		if r.URL.Query().Get("continue") == "2" && i <= 3 {
			return http.StatusServiceUnavailable
		}
		return 0
	}}
	count := 0
	if _, err := Each(context.Background(), 2, metav1.ListOptions{}, listPods(podClient(t, s)), nil, func(*corev1.Pod) { count++ }); err != nil || count != 5 {
		t.Fatalf("a page that fails twice: %d items, %v", count, err)
	}
	if n := s.requests.Load(); n != 5 {
		t.Fatalf("%d requests, want 5 (3 pages, the second tried 3 times)", n)
	}
}

// TestEachPageStartsOverWhenExpired: an expired continue token restarts
// the walk after reset (never one unpaginated list), a bounded number of
// times.
func TestEachPageStartsOverWhenExpired(t *testing.T) {
	s := &podServer{n: 5, fail: func(i int, r *http.Request) int {
		if i == 2 {
			return http.StatusGone
		}
		return 0
	}}
	var names []string
	resets := 0
	_, err := Each(context.Background(), 2, metav1.ListOptions{}, listPods(podClient(t, s)), func() { resets++; names = nil }, func(p *corev1.Pod) {
		names = append(names, p.Name)
	})
	if err != nil || resets != 1 || len(names) != 5 {
		t.Fatalf("after an expired token: %v, %d resets, %v", err, resets, names)
	}
	for _, l := range s.limits {
		if l != "2" {
			t.Fatalf("a request with limit=%q: the walk fell back to an unpaginated list", l)
		}
	}
	s = &podServer{n: 5, fail: func(i int, r *http.Request) int {
		if r.URL.Query().Get("continue") != "" {
			return http.StatusGone
		}
		return 0
	}}
	resets = 0
	if _, err := Each(context.Background(), 2, metav1.ListOptions{}, listPods(podClient(t, s)), func() { resets++ }, func(*corev1.Pod) {}); !apierrors.IsResourceExpired(err) || resets != expiredRestarts {
		t.Fatalf("a token that always expires: %v after %d resets, want the error after %d", err, resets, expiredRestarts)
	}
}

func TestFanout(t *testing.T) {
	var running, most atomic.Int64
	done := make([]bool, 20)
	Fanout(context.Background(), 3, 20, func(i int) {
		n := running.Add(1)
		for {
			m := most.Load()
			if n <= m || most.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		done[i] = true
		running.Add(-1)
	})
	for i, d := range done {
		if !d {
			t.Fatalf("fn(%d) did not run", i)
		}
	}
	if most.Load() > 3 {
		t.Fatalf("%d ran at once, want at most 3", most.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran := false
	Fanout(ctx, 3, 5, func(int) { ran = true })
	if ran {
		t.Fatal("Fanout started work after its context was done")
	}
}
