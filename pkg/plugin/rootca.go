package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// The shared engine of bundle and unbundle: one pass that makes every
// ServiceAccount root CA object (the kube-root-ca.crt ConfigMap of each
// namespace, the ca.crt key of legacy token Secrets) hold one certificate
// set, then watches whether the controller-manager puts something else
// back.

const (
	// Enough requests in flight to hide round trips; the client's QPS limit
	// is what really paces a big cluster.
	rootCAWorkers = 8
	// A root CA object changes only when a controller or an admin touches
	// it; a handful of conflicts in a row means something is fighting us,
	// which the report should show rather than loop on.
	rootCAConflictAttempts = 5
	rootCAProgressEvery    = 2 * time.Second
)

var (
	rootCAConfigMapSelector = cluster.RootCAConfigMapSelector
	rootCASecretSelector    = cluster.RootCASecretSelector
)

// Per-object results.
const (
	rootCAAlready  = "already"
	rootCAUpdated  = "updated"
	rootCACreated  = "created"
	rootCAReverted = "reverted"
	rootCASkipped  = "skipped"
	rootCAFailed   = "failed"
)

// rootCAObject is one object's line in the report.
type rootCAObject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Found is what ca.crt held when we read it ("old", "new+old", ...).
	Found  string `json:"found"`
	Result string `json:"result"`
	Reason string `json:"reason,omitempty"`
	// ResourceVersion is the object's version after our write.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// outside is set when the object was skipped because it holds
	// certificates outside the rotation: the pass is then not complete.
	outside bool
}

// rootCACounts sums results per kind of object.
type rootCACounts struct {
	Total    int `json:"total"`
	Already  int `json:"already"`
	Updated  int `json:"updated"`
	Created  int `json:"created"`
	Reverted int `json:"reverted"`
	Skipped  int `json:"skipped"`
	Failed   int `json:"failed"`
}

// rootCACert names one certificate of the wanted set.
type rootCACert struct {
	Label       string    `json:"label"`
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
}

// rootCAReport is the summary of a bundle or unbundle run (-o json|yaml).
type rootCAReport struct {
	Command    string         `json:"command"`
	DryRun     DryRun         `json:"dryRun"`
	Target     []rootCACert   `json:"target"`
	BundleFile string         `json:"bundleFile,omitempty"`
	UndoFile   string         `json:"undoFile,omitempty"`
	Settle     string         `json:"settle,omitempty"`
	Namespaces rootCACounts   `json:"namespaces"`
	Secrets    rootCACounts   `json:"secrets"`
	Objects    []rootCAObject `json:"objects"`
}

// rootCAPass makes every root CA object hold Target.
type rootCAPass struct {
	Command      string // "bundle" or "unbundle": undo file name, messages
	Client       kubernetes.Interface
	Server       string // the API server URL, recorded in the undo file
	Target       checks.RootCATarget
	TargetPEM    []byte
	DryRun       DryRun
	ReplaceOther bool
	// CreateMissing creates kube-root-ca.crt where a namespace has none.
	CreateMissing bool
	Settle        time.Duration
	UndoDir       string
	ErrOut        io.Writer
	Now           func() time.Time
	// Namespace narrows the pass to one namespace (-n); "" is every one.
	Namespace string

	mu      sync.Mutex
	cancel  context.CancelFunc
	undo    *UndoWriter
	fatal   error
	written map[string]string // object key -> resourceVersion after our write
	results map[string]*rootCAObject
}

func rootCAObjectKey(kind, ns, name string) string { return kind + "/" + ns + "/" + name }

// accessChecks are the rights the pass needs, for Preflight.
func (p *rootCAPass) accessChecks() []AccessCheck {
	ns := p.Namespace
	c := []AccessCheck{
		{Verb: "list", Resource: "configmaps", Namespace: ns},
		{Verb: "get", Resource: "configmaps", Namespace: ns},
		{Verb: "list", Resource: "secrets", Namespace: ns},
		{Verb: "get", Resource: "secrets", Namespace: ns},
	}
	if ns == "" {
		c = append([]AccessCheck{{Verb: "list", Resource: "namespaces"}}, c...)
	}
	if p.DryRun.Writes() {
		c = append(c, AccessCheck{Verb: "patch", Resource: "configmaps", Namespace: ns}, AccessCheck{Verb: "patch", Resource: "secrets", Namespace: ns})
		if p.CreateMissing {
			c = append(c, AccessCheck{Verb: "create", Resource: "configmaps", Namespace: ns})
		}
	}
	if p.DryRun == DryRunNone && p.Settle > 0 {
		c = append(c, AccessCheck{Verb: "watch", Resource: "configmaps", Namespace: ns}, AccessCheck{Verb: "watch", Resource: "secrets", Namespace: ns})
	}
	return c
}

// run does the pass and returns its report. The error is set only when the
// pass could not run at all or had to stop (the undo file failed); object
// failures are in the report.
func (p *rootCAPass) run(ctx context.Context) (*rootCAReport, error) {
	if p.Now == nil {
		p.Now = time.Now
	}
	p.written = map[string]string{}
	p.results = map[string]*rootCAObject{}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p.cancel = cancel
	defer p.closeUndo()

	terminating := map[string]bool{}
	isTerminating := func(ns *corev1.Namespace) bool {
		return ns.Status.Phase == corev1.NamespaceTerminating || ns.DeletionTimestamp != nil
	}
	if p.Namespace != "" {
		var ns *corev1.Namespace
		err := WithRetry(ctx, func() (err error) {
			ns, err = p.Client.CoreV1().Namespaces().Get(ctx, p.Namespace, metav1.GetOptions{})
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("reading namespace %s: %w", p.Namespace, err)
		}
		terminating[ns.Name] = isTerminating(ns)
	} else {
		_, err := rootCAEachPage(ctx, metav1.ListOptions{}, p.Client.CoreV1().Namespaces().List,
			func(l *corev1.NamespaceList) error {
				for i := range l.Items {
					terminating[l.Items[i].Name] = isTerminating(&l.Items[i])
				}
				return nil
			})
		if err != nil {
			return nil, fmt.Errorf("listing namespaces: %w", err)
		}
	}

	nsProgress := &rootCAProgress{w: p.ErrOut, what: "namespaces", total: len(terminating), now: p.Now}
	withCM := map[string]bool{}
	_, err := rootCAEachPage(ctx, metav1.ListOptions{FieldSelector: rootCAConfigMapSelector}, p.Client.CoreV1().ConfigMaps(p.Namespace).List,
		func(l *corev1.ConfigMapList) error {
			var items []rootCAItem
			for i := range l.Items {
				cm := &l.Items[i]
				if withCM[cm.Namespace] {
					continue // a list restarted after an expired continue token
				}
				withCM[cm.Namespace] = true
				items = append(items, configMapItem(cm))
			}
			p.each(ctx, items, terminating, configMapAccess{p.Client}, nsProgress.tick)
			return p.fatalErr()
		})
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

	secProgress := &rootCAProgress{w: p.ErrOut, what: "legacy token Secrets", total: -1, now: p.Now}
	seenSecret := map[string]bool{}
	_, err = rootCAEachPage(ctx, metav1.ListOptions{FieldSelector: rootCASecretSelector}, p.Client.CoreV1().Secrets(p.Namespace).List,
		func(l *corev1.SecretList) error {
			var items []rootCAItem
			for i := range l.Items {
				s := &l.Items[i]
				if seenSecret[s.Namespace+"/"+s.Name] {
					continue
				}
				seenSecret[s.Namespace+"/"+s.Name] = true
				items = append(items, secretItem(s))
			}
			p.each(ctx, items, terminating, secretAccess{p.Client}, secProgress.tick)
			return p.fatalErr()
		})
	if err != nil {
		return nil, fmt.Errorf("legacy token Secrets: %w", err)
	}
	secProgress.finish()
	p.closeUndo()

	report := p.report()
	if len(p.written) > 0 && p.DryRun == DryRunNone && p.Settle > 0 {
		report.Settle = p.Settle.String()
		fmt.Fprintf(p.ErrOut, "%s: watching %d written objects for %s to see whether the controller-manager puts something else back\n",
			p.Command, len(p.written), p.Settle)
		if err := p.settle(ctx); err != nil {
			fmt.Fprintf(p.ErrOut, "warning: the settle check was cut short: %v\n", err)
		}
		report = p.report()
		report.Settle = p.Settle.String()
	}
	return report, nil
}

// rootCAItem is what the pass needs of one object.
type rootCAItem struct {
	kind, namespace, name, rv string
	value                     []byte
	present                   bool
}

func configMapItem(cm *corev1.ConfigMap) rootCAItem {
	v, ok := cm.Data[rootCAKey]
	return rootCAItem{kind: "ConfigMap", namespace: cm.Namespace, name: cm.Name, rv: cm.ResourceVersion, value: []byte(v), present: ok}
}

func secretItem(s *corev1.Secret) rootCAItem {
	v, ok := s.Data[rootCAKey]
	return rootCAItem{kind: "Secret", namespace: s.Namespace, name: s.Name, rv: s.ResourceVersion, value: v, present: ok}
}

func (it rootCAItem) source() string {
	return fmt.Sprintf("%s/%s/%s[%s]", strings.ToLower(it.kind), it.namespace, it.name, rootCAKey)
}

// rootCAAccess reads and writes one kind of root CA object.
type rootCAAccess interface {
	get(ctx context.Context, ns, name string) (rootCAItem, error)
	// patch sets ca.crt only, with the read resourceVersion as a
	// precondition (a merge patch carrying metadata.resourceVersion fails
	// with a conflict if the object changed), and returns the new version.
	patch(ctx context.Context, it rootCAItem, value []byte, dry DryRun) (string, error)
}

type configMapAccess struct{ client kubernetes.Interface }

func (a configMapAccess) get(ctx context.Context, ns, name string) (rootCAItem, error) {
	cm, err := a.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return rootCAItem{}, err
	}
	return configMapItem(cm), nil
}

func (a configMapAccess) patch(ctx context.Context, it rootCAItem, value []byte, dry DryRun) (string, error) {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": it.rv},
		"data":     map[string]string{rootCAKey: string(value)},
	})
	if err != nil {
		return "", err
	}
	cm, err := a.client.CoreV1().ConfigMaps(it.namespace).Patch(ctx, it.name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: fieldManager, DryRun: dry.Options()})
	if err != nil {
		return "", err
	}
	return cm.ResourceVersion, nil
}

type secretAccess struct{ client kubernetes.Interface }

func (a secretAccess) get(ctx context.Context, ns, name string) (rootCAItem, error) {
	s, err := a.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return rootCAItem{}, err
	}
	return secretItem(s), nil
}

func (a secretAccess) patch(ctx context.Context, it rootCAItem, value []byte, dry DryRun) (string, error) {
	// Only ca.crt is sent: the token and namespace keys never leave the
	// server, and a concurrent token refresh is caught by the precondition.
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": it.rv},
		"data":     map[string][]byte{rootCAKey: value},
	})
	if err != nil {
		return "", err
	}
	s, err := a.client.CoreV1().Secrets(it.namespace).Patch(ctx, it.name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: fieldManager, DryRun: dry.Options()})
	if err != nil {
		return "", err
	}
	return s.ResourceVersion, nil
}

// each syncs items with a bounded number of requests in flight.
func (p *rootCAPass) each(ctx context.Context, items []rootCAItem, terminating map[string]bool, acc rootCAAccess, done func()) {
	sem := make(chan struct{}, rootCAWorkers)
	var wg sync.WaitGroup
	for _, it := range items {
		if terminating[it.namespace] {
			p.result(rootCAObject{Kind: it.kind, Namespace: it.namespace, Name: it.name, Found: "-",
				Result: rootCASkipped, Reason: "namespace is terminating"})
			done()
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func(it rootCAItem) {
			defer func() { <-sem; wg.Done() }()
			p.result(p.sync(ctx, acc, it))
			done()
		}(it)
	}
	wg.Wait()
}

// sync makes one object hold the target, re-reading and re-deciding on a
// conflict.
func (p *rootCAPass) sync(ctx context.Context, acc rootCAAccess, it rootCAItem) rootCAObject {
	obj := rootCAObject{Kind: it.kind, Namespace: it.namespace, Name: it.name}
	prev := it
	// A write that timed out may still have been applied; its retry then
	// conflicts, and the re-read shows our own value. Knowing that, we
	// still record the write for undo instead of calling it "already".
	mayHaveWritten := false
	for attempt := 1; ; attempt++ {
		d := checks.DecideRootCA(it.source(), it.value, it.present, p.Target)
		if attempt == 1 {
			obj.Found = d.Found
		}
		switch d.Action {
		case checks.RootCAInPlace:
			if mayHaveWritten {
				return p.recorded(obj, prev, it.rv, rootCAUpdated)
			}
			obj.Result = rootCAAlready
			return obj
		case checks.RootCAPrivateKey:
			obj.Result, obj.Reason = rootCASkipped, d.Reason
			return obj
		case checks.RootCAOther:
			if !p.ReplaceOther {
				obj.Result, obj.Reason, obj.outside = rootCASkipped, d.Reason+" (--replace-other replaces it)", true
				return obj
			}
		}
		obj.Reason = d.Reason
		if !p.DryRun.Writes() {
			obj.Result = rootCAUpdated
			return obj
		}
		if err := ctx.Err(); err != nil {
			obj.Result, obj.Reason = rootCAFailed, "not attempted: "+p.stopReason(err)
			return obj
		}
		if err := p.openUndo(); err != nil {
			obj.Result, obj.Reason = rootCAFailed, "not attempted: "+err.Error()
			return obj
		}
		var rv string
		err := WithRetry(ctx, func() (err error) {
			rv, err = acc.patch(ctx, it, p.TargetPEM, p.DryRun)
			if IsTransient(err) {
				mayHaveWritten = true
			}
			return err
		})
		switch {
		case err == nil:
			return p.recorded(obj, prev, rv, rootCAUpdated)
		case apierrors.IsNotFound(err):
			obj.Result, obj.Reason = rootCASkipped, "deleted while this command ran"
			return obj
		case apierrors.IsConflict(err) && attempt < rootCAConflictAttempts:
			err = WithRetry(ctx, func() (err error) {
				it, err = acc.get(ctx, it.namespace, it.name)
				return err
			})
			if apierrors.IsNotFound(err) {
				obj.Result, obj.Reason = rootCASkipped, "deleted while this command ran"
				return obj
			}
			if err != nil {
				obj.Result, obj.Reason = rootCAFailed, "re-reading after a conflict: "+err.Error()
				return obj
			}
			if !mayHaveWritten {
				prev = it
			}
		default:
			obj.Result, obj.Reason = rootCAFailed, err.Error()
			return obj
		}
	}
}

// recorded notes a successful write in the undo file (real writes only).
// The undo file gets the value we replaced, never anything else of the
// object: for Secrets that keeps token data out of it.
func (p *rootCAPass) recorded(obj rootCAObject, prev rootCAItem, rv, result string) rootCAObject {
	obj.Result = result
	if p.DryRun != DryRunNone {
		return obj
	}
	obj.ResourceVersion = rv
	change := UndoChange{Kind: prev.kind, Namespace: prev.namespace, Name: prev.name, Key: rootCAKey,
		Previous: string(prev.value), Absent: !prev.present, Created: result == rootCACreated, ResourceVersion: rv}
	if result == rootCACreated {
		change.Previous, change.Absent = "", false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.written[rootCAObjectKey(obj.Kind, obj.Namespace, obj.Name)] = rv
	if p.fatal != nil {
		obj.Reason = appendReason(obj.Reason, "not recorded in an undo file: "+p.fatal.Error())
		return obj
	}
	if err := p.openUndoLocked(); err != nil {
		obj.Reason = appendReason(obj.Reason, "not recorded in an undo file")
		return obj
	}
	if err := p.undo.Record(change); err != nil {
		p.fatal = fmt.Errorf("cannot record a change in the undo file %s, stopped: %w", p.undo.Path, err)
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

func (p *rootCAPass) fatalErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fatal
}

func (p *rootCAPass) stopReason(err error) string {
	if f := p.fatalErr(); f != nil {
		return f.Error()
	}
	return err.Error()
}

// openUndo creates the undo file before the pass's first write, so that no
// write happens without a place to record what it replaces. Once it has
// failed, every later call fails too and the pass stops.
func (p *rootCAPass) openUndo() error {
	if p.DryRun != DryRunNone {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.openUndoLocked()
}

func (p *rootCAPass) openUndoLocked() error {
	if p.fatal != nil {
		return p.fatal
	}
	if p.undo != nil {
		return nil
	}
	w, err := CreateUndoFile(p.UndoDir, UndoHeader{Command: p.Command, Server: p.Server, CreatedAt: p.Now()})
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
func (p *rootCAPass) closeUndo() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.undo != nil {
		_ = p.undo.Close()
	}
}

func (p *rootCAPass) result(o rootCAObject) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.results[rootCAObjectKey(o.Kind, o.Namespace, o.Name)] = &o
}

// missing handles namespaces without kube-root-ca.crt: reported, or
// created for with --create-missing.
func (p *rootCAPass) missing(ctx context.Context, namespaces []string, terminating map[string]bool, done func()) {
	for _, ns := range namespaces {
		obj := rootCAObject{Kind: "ConfigMap", Namespace: ns, Name: rootCAConfigMap, Found: "no ConfigMap"}
		switch {
		case terminating[ns]:
			obj.Result, obj.Reason = rootCASkipped, "namespace is terminating"
		case !p.CreateMissing:
			obj.Result, obj.Reason = rootCASkipped, "no kube-root-ca.crt in this namespace (--create-missing creates it)"
		default:
			obj = p.create(ctx, obj)
		}
		p.result(obj)
		done()
	}
}

func (p *rootCAPass) create(ctx context.Context, obj rootCAObject) rootCAObject {
	obj.Reason = "created with --create-missing"
	if !p.DryRun.Writes() {
		obj.Result = rootCACreated
		return obj
	}
	if err := ctx.Err(); err != nil {
		obj.Result, obj.Reason = rootCAFailed, "not attempted: "+p.stopReason(err)
		return obj
	}
	if err := p.openUndo(); err != nil {
		obj.Result, obj.Reason = rootCAFailed, "not attempted: "+err.Error()
		return obj
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: rootCAConfigMap, Namespace: obj.Namespace},
		Data:       map[string]string{rootCAKey: string(p.TargetPEM)},
	}
	var out *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		out, err = p.Client.CoreV1().ConfigMaps(obj.Namespace).Create(ctx, cm,
			metav1.CreateOptions{FieldManager: fieldManager, DryRun: p.DryRun.Options()})
		return err
	})
	switch {
	case err == nil:
		return p.recorded(obj, rootCAItem{kind: obj.Kind, namespace: obj.Namespace, name: obj.Name}, out.ResourceVersion, rootCACreated)
	case apierrors.IsAlreadyExists(err):
		// The root CA publisher (or a retry of ours) got there first.
		acc := configMapAccess{p.Client}
		var it rootCAItem
		err = WithRetry(ctx, func() (err error) { it, err = acc.get(ctx, obj.Namespace, obj.Name); return err })
		if err != nil {
			obj.Result, obj.Reason = rootCAFailed, err.Error()
			return obj
		}
		return p.sync(ctx, acc, it)
	case apierrors.IsNotFound(err) || apierrors.IsForbidden(err) && strings.Contains(err.Error(), "being terminated"):
		obj.Result, obj.Reason = rootCASkipped, "namespace is terminating or gone"
		return obj
	default:
		obj.Result, obj.Reason = rootCAFailed, err.Error()
		return obj
	}
}

// settle watches the objects we wrote for p.Settle and marks those that
// someone put other content back into: the controller-manager reverts
// kube-root-ca.crt and token Secrets to its --root-ca-file within moments.
func (p *rootCAPass) settle(ctx context.Context) error {
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
	s := &rootCASettle{pass: p, cancel: cancel, pending: len(p.written)}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	if cms > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[0] = rootCAWatch(ctx, metav1.ListOptions{FieldSelector: rootCAConfigMapSelector},
				p.Client.CoreV1().ConfigMaps(p.Namespace).List, p.Client.CoreV1().ConfigMaps(p.Namespace).Watch,
				func(l *corev1.ConfigMapList) {
					for i := range l.Items {
						s.observe(configMapItem(&l.Items[i]), l.Items[i].ManagedFields)
					}
				},
				func(o any) {
					if cm, ok := o.(*corev1.ConfigMap); ok {
						s.observe(configMapItem(cm), cm.ManagedFields)
					}
				})
		}()
	}
	if secrets > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[1] = rootCAWatch(ctx, metav1.ListOptions{FieldSelector: rootCASecretSelector},
				p.Client.CoreV1().Secrets(p.Namespace).List, p.Client.CoreV1().Secrets(p.Namespace).Watch,
				func(l *corev1.SecretList) {
					for i := range l.Items {
						s.observe(secretItem(&l.Items[i]), l.Items[i].ManagedFields)
					}
				},
				func(o any) {
					if sec, ok := o.(*corev1.Secret); ok {
						s.observe(secretItem(sec), sec.ManagedFields)
					}
				})
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

type rootCASettle struct {
	pass    *rootCAPass
	cancel  func()
	mu      sync.Mutex
	pending int
}

func (s *rootCASettle) observe(it rootCAItem, mf []metav1.ManagedFieldsEntry) {
	p := s.pass
	key := rootCAObjectKey(it.kind, it.namespace, it.name)
	p.mu.Lock()
	defer p.mu.Unlock()
	ours, ok := p.written[key]
	obj := p.results[key]
	if !ok || obj == nil || it.rv == ours || obj.Result == rootCAReverted {
		return
	}
	d := checks.DecideRootCA(it.source(), it.value, it.present, p.Target)
	if d.Action == checks.RootCAInPlace {
		return
	}
	who := rootCAOwner(mf, rootCAKey)
	if who == "" {
		who = "someone"
	}
	obj.Result = rootCAReverted
	obj.Reason = fmt.Sprintf("%s put back %s", who, d.Found)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending--
	if s.pending == 0 {
		// Every write was undone: waiting longer cannot change the verdict.
		s.cancel()
	}
}

// rootCAWatch lists, then watches from the list's resourceVersion, until ctx
// ends; a closed or failed watch is re-listed. The list catches changes
// made between our writes and the start of the watch.
func rootCAWatch[L rootCAListPage](ctx context.Context, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error),
	watchFn func(context.Context, metav1.ListOptions) (watch.Interface, error),
	onPage func(L), onEvent func(any)) error {
	for ctx.Err() == nil {
		rv, err := rootCAEachPage(ctx, opts, list, func(l L) error { onPage(l); return nil })
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
		err = WithRetry(ctx, func() (err error) { w, err = watchFn(ctx, wopts); return err })
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
						onEvent(ev.Object)
					}
				}
			}
		}()
	}
	return nil
}

// rootCAOwner is the field manager that owns data[key] of an object, i.e.
// who last changed it; "" when managedFields do not say.
func rootCAOwner(mf []metav1.ManagedFieldsEntry, key string) string {
	for i := len(mf) - 1; i >= 0; i-- {
		if mf[i].FieldsV1 == nil {
			continue
		}
		var set map[string]json.RawMessage
		if json.Unmarshal(mf[i].FieldsV1.Raw, &set) != nil {
			continue
		}
		var data map[string]json.RawMessage
		if json.Unmarshal(set["f:data"], &data) != nil {
			continue
		}
		if _, ok := data["f:"+key]; ok {
			return mf[i].Manager
		}
	}
	return ""
}

type rootCAListPage interface {
	GetContinue() string
	GetResourceVersion() string
}

// rootCAEachPage lists in pages of rootCAPageSize, so memory stays bounded
// on big clusters, and returns the resourceVersion the list was served at.
// An expired continue token restarts the list: each must tolerate seeing
// an object twice.
func rootCAEachPage[L rootCAListPage](ctx context.Context, opts metav1.ListOptions,
	list func(context.Context, metav1.ListOptions) (L, error), each func(L) error) (string, error) {
	opts.Limit = rootCAPageSize
	opts.Continue = ""
	rv := ""
	for restarts := 0; ; {
		var page L
		err := WithRetry(ctx, func() (err error) { page, err = list(ctx, opts); return err })
		if apierrors.IsResourceExpired(err) && opts.Continue != "" && restarts < 3 {
			restarts++
			opts.Continue = ""
			continue
		}
		if err != nil {
			return "", err
		}
		if opts.Continue == "" {
			rv = page.GetResourceVersion()
		}
		if err := each(page); err != nil {
			return "", err
		}
		if page.GetContinue() == "" {
			return rv, nil
		}
		opts.Continue = page.GetContinue()
	}
}

// report builds the summary from the results so far, sorted by kind,
// namespace and name.
func (p *rootCAPass) report() *rootCAReport {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := &rootCAReport{Command: p.Command, DryRun: p.DryRun, Objects: []rootCAObject{}}
	if p.undo != nil {
		r.UndoFile = p.undo.Path
	}
	for _, c := range rootCAUniq(p.Target.Want) {
		r.Target = append(r.Target, rootCACert{Label: p.Target.Labels[checks.Fingerprint(c)], Subject: c.Subject.String(),
			Fingerprint: checks.Fingerprint(c), NotAfter: c.NotAfter.UTC()})
	}
	for _, o := range p.results {
		r.Objects = append(r.Objects, *o)
		counts := &r.Namespaces
		if o.Kind == "Secret" {
			counts = &r.Secrets
		}
		counts.Total++
		switch o.Result {
		case rootCAAlready:
			counts.Already++
		case rootCAUpdated:
			counts.Updated++
		case rootCACreated:
			counts.Created++
		case rootCAReverted:
			counts.Reverted++
		case rootCASkipped:
			counts.Skipped++
		case rootCAFailed:
			counts.Failed++
		}
	}
	sort.Slice(r.Objects, func(i, j int) bool {
		a, b := r.Objects[i], r.Objects[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind // ConfigMaps first
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return r
}

// outcome is what the report means for the exit code: nil when the pass
// did its job. instruction is printed when the controller-manager reverted
// our writes.
func (r *rootCAReport) outcome(instruction string) (string, error) {
	var failed, reverted, outside int
	var revertedBy []string
	seenBy := map[string]bool{}
	for _, o := range r.Objects {
		switch {
		case o.Result == rootCAFailed:
			failed++
		case o.Result == rootCAReverted:
			reverted++
			who, _, _ := strings.Cut(o.Reason, " put back")
			if !seenBy[who] {
				seenBy[who] = true
				revertedBy = append(revertedBy, who)
			}
		case o.outside:
			outside++
		}
	}
	var msgs []string
	hint := ""
	if reverted > 0 {
		written := r.Namespaces.Updated + r.Namespaces.Created + r.Namespaces.Reverted + r.Secrets.Updated + r.Secrets.Reverted
		msgs = append(msgs, fmt.Sprintf("%d of %d objects written were changed back within %s by %s", reverted, written, r.Settle, strings.Join(revertedBy, ", ")))
		hint = instruction
	}
	if failed > 0 {
		msgs = append(msgs, fmt.Sprintf("%d objects failed (see the RESULT column)", failed))
	}
	if outside > 0 {
		msgs = append(msgs, fmt.Sprintf("%d objects hold certificates outside this rotation and were left alone (see the REASON column; --replace-other replaces them)", outside))
	}
	if len(msgs) == 0 {
		return "", nil
	}
	return hint, errors.New(strings.Join(msgs, "; "))
}

// printRootCAReport writes the per-object table and the summary table, or
// the report as JSON/YAML.
func printRootCAReport(w io.Writer, format string, r *rootCAReport) error {
	if format == outputJSON || format == outputYAML {
		return printStructured(w, format, r)
	}
	suffix := r.DryRun.Suffix()
	rows := make([][]string, 0, len(r.Objects))
	for _, o := range r.Objects {
		res := o.Result
		if res == rootCAUpdated || res == rootCACreated {
			res += suffix
		}
		rows = append(rows, []string{o.Kind, o.Namespace, o.Name, o.Found, res, o.Reason})
	}
	if len(rows) > 0 {
		if err := writeTable(w, []string{"kind", "namespace", "name", "found", "result", "reason"}, rows); err != nil {
			return err
		}
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	already := "already bundled"
	if r.Command != "bundle" {
		already = "already " + r.Command + "d"
	}
	count := func(name string, c rootCACounts) []string {
		return []string{name, fmt.Sprint(c.Total), fmt.Sprint(c.Already), fmt.Sprint(c.Updated), fmt.Sprint(c.Created),
			fmt.Sprint(c.Reverted), fmt.Sprint(c.Skipped), fmt.Sprint(c.Failed)}
	}
	// The dry-run suffix stays out of the header: the table writer's
	// header formatting would mangle the parentheses, and every updated
	// row above already carries it.
	return writeTable(w, []string{"objects", "total", already, "updated", "created", "reverted", "skipped", "failed"}, [][]string{
		count("namespaces (kube-root-ca.crt)", r.Namespaces),
		count("legacy token Secrets (ca.crt)", r.Secrets),
	})
}

// rootCAProgress prints "N/M namespaces done" to stderr at most every few
// seconds, and once at the end.
type rootCAProgress struct {
	w     io.Writer
	what  string
	total int // -1 when unknown
	now   func() time.Time
	mu    sync.Mutex
	done  int
	last  time.Time
}

func (p *rootCAProgress) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if p.last.IsZero() {
		p.last = p.now()
		return
	}
	if now := p.now(); now.Sub(p.last) >= rootCAProgressEvery {
		p.last = now
		p.print()
	}
}

func (p *rootCAProgress) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.print()
}

func (p *rootCAProgress) print() {
	if p.total >= 0 {
		fmt.Fprintf(p.w, "%s: %d/%d done\n", p.what, p.done, p.total)
	} else {
		fmt.Fprintf(p.w, "%s: %d done\n", p.what, p.done)
	}
}

// rootCAScope is a pass's scope for the rotation's log: "" for every
// namespace; a pass over one namespace does not complete its step.
func rootCAScope(namespace string) string {
	if namespace == "" {
		return ""
	}
	return "namespace " + namespace
}
