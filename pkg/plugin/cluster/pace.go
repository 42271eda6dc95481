package cluster

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// Pace is how many requests a cluster-wide writer keeps in flight. Pinned
// (--concurrency N) it is a fixed limit. Otherwise it adapts to what the
// API server shows, window by window (a window closes after at least
// paceWindow and as many completions as the limit):
//
//   - slow start: the limit doubles while each window's throughput is at
//     least a tenth above the last one's, or latency stays under twice the
//     lowest seen (the server is not queueing: a window that did not grow
//     is noise of a busy machine); when neither holds, the limit goes back
//     to the one that gave the best throughput;
//   - then it grows by a tenth a window while throughput grows or latency
//     stays under twice the lowest, and shrinks by a tenth when throughput
//     fell while latency passed four times the lowest. Between the two it
//     holds: on a remote server, throughput keeps growing with requests in
//     flight long after latency has doubled (measured in
//     docs/benchmarks.md), so latency alone is no reason to back off;
//   - push-back halves it: a 429 (with or without Retry-After), a 5xx, or a
//     request that failed without an answer. client-go itself waits out
//     Retry-After and sends the request again; Pace sees every answer,
//     retried or not, through Wrap.
//
// Throughput is what the pass gets done (calls of Fanout's fn returned per
// second), latency the mean time one took, retries and waits included.
type Pace struct {
	now func() time.Time

	mu      sync.Mutex
	cond    *sync.Cond
	pinned  bool
	limit   int
	running int

	slowStart  bool
	winStart   time.Time
	winDone    int
	winLatency time.Duration
	winPush    bool
	prevRate   float64
	bestRate   float64
	bestLimit  int
	minLatency time.Duration

	stats PaceStats
}

// PaceStats is what a pass reports about its pacing.
type PaceStats struct {
	// Adaptive is false when --concurrency pinned the limit.
	Adaptive bool `json:"adaptive"`
	Start    int  `json:"start"`
	Peak     int  `json:"peak"`
	Final    int  `json:"final"`
	// BackOffs counts the times the limit was lowered.
	BackOffs int `json:"backOffs"`
	// Throttled counts 429 answers, ServerErrors 5xx answers, and
	// Unanswered requests that failed without an answer.
	Throttled    int `json:"throttled"`
	ServerErrors int `json:"serverErrors"`
	Unanswered   int `json:"unanswered"`
}

const (
	// PaceStart is where an adaptive limit starts: the fixed default
	// restart-workloads had, enough to hide a loopback round trip.
	PaceStart = 10
	paceMin   = 1
	// paceMax bounds the limit: a runaway guard, above where the remote
	// measurements of docs/benchmarks.md stopped gaining.
	paceMax    = 256
	paceWindow = 100 * time.Millisecond
)

// NewPace is a pace pinned to pinned requests in flight, or adaptive from
// PaceStart when pinned is 0.
func NewPace(pinned int) *Pace {
	p := &Pace{now: time.Now, limit: PaceStart, slowStart: true}
	if pinned > 0 {
		p.pinned, p.limit = true, pinned
	}
	p.cond = sync.NewCond(&p.mu)
	p.stats = PaceStats{Adaptive: !p.pinned, Start: p.limit, Peak: p.limit, Final: p.limit}
	return p
}

// Stats is the pacing so far.
func (p *Pace) Stats() PaceStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Final = p.limit
	return s
}

// Fanout runs fn(0) ... fn(n-1) with at most the pace's limit running at
// once, and returns when all have returned. Once ctx is done no new call
// starts.
func (p *Pace) Fanout(ctx context.Context, n int, fn func(i int)) {
	g := p.Group(ctx)
	for i := range n {
		if !g.Go(func() { fn(i) }) {
			break
		}
	}
	g.Wait()
}

// PaceGroup runs calls at a pace as they come, for a pass that starts
// writing while it still lists: its requests in flight do not drain at
// every page.
type PaceGroup struct {
	p    *Pace
	ctx  context.Context
	wg   sync.WaitGroup
	stop func() bool
}

// Group is a PaceGroup whose calls stop starting once ctx is done.
func (p *Pace) Group(ctx context.Context) *PaceGroup {
	return &PaceGroup{p: p, ctx: ctx, stop: context.AfterFunc(ctx, func() {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	})}
}

// Go waits until the pace admits another call and runs fn in a goroutine;
// false (fn not run) once ctx is done.
func (g *PaceGroup) Go(fn func()) bool {
	if !g.p.acquire(g.ctx) {
		return false
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		started := g.p.now()
		if g.ctx.Err() == nil {
			fn()
		}
		g.p.release(g.p.now().Sub(started))
	}()
	return true
}

// Wait returns when every call started has returned.
func (g *PaceGroup) Wait() {
	g.wg.Wait()
	g.stop()
}

func (p *Pace) acquire(ctx context.Context) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.running >= p.limit && ctx.Err() == nil {
		p.cond.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	p.running++
	if p.winStart.IsZero() {
		p.winStart = p.now()
	}
	return true
}

func (p *Pace) release(took time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running--
	p.winDone++
	p.winLatency += took
	if !p.pinned {
		p.adapt()
	}
	p.cond.Broadcast()
}

// adapt closes the window when it is long enough and sets the next limit.
func (p *Pace) adapt() {
	now := p.now()
	elapsed := now.Sub(p.winStart)
	if elapsed < paceWindow || p.winDone < p.limit && !p.winPush {
		return
	}
	rate := float64(p.winDone) / elapsed.Seconds()
	latency := p.winLatency / time.Duration(p.winDone)
	pushed := p.winPush
	p.winStart, p.winDone, p.winLatency, p.winPush = now, 0, 0, false
	if p.minLatency == 0 || latency < p.minLatency {
		p.minLatency = latency
	}
	if rate > p.bestRate {
		p.bestRate, p.bestLimit = rate, p.limit
	}
	next := p.limit
	switch {
	case pushed:
		next = p.limit / 2
		p.slowStart = false
		// What was best before the server pushed back no longer is.
		p.bestRate, p.prevRate = 0, 0
	case p.slowStart:
		// A window whose throughput did not grow while latency stayed
		// near the lowest is noise (a busy machine), not the server's
		// limit: the server is not queueing yet.
		if p.prevRate == 0 || rate >= p.prevRate*1.1 || latency < 2*p.minLatency {
			next = p.limit * 2
		} else {
			p.slowStart = false
			next = p.bestLimit
		}
	case latency > 4*p.minLatency && rate < p.prevRate*0.95:
		next = p.limit - max(1, p.limit/10)
	case rate > p.prevRate*1.05 || latency < 2*p.minLatency:
		next = p.limit + max(1, p.limit/10)
	}
	p.prevRate = rate
	next = min(max(next, paceMin), paceMax)
	if next < p.limit {
		p.stats.BackOffs++
	}
	p.limit = next
	p.stats.Peak = max(p.stats.Peak, next)
}

// push records the server pushing back (or failing to answer); it closes
// the window early so the back-off does not wait for a full window of
// completions, which at that point may be slow to come.
func (p *Pace) push(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case status == http.StatusTooManyRequests:
		p.stats.Throttled++
	case status >= 500:
		p.stats.ServerErrors++
	default:
		p.stats.Unanswered++
	}
	if p.pinned {
		return
	}
	p.winPush = true
}

// Wrap is a rest.Config WrapTransport that shows every answer to the pace.
func (p *Pace) Wrap(rt http.RoundTripper) http.RoundTripper {
	return &paceTransport{p: p, next: rt}
}

type paceTransport struct {
	p    *Pace
	next http.RoundTripper
}

func (t *paceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	switch {
	case err != nil:
		if req.Context().Err() == nil {
			t.p.push(0)
		}
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500 || resp.Header.Get("Retry-After") != "":
		t.p.push(resp.StatusCode)
	}
	return resp, err
}

// WrappedRoundTripper lets client-go's transport helpers see through.
func (t *paceTransport) WrappedRoundTripper() http.RoundTripper { return t.next }
