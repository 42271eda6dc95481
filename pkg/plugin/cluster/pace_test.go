package cluster

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

// server is a model API server: requests take rtt while at most capacity
// are served at once, beyond that they queue (latency grows, throughput
// does not, or only as (in flight / capacity)^elastic: a server shared
// with a controller-manager gives a larger share to the client with more
// in flight). noise, when set, draws each window's throughput from
// +-noise around the model's (a busy machine).
type server struct {
	rtt      time.Duration
	capacity int
	elastic  float64
	noise    float64
	rand     *rand.Rand
	// shared, when set, replaces capacity and elastic: the server
	// serves total requests a second between our requests and a
	// competitor's (processor sharing), and the competitor's in flight
	// grow from none to shared.most over shared.ramp of the pass (the
	// controller-manager answering our own writes).
	shared *sharing
}

type sharing struct {
	total float64
	most  float64
	ramp  time.Duration
}

// window runs one full window of the pace against s on a fake clock: as
// many completions as the window needs, each taking the model's latency
// (Little's law: in flight / throughput).
func (s server) window(p *Pace, clock *time.Time) int {
	l := p.limit
	rate := float64(min(l, s.capacity)) / s.rtt.Seconds()
	if l > s.capacity {
		rate *= math.Pow(float64(l)/float64(s.capacity), s.elastic)
	}
	if c := s.shared; c != nil {
		competing := c.most * min(1, float64(clock.Sub(time.Unix(0, 0)))/float64(c.ramp))
		rate = float64(l) / max(s.rtt.Seconds(), (float64(l)+competing)/c.total)
	}
	if s.noise > 0 {
		rate *= 1 + s.noise*(2*s.rand.Float64()-1)
	}
	latency := time.Duration(float64(l) / rate * float64(time.Second))
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
	return n
}

// run is an adaptive pace's stats after the given windows against s.
func (s server) run(windows int) PaceStats {
	p, clock := fakeClockPace(0)
	for range windows {
		s.window(p, clock)
	}
	return p.Stats()
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
		{"remote server with room", server{rtt: 40 * time.Millisecond, capacity: 200}, 30, 128, paceMax},
		// A loopback server on the same two cores: 10 at once is all it
		// serves, and more make it slower (contention). The limit stays
		// near the knee.
		{"loopback server slower past 10", server{rtt: 3 * time.Millisecond, capacity: 10, elastic: -0.3}, 60, paceMin, 15},
		// The same with a 20 ms round trip and a knee at 64: slow start
		// passes it, the limit comes back to the knee and stays near it.
		{"server slower past 64", server{rtt: 20 * time.Millisecond, capacity: 64, elastic: -0.3}, 60, 48, 100},
		// A server that is the bottleneck at 10 and does not slow down
		// with more: more in flight costs nothing; the limit climbs by
		// trials that got no less done (and stays under the ceiling).
		{"saturated server, flat past 10", server{rtt: 3 * time.Millisecond, capacity: 10}, 60, 128, paceMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.srv.run(tt.windows)
			if s.Final < tt.min || s.Final > tt.max {
				t.Errorf("limit after %d windows: %d, want %d..%d (stats %+v)", tt.windows, s.Final, tt.min, tt.max, s)
			}
		})
	}
}

// TestPaceClimbsThroughNoise: on a busy server whose windows' throughput
// varies by a fifth either way, the limit follows what throughput does
// over many windows, not single windows' noise. The median of 21 seeded
// runs is judged, and the extremes.
//
// The first two cases are the remote server of docs/benchmarks.md: it
// queues past a few in flight, yet throughput keeps growing a little with
// every step, and the client with more in flight gets the pass done
// sooner. The last two degrade past their knee without pushing back:
// the limit ends near the knee on most seeds; a run of lucky windows can
// carry it a few steps past (steps up are kept unless they got 3% less
// done, and a quarter more in flight costs these servers only 6%), which
// TestPacePassTime weighs against what holding back costs elsewhere.
func TestPaceClimbsThroughNoise(t *testing.T) {
	tests := []struct {
		name                 string
		srv                  server
		windows              int
		medianMin, medianMax int
		lowest, highest      int
	}{
		{"remote server, throughput growing slowly past 16", server{rtt: 40 * time.Millisecond, capacity: 16, elastic: 0.15, noise: 0.2}, 80, 150, paceMax, 32, paceMax},
		{"the same, windows a third either way", server{rtt: 40 * time.Millisecond, capacity: 16, elastic: 0.15, noise: 0.35}, 80, 150, paceMax, 32, paceMax},
		{"server slower past 10", server{rtt: 3 * time.Millisecond, capacity: 10, elastic: -0.3, noise: 0.2}, 80, paceMin, 24, paceMin, 64},
		// Two seeds in 21 end at the ceiling here (8x the knee, 0.54 of
		// the throughput), carried there by slow start's probe (it took
		// the noise for a server slowing down for everyone);
		// TestPacePassTime: the slowest pass takes 0.97 of the time a
		// client pinned there takes, the median 0.66. The median final
		// limit was 62 before a probe's win was confirmed, 77 since: the
		// price, on a server that degrades without pushing back (never
		// seen here), of not ending slow start on noise on the servers
		// measured.
		{"server slower past 32", server{rtt: 40 * time.Millisecond, capacity: 32, elastic: -0.3, noise: 0.2}, 80, 32, 96, 32, paceMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var finals []int
			for seed := range 21 {
				srv := tt.srv
				srv.rand = rand.New(rand.NewPCG(uint64(seed), 1))
				finals = append(finals, srv.run(tt.windows).Final)
			}
			slices.Sort(finals)
			if median := finals[len(finals)/2]; median < tt.medianMin || median > tt.medianMax || finals[0] < tt.lowest || finals[len(finals)-1] > tt.highest {
				t.Errorf("limits after %d windows over 21 seeds: %v; want the median in %d..%d and all in %d..%d",
					tt.windows, finals, tt.medianMin, tt.medianMax, tt.lowest, tt.highest)
			}
		})
	}
}

// TestPacePassTime: what a pass of 5,000 requests takes at an adaptive
// pace against one pinned at the ceiling, on the same windows (seeded
// noise), over 21 seeds. Where more in flight gets more done, the
// adaptive pace costs little (its climb); where it gets less done, it
// saves much. The bars are the figures when the rules were set, with a
// little room. On the servers that get slower past their knee, slow
// start's probe can take noise for a server slowing down for everyone and
// go on doubling: one seed in 21 then ends near or at the ceiling, and
// its pass takes up to what a pinned one takes (0.60 and 0.97 of it; the
// probe's gain on the shared servers below is the price). Confirming a
// probe's win costs these two servers a little (medians 0.42 and 0.64
// before, 0.44 and 0.66 since) for the gain on the measured servers at
// the end.
func TestPacePassTime(t *testing.T) {
	tests := []struct {
		name               string
		srv                server
		medianMax, slowest float64
	}{
		{"remote, throughput growing slowly past 16", server{rtt: 40 * time.Millisecond, capacity: 16, elastic: 0.15, noise: 0.2}, 1.08, 1.15},
		{"remote, growing faster, windows a third either way", server{rtt: 96 * time.Millisecond, capacity: 10, elastic: 0.35, noise: 0.35}, 1.10, 1.50},
		{"loopback, slower past 10", server{rtt: 3 * time.Millisecond, capacity: 10, elastic: -0.3, noise: 0.2}, 0.45, 0.65},
		{"slower past 32", server{rtt: 40 * time.Millisecond, capacity: 32, elastic: -0.3, noise: 0.2}, 0.68, 1.00},
		// A server shared with a competitor whose requests in flight
		// grow during the pass (the controller-manager answering our
		// writes): the first windows are the fastest, and a slow start
		// that ended on them took 1.35x (median) and 1.51x here, as the
		// loopback benchmark did.
		{"loopback shared, competitor 90 in flight after 2 s", server{rtt: 2 * time.Millisecond, noise: 0.2, shared: &sharing{total: 700, most: 90, ramp: 2 * time.Second}}, 1.05, 1.10},
		{"loopback shared, competitor 90 in flight after 5 s", server{rtt: 2 * time.Millisecond, noise: 0.2, shared: &sharing{total: 700, most: 90, ramp: 5 * time.Second}}, 1.05, 1.10},
		{"remote shared, competitor 60 in flight after 3 s", server{rtt: 40 * time.Millisecond, noise: 0.2, shared: &sharing{total: 700, most: 60, ramp: 3 * time.Second}}, 1.06, 1.12},
		// The remote and loopback servers of the full run of 2026-12-05
		// (morning), fitted to the loop's medians at 10 to 256 in flight
		// (remote 130 to 420 writes a second, loopback 245 to 460), with
		// windows a third either way as the loops' own rounds spread
		// there. Slow start's probe found half the limit better on noise
		// alone and ended there (or lower) in two of six real rounds; a
		// probe's win is now checked against the doubted limit measured
		// again. Before: the slowest 1.19 and 1.17 here (1.37 on
		// one of 41 seeds), now 1.09 and 1.10.
		{"remote as measured, windows a third either way", server{rtt: 75 * time.Millisecond, capacity: 24, elastic: 0.15, noise: 0.35}, 1.05, 1.12},
		{"loopback as measured, windows a third either way", server{rtt: 40 * time.Millisecond, capacity: 10, elastic: 0.2, noise: 0.35}, 1.05, 1.12},
	}
	pass := func(s server, pinned int, seed uint64) time.Duration {
		s.rand = rand.New(rand.NewPCG(seed, 1))
		p, clock := fakeClockPace(pinned)
		start := *clock
		for done := 0; done < 5000; {
			done += s.window(p, clock)
		}
		return clock.Sub(start)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ratios []float64
			for seed := range uint64(21) {
				ratios = append(ratios, pass(tt.srv, 0, seed).Seconds()/pass(tt.srv, paceMax, seed).Seconds())
			}
			slices.Sort(ratios)
			if ratios[10] > tt.medianMax || ratios[20] > tt.slowest {
				t.Errorf("adaptive / pinned at %d over 21 seeds: %.2f; want the median within %.2f, the slowest within %.2f", paceMax, ratios, tt.medianMax, tt.slowest)
			}
		})
	}
}

// TestPaceSlowStartProbe: a window far below the best (twice, the
// second settled) halves the limit to ask whether the limit or the time
// is the cause. On a server shared with a competitor that grows during
// the pass, half gets no more done and the doubling goes on from the
// doubted limit; on a server that gets slower past 10 in flight, half
// gets more done, the doubted limit measured again still less, and slow
// start ends at the best window's limit.
func TestPaceSlowStartProbe(t *testing.T) {
	tests := []struct {
		name  string
		srv   server
		steps []int
	}{
		{"shared, competitor grows", server{rtt: 2 * time.Millisecond, shared: &sharing{total: 700, most: 90, ramp: 2 * time.Second}}, []int{20, 40, 20, 80, 160, paceMax}},
		{"slower past 10", server{rtt: 3 * time.Millisecond, capacity: 10, elastic: -0.3}, []int{20, 40, 20, 40, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.srv.run(60)
			var limits []int
			for _, st := range s.Steps {
				limits = append(limits, st.Limit)
			}
			if len(limits) < len(tt.steps) || !slices.Equal(limits[:len(tt.steps)], tt.steps) {
				t.Errorf("limits %v: want them to begin %v", limits, tt.steps)
			}
		})
	}
}

// TestPaceRampsQuickly: on the noisy remote model, the limit reaches 128
// in flight within a few seconds of the pass (model time): each step up
// after one that got more done is twice the last (a quarter, a half, the
// whole). With steps of a quarter only, the median was 39 windows (5.6 s)
// and the slowest 81 (10.9 s), half of a 20 s pass at too few in flight.
func TestPaceRampsQuickly(t *testing.T) {
	var windows []int
	var took []time.Duration
	for seed := range 21 {
		srv := server{rtt: 40 * time.Millisecond, capacity: 16, elastic: 0.15, noise: 0.2, rand: rand.New(rand.NewPCG(uint64(seed), 1))}
		p, clock := fakeClockPace(0)
		start, w := *clock, 0
		for ; w < 200 && p.limit < 128; w++ {
			srv.window(p, clock)
		}
		windows, took = append(windows, w), append(took, clock.Sub(start))
	}
	slices.Sort(windows)
	slices.Sort(took)
	if windows[10] > 20 || took[10] > 3*time.Second || took[20] > 6*time.Second {
		t.Errorf("windows to reach 128 over 21 seeds: %v (median %v, slowest %v); want the median within 20 windows and 3 s, the slowest within 6 s", windows, took[10], took[20])
	}
}

// TestPaceSteps: the stats show how the limit got where it ended: each
// change with its time since the first request, in order, the last one
// the final limit.
func TestPaceSteps(t *testing.T) {
	p, clock := fakeClockPace(0)
	srv := server{rtt: 40 * time.Millisecond, capacity: 200}
	for range 30 {
		srv.window(p, clock)
	}
	s := p.Stats()
	if len(s.Steps) < 4 || s.Steps[0] != (PaceStep{Ms: paceWindow.Milliseconds(), Limit: 2 * PaceStart}) || s.Steps[len(s.Steps)-1].Limit != s.Final {
		t.Fatalf("steps %+v, final %d: want slow start's first doubling after one window first, the final limit last", s.Steps, s.Final)
	}
	for i := 1; i < len(s.Steps); i++ {
		if s.Steps[i].Ms < s.Steps[i-1].Ms || s.Steps[i].Limit == s.Steps[i-1].Limit {
			t.Errorf("step %d %+v after %+v: want later, and a change", i, s.Steps[i], s.Steps[i-1])
		}
	}
	if pinned := NewPace(64); pinned.Stats().Steps != nil {
		t.Errorf("a pinned pace has steps: %+v", pinned.Stats().Steps)
	}
}

func TestPaceBacksOffOnPushBack(t *testing.T) {
	p, clock := fakeClockPace(0)
	srv := server{rtt: 40 * time.Millisecond, capacity: 200}
	for range 5 {
		srv.window(p, clock)
	}
	before := p.Stats().Final
	if before <= PaceStart {
		t.Fatalf("the limit did not grow before the push-back: %d", before)
	}
	// An up trial that lost before the push: the halving starts the
	// climb afresh, so that loss must not count as the first of two.
	p.mu.Lock()
	p.lost = true
	p.mu.Unlock()
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
	if p.lost {
		t.Error("the push-back kept the loss measured before it: one more loss would step the halved limit down")
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
		server{rtt: 40 * time.Millisecond, capacity: 200}.window(p, clock)
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
