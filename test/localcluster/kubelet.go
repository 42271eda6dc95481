package localcluster

// staticPodKubelet is the control-plane node's kubelet stand-in: the parts
// of the kubelet a kubeadm control plane depends on, done the kubelet's
// way. It reads /var/lib/kubelet/config.yaml and /etc/kubernetes/kubelet.conf
// when it starts (so a changed file takes effect with "systemctl restart
// kubelet"), runs the static pods in staticPodPath through the runtime,
// restarts a pod whose manifest changed and a container that exited,
// registers its Node and renews its Lease with the node's own credentials,
// keeps a mirror pod per static pod (the manifest's spec, the kubelet's
// annotations, the containers' status), rotates its client certificate
// with client-go's certificate manager as the kubelet does
// (rotateCertificates), and serves /configz, /healthz and /containerLogs
// on <node>:10250 to clients whose certificate verifies against
// clientCAFile.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/connrotation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Files of a kubeadm node's kubelet, inside the node.
const (
	kubeletConfigFile     = "/var/lib/kubelet/config.yaml"
	kubeletKubeconfigFile = "/etc/kubernetes/kubelet.conf"
	kubeletPKIDir         = "/var/lib/kubelet/pki"
)

type staticPodKubelet struct {
	cfg  machineConfig
	node machineNode
	rt   *runtime

	mu     sync.Mutex
	active bool
	since  time.Time
	cancel context.CancelFunc
	done   chan struct{}
	note   string
}

func newStaticPodKubelet(cfg machineConfig, n machineNode) *staticPodKubelet {
	return &staticPodKubelet{cfg: cfg, node: n, rt: newRuntime(cfg.BinDir, n.IP), since: time.Now()}
}

func (k *staticPodKubelet) Start() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.active {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	k.active, k.since, k.cancel, k.done = true, time.Now(), cancel, make(chan struct{})
	go k.run(ctx, k.done)
	return nil
}

func (k *staticPodKubelet) Stop() error {
	k.mu.Lock()
	if !k.active {
		k.mu.Unlock()
		return nil
	}
	k.active, k.since = false, time.Now()
	cancel, done := k.cancel, k.done
	k.mu.Unlock()
	cancel()
	<-done
	return nil
}

func (k *staticPodKubelet) Shutdown() {
	_ = k.Stop()
	k.rt.stopAll()
}

func (k *staticPodKubelet) Status() serviceStatus {
	k.mu.Lock()
	defer k.mu.Unlock()
	return serviceStatus{Active: k.active, Since: k.since, MainPID: os.Getpid(), Note: k.note}
}

func (k *staticPodKubelet) Containers() []containerInfo { return k.rt.containers() }
func (k *staticPodKubelet) Sandboxes() []sandboxInfo    { return k.rt.sandboxList() }
func (k *staticPodKubelet) StopSandbox(id string) error { return k.rt.stopSandboxID(id) }

func (k *staticPodKubelet) setNote(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	k.mu.Lock()
	changed := k.note != msg
	k.note = msg
	k.mu.Unlock()
	if changed && msg != "" {
		log.Printf("kubelet: %s", msg)
	}
}

// kubeletConfig is what this kubelet reads of config.yaml.
type kubeletConfig struct {
	StaticPodPath      string `json:"staticPodPath"`
	RotateCertificates bool   `json:"rotateCertificates"`
	Authentication     struct {
		X509 struct {
			ClientCAFile string `json:"clientCAFile"`
		} `json:"x509"`
	} `json:"authentication"`
	raw map[string]any
}

func loadKubeletConfig() (*kubeletConfig, error) {
	b, err := os.ReadFile(kubeletConfigFile)
	if err != nil {
		return nil, err
	}
	kc := &kubeletConfig{}
	if err := yaml.Unmarshal(b, kc); err != nil {
		return nil, fmt.Errorf("%s: %w", kubeletConfigFile, err)
	}
	if err := yaml.Unmarshal(b, &kc.raw); err != nil {
		return nil, err
	}
	if kc.StaticPodPath == "" {
		return nil, fmt.Errorf("%s has no staticPodPath", kubeletConfigFile)
	}
	return kc, nil
}

// run is one life of the kubelet process: from "start" to "stop".
func (k *staticPodKubelet) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	var kc *kubeletConfig
	for {
		var err error
		if kc, err = loadKubeletConfig(); err == nil {
			break
		}
		// A kubeadm node's kubelet crash-loops until kubeadm writes its
		// configuration.
		k.setNote("waiting for its configuration: %v", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
	k.setNote("")
	log.Printf("kubelet: started (staticPodPath %s, clientCAFile %s, rotateCertificates %v)",
		kc.StaticPodPath, kc.Authentication.X509.ClientCAFile, kc.RotateCertificates)
	api := &kubeletAPI{k: k, kc: kc, nodeName: k.node.Name, mirrors: map[string]string{}, stop: make(chan struct{})}
	defer api.close()
	srv, err := k.serve(kc)
	if err != nil {
		k.setNote("kubelet server: %v", err)
	}
	defer func() {
		if srv != nil {
			_ = srv.Close()
		}
	}()
	for {
		k.syncPods(kc)
		api.sync(ctx)
		select {
		case <-ctx.Done():
			log.Printf("kubelet: stopped")
			return
		case <-k.rt.wake:
		case <-time.After(time.Second):
		}
	}
}

// staticPod is one manifest of staticPodPath.
type staticPod struct {
	pod  *corev1.Pod
	hash string
	path string
}

// readManifests reads staticPodPath as the kubelet does (every file not
// starting with a dot); the pod's UID is a hash of the file, so any change
// to it is a new pod.
func (k *staticPodKubelet) readManifests(dir string) map[string]staticPod {
	out := map[string]staticPod{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		k.setNote("static pods: %v", err)
		return out
	}
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		pod := &corev1.Pod{}
		if err := yaml.UnmarshalStrict(b, pod); err != nil || pod.Name == "" {
			log.Printf("kubelet: %s is not a pod manifest: %v", path, err)
			continue
		}
		sum := sha256.Sum256(b)
		hash := hex.EncodeToString(sum[:16])
		if pod.Namespace == "" {
			pod.Namespace = metav1.NamespaceDefault
		}
		pod.UID = types.UID(hash)
		pod.Name = pod.Name + "-" + k.node.Name
		out[pod.Name] = staticPod{pod: pod, hash: hash, path: path}
	}
	return out
}

// syncPods makes the runtime run what staticPodPath says.
func (k *staticPodKubelet) syncPods(kc *kubeletConfig) {
	want := k.readManifests(kc.StaticPodPath)
	for _, sb := range k.rt.ready() {
		if sp, ok := want[sb.info.Name]; !ok || sp.hash != sb.hash {
			log.Printf("kubelet: %s: the manifest changed or went away; stopping sandbox %s", sb.info.Name, sb.info.ID[:13])
			k.rt.stopSandbox(sb)
		}
	}
	names := make([]string, 0, len(want))
	for n := range want {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		sp := want[name]
		sb := k.rt.latest(name)
		if sb != nil && sb.info.State != sandboxReady && k.rt.running(sb) {
			continue // still stopping (crictl stopp): its ports are not free yet
		}
		if sb == nil || sb.info.State != sandboxReady || sb.hash != sp.hash {
			sb = k.rt.runSandbox(sp.pod, sp.hash)
			log.Printf("kubelet: %s: started sandbox %s from %s", name, sb.info.ID[:13], sp.path)
		}
		current := k.rt.current(sb)
		for _, spec := range sp.pod.Spec.Containers {
			c := current[spec.Name]
			if c == nil {
				k.rt.startContainer(sb, spec, 0)
				continue
			}
			select {
			case <-c.exited:
			default:
				continue
			}
			// restartPolicy Always, with the kubelet's back-off (shorter).
			delay := time.Second << min(c.info.Attempt, 5)
			if !c.started.IsZero() && c.finished.Sub(c.started) > time.Minute {
				delay = time.Second
			}
			if time.Since(c.finished) >= delay {
				log.Printf("kubelet: %s: container %s exited (%d, %s); starting attempt %d", name, spec.Name, c.info.ExitCode, c.reason, c.info.Attempt+1)
				k.rt.startContainer(sb, spec, c.info.Attempt+1)
			}
		}
	}
}

// kubeletAPI is the kubelet's side of the API: node, lease, mirror pods.
type kubeletAPI struct {
	k        *staticPodKubelet
	kc       *kubeletConfig
	nodeName string

	client     kubernetes.Interface
	certs      certificate.Manager
	dialer     *connrotation.Dialer
	lastErr    string
	node       *corev1.Node
	lastLease  time.Time
	lastStatus time.Time
	mirrors    map[string]string // mirror pod name -> status last written
	lastPods   string            // the runtime's state at the last mirror sync
	lastMirror time.Time
	stop       chan struct{}
}

func (a *kubeletAPI) close() {
	close(a.stop)
	if a.certs != nil {
		a.certs.Stop()
	}
	if a.dialer != nil {
		a.dialer.CloseAll()
	}
}

// connect builds the client from kubelet.conf as the kubelet does: with
// rotateCertificates, through a certificate manager whose store is
// /var/lib/kubelet/pki/kubelet-client-current.pem, bootstrapped from the
// certificate embedded in kubelet.conf (kubeadm's first kubelet.conf).
func (a *kubeletAPI) connect() error {
	raw, err := clientcmd.LoadFromFile(kubeletKubeconfigFile)
	if err != nil {
		return err
	}
	base, err := clientcmd.NewDefaultClientConfig(*raw, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("%s: %w", kubeletKubeconfigFile, err)
	}
	base.QPS, base.Burst = 50, 100
	base.Timeout = 10 * time.Second
	a.dialer = connrotation.NewDialer((&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext)
	if !a.kc.RotateCertificates {
		base.Dial = a.dialer.DialContext
		a.client, err = kubernetes.NewForConfig(base)
		return err
	}
	var bootCert, bootKey []byte
	if ctx := raw.Contexts[raw.CurrentContext]; ctx != nil && raw.AuthInfos[ctx.AuthInfo] != nil {
		u := raw.AuthInfos[ctx.AuthInfo]
		bootCert, bootKey = u.ClientCertificateData, u.ClientKeyData
	}
	store, err := certificate.NewFileStore("kubelet-client", kubeletPKIDir, kubeletPKIDir, "", "")
	if err != nil {
		return err
	}
	rotating := rest.AnonymousClientConfig(base)
	rotating.QPS, rotating.Burst, rotating.Timeout = base.QPS, base.Burst, base.Timeout
	var mgr certificate.Manager
	tlsCfg, err := rest.TLSConfigFor(rotating)
	if err != nil {
		return err
	}
	if tlsCfg == nil {
		tlsCfg = &tls.Config{}
	}
	tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		if c := mgr.Current(); c != nil {
			return c, nil
		}
		return &tls.Certificate{}, nil
	}
	rotating.Transport = utilnet.SetTransportDefaults(&http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSHandshakeTimeout: 10 * time.Second,
		TLSClientConfig: tlsCfg, MaxIdleConnsPerHost: 25, DialContext: a.dialer.DialContext,
	})
	rotating.TLSClientConfig = rest.TLSClientConfig{}
	mgr, err = certificate.NewManager(&certificate.Config{
		ClientsetFn: func(current *tls.Certificate) (kubernetes.Interface, error) {
			if current != nil {
				return kubernetes.NewForConfig(rotating)
			}
			return kubernetes.NewForConfig(base)
		},
		Template: &x509.CertificateRequest{Subject: pkix.Name{
			CommonName: "system:node:" + a.nodeName, Organization: []string{"system:nodes"},
		}},
		SignerName:              certificatesv1.KubeAPIServerClientKubeletSignerName,
		GetUsages:               certificate.DefaultKubeletClientGetUsages,
		BootstrapCertificatePEM: bootCert,
		BootstrapKeyPEM:         bootKey,
		CertificateStore:        store,
		Name:                    "kubelet-client",
	})
	if err != nil {
		return err
	}
	mgr.Start()
	a.certs = mgr
	// The kubelet closes its connections when its certificate rotates, so
	// the API server sees the new one.
	last := mgr.Current()
	go func() {
		tick := time.NewTicker(5 * time.Second)
		defer tick.Stop()
		for {
			select {
			case <-a.stop:
				return
			case <-tick.C:
			}
			if cur := mgr.Current(); cur != last {
				last = cur
				a.dialer.CloseAll()
			}
		}
	}()
	a.client, err = kubernetes.NewForConfig(rotating)
	return err
}

func (a *kubeletAPI) fail(err error) {
	if err == nil {
		return
	}
	if msg := err.Error(); msg != a.lastErr {
		a.lastErr = msg
		log.Printf("kubelet: API: %v", err)
	}
}

// sync registers the node, renews its lease and keeps the mirror pods.
func (a *kubeletAPI) sync(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if a.client == nil {
		if err := a.connect(); err != nil {
			a.fail(err)
			return
		}
	}
	if err := a.registerNode(ctx); err != nil {
		a.fail(err)
		return
	}
	if time.Since(a.lastLease) > 10*time.Second {
		if err := a.renewLease(ctx); err != nil {
			a.fail(err)
			return
		}
		a.lastLease = time.Now()
	}
	if time.Since(a.lastStatus) > time.Minute {
		if err := a.updateNodeStatus(ctx); err != nil {
			a.fail(err)
			return
		}
	}
	// Mirror pods change when the runtime does; check the API now and then
	// too, for mirror pods someone else deleted.
	if fp := a.k.rt.fingerprint(); fp != a.lastPods || time.Since(a.lastMirror) > 10*time.Second {
		if err := a.syncMirrorPods(ctx); err != nil {
			a.fail(err)
			return
		}
		a.lastPods, a.lastMirror = fp, time.Now()
	}
	a.lastErr = ""
}

func (a *kubeletAPI) registerNode(ctx context.Context) error {
	if a.node != nil {
		return nil
	}
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: a.nodeName,
			Labels: map[string]string{
				"kubernetes.io/hostname": a.nodeName, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64",
			},
			Annotations: map[string]string{"volumes.kubernetes.io/controller-managed-attach-detach": "true"},
		}}, metav1.CreateOptions{})
		if err == nil {
			log.Printf("kubelet: registered node %s", a.nodeName)
		}
	}
	if err != nil {
		return fmt.Errorf("register node: %w", err)
	}
	a.node = node
	return a.updateNodeStatus(ctx)
}

func (a *kubeletAPI) updateNodeStatus(ctx context.Context) error {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.nodeName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	now := metav1.Now()
	capacity := corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("8Gi"),
		corev1.ResourcePods: resource.MustParse("110"), corev1.ResourceEphemeralStorage: resource.MustParse("100Gi"),
	}
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		c := corev1.NodeCondition{Type: t, Status: s, Reason: reason, Message: msg, LastHeartbeatTime: now, LastTransitionTime: now}
		for _, old := range node.Status.Conditions {
			if old.Type == t && old.Status == s {
				c.LastTransitionTime = old.LastTransitionTime
			}
		}
		return c
	}
	node.Status.Capacity, node.Status.Allocatable = capacity, capacity
	node.Status.Conditions = []corev1.NodeCondition{
		cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
		cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
		cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
		cond(corev1.NodeReady, corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status (kubectl-carotate harness kubelet stand-in)"),
	}
	node.Status.Addresses = []corev1.NodeAddress{
		{Type: corev1.NodeInternalIP, Address: a.k.node.IP}, {Type: corev1.NodeHostName, Address: a.nodeName},
	}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = 10250
	node.Status.NodeInfo = corev1.NodeSystemInfo{
		KubeletVersion: "v1.37.2", OperatingSystem: "linux", Architecture: "amd64",
		ContainerRuntimeVersion: "carotate-harness://0", OSImage: "kubectl-carotate harness node", KernelVersion: kernelVersion(),
	}
	updated, err := nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("node status: %w", err)
	}
	a.node, a.lastStatus = updated, time.Now()
	return nil
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func (a *kubeletAPI) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	lease, err := leases.Get(ctx, a.nodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = leases.Create(ctx, &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: a.nodeName, OwnerReferences: []metav1.OwnerReference{{
				APIVersion: "v1", Kind: "Node", Name: a.node.Name, UID: a.node.UID,
			}}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.nodeName), LeaseDurationSeconds: ptr.To[int32](40), RenewTime: &now},
		}, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	lease.Spec.RenewTime = &now
	lease.Spec.HolderIdentity = ptr.To(a.nodeName)
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// syncMirrorPods keeps one mirror pod per running static pod and deletes
// mirror pods of static pods that are gone.
func (a *kubeletAPI) syncMirrorPods(ctx context.Context) error {
	running := map[string]bool{}
	for _, sb := range a.k.rt.ready() {
		running[sb.info.Namespace+"/"+sb.info.Name] = true
		static := sb.pod.DeepCopy()
		static.Name = strings.TrimSuffix(static.Name, "-"+a.nodeName)
		want := newMirrorPod(static, a.node, sb.hash)
		want.Annotations["kubernetes.io/config.seen"] = sb.info.Created.UTC().Format(time.RFC3339Nano)
		pod, created, err := ensureMirrorPod(ctx, a.client, want, nodePod(a.client, a.nodeName))
		if err != nil {
			return err
		}
		if created {
			delete(a.mirrors, pod.Name)
			log.Printf("kubelet: mirror pod %s/%s for sandbox %s", pod.Namespace, pod.Name, sb.info.ID[:13])
		}
		status := a.podStatus(sb, pod)
		key, _ := json.Marshal(status)
		if a.mirrors[pod.Name] == string(key) {
			continue
		}
		pod.Status = status
		if _, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("mirror pod status %s: %w", pod.Name, err)
		}
		a.mirrors[pod.Name] = string(key)
	}
	pods, err := a.client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + a.nodeName})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if _, mirror := p.Annotations[mirrorAnnotation]; mirror && !running[p.Namespace+"/"+p.Name] && p.DeletionTimestamp == nil {
			log.Printf("kubelet: deleting mirror pod %s/%s: its static pod is gone", p.Namespace, p.Name)
			if err := a.client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}); err != nil && !apierrors.IsNotFound(err) {
				return err
			}
			delete(a.mirrors, p.Name)
		}
	}
	return nil
}

// podStatus is the static pod's status as the kubelet reports it on the
// mirror pod: running containers with their runtime ids and start times.
func (a *kubeletAPI) podStatus(sb *sandbox, pod *corev1.Pod) corev1.PodStatus {
	ip := a.k.node.IP
	start := metav1.NewTime(sb.info.Created.Truncate(time.Second))
	current := a.k.rt.current(sb)
	allReady := true
	var statuses []corev1.ContainerStatus
	a.k.rt.mu.Lock()
	for _, spec := range sb.pod.Spec.Containers {
		cs := corev1.ContainerStatus{Name: spec.Name, Image: spec.Image, ImageID: spec.Image}
		c := current[spec.Name]
		switch {
		case c == nil:
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
		case c.info.State == containerRunning:
			cs.ContainerID = "carotate-harness://" + c.info.ID
			cs.RestartCount = int32(c.info.Attempt)
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(c.started.Truncate(time.Second))}
			cs.Ready = c.ready.Load()
			cs.Started = ptr.To(true)
		default:
			cs.ContainerID = "carotate-harness://" + c.info.ID
			cs.RestartCount = int32(c.info.Attempt)
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: c.reason}
			cs.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: int32(c.info.ExitCode), Reason: c.reason,
				StartedAt: metav1.NewTime(c.started.Truncate(time.Second)), FinishedAt: metav1.NewTime(c.finished.Truncate(time.Second)),
			}
			cs.Started = ptr.To(false)
		}
		allReady = allReady && cs.Ready
		statuses = append(statuses, cs)
	}
	a.k.rt.mu.Unlock()
	ready := corev1.ConditionFalse
	if allReady {
		ready = corev1.ConditionTrue
	}
	cond := func(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
		return corev1.PodCondition{Type: t, Status: s, LastTransitionTime: start}
	}
	return corev1.PodStatus{
		Phase: corev1.PodRunning,
		Conditions: []corev1.PodCondition{
			cond(corev1.PodReadyToStartContainers, corev1.ConditionTrue), cond(corev1.PodInitialized, corev1.ConditionTrue),
			cond(corev1.PodReady, ready), cond(corev1.ContainersReady, ready), cond(corev1.PodScheduled, corev1.ConditionTrue),
		},
		HostIP: ip, HostIPs: []corev1.HostIP{{IP: ip}}, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		StartTime: &start, ContainerStatuses: statuses, QOSClass: pod.Status.QOSClass,
	}
}

// serve runs the kubelet's HTTPS server on <node>:10250. Clients must
// present a certificate that verifies against clientCAFile as read when
// the kubelet started (kubeadm turns anonymous access off); there is no
// authorization webhook: a verified client may read everything.
func (k *staticPodKubelet) serve(kc *kubeletConfig) (*http.Server, error) {
	pool := x509.NewCertPool()
	if f := kc.Authentication.X509.ClientCAFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("clientCAFile %s holds no certificate", f)
		}
	}
	cert, err := kubeletServingCert(k.node.Name, k.node.IP)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /configz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"kubeletconfig": kc.raw})
	})
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", k.containerLogs)
	authn := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", net.JoinHostPort(k.node.IP, "10250"))
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: authn, ReadHeaderTimeout: 10 * time.Second, TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven, ClientCAs: pool,
		MinVersion: tls.VersionTLS12,
	}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	return srv, nil
}

// kubeletServingCert is /var/lib/kubelet/pki/kubelet.crt, self-signed and
// written on first start, as a kubelet without serverTLSBootstrap does.
func kubeletServingCert(name, ip string) (tls.Certificate, error) {
	crt, key := filepath.Join(kubeletPKIDir, "kubelet.crt"), filepath.Join(kubeletPKIDir, "kubelet.key")
	if c, err := tls.LoadX509KeyPair(crt, key); err == nil {
		return c, nil
	}
	certPEM, keyPEM, err := selfSignedServing(name, ip)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.MkdirAll(kubeletPKIDir, 0o755); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(crt, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(key, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func selfSignedServing(name, ip string) ([]byte, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(), Subject: pkix.Name{CommonName: fmt.Sprintf("%s@%d", name, now.Unix())},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
		DNSNames: []string{name}, IPAddresses: []net.IP{net.ParseIP(ip)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), nil
}

// containerLogs serves a container's log as the kubelet does, with
// previous, tailLines, limitBytes and sinceSeconds (by the timestamps of
// klog and etcd lines; the runtime does not stamp lines itself).
func (k *staticPodKubelet) containerLogs(w http.ResponseWriter, r *http.Request) {
	ns, podName, name := r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container")
	var path string
	k.rt.mu.Lock()
	for i := len(k.rt.sandboxes) - 1; i >= 0 && path == ""; i-- {
		sb := k.rt.sandboxes[i]
		if sb.info.Name != podName || sb.info.Namespace != ns {
			continue
		}
		var attempts []*container
		for _, c := range sb.containers {
			if c.spec.Name == name && c.info.LogPath != "" {
				attempts = append(attempts, c)
			}
		}
		idx := len(attempts) - 1
		if r.URL.Query().Get("previous") == "true" {
			idx--
		}
		if idx >= 0 {
			path = attempts[idx].info.LogPath
		}
	}
	k.rt.mu.Unlock()
	if path == "" {
		http.Error(w, fmt.Sprintf("container %q in pod %q not found", name, podName), http.StatusNotFound)
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	q := r.URL.Query()
	if s, err := strconv.Atoi(q.Get("sinceSeconds")); err == nil && s > 0 {
		b = logSince(b, time.Now().Add(-time.Duration(s)*time.Second))
	}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil && n >= 0 {
		lines := bytes.SplitAfter(b, []byte("\n"))
		if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		b = bytes.Join(lines, nil)
	}
	if n, err := strconv.Atoi(q.Get("limitBytes")); err == nil && n >= 0 && len(b) > n {
		b = b[:n]
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = w.Write(b)
}

// logSince drops the lines before since, by the first timestamp found.
func logSince(b []byte, since time.Time) []byte {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	offset := 0
	for sc.Scan() {
		line := sc.Text()
		if t, ok := lineTime(line, since.Year()); ok && !t.Before(since) {
			return b[offset:]
		}
		offset += len(line) + 1
	}
	return nil
}

// lineTime reads a klog header (I1202 15:04:05.123456) or an etcd JSON
// line's "ts".
func lineTime(line string, year int) (time.Time, bool) {
	if len(line) > 21 && strings.ContainsRune("IWEF", rune(line[0])) {
		t, err := time.ParseInLocation("0102 15:04:05.000000", line[1:21], time.Local)
		if err == nil {
			return t.AddDate(year, 0, 0), true
		}
	}
	if strings.HasPrefix(line, "{") {
		var v struct {
			TS string `json:"ts"`
		}
		if json.Unmarshal([]byte(line), &v) == nil {
			if t, err := time.Parse(time.RFC3339Nano, v.TS); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
