package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
)

// KWOKAnnotation marks nodes that KWOK simulates: no kubelet runs there,
// so there is no configz to read.
const KWOKAnnotation = "kwok.x-k8s.io/node"

// Node is what the rotation needs of a node.
type Node struct {
	Name string
	// ControlPlane: labelled node-role.kubernetes.io/control-plane.
	ControlPlane bool
	// KWOK: a node KWOK simulates.
	KWOK bool
}

// ListNodes lists the nodes, paged, sorted by name.
func ListNodes(ctx context.Context, client kubernetes.Interface) ([]Node, error) {
	var out []Node
	_, err := Each(ctx, PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return client.CoreV1().Nodes().List(ctx, lo)
		},
		func() { out = nil },
		func(n *corev1.Node) {
			_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
			_, kwok := n.Annotations[KWOKAnnotation]
			out = append(out, Node{Name: n.Name, ControlPlane: cp, KWOK: kwok})
		})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Leases are the kube-node-lease renew times by node name.
func Leases(ctx context.Context, client kubernetes.Interface) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	_, err := Each(ctx, PageSize, metav1.ListOptions{},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			return client.CoordinationV1().Leases(corev1.NamespaceNodeLease).List(ctx, lo)
		},
		func() { out = map[string]time.Time{} },
		func(le *coordinationv1.Lease) {
			if le.Spec.RenewTime != nil {
				out[le.Name] = le.Spec.RenewTime.Time
			}
		})
	return out, err
}

// KubeletConfig is what a kubelet's configz says about its trust.
type KubeletConfig struct {
	ClientCAFile string
	// RotateCertificates is the kubelet's rotateCertificates (false when
	// unset: the kubelet's default).
	RotateCertificates bool
	// Err says why the configz could not be read: nodes/proxy forbidden, a
	// KWOK node, a kubelet that does not answer.
	Err error
}

// configzTimeout bounds one configz request: a node whose kubelet does not
// answer must not hold the whole command up.
const configzTimeout = 10 * time.Second

// configzWorkers is how many configz requests are in flight at once.
const configzWorkers = 8

// KubeletConfigs reads /api/v1/nodes/NAME/proxy/configz of each node
// (nodes/proxy through the API server), a few at a time: the one reader of
// the kubelets' running configuration. progress, when not nil, is called
// after each node, one call at a time.
func KubeletConfigs(ctx context.Context, client kubernetes.Interface, nodes []Node, progress func(done int)) map[string]KubeletConfig {
	results := make([]KubeletConfig, len(nodes))
	for i := range results {
		// Unless read: once ctx is done, Fanout starts no more reads.
		results[i].Err = context.Canceled
	}
	var mu sync.Mutex
	done := 0
	Fanout(ctx, configzWorkers, len(nodes), func(i int) {
		results[i] = kubeletConfigz(ctx, client, nodes[i])
		if progress != nil {
			mu.Lock()
			done++
			progress(done)
			mu.Unlock()
		}
	})
	out := make(map[string]KubeletConfig, len(nodes))
	for i, n := range nodes {
		out[n.Name] = results[i]
	}
	return out
}

func kubeletConfigz(ctx context.Context, client kubernetes.Interface, n Node) KubeletConfig {
	ctx, cancel := context.WithTimeout(ctx, configzTimeout)
	defer cancel()
	body, err := client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", n.Name, "proxy", "configz").DoRaw(ctx)
	fail := func(why string) KubeletConfig {
		if n.KWOK {
			why = "KWOK node (a simulated kubelet, no configz): " + why
		}
		return KubeletConfig{Err: errors.New(why)}
	}
	switch {
	case apierrors.IsForbidden(err):
		return fail("nodes/proxy is forbidden for this user")
	case err != nil:
		return fail(ShortError(err))
	}
	var cfg struct {
		KubeletConfig *struct {
			RotateCertificates *bool `json:"rotateCertificates"`
			Authentication     struct {
				X509 struct {
					ClientCAFile string `json:"clientCAFile"`
				} `json:"x509"`
			} `json:"authentication"`
		} `json:"kubeletconfig"`
	}
	if err := json.Unmarshal(body, &cfg); err != nil || cfg.KubeletConfig == nil {
		return fail("the configz answer is not a kubelet configuration")
	}
	k := cfg.KubeletConfig
	return KubeletConfig{ClientCAFile: k.Authentication.X509.ClientCAFile, RotateCertificates: k.RotateCertificates != nil && *k.RotateCertificates}
}

// ShortError is an API error in one short line: the server's message
// (what the kubelet behind it answered, when the API server only relays
// it), without the request's URL or a second line.
func ShortError(err error) string {
	var se *apierrors.StatusError
	msg := err.Error()
	if errors.As(err, &se) && se.ErrStatus.Message != "" {
		msg = se.ErrStatus.Message
		// "the server rejected our request for an unknown reason" says
		// nothing; what the server (or the kubelet behind it) answered does.
		if d := se.ErrStatus.Details; d != nil {
			for _, c := range d.Causes {
				if c.Type == metav1.CauseTypeUnexpectedServerResponse && strings.TrimSpace(c.Message) != "" {
					msg = fmt.Sprintf("HTTP %d: %s", se.ErrStatus.Code, strings.TrimSpace(c.Message))
				}
			}
		}
	}
	msg = strings.TrimSpace(msg)
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	if len(msg) > 200 {
		msg = msg[:200] + "..."
	}
	return msg
}
