package cluster

import (
	"context"
	"math"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// server is a model API server: requests take rtt while at most capacity
// are served at once, beyond that they queue (latency grows, throughput
// does not).
type server struct {
	rtt      time.Duration
	capacity int
}

// window runs one full window of the pace against s on a fake clock: as
// many completions as the window needs, each taking the model's latency.
func (s server) window(p *Pace, clock *time.Time) {
	l := p.limit
	rate := float64(min(l, s.capacity)) / s.rtt.Seconds()
	latency := time.Duration(float64(s.rtt) * math.Max(1, float64(l)/float64(s.capacity)))
	n := max(l, int(math.Ceil(rate*paceWindow.Seconds())))
	step := time.Duration(float64(time.Second) / rate)
	p.mu.Lock()
	if p.winStart.IsZero() {
		p.winStart = *clock
	}
	for range n {
		*clock = clock.Add(step)
		p.running++
		p.mu.Unlock()
		p.release(latency)
		p.mu.Lock()
	}
	p.mu.Unlock()
}

func fakeClockPace(pinned int) (*Pace, *time.Time) {
	clock := time.Unix(0, 0)
	p := NewPace(pinned)
	p.now = func() time.Time { return clock }
	return p, &clock
}

func TestPaceAdapts(t *testing.T) {
	tests := []struct {
		name     string
		srv      server
		windows  int
		min, max int
	}{
		// A remote server with room: 40 ms round trips, 200 served at
		// once. Ten in flight would waste it; the limit climbs.
		{"remote server with room", server{40 * time.Millisecond, 200}, 30, 128, paceMax},
		// A loopback server on the same two cores: 10 at once is all it
		// serves; more only queue. The limit stays where latency doubles.
		{"saturated loopback server", server{3 * time.Millisecond, 10}, 60, paceMin, 22},
		// A server that serves 64 at once over a 20 ms round trip: the limit
		// settles between the knee and where latency doubles (a step of a
		// tenth past it at most), not at the cap.
		{"server with a knee at 64", server{20 * time.Millisecond, 64}, 60, 48, 141},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, clock := fakeClockPace(0)
			for range tt.windows {
				tt.srv.window(p, clock)
			}
			s := p.Stats()
			if s.Final < tt.min || s.Final > tt.max {
				t.Errorf("limit after %d windows: %d, want %d..%d (stats %+v)", tt.windows, s.Final, tt.min, tt.max, s)
			}
		})
	}
}

func TestPaceBacksOffOnPushBack(t *testing.T) {
	p, clock := fakeClockPace(0)
	srv := server{40 * time.Millisecond, 200}
	for range 5 {
		srv.window(p, clock)
	}
	before := p.Stats().Final
	if before <= PaceStart {
		t.Fatalf("the limit did not grow before the push-back: %d", before)
	}
	rt := p.Wrap(roundTripper(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusTooManyRequests, Header: http.Header{"Retry-After": {"1"}}}, nil
	}))
	req, _ := http.NewRequest(http.MethodPatch, "https://127.0.0.1/x", nil)
	if _, err := rt.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	// One completion closes the pushed window.
	*clock = clock.Add(paceWindow)
	p.mu.Lock()
	p.running++
	p.mu.Unlock()
	p.release(time.Second)
	s := p.Stats()
	if s.Final != before/2 || s.BackOffs != 1 || s.Throttled != 1 {
		t.Errorf("after a 429: limit %d (was %d), stats %+v; want it halved, one back-off, one 429", s.Final, before, s)
	}
	// Every window pushed back halves it again, down to one.
	for range 10 {
		_, _ = rt.RoundTrip(req)
		srv.window(p, clock)
	}
	if s := p.Stats(); s.Final != paceMin {
		t.Errorf("limit after ten pushed windows: %d, want %d", s.Final, paceMin)
	}
}

func TestPacePinned(t *testing.T) {
	p, clock := fakeClockPace(7)
	rt := p.Wrap(roundTripper(func(*http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusServiceUnavailable}, nil
	}))
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1/x", nil)
	for range 20 {
		_, _ = rt.RoundTrip(req)
		server{40 * time.Millisecond, 200}.window(p, clock)
	}
	if s := p.Stats(); s.Final != 7 || s.Peak != 7 || s.BackOffs != 0 || s.Adaptive || s.ServerErrors != 20 {
		t.Errorf("pinned pace: %+v, want 7 throughout and the 503s counted", s)
	}
}

// TestPaceFanoutHoldsTheLimit: never more calls running than the limit,
// and every call made.
func TestPaceFanoutHoldsTheLimit(t *testing.T) {
	p := NewPace(3)
	var running, peak, calls atomic.Int32
	p.Fanout(context.Background(), 50, func(int) {
		n := running.Add(1)
		for {
			old := peak.Load()
			if n <= old || peak.CompareAndSwap(old, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		calls.Add(1)
	})
	if calls.Load() != 50 || peak.Load() > 3 {
		t.Errorf("%d calls, peak %d in flight; want 50 and at most 3", calls.Load(), peak.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls.Store(0)
	p.Fanout(ctx, 50, func(int) { calls.Add(1) })
	if calls.Load() != 0 {
		t.Errorf("a cancelled fanout made %d calls", calls.Load())
	}
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
