package cluster

import (
	"context"
	"crypto/x509"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// Judge reads the evidence of cfg's cluster and judges every upstream step
// of the rotation rot: what status, finish and the fleet view all show.
func Judge(ctx context.Context, client kubernetes.Interface, cfg *rest.Config, rot checks.RotationFacts, now time.Time) ([]checks.StepState, error) {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return checks.JudgeSteps(ReadEvidence(ctx, client, dyn, cfg, rot, now)), nil
}

// ReadEvidence reads everything checks.JudgeSteps judges a rotation by:
// the control plane's flags through its mirror pods, what the
// controller-manager publishes in every kube-root-ca.crt (and legacy token
// Secrets), which pods started before their CA source last changed, the
// client CAs the API server publishes, its serving chain, the kubeconfig
// of cfg, cluster-info, the nodes' Lease renewals and which CA issued each
// kubelet's newest client certificate, and the servers behind aggregated
// APIs and webhooks. It only reads. A failed read is kept in
// its part of the evidence rather than failing the whole.
func ReadEvidence(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, cfg *rest.Config, rot checks.RotationFacts, now time.Time) checks.Evidence {
	inv := ReadInventory(ctx, client, dyn)
	ev := checks.Evidence{Rotation: rot, ControlPlane: inv.ControlPlane, CloudControllers: inv.CloudControllers,
		Backends: checks.BackendEvidence{Err: inv.BackendsErr, APIs: inv.APIs, Webhooks: inv.Webhooks}}

	root := ReadRootCAState(ctx, client, rot.Old, rot.New)
	ev.RootCA = checks.RootCAEvidence{Err: root.CMErr, Summary: root.Line(), Bundled: root.Bundled(), Unbundled: root.Unbundled(),
		KubeSystem: root.KubeSystemCM, KubeSystemWriter: root.KubeSystemCMWriter, LastChange: root.LastChange}
	ev.Pods, ev.Backends.Services = readPods(ctx, client, metav1.NamespaceAll, root, checks.APIServerStarted(inv.ControlPlane), backendSelectors(ctx, client, inv))

	if data, err := ExtensionAuth(ctx, client); err != nil {
		ev.ExtensionAuth.Err = err
	} else {
		ev.ExtensionAuth.ClientCA = checks.Classify("client-ca-file", []byte(data["client-ca-file"]), rot.Old, rot.New).State
		if len(rot.NewFP) > 0 {
			ev.ExtensionAuth.FrontProxy = checks.Classify("requestheader-client-ca-file", []byte(data["requestheader-client-ca-file"]), rot.OldFP, rot.NewFP).State
		}
	}
	ev.Serving.Chain, ev.Serving.Err = FetchServingChain(ctx, cfg)
	ev.Kubeconfig = kubeconfigEvidence(cfg, rot.Old, rot.New)

	ci, err := CheckClusterInfo(ctx, client, nil, now)
	ev.ClusterInfo = checks.ClusterInfoEvidence{Err: err, Present: ci.Present, Report: ci.ClusterInfoReport}

	ev.Nodes.Err = inv.NodesErr
	if inv.NodesErr == nil {
		ev.Nodes.Leases, ev.Nodes.Err = Leases(ctx, client)
	}
	for _, n := range inv.Nodes {
		ev.Nodes.Names = append(ev.Nodes.Names, n.Name)
	}
	ev.KubeletCerts = KubeletClientCerts(ctx, client)
	return ev
}

// ReadPublishedRootCA reads what kube-system/kube-root-ca.crt holds against
// oldCAs and newCAs, and who last wrote it: the part of the root CA
// evidence that tells what kube-controller-manager's --root-ca-file holds.
func ReadPublishedRootCA(ctx context.Context, client kubernetes.Interface, oldCAs, newCAs []*x509.Certificate) checks.RootCAEvidence {
	var cm *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, RootCAConfigMap, metav1.GetOptions{})
		return err
	})
	if err != nil {
		return checks.RootCAEvidence{Err: err}
	}
	_, writer := CAChange(cm.ManagedFields, RootCAKey, cm.CreationTimestamp.Time)
	st := checks.Classify("kube-system/"+RootCAConfigMap, []byte(cm.Data[RootCAKey]), oldCAs, newCAs).State
	return checks.RootCAEvidence{KubeSystem: st, KubeSystemWriter: writer}
}

// backendService is a service behind an aggregated API or a webhook, and
// the pods it selects (nil selector: none can be told).
type backendService struct {
	selector labels.Selector
	checks.BackendService
}

// backendSelectors resolves the services behind aggregated APIs and
// webhooks to pod selectors, so the pod pass can judge their pods.
func backendSelectors(ctx context.Context, client kubernetes.Interface, inv Inventory) map[string]*backendService {
	out := map[string]*backendService{}
	for _, r := range append(append([]checks.ServiceRef{}, inv.APIs...), inv.Webhooks...) {
		if r.Service == "" {
			continue
		}
		key := r.Namespace + "/" + r.Service
		if _, ok := out[key]; ok {
			continue
		}
		b := &backendService{BackendService: checks.BackendService{Key: key}}
		out[key] = b
		var svc *corev1.Service
		err := WithRetry(ctx, func() (err error) {
			svc, err = client.CoreV1().Services(r.Namespace).Get(ctx, r.Service, metav1.GetOptions{})
			return err
		})
		if err == nil && len(svc.Spec.Selector) > 0 {
			b.selector = labels.SelectorFromSet(svc.Spec.Selector)
		}
	}
	return out
}

// readPods judges every running pod in ns ("" for all) by its trust source with verify's rules
// (checks.JudgePod): a pod whose container started before its namespace's
// kube-root-ca.crt (or legacy token Secret) last changed may hold the
// previous CA in memory. It also counts the pods behind each backend
// service, and those that started before serveTime (kube-apiserver's last
// start; zero when not visible).
func readPods(ctx context.Context, client kubernetes.Interface, ns string, root *RootCAState, serveTime time.Time, backends map[string]*backendService) (checks.PodEvidence, []checks.BackendService) {
	lookup := func(ns, kind, name string) (checks.PodSource, bool) {
		switch kind {
		case checks.SourceRootCA:
			if name != RootCAConfigMap {
				return checks.PodSource{}, false
			}
			if root.CMErr != nil {
				// Unknown is not missing: do not blame the pod for a
				// failed list.
				return checks.PodSource{Exists: true, OK: true, Holds: "unknown"}, true
			}
			return root.RootSrc[ns], true
		case checks.SourceSecret:
			src, ok := root.SecretSrc[ns+"/"+name]
			return src, ok
		}
		return checks.PodSource{}, false
	}
	var ev checks.PodEvidence
	reset := func() {
		ev = checks.PodEvidence{}
		for _, b := range backends {
			b.Pods, b.Restart = 0, nil
		}
	}
	pods := client.CoreV1().Pods(ns)
	_, ev.Err = Each(ctx, PageSize, metav1.ListOptions{FieldSelector: "status.phase=Running"},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return pods.List(ctx, lo) },
		reset,
		func(p *corev1.Pod) {
			if p.DeletionTimestamp != nil {
				return
			}
			in := PodInput(p)
			t := checks.JudgePod(in, func(kind, name string) (checks.PodSource, bool) { return lookup(p.Namespace, kind, name) })
			if t.Verdict == checks.PodNoAPICA {
				return
			}
			ev.WithCA++
			ref := p.Namespace + "/" + p.Name
			switch t.Verdict {
			case checks.PodRestartNeeded:
				ev.Restart = append(ev.Restart, ref)
			case checks.PodRestartMaybe:
				ev.Maybe = append(ev.Maybe, ref)
			case checks.PodSourceLacksCA, checks.PodSourceMissing:
				ev.Lacking = append(ev.Lacking, ref)
			}
			if !serveTime.IsZero() && PodStart(in).Truncate(time.Second).Before(serveTime.Truncate(time.Second)) {
				ev.BeforeServe = append(ev.BeforeServe, ref)
			}
			for key, b := range backends {
				if b.selector != nil && strings.HasPrefix(key, p.Namespace+"/") && b.selector.Matches(labels.Set(p.Labels)) {
					b.Pods++
					if t.Verdict == checks.PodRestartNeeded || t.Verdict == checks.PodSourceLacksCA {
						b.Restart = append(b.Restart, ref)
					}
				}
			}
		})
	services := make([]checks.BackendService, 0, len(backends))
	for _, b := range backends {
		services = append(services, b.BackendService)
	}
	sort.Slice(services, func(i, j int) bool { return services[i].Key < services[j].Key })
	return ev, services
}

// KubeconfigCA is the certificate authority data of cfg's kubeconfig
// (inline or from its file); nil when it names none.
func KubeconfigCA(cfg *rest.Config) []byte {
	ca := cfg.TLSClientConfig.CAData
	if len(ca) == 0 && cfg.TLSClientConfig.CAFile != "" {
		ca, _ = os.ReadFile(cfg.TLSClientConfig.CAFile)
	}
	return ca
}

// kubeconfigEvidence is what the kubeconfig of cfg trusts, and which CA
// issued its client certificate.
func kubeconfigEvidence(cfg *rest.Config, oldCAs, newCAs []*x509.Certificate) checks.KubeconfigEvidence {
	var kc checks.KubeconfigEvidence
	if ca := KubeconfigCA(cfg); len(ca) == 0 {
		kc.CA = "system"
	} else {
		kc.CA = checks.Classify("kubeconfig", ca, oldCAs, newCAs).State
	}
	cert := cfg.TLSClientConfig.CertData
	if len(cert) == 0 && cfg.TLSClientConfig.CertFile != "" {
		cert, _ = os.ReadFile(cfg.TLSClientConfig.CertFile)
	}
	if len(cert) == 0 {
		return kc
	}
	certs, err := checks.ParseCertificates("kubeconfig client certificate", cert)
	if err != nil || len(certs) == 0 {
		kc.ClientIssuer = checks.IssuedByOther
		return kc
	}
	kc.ClientIssuer = checks.IssuerOf(certs[0], oldCAs, newCAs)
	return kc
}
