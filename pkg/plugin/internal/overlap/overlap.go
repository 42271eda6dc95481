// Package overlap lets a unit test prove that a client sends requests
// together rather than one after another, without timing anything: a
// server holds each request until a whole group of them is waiting, and a
// round tripper counts the client's requests in flight.
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

// Hold answers each request matching match only once n of them have
// arrived (or after patience, so that a client sending them one at a time
// is still answered, late, and the test fails on Counter.Peak rather than
// hanging). Other requests go to next at once.
func Hold(n int, patience time.Duration, match func(*http.Request) bool, next http.Handler) http.Handler {
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if match(r) {
			mu.Lock()
			if arrived++; arrived == n {
				close(all)
			}
			mu.Unlock()
			select {
			case <-all:
			case <-time.After(patience):
			case <-r.Context().Done():
			}
		}
		next.ServeHTTP(w, r)
	})
}
