package cluster

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestStallWatchdog: a request in flight longer than stallAfter, and a
// caller waiting to retry, are reported; watches are not.
func TestStallWatchdog(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)

	s := &apiStalls{inflight: map[uint64]time.Time{}}
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	client := &http.Client{Transport: s.Wrap(now)(http.DefaultTransport)}
	for _, path := range []string{"/api/v1/pods", "/api/v1/pods?watch=true"} {
		go func() {
			if resp, err := client.Get(srv.URL + path); err == nil {
				resp.Body.Close()
			}
		}()
	}
	// Both requests reach the server; only the list counts.
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.inflight)
		s.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests recorded in flight, want 1 (the watch does not count)", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if stalled, retrying := s.pending(now()); stalled != 0 || retrying != 0 {
		t.Fatalf("a fresh request counts as stalled: %d, %d", stalled, retrying)
	}
	clock.Add(int64(stallAfter))
	s.retrying.Add(2)
	stalled, retrying := s.pending(now())
	if stalled != 1 || retrying != 2 {
		t.Fatalf("pending = %d stalled, %d retrying; want 1, 2", stalled, retrying)
	}

	// Each line is awaited before the counters change: the tick's send
	// returns when Watch has received it, not when it has read them.
	lines := make(chan string, 2)
	out := lineWriter(func(p []byte) (int, error) { lines <- string(p); return len(p), nil })
	tick, done := make(chan time.Time), make(chan struct{})
	finished := make(chan struct{})
	go func() { s.Watch(out, "https://api:6443", tick, now, done); close(finished) }()
	tick <- now()
	first := <-lines
	s.retrying.Add(-2)
	tick <- now()
	second := <-lines
	close(done)
	<-finished
	if got, want := first+second, "waiting for the API server at https://api:6443 (3 requests pending, retrying)\n"+
		"waiting for the API server at https://api:6443 (1 request pending, no answer yet)\n"; got != want {
		t.Fatalf("watchdog printed\n%q\nwant\n%q", got, want)
	}
	if stallLine("h", 0, 0) != "" {
		t.Fatal("a line with nothing pending")
	}
}

// TestWithRetryBudget: retries go on at the capped delay until the budget
// is spent (a wait.Backoff with a Cap would stop at the cap, after a few
// tries), and the last error is returned; a permanent error stops at once.
func TestWithRetryBudget(t *testing.T) {
	savedDelay, savedBudget, savedFirst, savedAnswered := RetryDelay, RetryBudget, FirstContactBudget, Stalls.answered.Load()
	defer func() {
		RetryDelay, RetryBudget, FirstContactBudget = savedDelay, savedBudget, savedFirst
		Stalls.answered.Store(savedAnswered)
	}()
	RetryDelay.Duration, RetryDelay.Cap = time.Millisecond, 4*time.Millisecond
	RetryBudget, FirstContactBudget = 300*time.Millisecond, 30*time.Millisecond
	Stalls.answered.Store(true)

	before := Stalls.retrying.Load()
	calls := 0
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	err := WithRetry(context.Background(), func() error {
		calls++
		if got := Stalls.retrying.Load(); calls > 1 && got != before+1 {
			t.Errorf("while retrying, %d callers counted, want %d", got, before+1)
		}
		return refused
	})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("WithRetry = %v, want the last error", err)
	}
	// A capped wait.Backoff stops after 1, 2 and 4 ms: 4 tries. Going on at
	// the cap for 300 ms makes many more.
	if calls < 8 {
		t.Fatalf("%d tries in the budget, want the delay to stay at its cap and go on", calls)
	}
	if got := Stalls.retrying.Load(); got != before {
		t.Fatalf("after WithRetry %d callers counted as retrying, want %d", got, before)
	}

	calls = 0
	permanent := errors.New("forbidden")
	if err := WithRetry(context.Background(), func() error { calls++; return permanent }); err != permanent || calls != 1 {
		t.Fatalf("a permanent error: %v after %d tries", err, calls)
	}
	calls = 0
	if err := WithRetry(context.Background(), func() error {
		calls++
		if calls < 3 {
			return refused
		}
		return nil
	}); err != nil || calls != 3 {
		t.Fatalf("a success after two failures: %v after %d tries", err, calls)
	}
	// Until the server has answered once, the short budget applies.
	Stalls.answered.Store(false)
	if got := CurrentRetryBudget(); got != FirstContactBudget {
		t.Fatalf("before the first answer the budget is %s, want %s", got, FirstContactBudget)
	}
	Stalls.answered.Store(true)
	if got := CurrentRetryBudget(); got != RetryBudget {
		t.Fatalf("after an answer the budget is %s, want %s", got, RetryBudget)
	}
	if !strings.Contains(stallLine("h", 0, 1), "retrying") {
		t.Fatal("a retrying caller is not said to be retrying")
	}
}

// TestAwayNamesTheServerThatStoppedAnswering: a refused connection or a
// 503 marks its server; answers, and requests the caller cancelled, do not.
func TestAwayNamesTheServerThatStoppedAnswering(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer ok.Close()
	starting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer starting.Close()
	gone := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	goneURL := gone.URL
	gone.Close()

	get := func(s *apiStalls, ctx context.Context, url string) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api", nil)
		if resp, err := (&http.Client{Transport: s.Wrap(time.Now)(http.DefaultTransport)}).Do(req); err == nil {
			resp.Body.Close()
		}
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		urls []string
		want string
	}{
		{"answered", context.Background(), []string{ok.URL}, ""},
		{"cancelled by the caller", cancelled, []string{goneURL}, ""},
		{"refused", context.Background(), []string{ok.URL, goneURL, ok.URL}, goneURL},
		{"503, then refused: the first", context.Background(), []string{starting.URL, goneURL}, starting.URL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &apiStalls{inflight: map[uint64]time.Time{}}
			for _, u := range tc.urls {
				get(s, tc.ctx, u)
			}
			if got := s.Away(); got != tc.want {
				t.Fatalf("Away() = %q, want %q", got, tc.want)
			}
		})
	}
}

type lineWriter func([]byte) (int, error)

func (f lineWriter) Write(p []byte) (int, error) { return f(p) }
