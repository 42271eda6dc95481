package rootca

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// settle watches the objects we wrote for p.Settle and marks those that
// someone put other content back into: the controller-manager reverts
// kube-root-ca.crt and token Secrets to its --root-ca-file within moments.
func (p *pass) settle(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.Settle)
	defer cancel()
	var cms, secrets int
	for k := range p.written {
		if strings.HasPrefix(k, "Secret/") {
			secrets++
		} else {
			cms++
		}
	}
	s := &settling{pass: p, cancel: cancel, pending: len(p.written)}
	observe := func(obj runtime.Object) {
		switch o := obj.(type) {
		case *corev1.ConfigMap:
			s.observe(configMapItem(o), o.ManagedFields)
		case *corev1.Secret:
			s.observe(secretItem(o), o.ManagedFields)
		}
	}
	cmAPI, secretAPI := p.Client.CoreV1().ConfigMaps(p.Namespace), p.Client.CoreV1().Secrets(p.Namespace)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if cms > 0 {
		wg.Go(func() {
			errs[0] = watchObjects(ctx, cluster.RootCAConfigMapSelector,
				func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return cmAPI.List(ctx, lo) },
				cmAPI.Watch, observe)
		})
	}
	if secrets > 0 {
		wg.Go(func() {
			errs[1] = watchObjects(ctx, cluster.RootCASecretSelector,
				func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
					return secretAPI.List(ctx, lo)
				},
				secretAPI.Watch, observe)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

type settling struct {
	pass    *pass
	cancel  func()
	mu      sync.Mutex
	pending int
}

// observe marks a written object whose ca.crt no longer holds the target
// as reverted, naming who wrote it by the rule status and unbundle's
// controller-manager check use too (cluster.CAChange).
func (s *settling) observe(it item, mf []metav1.ManagedFieldsEntry) {
	p := s.pass
	key := objectKey(it.kind, it.namespace, it.name)
	p.mu.Lock()
	defer p.mu.Unlock()
	ours, ok := p.written[key]
	obj := p.results[key]
	if !ok || obj == nil || it.rv == ours || obj.Result == resultReverted {
		return
	}
	d := p.decisions.decide(it, p.Target)
	if d.Action == checks.RootCAInPlace {
		return
	}
	_, who := cluster.CAChange(mf, cluster.RootCAKey, time.Time{})
	if who == "" {
		who = "someone"
	}
	obj.Result = resultReverted
	obj.Reason = fmt.Sprintf("%s put back %s", who, d.Found)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		// Every write was undone: waiting longer cannot change the verdict.
		s.cancel()
	}
}

// watchObjects lists, then watches from the list's resourceVersion, until
// ctx ends; a closed or failed watch is re-listed. The list catches changes
// made between our writes and the start of the watch.
func watchObjects(ctx context.Context, selector string, list cluster.ListFunc,
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error), observe func(runtime.Object)) error {
	opts := metav1.ListOptions{FieldSelector: selector}
	for ctx.Err() == nil {
		rv, err := cluster.EachPage(ctx, cluster.PageSize, opts, list, func() {},
			func(obj runtime.Object) error { observe(obj); return nil })
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		wopts := opts
		wopts.ResourceVersion = rv
		wopts.AllowWatchBookmarks = true
		var w watch.Interface
		err = cluster.WithRetry(ctx, func() (err error) { w, err = watchFn(ctx, wopts); return err })
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		func() {
			defer w.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case ev, ok := <-w.ResultChan():
					if !ok || ev.Type == watch.Error {
						return
					}
					if ev.Type == watch.Added || ev.Type == watch.Modified {
						observe(ev.Object)
					}
				}
			}
		}()
	}
	return nil
}
