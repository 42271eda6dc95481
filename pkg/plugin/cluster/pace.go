package cluster

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Pace is how many requests a cluster-wide writer keeps in flight. Pinned
// (--concurrency N) it is a fixed limit. Otherwise it adapts to what the
// API server shows, window by window (a window closes after at least
// paceWindow and as many completions as the limit):
//
//   - slow start: the limit doubles while each window gets at least
//     paceFell of the best window's throughput so far, or latency stays
//     under twice the lowest seen (the server is not queueing). When
//     neither holds for two windows in a row (the first after a doubling
//     still counts the requests started before it), it asks whether the
//     limit is the cause or the time: it halves the limit for one window
//     to settle and two to measure. Where half got more done (3% or
//     more), it measures the doubled limit again the same way (half's
//     win may be the doubted windows' bad luck: they were picked for
//     being low); where half still got more done, the limit was the
//     cause: slow start ends at half, or at the best window's limit if
//     that is lower. Where half got no more done, or no longer does,
//     the server got slower for everyone (on a control plane the
//     controller-manager starts answering our own writes a second or two
//     into a pass, and the first windows are the fastest of it): the
//     best window is taken anew and the doubling goes on.
//     At the ceiling slow start ends;
//   - then it climbs a hill by trials: it measures the limit it holds,
//     then tries a quarter more and keeps that unless it got less done
//     (3% or more below); after a step that got more done the next is
//     twice as large (a half, then the whole). Where more in flight got
//     no more done, the limit holds and tries again; at the ceiling
//     (paceMax) it holds. Only where two steps up in a row got far less
//     done (paceFell, a fifth below) while latency is over twice the
//     lowest does it try a fifth less, and keeps that only when it got
//     more done (5% or more above). Each trial measures paceTrial
//     windows and paceTrialTime after one window to settle;
//   - push-back halves it: a 429 (with or without Retry-After), a 5xx, or a
//     request that failed without an answer. client-go itself waits out
//     Retry-After and sends the request again; Pace sees every answer,
//     retried or not, through Wrap.
//
// Why the steps down are so hard to earn: on this machine every
// measured server, remote or loopback, got more done with more in flight
// up to 256 (docs/benchmarks.md), while two trials of the same limit
// differ by a fifth or more (the controller-manager's own writes, garbage
// collection). With a step down on any 5% loss the remote runs spent
// most of a pass at 40-90 in flight, stepping down on noise, and took
// 1.69x the time of a client pinned at 256; a step down costs a pass far
// more than a step too far up. A server that gets slower with more in
// flight without pushing back (TestPaceClimbsThroughNoise) still ends
// near its knee on most passes; one that pushes back halves the limit at
// once. Slow start's end is judged the same way: ended on its first
// windows' word alone (a window at twice the limit a fifth below the best
// one, taken before the controller-manager's answer began), three of six
// loopback passes went back to 20-40 in flight and took 1.35x the time of
// the best client; the probe tells a slower server from a worse limit.
// A probe's win is checked once more because, on the noisy servers of the
// full run of 2026-12-05 (windows a third either way), half won on noise
// in two of six rounds and the climb back from 128 took 5-10 s.
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

	slowStart bool
	doubt     bool // slow start saw one window far below the best
	// A doubted limit and what it got, for the trial at half of it
	// (trialProbe).
	doubtLimit int
	doubtRate  float64
	doubtDone  int
	doubtTime  time.Duration
	probeRate  float64
	probeLimit int
	winStart   time.Time
	winDone    int
	winLatency time.Duration
	winPush    bool
	bestRate   float64
	bestLimit  int
	minLatency time.Duration

	// The hill climb after slow start: base is the limit held and
	// baseRate, baseLatency what it gave when last measured; trial what
	// the current windows measure (the base itself, or a probe above or
	// below it), over trialWindows windows so far.
	trial        paceTrialKind
	base         int
	baseRate     float64
	baseLatency  time.Duration
	trialWindows int
	trialDone    int
	trialTime    time.Duration
	trialLatency time.Duration
	// ups is how many up trials in a row were kept: each step up is
	// twice the last (a quarter, a half, the whole), as slow start's.
	ups int
	// lost says the last up trial got far less done: a step down is
	// tried only when the next one does too.
	lost bool

	stats PaceStats
	began time.Time // the first request: PaceStats.Steps' zero
}

// PaceStats is what a pass reports about its pacing.
type PaceStats struct {
	// Adaptive is false when --concurrency pinned the limit.
	Adaptive bool `json:"adaptive"`
	Start    int  `json:"start"`
	Peak     int  `json:"peak"`
	Final    int  `json:"final"`
	// BackOffs counts the times the limit was lowered for good: a push
	// back, or a trial that got as much done with fewer in flight.
	BackOffs int `json:"backOffs"`
	// Throttled counts 429 answers, ServerErrors 5xx answers, and
	// Unanswered requests that failed without an answer.
	Throttled    int `json:"throttled"`
	ServerErrors int `json:"serverErrors"`
	Unanswered   int `json:"unanswered"`
	// Steps are the limit's changes, the time since the first request
	// (ms) and the new limit: how the pace got where it ended (the first
	// paceMaxSteps).
	Steps []PaceStep `json:"steps,omitempty"`
}

// PaceStep is one change of an adaptive limit.
type PaceStep struct {
	Ms    int64 `json:"ms"`
	Limit int   `json:"limit"`
}

// paceMaxSteps bounds PaceStats.Steps: a long pass on a noisy server
// changes its limit every few windows.
const paceMaxSteps = 100

const (
	// PaceStart is where an adaptive limit starts: the fixed default
	// restart-workloads had, enough to hide a loopback round trip.
	PaceStart = 10
	paceMin   = 1
	// paceMax bounds the limit: a runaway guard, above where the remote
	// measurements of docs/benchmarks.md stopped gaining.
	paceMax    = 256
	paceWindow = 100 * time.Millisecond
	// paceTrial is how many windows a trial of the hill climb compares,
	// after one window to settle (requests in flight still at the old
	// limit).
	paceTrial = 2
	// paceTrialTime is the least time a trial measures: windows at a
	// low limit on a loopback server last a tenth of a second, and two of
	// them differ by a fifth or more.
	paceTrialTime = 500 * time.Millisecond
	// A trial with more in flight is kept unless it got less done (3% or
	// more below the base): where throughput is flat, more in flight costs
	// the pass nothing, and where it grows a little with each step (a
	// server shared with the controller-manager gives more of itself to
	// the client with more requests waiting) the limit follows it up. A
	// trial with fewer is made only after more in flight got far less
	// done (paceFell; slow start stops there too), and kept only when it
	// got more done (paceKeepDown).
	paceKeepUp   = 0.97
	paceFell     = 0.80
	paceKeepDown = 1.05
)

type paceTrialKind int

const (
	trialBase    paceTrialKind = iota // measuring the limit held
	trialUp                           // a quarter more
	trialDown                         // a fifth less
	trialProbe                        // slow start: half a doubted limit
	trialConfirm                      // slow start: the doubted limit again after half won
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
	s.Steps = slices.Clone(s.Steps)
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
	if p.began.IsZero() {
		p.began = p.winStart
	}
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
	done := p.winDone
	rate := float64(done) / elapsed.Seconds()
	latency := p.winLatency / time.Duration(done)
	pushed := p.winPush
	p.winStart, p.winDone, p.winLatency, p.winPush = now, 0, 0, false
	if p.minLatency == 0 || latency < p.minLatency {
		p.minLatency = latency
	}
	switch {
	case pushed:
		p.slowStart = false
		p.stats.BackOffs++
		// A loss seen before the halving says nothing of the new base:
		// a step down from it waits for two losses measured at it.
		p.lost = false
		p.startTrial(trialBase, p.limit/2)
	case p.slowStart && p.trial != trialProbe && p.trial != trialConfirm:
		if rate > p.bestRate {
			p.bestRate, p.bestLimit = rate, p.limit
		}
		// A window a little below the best is noise of a busy machine;
		// one far below it while the server queues is the server's
		// limit, or the server slowed down for everyone: the probe
		// tells which.
		if rate >= p.bestRate*paceFell || latency < 2*p.minLatency {
			p.doubt = false
			p.double(p.limit)
			return
		}
		if !p.doubt {
			p.doubt = true // judge the next window, settled, before probing
			p.doubtDone, p.doubtTime = done, elapsed
			return
		}
		p.doubt = false
		p.doubtLimit = p.limit
		p.doubtRate = float64(p.doubtDone+done) / (p.doubtTime + elapsed).Seconds()
		p.startTrial(trialProbe, p.limit/2)
	default:
		p.climb(done, elapsed, latency)
	}
}

// double is slow start's next step from limit; at the ceiling slow
// start ends.
func (p *Pace) double(limit int) {
	if limit >= paceMax {
		p.slowStart = false
		p.startTrial(trialBase, paceMax)
		return
	}
	p.setLimit(limit * 2)
}

// probed decides slow start's probe from what half the doubted limit got
// (rate). Where half got more done, the doubted limit is measured again
// (confirmed); otherwise the better of the two is the new best and the
// doubling goes on from the doubted limit.
func (p *Pace) probed(rate float64) {
	p.trial = trialBase // the probe is over; slow start may go on
	if rate*paceKeepUp > p.doubtRate {
		p.probeRate, p.probeLimit = rate, p.limit
		p.startTrial(trialConfirm, p.doubtLimit)
		return
	}
	p.bestRate, p.bestLimit = p.doubtRate, p.doubtLimit
	if rate > p.doubtRate {
		p.bestRate, p.bestLimit = rate, p.limit
	}
	p.double(p.doubtLimit)
}

// confirmed decides slow start's probe from what the doubted limit got
// when measured again (rate), after half won: where half still got more
// done, slow start ends there (or lower, at the best window's limit);
// otherwise the doubted limit's windows were unlucky and the doubling
// goes on from it, the new measure the best.
func (p *Pace) confirmed(rate float64) {
	p.trial = trialBase
	if p.probeRate*paceKeepUp > rate {
		p.slowStart = false
		p.startTrial(trialBase, min(p.probeLimit, p.bestLimit))
		return
	}
	p.bestRate, p.bestLimit = rate, p.limit
	if p.probeRate > rate {
		p.bestRate, p.bestLimit = p.probeRate, p.probeLimit
	}
	p.double(p.limit)
}

// climb adds a window to the current trial and, once it has its
// windows, decides the next.
func (p *Pace) climb(done int, elapsed, latency time.Duration) {
	p.trialWindows++
	if p.trialWindows == 1 {
		return // settling: in flight are still the previous limit's
	}
	p.trialDone += done
	p.trialTime += elapsed
	p.trialLatency += latency * time.Duration(done)
	// The probe and its confirmation measure their windows only: held
	// paceTrialTime as well, at half the limit while the server's load
	// grows, the probe's slowest pass on the shared loopback model went
	// from 1.07x to 1.17x of one pinned at 256 (TestPacePassTime).
	if p.trialWindows < 1+paceTrial || p.trial != trialProbe && p.trial != trialConfirm && p.trialTime < paceTrialTime {
		return
	}
	rate := float64(p.trialDone) / p.trialTime.Seconds()
	latency = p.trialLatency / time.Duration(p.trialDone)
	switch p.trial {
	case trialProbe:
		p.probed(rate)
	case trialConfirm:
		p.confirmed(rate)
	case trialBase:
		p.baseRate, p.baseLatency = rate, latency
		p.tryUpOrDown()
	case trialUp:
		switch {
		case rate >= p.baseRate*paceKeepUp:
			p.lost = false
			if rate > p.baseRate {
				p.ups++
			} else {
				p.ups = 0
			}
			p.base, p.baseRate, p.baseLatency = p.limit, rate, latency
			p.tryUpOrDown()
		case rate < p.baseRate*paceFell && p.queueing(p.baseLatency) && p.lost:
			p.lost = false
			p.tryDown()
		default:
			p.lost = rate < p.baseRate*paceFell
			p.startTrial(trialBase, p.base)
		}
	case trialDown:
		if rate >= p.baseRate*paceKeepDown {
			p.stats.BackOffs++
			p.base = p.limit
		}
		p.startTrial(trialBase, p.base)
	}
}

// queueing tells whether latency says the server queues what we send:
// over twice the lowest seen.
func (p *Pace) queueing(latency time.Duration) bool { return latency > 2*p.minLatency }

// tryUpOrDown starts the trial above the base, or below it when the base
// is at the ceiling and the server queues.
func (p *Pace) tryUpOrDown() {
	switch {
	case p.base < paceMax:
		p.startTrial(trialUp, p.base+max(1, p.base/4<<min(p.ups, 2)))
	default:
		p.startTrial(trialBase, p.base)
	}
}

// tryDown starts the trial a fifth below the base, or measures the base
// again when it is at the floor.
func (p *Pace) tryDown() {
	if p.base <= paceMin {
		p.startTrial(trialBase, p.base)
		return
	}
	p.startTrial(trialDown, p.base-max(1, p.base/5))
}

// startTrial sets the limit for a trial of the hill climb; a base trial
// makes that limit the base.
func (p *Pace) startTrial(kind paceTrialKind, limit int) {
	if kind != trialUp {
		p.ups = 0
	}
	p.setLimit(limit)
	if kind == trialBase {
		p.base = p.limit
	}
	p.trial, p.trialWindows, p.trialDone, p.trialTime, p.trialLatency = kind, 0, 0, 0, 0
}

func (p *Pace) setLimit(next int) {
	next = min(max(next, paceMin), paceMax)
	if next != p.limit && len(p.stats.Steps) < paceMaxSteps {
		p.stats.Steps = append(p.stats.Steps, PaceStep{Ms: p.now().Sub(p.began).Milliseconds(), Limit: next})
	}
	p.limit = next
	p.stats.Peak = max(p.stats.Peak, p.limit)
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
