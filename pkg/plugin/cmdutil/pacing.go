package cmdutil

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// Pacing is the one pacing policy of every command that writes objects
// across the cluster (bundle, unbundle, restart-workloads, undo): requests
// in flight, adapted to what the API server shows unless --concurrency
// pins them (a closed loop that slows down with a struggling server), and
// no client rate limit unless --qps or --burst is given.
//
// Why no rate limit: the requests in flight are the limit, and a rate
// only gets in its way. With the 1000 QPS ceiling these writers had
// until 2026-12-04, bundle over 10,000 namespaces (11,004 writes) could
// not finish in under about 10 s (1,000 writes of burst, then one a
// millisecond) while an unthrottled client wrote them in 7.5 s on the
// same server: bundle's whole gap to its target (1.40x) was the ceiling
// (docs/benchmarks.md). A runaway is bounded by the pace's own ceiling
// (256 in flight) and its halving on 429, 5xx and unanswered requests,
// and the API server's priority and fairness guards it from its side.
type Pacing struct {
	// Concurrency is --concurrency: 0 adapts.
	Concurrency int
	// qps and burst are PassRateLimit's: --qps/--burst when given (given),
	// else the ceiling of the sequential page readers.
	qps   float32
	burst int
	given bool
	pace  *cluster.Pace
}

// Unthrottled is the QPS of a client without a rate limiter (client-go
// makes none for a QPS below 0).
const Unthrottled float32 = -1

// ConcurrencyHelp is --concurrency's help, shared by every writer.
const ConcurrencyHelp = "Requests in flight at once; 0 (the default) adapts them to the API server: from 10, growing while the pass gets more done (or no less), coming down where more got clearly less done and fewer get more done, halving when it answers 429, Retry-After or errors. (No client rate limit here unless --qps/--burst are given: the requests in flight are the limit)"

// AddConcurrencyFlag binds --concurrency.
func AddConcurrencyFlag(cmd *cobra.Command, p *Pacing) {
	cmd.Flags().IntVar(&p.Concurrency, "concurrency", p.Concurrency, ConcurrencyHelp)
}

// Complete resolves the rate limit from the flags and makes the pace.
func (p *Pacing) Complete(cmd *cobra.Command, f Factory) {
	p.given = RateLimitGiven(cmd)
	p.qps, p.burst = PassRateLimit(cmd, f)
	p.pace = cluster.NewPace(p.Concurrency)
}

// Validate checks --concurrency.
func (p *Pacing) Validate() error {
	if p.Concurrency < 0 {
		return fmt.Errorf("--concurrency must be 0 (adapt) or more, got %d", p.Concurrency)
	}
	return nil
}

// Pace is the pace of the pass (a pinned one before Complete, for tests
// that build options by hand).
func (p *Pacing) Pace() *cluster.Pace {
	if p.pace == nil {
		p.pace = cluster.NewPace(p.Concurrency)
	}
	return p.pace
}

// RateLimit is the client rate limit the pass's writes run with: none
// (Unthrottled) unless --qps or --burst is given.
func (p *Pacing) RateLimit() (float32, int) {
	if p.given {
		return p.qps, p.burst
	}
	return Unthrottled, 0
}

// PageRateLimit is the rate limit of a pass's sequential page reader
// (unbundle's copies check): PassRateLimit's ceiling.
func (p *Pacing) PageRateLimit() (float32, int) { return p.qps, p.burst }

// Clientset is the pass's client: protobuf, the pass's rate limit, every
// answer shown to the pace.
func (p *Pacing) Clientset(f Factory) (kubernetes.Interface, error) {
	qps, burst := p.RateLimit()
	return f.ProtobufClientset(qps, burst, p.Pace().Wrap)
}

// Report prints how the pass was paced when the API server pushed back
// or the pace had to back off: the one line that explains a slow pass.
// (-o json has the figures of every pass.)
func (p *Pacing) Report(w io.Writer, command string) {
	s := p.Pace().Stats()
	pushed := s.Throttled + s.ServerErrors + s.Unanswered
	if pushed == 0 && s.BackOffs == 0 {
		return
	}
	line := fmt.Sprintf("%s: %d requests in flight", command, s.Final)
	if s.Adaptive {
		line = fmt.Sprintf("%s: requests in flight adapted from %d (peak %d, last %d, %d back-offs)", command, s.Start, s.Peak, s.Final, s.BackOffs)
	}
	if pushed > 0 {
		line += fmt.Sprintf("; the API server pushed back: %d answers 429, %d 5xx, %d without an answer", s.Throttled, s.ServerErrors, s.Unanswered)
	}
	fmt.Fprintln(w, line)
}
