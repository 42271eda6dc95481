package rootca

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// item is what the pass needs of one object.
type item struct {
	kind, namespace, name, rv string
	value                     []byte
	present                   bool
	// key is where value is ("" for ca.crt of a root CA object).
	key string
}

// undoKey is the key the undo file records the value under.
func (it item) undoKey() string {
	if it.key == "" {
		return cluster.RootCAKey
	}
	return it.key
}

func configMapItem(cm *corev1.ConfigMap) item {
	v, ok := cm.Data[cluster.RootCAKey]
	return item{kind: "ConfigMap", namespace: cm.Namespace, name: cm.Name, rv: cm.ResourceVersion, value: []byte(v), present: ok}
}

func secretItem(s *corev1.Secret) item {
	v, ok := s.Data[cluster.RootCAKey]
	return item{kind: "Secret", namespace: s.Namespace, name: s.Name, rv: s.ResourceVersion, value: v, present: ok}
}

// source names the value in messages: configmap/NS/NAME[ca.crt].
func source(kind, ns, name string) string {
	return fmt.Sprintf("%s/%s/%s[%s]", strings.ToLower(kind), ns, name, cluster.RootCAKey)
}

func (it item) source() string { return source(it.kind, it.namespace, it.name) }

// access re-reads, decides and writes one kind of object.
type access interface {
	// decide is what the pass does with an object, and the value it
	// writes (for RootCAOther: what --replace-other writes).
	decide(p *pass, it item) (checks.RootCADecision, []byte)
	// get re-reads an object after a conflict, to decide the write again.
	get(ctx context.Context, ns, name string) (item, error)
	// patch sets ca.crt only, with the read resourceVersion as a
	// precondition (a merge patch carrying metadata.resourceVersion fails
	// with a conflict if the object changed), and returns the new version.
	patch(ctx context.Context, it item, value []byte, dry cmdutil.DryRun) (string, error)
}

// rootCADecision is how the pass decides a root CA object: its ca.crt
// must be exactly the target.
func rootCADecision(p *pass, it item) (checks.RootCADecision, []byte) {
	return p.decisions.decide(it, p.Target), p.TargetPEM
}

// decisionCache remembers the decisions for the few ca.crt values a
// cluster holds (in a pass over 10,000 namespaces, the same one or two
// bundles), so each is parsed once, not once per object: a tenth of the
// pass's CPU, which on a small control plane is the API server's.
type decisionCache struct {
	mu   sync.Mutex
	seen map[string]checks.RootCADecision
}

// decisionCacheSize bounds the cache: a cluster where every object holds
// its own value is decided without it.
const decisionCacheSize = 16

func (c *decisionCache) decide(it item, t checks.RootCATarget) checks.RootCADecision {
	if !it.present {
		return checks.DecideRootCA(it.source(), it.value, it.present, t)
	}
	c.mu.Lock()
	d, ok := c.seen[string(it.value)]
	c.mu.Unlock()
	if ok {
		return d
	}
	d = checks.DecideRootCA(it.source(), it.value, it.present, t)
	if d.Found == checks.CAUnparsable {
		return d // its reason names the object
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]checks.RootCADecision{}
	}
	if len(c.seen) < decisionCacheSize {
		c.seen[string(it.value)] = d
	}
	return d
}

type configMapAccess struct{ client kubernetes.Interface }

func (configMapAccess) decide(p *pass, it item) (checks.RootCADecision, []byte) {
	return rootCADecision(p, it)
}

func (a configMapAccess) get(ctx context.Context, ns, name string) (item, error) {
	cm, err := a.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return item{}, err
	}
	return configMapItem(cm), nil
}

func (a configMapAccess) patch(ctx context.Context, it item, value []byte, dry cmdutil.DryRun) (string, error) {
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": it.rv},
		"data":     map[string]string{cluster.RootCAKey: string(value)},
	})
	if err != nil {
		return "", err
	}
	cm, err := a.client.CoreV1().ConfigMaps(it.namespace).Patch(ctx, it.name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: cmdutil.FieldManager, DryRun: dry.Options()})
	if err != nil {
		return "", err
	}
	return cm.ResourceVersion, nil
}

type secretAccess struct{ client kubernetes.Interface }

func (secretAccess) decide(p *pass, it item) (checks.RootCADecision, []byte) {
	return rootCADecision(p, it)
}

func (a secretAccess) get(ctx context.Context, ns, name string) (item, error) {
	s, err := a.client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return item{}, err
	}
	return secretItem(s), nil
}

func (a secretAccess) patch(ctx context.Context, it item, value []byte, dry cmdutil.DryRun) (string, error) {
	// Only ca.crt is sent: the token and namespace keys never leave the
	// server, and a concurrent token refresh is caught by the precondition.
	body, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"resourceVersion": it.rv},
		"data":     map[string][]byte{cluster.RootCAKey: value},
	})
	if err != nil {
		return "", err
	}
	s, err := a.client.CoreV1().Secrets(it.namespace).Patch(ctx, it.name, types.MergePatchType, body,
		metav1.PatchOptions{FieldManager: cmdutil.FieldManager, DryRun: dry.Options()})
	if err != nil {
		return "", err
	}
	return s.ResourceVersion, nil
}
