package restart

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// progress reports on stderr: a line redrawn in place on a
// terminal, a plain line every few seconds otherwise (logs, CI), and a
// final line either way.
type progress struct {
	w       io.Writer
	tty     bool
	total   int
	wait    bool
	suffix  string
	started time.Time

	done    atomic.Int64
	failed  atomic.Int64
	rolling atomic.Int64

	mu       sync.Mutex
	drawn    bool
	lastLine string
	quit     chan struct{}
	wg       sync.WaitGroup
}

const (
	ttyInterval   = 200 * time.Millisecond
	plainInterval = 5 * time.Second
)

func newProgress(w io.Writer, tty bool, total int, wait bool, dryRun cmdutil.DryRun) *progress {
	return &progress{w: w, tty: tty, total: total, wait: wait, suffix: dryRun.Suffix(), quit: make(chan struct{})}
}

func (p *progress) start() {
	p.started = time.Now()
	interval := plainInterval
	if p.tty {
		interval = ttyInterval
	}
	p.wg.Go(func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				p.draw(false)
			case <-p.quit:
				return
			}
		}
	})
}

func (p *progress) stop() {
	close(p.quit)
	p.wg.Wait()
	p.draw(true)
}

// finished counts one workload as done (with the failures among them).
func (p *progress) finished(it *item) {
	p.done.Add(1)
	if it.failed() {
		p.failed.Add(1)
	}
}

func (p *progress) line() string {
	done := p.done.Load()
	elapsed := time.Since(p.started)
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(done) / s
	}
	s := fmt.Sprintf("restart-workloads: %d/%d done", done, p.total)
	if p.wait {
		s += fmt.Sprintf(", %d rolling", p.rolling.Load())
	}
	if f := p.failed.Load(); f > 0 {
		s += fmt.Sprintf(", %d failed", f)
	}
	s += ", " + elapsed.Round(100*time.Millisecond).String()
	if elapsed >= time.Second {
		// A rate over less than a second says nothing.
		prec := 0
		if rate < 10 {
			prec = 1
		}
		s += fmt.Sprintf(", %.*f/s", prec, rate)
	}
	return s + p.suffix
}

func (p *progress) draw(final bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.line()
	switch {
	case p.tty:
		fmt.Fprintf(p.w, "\r\033[K%s", l)
		p.drawn = true
		if final {
			fmt.Fprintln(p.w)
			p.drawn = false
		}
	case final:
		fmt.Fprintln(p.w, l)
	default:
		// Time passes every tick; repeat the line only when work moved.
		key := fmt.Sprint(p.done.Load(), p.rolling.Load(), p.failed.Load())
		if key != p.lastLine {
			fmt.Fprintln(p.w, l)
			p.lastLine = key
		}
	}
}

// eventf prints one line about one workload without garbling the
// progress line on a terminal.
func (p *progress) eventf(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}
