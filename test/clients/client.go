package clients

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// client is the in-cluster client of one pod.
type client struct {
	s              *Simulator
	namespace      string
	name           string
	uid            types.UID
	serviceAccount string
	source         caSource
	cancel         context.CancelFunc
	linger         *time.Timer

	// Guarded by s.mu.
	ca               []byte // the ca.crt the client loaded when it started
	volume           []byte // the ca.crt its volume holds now
	pending          []byte // the ca.crt the kubelet writes next, at pendingAt
	pendingAt        time.Time
	started, stopped time.Time
	stopping         bool
	err              string
	ended            string // why the client stopped before its pod's watch said so
	rec              record
}

// project is the kubelet noticing that the volume's source changed: it
// rewrites ca.crt at its next sync of the pod, VolumeDelay later, with what
// the source holds then. s.mu is held.
func (c *client) project(data []byte) {
	if c.pending == nil && bytes.Equal(data, c.volume) {
		return
	}
	if c.pending == nil {
		c.pendingAt = time.Now().Add(c.s.cfg.VolumeDelay)
	}
	c.pending = data
}

func (c *client) run(ctx context.Context) {
	defer c.s.wg.Done()
	defer c.finish()
	dir := filepath.Join(c.s.dir, string(c.uid))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		c.setErr(err)
		return
	}
	ca, ok := c.waitCA(ctx)
	if !ok {
		return
	}
	token, refreshAt, ok := c.firstToken(ctx)
	if !ok {
		return
	}
	for name, data := range map[string][]byte{"ca.crt": ca, "token": []byte(token)} {
		if err := writeAtomic(dir, name, data); err != nil {
			c.setErr(err)
			return
		}
	}
	rc, err := c.restClient(dir, ca, token)
	if err != nil {
		c.setErr(err)
		return
	}
	// Each client has its own transport: close its idle connections, or
	// their read loops outlive the client.
	defer utilnet.CloseIdleConnectionsFor(rc.Client.Transport)
	c.s.mu.Lock()
	c.started, c.err = time.Now(), ""
	c.s.mu.Unlock()
	c.s.logf("%s/%s started (CA from %s: %v)", c.namespace, c.name, c.source, subjects(ca))

	tick := time.NewTicker(c.s.cfg.Interval)
	defer tick.Stop()
	for {
		refreshAt = c.kubelet(ctx, dir, refreshAt)
		step := c.s.Step()
		start := time.Now()
		// GET /api needs an authenticated user (system:discovery is bound
		// to system:authenticated only) and client-go retries a GET after
		// a connection reset, as it would not a POST.
		err := rc.Get().AbsPath("/api").Do(ctx).Error()
		if ctx.Err() != nil {
			return // stopped mid-request: not a failure of the API server
		}
		if Classify(err) == Unauthorized && c.s.cfg.Linger == 0 && c.podGone(ctx) {
			// The watch has not reported the deletion yet (it lags under
			// load), but the API server no longer knows the pod its token
			// is bound to. The kubelet stops a pod's containers before the
			// pod object goes: a running container never sees this 401.
			c.s.mu.Lock()
			c.ended = "stopped at a 401 that came after its pod was deleted (the pod watch had not reported it yet); not counted"
			c.s.mu.Unlock()
			return
		}
		c.s.observe(c, step, start, time.Now(), err)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (c *client) restClient(dir string, ca []byte, token string) (*rest.RESTClient, error) {
	cfg := &rest.Config{
		Host:            c.s.cfg.Host,
		TLSClientConfig: rest.TLSClientConfig{ServerName: c.s.cfg.ServerName},
		// As rest.InClusterConfig: the token file, which client-go re-reads
		// every minute, so the kubelet's refreshes reach it.
		BearerToken:     token,
		BearerTokenFile: filepath.Join(dir, "token"),
		Timeout:         c.s.cfg.Timeout,
		UserAgent:       fmt.Sprintf("carotate-clients %s/%s", c.namespace, c.name),
		// A proxy function makes client-go build a transport for this
		// client alone instead of sharing one with every client of the same
		// CA: each pod is a process with its own connections.
		Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
	}
	// The simulator sets the pace; client-go's rate limiter must not.
	cfg.QPS = max(5, float32(2*time.Second)/float32(c.s.cfg.Interval))
	cfg.Burst = int(2 * cfg.QPS)
	if c.s.cfg.ReloadCA {
		cfg.CAFile = filepath.Join(dir, "ca.crt")
	} else {
		cfg.CAData = ca
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	rc, ok := dc.RESTClient().(*rest.RESTClient)
	if !ok {
		return nil, fmt.Errorf("clients: unexpected REST client %T", dc.RESTClient())
	}
	return rc, nil
}

// waitCA returns the ca.crt the pod started with. When its ConfigMap or
// bundle did not exist yet, the kubelet would hold the pod until it does.
func (c *client) waitCA(ctx context.Context) ([]byte, bool) {
	for {
		c.s.mu.Lock()
		if c.ca == nil {
			if ca := c.s.caFor(c.source, c.namespace); len(ca) > 0 {
				c.ca, c.volume = ca, ca
			}
		}
		ca := c.ca
		if ca == nil {
			c.err = "waiting for its ca.crt from " + c.source.String()
		}
		c.s.mu.Unlock()
		if ca != nil {
			return ca, true
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// firstToken requests the pod's token until it gets one, as the kubelet
// does before it starts the pod's containers.
func (c *client) firstToken(ctx context.Context) (string, time.Time, bool) {
	for {
		rctx, cancel := context.WithTimeout(ctx, c.s.cfg.Timeout)
		token, refreshAt, err := c.requestToken(rctx)
		cancel()
		if err == nil {
			return token, refreshAt, true
		}
		if ctx.Err() != nil {
			// The pod went (or the simulator stopped) before its token came:
			// the kubelet would not start its container either.
			return "", time.Time{}, false
		}
		c.setErr(fmt.Errorf("token request: %w", err))
		select {
		case <-ctx.Done():
			return "", time.Time{}, false
		case <-time.After(time.Second):
		}
	}
}

// requestToken is the kubelet's TokenRequest for the kube-api-access
// volume: bound to the pod, so it stops authenticating when the pod is gone.
func (c *client) requestToken(ctx context.Context) (string, time.Time, error) {
	secs := int64(c.s.cfg.TokenExpiration / time.Second)
	tr, err := c.s.admin.CoreV1().ServiceAccounts(c.namespace).CreateToken(ctx, c.serviceAccount, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			ExpirationSeconds: &secs,
			BoundObjectRef:    &authenticationv1.BoundObjectReference{APIVersion: "v1", Kind: "Pod", Name: c.name, UID: c.uid},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", time.Time{}, err
	}
	return tr.Status.Token, refreshAt(time.Now(), tr.Status.ExpirationTimestamp.Time, time.Duration(secs)*time.Second), nil
}

// refreshAt is when the kubelet's token manager asks for a new token: with
// 20% of the requested lifetime left, or 24 hours after issue, whichever
// comes first (it adds up to 10s of jitter, left out here).
func refreshAt(issued, expires time.Time, ttl time.Duration) time.Time {
	at := expires.Add(-ttl / 5)
	if limit := issued.Add(24 * time.Hour); limit.Before(at) {
		at = limit
	}
	return at
}

// kubelet does what the kubelet would have done for the pod by now: write
// the ca.crt whose delay has passed, and refresh the token when due (not
// for a deleted pod). It returns the next token refresh time.
func (c *client) kubelet(ctx context.Context, dir string, next time.Time) time.Time {
	now := time.Now()
	c.s.mu.Lock()
	gone := c.stopping
	var ca []byte
	if c.pending != nil && !now.Before(c.pendingAt) {
		ca, c.volume, c.pending = c.pending, c.pending, nil
	}
	c.s.mu.Unlock()
	if ca != nil {
		if err := writeAtomic(dir, "ca.crt", ca); err != nil {
			c.setErr(err)
		}
	}
	if gone || now.Before(next) {
		return next
	}
	rctx, cancel := context.WithTimeout(ctx, c.s.cfg.Timeout)
	defer cancel()
	token, at, err := c.requestToken(rctx)
	if err != nil {
		return now.Add(10 * time.Second) // the kubelet tries again
	}
	if err := writeAtomic(dir, "token", []byte(token)); err != nil {
		c.setErr(err)
	}
	return at
}

// podGone is true when the API server says the client's pod is deleted,
// terminating, or replaced by another of the same name.
func (c *client) podGone(ctx context.Context) bool {
	rctx, cancel := context.WithTimeout(ctx, c.s.cfg.Timeout)
	defer cancel()
	pod, err := c.s.admin.CoreV1().Pods(c.namespace).Get(rctx, c.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return true
	}
	return err == nil && (pod.UID != c.uid || pod.DeletionTimestamp != nil)
}

func (c *client) setErr(err error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.err = err.Error()
}

func (c *client) finish() {
	c.s.mu.Lock()
	c.stopped = time.Now()
	var total Counts
	for _, n := range c.rec.steps {
		total.add(*n)
	}
	c.s.mu.Unlock()
	c.s.logf("%s/%s stopped after %d requests (%d ok, %d TLS failures, %d 401s, %d unreachable, %d other)",
		c.namespace, c.name, total.Requests, total.OK, total.TLSFailures, total.Unauthorized, total.Unreachable, total.OtherErrors)
}

// writeAtomic replaces dir/name in one rename, as the kubelet's atomic
// writer swaps a projected volume's files: a reader sees the old file or
// the new one, never half of one.
func writeAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+"-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), filepath.Join(dir, name))
}
