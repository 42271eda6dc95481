package cluster

import (
	"context"
	"fmt"

	"golang.org/x/sync/errgroup"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/pager"
)

// PageSize is the page of most lists: 500 is kubectl's chunk size too, and
// keeps one page of pods to a few MiB.
const PageSize = 500

// expiredRestarts bounds how often a walk starts over after its continue
// token expired.
const expiredRestarts = 3

// ListFunc is one page of a list: a typed or dynamic client's List.
type ListFunc func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)

// EachPage walks a list page by page with client-go's pager, pageSize items
// a page (opts.Limit is set to it), calling each with every page. The pager
// keeps at most the page being handled and the next one in memory. A page
// that fails with a transient error is tried again under the one retry
// policy (WithRetry): callers pass the bare list, never one wrapped in a
// retry of their own. When the continue token expires (etcd compacted past
// it during a long pause or an API server restart) the walk starts over
// after reset, at most a few times, instead of the pager's fallback to one
// unpaginated list (a cluster's worth of objects in memory): each must
// tolerate seeing items again. It returns the resourceVersion the first
// page was served at, to start a watch from.
func EachPage(ctx context.Context, pageSize int64, opts metav1.ListOptions, list ListFunc, reset func(), each func(runtime.Object) error) (string, error) {
	opts.Limit = pageSize
	var rv string
	p := pager.New(func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
		var page runtime.Object
		err := WithRetry(ctx, func() (err error) {
			page, err = list(ctx, o)
			return err
		})
		if err == nil && o.Continue == "" {
			if m, merr := meta.ListAccessor(page); merr == nil {
				rv = m.GetResourceVersion()
			}
		}
		return page, err
	})
	p.PageSize = pageSize
	p.FullListIfExpired = false
	p.PageBufferSize = 0
	for restarts := 0; ; restarts++ {
		started := false
		err := p.EachListItem(ctx, opts, func(obj runtime.Object) error {
			started = true
			return each(obj)
		})
		if err != nil && apierrors.IsResourceExpired(err) && started && restarts < expiredRestarts && reset != nil {
			reset()
			continue
		}
		return rv, err
	}
}

// Each is EachPage for the items of a typed list: each gets a pointer into
// the page, valid until each returns (copy what must outlive it).
func Each[T any](ctx context.Context, pageSize int64, opts metav1.ListOptions, list ListFunc, reset func(), each func(*T)) (string, error) {
	return EachPage(ctx, pageSize, opts, list, reset, func(obj runtime.Object) error {
		item, ok := any(obj).(*T)
		if !ok {
			return fmt.Errorf("listed a %T where a %T was expected", obj, item)
		}
		each(item)
		return nil
	})
}

// Fanout runs fn(0) ... fn(n-1) with at most limit running at once, and
// returns when all have returned. Once ctx is done no new call starts.
func Fanout(ctx context.Context, limit, n int, fn func(i int)) {
	g := new(errgroup.Group)
	g.SetLimit(max(limit, 1))
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if ctx.Err() == nil {
				fn(i)
			}
			return nil
		})
	}
	_ = g.Wait()
}
