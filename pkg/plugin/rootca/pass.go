// Package rootca holds bundle and unbundle (upstream steps 2, 3 and 12.1):
// one pass that makes every ServiceAccount root CA object (the
// kube-root-ca.crt ConfigMap of each namespace, the ca.crt key of legacy
// token Secrets) hold one certificate set, then watches whether the
// controller-manager puts something else back.
package rootca

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

const (
	// A root CA object changes only when a controller or an admin touches
	// it; a handful of conflicts in a row means something is fighting us,
	// which the report should show rather than loop on.
	conflictAttempts = 5
	progressEvery    = 2 * time.Second
)

// pass makes every root CA object hold Target.
type pass struct {
	Command      string // "bundle" or "unbundle": undo file name, messages
	Client       kubernetes.Interface
	Server       string // the API server URL, recorded in the undo file
	Target       checks.RootCATarget
	TargetPEM    []byte
	DryRun       cmdutil.DryRun
	ReplaceOther bool
	// CreateMissing creates kube-root-ca.crt where a namespace has none.
	CreateMissing bool
	Settle        time.Duration
	UndoDir       string
	ErrOut        io.Writer
	Now           func() time.Time
	// Namespace narrows the pass to one namespace (-n); "" is every one.
	Namespace string
	// TrustBundles, when set, also syncs the user-made ClusterTrustBundles
	// that hold the old CA (--trust-bundles).
	TrustBundles *trustBundleCAs
	// Pace is the requests in flight (--concurrency; adaptive when nil).
	Pace *cluster.Pace

	decisions decisionCache

	mu      sync.Mutex
	cancel  context.CancelFunc
	undo    *undofile.Writer
	fatal   error
	written map[string]string // object key -> resourceVersion after our write
	results map[string]*reportObject
}

func objectKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// accessChecks are the rights the pass needs, for Preflight.
func (p *pass) accessChecks() []cmdutil.AccessCheck {
	ns := p.Namespace
	c := []cmdutil.AccessCheck{
		{Verb: "list", Resource: "configmaps", Namespace: ns},
		{Verb: "get", Resource: "configmaps", Namespace: ns},
		{Verb: "list", Resource: "secrets", Namespace: ns},
		{Verb: "get", Resource: "secrets", Namespace: ns},
	}
	if ns == "" {
		c = append([]cmdutil.AccessCheck{{Verb: "list", Resource: "namespaces"}}, c...)
	}
	if p.DryRun.Writes() {
		c = append(c, cmdutil.AccessCheck{Verb: "patch", Resource: "configmaps", Namespace: ns}, cmdutil.AccessCheck{Verb: "patch", Resource: "secrets", Namespace: ns})
		if p.CreateMissing {
			c = append(c, cmdutil.AccessCheck{Verb: "create", Resource: "configmaps", Namespace: ns})
		}
	}
	if p.DryRun == cmdutil.DryRunNone && p.Settle > 0 {
		c = append(c, cmdutil.AccessCheck{Verb: "watch", Resource: "configmaps", Namespace: ns}, cmdutil.AccessCheck{Verb: "watch", Resource: "secrets", Namespace: ns})
	}
	if p.TrustBundles != nil {
		c = append(c, cmdutil.AccessCheck{Verb: "list", Group: "certificates.k8s.io", Resource: "clustertrustbundles"},
			cmdutil.AccessCheck{Verb: "get", Group: "certificates.k8s.io", Resource: "clustertrustbundles"})
		if p.DryRun.Writes() {
			c = append(c, cmdutil.AccessCheck{Verb: "patch", Group: "certificates.k8s.io", Resource: "clustertrustbundles"})
		}
	}
	return c
}

// run does the pass and returns its report. The error is set only when the
// pass could not run at all or had to stop (the undo file failed); object
// failures are in the report.
func (p *pass) run(ctx context.Context) (*report, error) {
	if p.Now == nil {
		p.Now = time.Now
	}
	p.written = map[string]string{}
	p.results = map[string]*reportObject{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.cancel = cancel
	defer p.closeUndo()
	// As restart-workloads' pass: pages of objects decoded and dropped by
	// the hundred, and since the pace keeps up to 256 writes in flight the
	// runtime's default let bundle's peak RSS reach 65-68 MiB over 10,000
	// namespaces (docs/benchmarks.md).
	defer cluster.CollectSooner(cluster.PassGCPercent)()

	terminating, err := cluster.TerminatingNamespaces(ctx, p.Client, p.Namespace)
	if err != nil {
		return nil, err
	}

	nsProgress := &progress{w: p.ErrOut, what: "namespaces", total: len(terminating), now: p.Now}
	withCM := map[string]bool{}
	cms := p.Client.CoreV1().ConfigMaps(p.Namespace)
	err = p.walk(ctx, cluster.RootCAConfigMapSelector,
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return cms.List(ctx, lo) },
		func(obj runtime.Object) (item, bool) {
			cm, ok := obj.(*corev1.ConfigMap)
			if !ok || withCM[cm.Namespace] {
				return item{}, false
			}
			withCM[cm.Namespace] = true
			return configMapItem(cm), true
		}, terminating, configMapAccess{p.Client}, nsProgress.tick)
	if err != nil {
		return nil, fmt.Errorf("kube-root-ca.crt ConfigMaps: %w", err)
	}
	var missing []string
	for ns := range terminating {
		if !withCM[ns] {
			missing = append(missing, ns)
		}
	}
	sort.Strings(missing)
	p.missing(ctx, missing, terminating, nsProgress.tick)
	if err := p.fatalErr(); err != nil {
		return nil, err
	}
	nsProgress.finish()

	secProgress := &progress{w: p.ErrOut, what: "legacy token Secrets", total: -1, now: p.Now}
	seenSecret := map[string]bool{}
	secrets := p.Client.CoreV1().Secrets(p.Namespace)
	err = p.walk(ctx, cluster.RootCASecretSelector,
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return secrets.List(ctx, lo) },
		func(obj runtime.Object) (item, bool) {
			s, ok := obj.(*corev1.Secret)
			if !ok || seenSecret[s.Namespace+"/"+s.Name] {
				return item{}, false
			}
			seenSecret[s.Namespace+"/"+s.Name] = true
			return secretItem(s), true
		}, terminating, secretAccess{p.Client}, secProgress.tick)
	if err != nil {
		return nil, fmt.Errorf("legacy token Secrets: %w", err)
	}
	secProgress.finish()
	if p.TrustBundles != nil {
		if err := p.walkTrustBundles(ctx); err != nil {
			return nil, err
		}
	}
	p.closeUndo()

	r := p.report()
	if len(p.written) > 0 && p.DryRun == cmdutil.DryRunNone && p.Settle > 0 {
		r.Settle = p.Settle.String()
		fmt.Fprintf(p.ErrOut, "%s: watching %d written objects for %s to see whether the controller-manager puts something else back\n",
			p.Command, len(p.written), p.Settle)
		if err := p.settle(ctx); err != nil {
			fmt.Fprintf(p.ErrOut, "warning: the settle check was cut short: %v\n", err)
		}
		r = p.report()
		r.Settle = p.Settle.String()
	}
	return r, nil
}

// walk lists one kind of root CA object and syncs each object as it
// arrives, at the pass's pace: memory stays bounded on big clusters (a page
// and the objects in flight), and the requests in flight do not drain at
// every page. itemOf drops objects seen before (a list restarted after an
// expired continue token). It stops once the undo file failed.
func (p *pass) walk(ctx context.Context, selector string, list cluster.ListFunc, itemOf func(runtime.Object) (item, bool),
	terminating map[string]bool, acc access, done func()) error {
	if p.Pace == nil {
		p.Pace = cluster.NewPace(0)
	}
	g := p.Pace.Group(ctx)
	_, err := cluster.EachPage(ctx, cluster.PageSize, metav1.ListOptions{FieldSelector: selector}, list, func() {},
		func(obj runtime.Object) error {
			it, ok := itemOf(obj)
			if !ok {
				return nil
			}
			if err := p.fatalErr(); err != nil {
				return err
			}
			g.Go(func() { p.syncOne(ctx, it, terminating, acc, done) })
			return nil
		})
	g.Wait()
	if err != nil {
		return err
	}
	return p.fatalErr()
}

// each syncs items at the pass's pace.
func (p *pass) each(ctx context.Context, items []item, terminating map[string]bool, acc access, done func()) {
	if p.Pace == nil {
		p.Pace = cluster.NewPace(0)
	}
	p.Pace.Fanout(ctx, len(items), func(i int) { p.syncOne(ctx, items[i], terminating, acc, done) })
}

// syncOne syncs one item (a terminating namespace's is skipped) and
// records the result.
func (p *pass) syncOne(ctx context.Context, it item, terminating map[string]bool, acc access, done func()) {
	if terminating[it.namespace] {
		p.result(reportObject{Kind: it.kind, Namespace: it.namespace, Name: it.name, Found: "-",
			Result: resultSkipped, Reason: "namespace is terminating"})
	} else {
		p.result(p.sync(ctx, acc, it))
	}
	done()
}

// sync makes one object hold the target, re-reading and re-deciding on a
// conflict.
func (p *pass) sync(ctx context.Context, acc access, it item) reportObject {
	obj := reportObject{Kind: it.kind, Namespace: it.namespace, Name: it.name}
	prev := it
	// A write that timed out may still have been applied; its retry then
	// conflicts, and the re-read shows our own value. Knowing that, we
	// still record the write for undo instead of calling it "already".
	mayHaveWritten := false
	for attempt := 1; ; attempt++ {
		d, value := acc.decide(p, it)
		if attempt == 1 {
			obj.Found = d.Found
		}
		switch d.Action {
		case checks.RootCAInPlace:
			if mayHaveWritten {
				return p.recorded(obj, prev, it.rv, resultUpdated)
			}
			obj.Result = resultAlready
			return obj
		case checks.RootCAPrivateKey:
			obj.Result, obj.Reason = resultSkipped, d.Reason
			return obj
		case checks.RootCAOther:
			if !p.ReplaceOther {
				obj.Result, obj.Reason, obj.outside = resultSkipped, d.Reason+" (--replace-other replaces it)", true
				return obj
			}
		}
		obj.Reason = d.Reason
		if done, ok := p.beforeWrite(ctx, obj, resultUpdated); !ok {
			return done
		}
		var rv string
		mayHave, err := cluster.WithRetryWrite(ctx, func() (err error) {
			rv, err = acc.patch(ctx, it, value, p.DryRun)
			return err
		})
		mayHaveWritten = mayHaveWritten || mayHave
		switch {
		case err == nil:
			return p.recorded(obj, prev, rv, resultUpdated)
		case apierrors.IsNotFound(err):
			obj.Result, obj.Reason = resultSkipped, "deleted while this command ran"
			return obj
		case apierrors.IsConflict(err) && attempt < conflictAttempts:
			err = cluster.WithRetry(ctx, func() (err error) {
				it, err = acc.get(ctx, it.namespace, it.name)
				return err
			})
			if apierrors.IsNotFound(err) {
				obj.Result, obj.Reason = resultSkipped, "deleted while this command ran"
				return obj
			}
			if err != nil {
				obj.Result, obj.Reason = resultFailed, "re-reading after a conflict: "+err.Error()
				return obj
			}
			if !mayHaveWritten {
				prev = it
			}
		default:
			// The answer was lost, not the write, perhaps: if the object
			// holds the target now, the write was ours and undo must know.
			if mayHaveWritten {
				var cur item
				gerr := cluster.WithRetry(ctx, func() (err error) {
					cur, err = acc.get(ctx, it.namespace, it.name)
					return err
				})
				if gerr == nil {
					if d, _ := acc.decide(p, cur); d.Action == checks.RootCAInPlace {
						return p.recorded(obj, prev, cur.rv, resultUpdated)
					}
				}
			}
			obj.Result, obj.Reason = resultFailed, err.Error()
			return obj
		}
	}
}

// recorded notes a successful write in the undo file (real writes only).
// The undo file gets the value we replaced, never anything else of the
// object: for Secrets that keeps token data out of it.
func (p *pass) recorded(obj reportObject, prev item, rv, result string) reportObject {
	obj.Result = result
	if p.DryRun != cmdutil.DryRunNone {
		return obj
	}
	obj.ResourceVersion = rv
	change := undofile.Change{Kind: prev.kind, Namespace: prev.namespace, Name: prev.name, Key: prev.undoKey(),
		Previous: string(prev.value), Absent: !prev.present, Created: result == resultCreated, ResourceVersion: rv}
	if result == resultCreated {
		change.Previous, change.Absent = "", false
	}
	p.mu.Lock()
	// No controller puts a user-made ClusterTrustBundle back: the settle
	// watch is for the root CA objects.
	if obj.Kind != kindTrustBundle {
		p.written[objectKey(obj.Kind, obj.Namespace, obj.Name)] = rv
	}
	if p.fatal != nil {
		p.mu.Unlock()
		obj.Reason = appendReason(obj.Reason, "not recorded in an undo file: "+p.fatal.Error())
		return obj
	}
	if err := p.openUndoLocked(); err != nil {
		p.mu.Unlock()
		obj.Reason = appendReason(obj.Reason, "not recorded in an undo file")
		return obj
	}
	undo := p.undo
	p.mu.Unlock()
	// Outside the pass's lock: records made at the same time share one
	// sync of the undo file. Held, every write waited for the sync of every
	// write before it (docs/benchmarks.md: bundle at 10,000 namespaces).
	if err := undo.Record(change); err != nil {
		p.mu.Lock()
		if p.fatal == nil {
			p.fatal = fmt.Errorf("cannot record a change in the undo file %s, stopped: %w", undo.Path, err)
		}
		p.mu.Unlock()
		p.cancel()
		obj.Reason = appendReason(obj.Reason, "not recorded in the undo file")
	}
	return obj
}

func appendReason(r, more string) string {
	if r == "" {
		return more
	}
	return r + "; " + more
}

func (p *pass) fatalErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

// beforeWrite tells whether obj's write may be sent (ok); when not, done is
// obj as reported: result (with --dry-run=client nothing is sent and the
// write counts as made), or failed with why it was not attempted.
func (p *pass) beforeWrite(ctx context.Context, obj reportObject, result string) (done reportObject, ok bool) {
	if !p.DryRun.Writes() {
		obj.Result = result
		return obj, false
	}
	if why := p.notAttempted(ctx); why != "" {
		obj.Result, obj.Reason = resultFailed, why
		return obj, false
	}
	return obj, true
}

// notAttempted says why a write is not sent ("" when it may be): the pass
// stopped, or the undo file that must record it cannot be created.
func (p *pass) notAttempted(ctx context.Context) string {
	if err := ctx.Err(); err != nil {
		if f := p.fatalErr(); f != nil {
			err = f
		}
		return "not attempted: " + err.Error()
	}
	if err := p.openUndo(); err != nil {
		return "not attempted: " + err.Error()
	}
	return ""
}

// openUndo creates the undo file before the pass's first write, so that no
// write happens without a place to record what it replaces. Once it has
// failed, every later call fails too and the pass stops.
func (p *pass) openUndo() error {
	if p.DryRun != cmdutil.DryRunNone {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.openUndoLocked()
}

func (p *pass) openUndoLocked() error {
	if p.fatal != nil {
		return p.fatal
	}
	if p.undo != nil {
		return nil
	}
	// Every root CA object the pass writes gets TargetPEM (decide, create):
	// undo need not read them back to know what it replaces.
	w, err := undofile.Create(p.UndoDir, undofile.Header{Command: p.Command, Server: p.Server, CreatedAt: p.Now(), RootCASet: string(p.TargetPEM)})
	if err != nil {
		p.fatal = fmt.Errorf("cannot create the undo file in %s (--undo-dir chooses another directory), so nothing was written: %w", p.UndoDir, err)
		p.cancel()
		return p.fatal
	}
	p.undo = w
	fmt.Fprintf(p.ErrOut, "%s: recording previous values in %s\n", p.Command, w.Path)
	return nil
}

// closeUndo closes the undo file, which removes it when the writes it was
// opened for did not happen (a conflict showed the value already there).
func (p *pass) closeUndo() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.undo != nil {
		_ = p.undo.Close()
	}
}

func (p *pass) result(o reportObject) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results[objectKey(o.Kind, o.Namespace, o.Name)] = &o
}

// missing handles namespaces without kube-root-ca.crt: reported, or
// created for with --create-missing.
func (p *pass) missing(ctx context.Context, namespaces []string, terminating map[string]bool, done func()) {
	for _, ns := range namespaces {
		obj := reportObject{Kind: "ConfigMap", Namespace: ns, Name: cluster.RootCAConfigMap, Found: "no ConfigMap"}
		switch {
		case terminating[ns]:
			obj.Result, obj.Reason = resultSkipped, "namespace is terminating"
		case !p.CreateMissing:
			obj.Result, obj.Reason = resultSkipped, "no kube-root-ca.crt in this namespace (--create-missing creates it)"
		default:
			obj = p.create(ctx, obj)
		}
		p.result(obj)
		done()
	}
}

func (p *pass) create(ctx context.Context, obj reportObject) reportObject {
	obj.Reason = "created with --create-missing"
	if done, ok := p.beforeWrite(ctx, obj, resultCreated); !ok {
		return done
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: cluster.RootCAConfigMap, Namespace: obj.Namespace},
		Data:       map[string]string{cluster.RootCAKey: string(p.TargetPEM)},
	}
	var out *corev1.ConfigMap
	err := cluster.WithRetry(ctx, func() (err error) {
		out, err = p.Client.CoreV1().ConfigMaps(obj.Namespace).Create(ctx, cm,
			metav1.CreateOptions{FieldManager: cmdutil.FieldManager, DryRun: p.DryRun.Options()})
		return err
	})
	switch {
	case err == nil:
		return p.recorded(obj, item{kind: obj.Kind, namespace: obj.Namespace, name: obj.Name}, out.ResourceVersion, resultCreated)
	case apierrors.IsAlreadyExists(err):
		// The root CA publisher (or a retry of ours) got there first.
		acc := configMapAccess{p.Client}
		var it item
		err = cluster.WithRetry(ctx, func() (err error) { it, err = acc.get(ctx, obj.Namespace, obj.Name); return err })
		if err != nil {
			obj.Result, obj.Reason = resultFailed, err.Error()
			return obj
		}
		return p.sync(ctx, acc, it)
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err) && strings.Contains(err.Error(), "being terminated"):
		obj.Result, obj.Reason = resultSkipped, "namespace is terminating or gone"
		return obj
	default:
		obj.Result, obj.Reason = resultFailed, err.Error()
		return obj
	}
}
