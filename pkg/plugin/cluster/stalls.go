package cluster

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// An API server that stalls (restarting, overloaded, SIGSTOPped under a
// test) leaves a command silent for as long as its retries take: a minute
// or two of nothing, mid-incident, looks like a hang. apiStalls counts what
// waits on the API server, and a watchdog says so every few seconds.

const (
	// stallAfter is how old a request must be to count as stalled.
	stallAfter = 5 * time.Second
	// StallEvery is how often the watchdog speaks while something stalls.
	StallEvery = 5 * time.Second
)

// apiStalls counts the requests in flight (with their start) and the
// callers waiting to try a request again.
type apiStalls struct {
	retrying atomic.Int64
	// answered: the API server has sent a response in this process.
	answered atomic.Bool

	mu       sync.Mutex
	next     uint64
	inflight map[uint64]time.Time
	// away is the first API server (scheme://host) that failed a request
	// the way a restarting or unreachable server does.
	away string
}

// Stalls is the process's count: one command runs per process.
var Stalls = &apiStalls{inflight: map[uint64]time.Time{}}

// streaming tells the requests that stay open on purpose (watches, exec,
// logs): they are not waiting on a stalled server.
func streaming(r *http.Request) bool {
	q := r.URL.Query()
	if q.Get("watch") == "true" || q.Get("follow") == "true" {
		return true
	}
	for _, s := range []string{"/exec", "/attach", "/portforward", "/log"} {
		if strings.HasSuffix(r.URL.Path, s) {
			return true
		}
	}
	return false
}

type stallTransport struct {
	s    *apiStalls
	next http.RoundTripper
	now  func() time.Time
}

func (t *stallTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if streaming(r) {
		resp, err := t.next.RoundTrip(r)
		return t.answer(r, resp, err)
	}
	t.s.mu.Lock()
	id := t.s.next
	t.s.next++
	t.s.inflight[id] = t.now()
	t.s.mu.Unlock()
	defer func() {
		t.s.mu.Lock()
		delete(t.s.inflight, id)
		t.s.mu.Unlock()
	}()
	resp, err := t.next.RoundTrip(r)
	return t.answer(r, resp, err)
}

func (t *stallTransport) answer(r *http.Request, resp *http.Response, err error) (*http.Response, error) {
	if resp != nil {
		t.s.answered.Store(true)
	}
	if (err != nil && r.Context().Err() == nil && IsTransient(err)) || (resp != nil && resp.StatusCode == http.StatusServiceUnavailable) {
		t.s.mu.Lock()
		if t.s.away == "" {
			t.s.away = r.URL.Scheme + "://" + r.URL.Host
		}
		t.s.mu.Unlock()
	}
	return resp, err
}

// Away is the API server that stopped answering during this process (its
// first one, if several did), or "" when none did.
func (s *apiStalls) Away() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.away
}

// WrappedRoundTripper lets client-go reach the transport underneath, to
// cancel a request that timed out.
func (t *stallTransport) WrappedRoundTripper() http.RoundTripper { return t.next }

// Wrap is a rest.Config WrapTransport that records requests in s.
func (s *apiStalls) Wrap(now func() time.Time) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper { return &stallTransport{s: s, next: rt, now: now} }
}

// pending counts the requests in flight for longer than stallAfter, and
// the callers waiting to try again.
func (s *apiStalls) pending(now time.Time) (stalled, retrying int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, started := range s.inflight {
		if now.Sub(started) >= stallAfter {
			stalled++
		}
	}
	return stalled, int(s.retrying.Load())
}

// stallLine is what the watchdog prints; "" when nothing waits.
func stallLine(host string, stalled, retrying int) string {
	n := stalled + retrying
	if n == 0 {
		return ""
	}
	what := "no answer yet"
	if retrying > 0 {
		what = "retrying"
	}
	requests := "1 request"
	if n != 1 {
		requests = fmt.Sprintf("%d requests", n)
	}
	return fmt.Sprintf("waiting for the API server at %s (%s pending, %s)", host, requests, what)
}

// Watch prints stallLine to w on every tick while something waits, until
// done is closed.
func (s *apiStalls) Watch(w io.Writer, host string, tick <-chan time.Time, now func() time.Time, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case <-tick:
			stalled, retrying := s.pending(now())
			if line := stallLine(host, stalled, retrying); line != "" {
				fmt.Fprintln(w, line)
			}
		}
	}
}
