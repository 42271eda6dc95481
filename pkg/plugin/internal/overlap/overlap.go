// Package overlap lets a unit test prove that a client sends requests
// together rather than one after another, without timing anything: a
// server holds each request of a group until the whole group is waiting,
// and a round tripper counts the client's requests in flight.
package overlap

import (
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Counter counts a client's requests in flight (rest.Config.WrapTransport
// takes its Wrap).
type Counter struct {
	in, peak, total atomic.Int64
}

// Wrap counts the requests that go through rt.
func (c *Counter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		n := c.in.Add(1)
		c.total.Add(1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
		defer c.in.Add(-1)
		return rt.RoundTrip(r)
	})
}

// Peak is the most requests that were in flight at once.
func (c *Counter) Peak() int64 { return c.peak.Load() }

// Total is every request sent.
func (c *Counter) Total() int64 { return c.total.Load() }

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Group is n requests that a client should send together: those match
// says belong to it.
type Group struct {
	n       int
	match   func(*http.Request) bool
	mu      sync.Mutex
	waiting int
	all     chan struct{}
}

// NewGroup is a group of n requests.
func NewGroup(n int, match func(*http.Request) bool) *Group {
	return &Group{n: n, match: match, all: make(chan struct{})}
}

// Together says whether all n requests of the group were waiting at the
// same time.
func (g *Group) Together() bool {
	select {
	case <-g.all:
		return true
	default:
		return false
	}
}

// Hold answers each request of a group only once all of the group's
// requests have arrived (or after patience, so that a client sending them
// one at a time is still answered, late, and the test fails on Together or
// Counter.Peak rather than hanging). Other requests go to next at once.
func Hold(patience time.Duration, next http.Handler, groups ...*Group) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, g := range groups {
			if !g.match(r) {
				continue
			}
			g.mu.Lock()
			if g.waiting++; g.waiting == g.n {
				close(g.all)
			}
			g.mu.Unlock()
			select {
			case <-g.all:
			case <-time.After(patience):
				g.mu.Lock()
				if !g.Together() {
					g.waiting-- // it no longer waits with the others
				}
				g.mu.Unlock()
			case <-r.Context().Done():
			}
			break
		}
		next.ServeHTTP(w, r)
	})
}
