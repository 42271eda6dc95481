// Package clients simulates what client-go's in-cluster config does inside
// the pods of chosen workloads, so that a test can measure what a CA
// rotation does to the cluster's own clients: TLS verification failures,
// 401s, and the seconds the API server could not be reached.
//
// A pod watch starts one client per Running pod and stops it when the pod
// goes. Each client is client-go itself (a rest.Config like
// rest.InClusterConfig builds) with the CA and the token the pod's projected
// volumes hold: the CA its namespace's kube-root-ca.crt held when the pod
// started (or its ClusterTrustBundle projection), and a TokenRequest bound
// to the pod, refreshed as the kubelet refreshes it. No container runs; see
// docs/clients.md for what is and is not modelled.
package clients

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	clientgofeatures "k8s.io/client-go/features"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	certlisters "k8s.io/client-go/listers/certificates/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Variants of the client.
const (
	// VariantStaticCA loads ca.crt once, when the client starts: client-go
	// before 0.36, client-go with the ClientsAllowCARotation gate off, and
	// any client that copies the CA data (most non-Go clients).
	VariantStaticCA = "static-ca"
	// VariantReloadCA points client-go at the ca.crt file (rest.Config
	// CAFile, as rest.InClusterConfig does) with ClientsAllowCARotation on,
	// client-go's default since 0.36: it re-reads the file when a request
	// comes 5 minutes or more after its last check.
	VariantReloadCA = "reload-ca-file"
)

// Config says which pods get a client and how the clients behave.
type Config struct {
	// Admin watches pods, ConfigMaps and ClusterTrustBundles and requests
	// the pods' tokens, as the kubelet does. It must trust every CA the API
	// server serves from and keep authenticating for the whole simulation.
	Admin *rest.Config
	// Host is the address the clients call, https://host:port: the API
	// server the harness gives, or a load balancer in front of several
	// (KUBERNETES_SERVICE_HOST and _PORT in a pod). Default: Admin.Host.
	Host string
	// ServerName, when set, is the name the clients verify the serving
	// certificate against instead of Host's.
	ServerName string
	// Namespaces to watch; none means all.
	Namespaces []string
	// Selector is a label selector of the pods that get a client; empty
	// means every pod in Namespaces.
	Selector string
	// Interval between one client's requests; default 250ms (four a
	// second).
	Interval time.Duration
	// Timeout of one request, client-go's retries included (rest.Config
	// Timeout); default 5s. Without one a client waits forever for a
	// stalled API server and counts nothing.
	Timeout time.Duration
	// ReloadCA selects VariantReloadCA; the default is VariantStaticCA.
	ReloadCA bool
	// VolumeDelay is how long after a change of kube-root-ca.crt (or of a
	// projected ClusterTrustBundle) the kubelet rewrites the pod's ca.crt
	// file; default 60s, the kubelet's --sync-frequency, the usual upper
	// bound.
	VolumeDelay time.Duration
	// TokenExpiration is the TokenRequest's expirationSeconds; default
	// 3607s, the kubelet's for the kube-api-access volume (the API server
	// requires 10 minutes or more).
	TokenExpiration time.Duration
	// Linger keeps a client running for this long after its pod is
	// deleted, as a container that outlives a force-deleted pod
	// (--grace-period=0) does; its bound token stops authenticating when
	// the pod object is gone. Default 0: the client stops with the pod.
	Linger time.Duration
	// Step is the first step label; default "start". SetStep changes it.
	Step string
	// Name starts the summary line; default "in-cluster clients" (with
	// " (CA file reload)" for VariantReloadCA).
	Name string
	// Logf narrates clients starting and stopping; nil is quiet.
	Logf func(format string, args ...any)
}

// Simulator runs the clients of the selected pods.
type Simulator struct {
	cfg      Config
	variant  string
	admin    kubernetes.Interface
	selector string
	dir      string

	ctx       context.Context
	cancel    context.CancelFunc
	factories []informers.SharedInformerFactory
	rootCAs   []corelisters.ConfigMapLister
	bundles   certlisters.ClusterTrustBundleLister // nil when the API server does not serve them
	wg        sync.WaitGroup

	mu      sync.Mutex
	tl      timeline
	clients map[types.UID]*client
	order   []*client
	skipped []SkippedPod
	skip    map[types.UID]bool
	started bool
	stopped time.Time
}

// New checks cfg and fills in defaults. Start starts the watch.
func New(cfg Config) (*Simulator, error) {
	if cfg.Admin == nil {
		return nil, errors.New("clients: Config.Admin is required")
	}
	if cfg.Host == "" {
		cfg.Host = cfg.Admin.Host
	}
	if _, err := labels.Parse(cfg.Selector); err != nil {
		return nil, fmt.Errorf("clients: selector %q: %w", cfg.Selector, err)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 250 * time.Millisecond
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.VolumeDelay < 0 {
		return nil, errors.New("clients: VolumeDelay must not be negative")
	}
	if cfg.VolumeDelay == 0 {
		cfg.VolumeDelay = time.Minute
	}
	if cfg.TokenExpiration == 0 {
		cfg.TokenExpiration = 3607 * time.Second
	}
	if cfg.TokenExpiration < 10*time.Minute {
		return nil, errors.New("clients: TokenExpiration must be 10 minutes or more (the API server's minimum)")
	}
	if cfg.Step == "" {
		cfg.Step = "start"
	}
	variant := VariantStaticCA
	if cfg.ReloadCA {
		variant = VariantReloadCA
		// The variant means nothing if client-go would not reload: say so
		// rather than report a static client as a reloading one.
		if !clientgofeatures.FeatureGates().Enabled(clientgofeatures.ClientsAllowCARotation) {
			return nil, errors.New("clients: client-go's ClientsAllowCARotation gate is off in this process (KUBE_FEATURE_ClientsAllowCARotation?): a CA file would not be reloaded")
		}
	}
	if cfg.Name == "" {
		cfg.Name = "in-cluster clients"
		if cfg.ReloadCA {
			cfg.Name += " (CA file reload)"
		}
	}
	admin, err := kubernetes.NewForConfig(cfg.Admin)
	if err != nil {
		return nil, err
	}
	s := &Simulator{cfg: cfg, variant: variant, admin: admin, selector: cfg.Selector,
		clients: map[types.UID]*client{}, skip: map[types.UID]bool{}}
	s.tl.set(cfg.Step, time.Now())
	return s, nil
}

// Start watches the selected pods and starts a client for each Running
// one, now and from now on, until Stop. It returns once the watches have
// synced; the clients start in the background. When it fails, it has
// stopped what it started.
func (s *Simulator) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("clients: Start called twice")
	}
	s.dir, err = os.MkdirTemp("", "carotate-clients-")
	if err != nil {
		s.mu.Unlock()
		return err
	}
	s.started = true
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.Unlock()
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	// Trust sources first, so a pod that is already running finds its
	// namespace's kube-root-ca.crt in the cache.
	scopes := s.cfg.Namespaces
	if len(scopes) == 0 {
		scopes = []string{metav1.NamespaceAll}
	}
	var sources, pods []cache.InformerSynced
	for _, ns := range scopes {
		f := informers.NewSharedInformerFactoryWithOptions(s.admin, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.FieldSelector = "metadata.name=" + RootCAConfigMap }))
		inf := f.Core().V1().ConfigMaps()
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.onRootCA(obj) },
			UpdateFunc: func(_, obj any) { s.onRootCA(obj) },
		}); err != nil {
			return err
		}
		s.rootCAs = append(s.rootCAs, inf.Lister())
		sources = append(sources, inf.Informer().HasSynced)
		s.factories = append(s.factories, f)
	}
	if served, err := s.servesTrustBundles(); err != nil {
		return err
	} else if served {
		f := informers.NewSharedInformerFactory(s.admin, 0)
		inf := f.Certificates().V1().ClusterTrustBundles()
		onBundle := func(any) { s.onBundle() }
		if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc: onBundle, UpdateFunc: func(_, obj any) { onBundle(obj) }, DeleteFunc: onBundle,
		}); err != nil {
			return err
		}
		s.bundles = inf.Lister()
		sources = append(sources, inf.Informer().HasSynced)
		s.factories = append(s.factories, f)
	}
	for _, f := range s.factories {
		f.Start(s.ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), sources...) {
		return errors.New("clients: kube-root-ca.crt and ClusterTrustBundle watches did not sync")
	}
	for _, ns := range scopes {
		f := informers.NewSharedInformerFactoryWithOptions(s.admin, 0, informers.WithNamespace(ns),
			informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = s.selector }))
		inf := f.Core().V1().Pods().Informer()
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { s.onPod(obj, false) },
			UpdateFunc: s.onPodUpdate,
			DeleteFunc: func(obj any) { s.onPod(obj, true) },
		}); err != nil {
			return err
		}
		pods = append(pods, inf.HasSynced)
		s.factories = append(s.factories, f)
		f.Start(s.ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), pods...) {
		return errors.New("clients: the pod watch did not sync")
	}
	return nil
}

func (s *Simulator) servesTrustBundles() (bool, error) {
	res, err := s.admin.Discovery().ServerResourcesForGroupVersion(certificatesv1.SchemeGroupVersion.String())
	if err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("clients: discovery of %s: %w", certificatesv1.SchemeGroupVersion, err)
	}
	for _, r := range res.APIResources {
		if r.Name == "clustertrustbundles" {
			return true, nil
		}
	}
	return false, nil
}

// SetStep labels the requests that start from now on (a step of the
// procedure: "4", "9.3"). A label set again later adds to its earlier
// figures.
func (s *Simulator) SetStep(step string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped.IsZero() {
		s.tl.set(step, time.Now())
	}
}

// Step is the current step label.
func (s *Simulator) Step() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tl.current()
}

// Stop stops the watch and every client, and waits for them all. The
// figures stay readable with Report. Stop may be called more than once.
func (s *Simulator) Stop() {
	s.mu.Lock()
	if !s.stopped.IsZero() {
		s.mu.Unlock()
		return
	}
	s.stopped = time.Now()
	for _, c := range s.order {
		if c.linger != nil {
			c.linger.Stop()
		}
	}
	started := s.started
	s.mu.Unlock()
	if !started {
		return
	}
	s.cancel()
	s.wg.Wait()
	for _, f := range s.factories {
		f.Shutdown()
	}
	_ = os.RemoveAll(s.dir)
}

// logf narrates, prefixed with the simulator's name (two simulators may
// watch the same pods).
func (s *Simulator) logf(format string, args ...any) {
	if s.cfg.Logf != nil {
		s.cfg.Logf("%s: %s", s.cfg.Name, fmt.Sprintf(format, args...))
	}
}

// onPodUpdate is an update of a pod. A watch that broke (an API server
// restart) lists again and reports a pod replaced under the same name (a
// StatefulSet's) as an update of the old one: that pod is gone.
func (s *Simulator) onPodUpdate(old, obj any) {
	if o, ok := old.(*corev1.Pod); ok {
		if n, ok := obj.(*corev1.Pod); ok && o.UID != n.UID {
			s.onPod(o, true)
		}
	}
	s.onPod(obj, false)
}

// onPod starts a client for a pod that runs and stops the client of a pod
// that goes (deleted, terminating, or finished).
func (s *Simulator) onPod(obj any, deleted bool) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		tomb, isTomb := obj.(cache.DeletedFinalStateUnknown)
		if !isTomb {
			return
		}
		if pod, ok = tomb.Obj.(*corev1.Pod); !ok {
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped.IsZero() {
		return
	}
	gone := deleted || pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
	if c := s.clients[pod.UID]; c != nil {
		if gone && !c.stopping {
			c.stopping = true
			if s.cfg.Linger > 0 {
				c.linger = time.AfterFunc(s.cfg.Linger, c.cancel)
			} else {
				c.cancel()
			}
		}
		return
	}
	if gone || pod.Status.Phase != corev1.PodRunning || s.skip[pod.UID] {
		return
	}
	src, why := sourceOf(pod)
	if why == "" && src.ctb != nil && s.bundles == nil {
		why = "it projects a ClusterTrustBundle, which the API server does not serve"
	}
	if why != "" {
		s.skip[pod.UID] = true
		s.skipped = append(s.skipped, SkippedPod{Namespace: pod.Namespace, Name: pod.Name, Reason: why})
		s.logf("no client for pod %s/%s: %s", pod.Namespace, pod.Name, why)
		return
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	c := &client{s: s, namespace: pod.Namespace, name: pod.Name, uid: pod.UID, serviceAccount: sa, source: src}
	// The pod's ca.crt is what its volume held when it started: read it now,
	// as the watch reports the pod running.
	if ca := s.caFor(src, pod.Namespace); len(ca) > 0 {
		c.ca, c.volume = ca, ca
	}
	ctx, cancel := context.WithCancel(s.ctx)
	c.cancel = cancel
	s.clients[pod.UID] = c
	s.order = append(s.order, c)
	s.wg.Add(1)
	go c.run(ctx)
}

// caFor is what a ca.crt from src holds now in namespace ns (nil when the
// ConfigMap or bundle does not exist yet).
func (s *Simulator) caFor(src caSource, ns string) []byte {
	if src.ctb == nil {
		for _, l := range s.rootCAs {
			if cm, err := l.ConfigMaps(ns).Get(RootCAConfigMap); err == nil {
				return []byte(cm.Data["ca.crt"])
			}
		}
		return nil
	}
	if s.bundles == nil {
		return nil
	}
	all, err := s.bundles.List(labels.Everything())
	if err != nil {
		return nil
	}
	data, err := bundleContent(src.ctb, all)
	if err != nil {
		return nil
	}
	return data
}

// onRootCA schedules the ca.crt file rewrite of every running pod in the
// ConfigMap's namespace, after the kubelet's delay.
func (s *Simulator) onRootCA(obj any) {
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.order {
		if c.namespace == cm.Namespace && c.source.ctb == nil && c.ca != nil {
			c.project([]byte(cm.Data["ca.crt"]))
		}
	}
}

// onBundle does the same for pods that project ClusterTrustBundles.
func (s *Simulator) onBundle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.order {
		if c.source.ctb != nil && c.ca != nil {
			c.project(s.caFor(c.source, c.namespace))
		}
	}
}

// observe counts one request of c.
func (s *Simulator) observe(c *client, step string, start, end time.Time, err error) {
	o := Classify(err)
	s.mu.Lock()
	defer s.mu.Unlock()
	c.rec.observe(step, start, end, o, err)
}
