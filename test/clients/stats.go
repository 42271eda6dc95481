package clients

import (
	"slices"
	"time"
)

// Outcome is how one request ended, after client-go's own retries.
type Outcome int

// Outcomes, in the order the counts list them.
const (
	OK Outcome = iota
	// TLSFailure: the client did not verify the API server's serving
	// certificate (x509: certificate signed by unknown authority, and
	// friends): its CA does not hold the serving chain's CA.
	TLSFailure
	// Unauthorized: the API server answered 401: the token is not valid
	// (its pod is gone, or its signing key is not accepted).
	Unauthorized
	// Unreachable: no answer at all: connection refused or reset, EOF, a
	// timeout.
	Unreachable
	// OtherError: anything else (403, 5xx, a body that does not decode).
	OtherError
)

var outcomeNames = [...]string{OK: "ok", TLSFailure: "tls", Unauthorized: "unauthorized", Unreachable: "unreachable", OtherError: "other"}

func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Counts are the requests of one client, one step, or all clients, by
// outcome. Requests = OK + TLSFailures + Unauthorized + Unreachable +
// OtherErrors.
type Counts struct {
	Requests     int `json:"requests"`
	OK           int `json:"ok"`
	TLSFailures  int `json:"tlsFailures"`
	Unauthorized int `json:"unauthorized"`
	// Unreachable counts requests that got no answer; UnreachableSeconds
	// is the wall-clock time no request got one (see interval).
	Unreachable        int     `json:"unreachable"`
	OtherErrors        int     `json:"otherErrors"`
	UnreachableSeconds float64 `json:"unreachableSeconds"`
}

func (c *Counts) count(o Outcome) {
	c.Requests++
	switch o {
	case OK:
		c.OK++
	case TLSFailure:
		c.TLSFailures++
	case Unauthorized:
		c.Unauthorized++
	case Unreachable:
		c.Unreachable++
	default:
		c.OtherErrors++
	}
}

// add adds the request counts of o (not its seconds: those are merged as
// intervals, never summed across clients).
func (c *Counts) add(o Counts) {
	c.Requests += o.Requests
	c.OK += o.OK
	c.TLSFailures += o.TLSFailures
	c.Unauthorized += o.Unauthorized
	c.Unreachable += o.Unreachable
	c.OtherErrors += o.OtherErrors
}

// interval is a wall-clock span [from, to).
type interval struct{ from, to time.Time }

func (i interval) seconds() float64 { return i.to.Sub(i.from).Seconds() }

// union merges overlapping intervals: two clients that cannot reach the API
// server during the same second count one second, not two.
func union(spans []interval) []interval {
	var in []interval
	for _, s := range spans {
		if s.to.After(s.from) {
			in = append(in, s)
		}
	}
	slices.SortFunc(in, func(a, b interval) int { return a.from.Compare(b.from) })
	var out []interval
	for _, s := range in {
		if n := len(out); n > 0 && !s.from.After(out[n-1].to) {
			if s.to.After(out[n-1].to) {
				out[n-1].to = s.to
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

func unionSeconds(spans []interval) float64 {
	var s float64
	for _, i := range union(spans) {
		s += i.seconds()
	}
	return s
}

// clip returns the parts of spans that fall inside windows.
func clip(spans, windows []interval) []interval {
	var out []interval
	for _, s := range spans {
		for _, w := range windows {
			from, to := s.from, s.to
			if w.from.After(from) {
				from = w.from
			}
			if w.to.Before(to) {
				to = w.to
			}
			if to.After(from) {
				out = append(out, interval{from, to})
			}
		}
	}
	return out
}

// timeline is the sequence of steps the caller set. A step may come back
// (the same label set again later): its windows are all the spans it was
// current.
type timeline struct {
	marks []stepMark
}

type stepMark struct {
	step string
	at   time.Time
}

func (t *timeline) set(step string, at time.Time) {
	if n := len(t.marks); n > 0 && t.marks[n-1].step == step {
		return
	}
	t.marks = append(t.marks, stepMark{step, at})
}

func (t *timeline) current() string { return t.marks[len(t.marks)-1].step }

// steps are the step labels in the order they were first set.
func (t *timeline) steps() []string {
	var out []string
	for _, m := range t.marks {
		if !slices.Contains(out, m.step) {
			out = append(out, m.step)
		}
	}
	return out
}

// windows are the spans during which step was current, the last one
// ending at end.
func (t *timeline) windows(step string, end time.Time) []interval {
	var out []interval
	for i, m := range t.marks {
		if m.step != step {
			continue
		}
		to := end
		if i+1 < len(t.marks) {
			to = t.marks[i+1].at
		}
		if to.After(m.at) {
			out = append(out, interval{m.at, to})
		}
	}
	return out
}

// record is what one client saw.
type record struct {
	steps map[string]*Counts
	// spans are the closed spans with no answer; downSince, when not zero,
	// starts the one still open.
	spans     []interval
	downSince time.Time
	// examples keeps the first error text of each outcome, so a report
	// shows what a "TLS failure" really was.
	examples map[Outcome]string
}

// observe counts one request that started at start and ended at end in
// step. An unreachable span opens when a request that gets no answer
// starts and closes when a later request gets any answer (a TLS failure or
// a 401 is an answer: the API server was there), at that request's end.
func (r *record) observe(step string, start, end time.Time, o Outcome, err error) {
	if r.steps == nil {
		r.steps = map[string]*Counts{}
		r.examples = map[Outcome]string{}
	}
	c := r.steps[step]
	if c == nil {
		c = &Counts{}
		r.steps[step] = c
	}
	c.count(o)
	if err != nil {
		if _, ok := r.examples[o]; !ok {
			r.examples[o] = err.Error()
		}
	}
	switch {
	case o == Unreachable && r.downSince.IsZero():
		r.downSince = start
	case o != Unreachable && !r.downSince.IsZero():
		r.spans = append(r.spans, interval{r.downSince, end})
		r.downSince = time.Time{}
	}
}

// spansUntil are the closed spans and the open one, closed at end.
func (r *record) spansUntil(end time.Time) []interval {
	out := slices.Clone(r.spans)
	if !r.downSince.IsZero() && end.After(r.downSince) {
		out = append(out, interval{r.downSince, end})
	}
	return out
}
