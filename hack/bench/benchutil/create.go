package benchutil

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// CreateAll calls create(ctx, 0) ... create(ctx, n-1), workers at a time,
// trying each again with backoff while it fails (a loaded API server
// throttles), and prints progress every tenth of n to stderr. It returns
// the first call that kept failing.
func CreateAll(ctx context.Context, what string, n, workers int, create func(ctx context.Context, i int) error) error {
	start := time.Now()
	var next, done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	every := max(int64(n/10), 1)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				var last error
				err := wait.ExponentialBackoffWithContext(ctx, wait.Backoff{Duration: 100 * time.Millisecond, Factor: 2, Steps: 6}, func(ctx context.Context) (bool, error) {
					last = create(ctx, int(i))
					return last == nil, nil
				})
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("creating %s %d: %w (last error: %v)", what, i, err, last)
					}
					mu.Unlock()
					return
				}
				if d := done.Add(1); d%every == 0 {
					fmt.Fprintf(os.Stderr, "created %d/%d %s (%s)\n", d, n, what, time.Since(start).Round(time.Second))
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	fmt.Fprintf(os.Stderr, "created %d %s in %s\n", n, what, time.Since(start).Round(time.Second))
	return nil
}
