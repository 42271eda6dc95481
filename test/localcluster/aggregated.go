package localcluster

// An aggregated API server for the kubeadm node, so that the front-proxy CA
// has something to prove itself against: a tiny HTTPS server in the node's
// network namespace that serves one API group version's discovery and
// accepts a request only as kube-apiserver's aggregator sends it: with a
// client certificate that verifies against the requestheader-client-ca-file
// kube-apiserver publishes in kube-system/extension-apiserver-authentication
// (re-read every second, as k8s.io/apiserver's delegated authentication
// does), whose common name is one of requestheader-allowed-names, and with
// the user in the X-Remote-User header. Anything else gets 401. The
// APIService, Service and EndpointSlice point kube-apiserver at it; with no
// kube-proxy, kube-apiserver must run with --enable-aggregator-routing=true
// (Options.AggregatorRouting) so it dials the endpoint rather than the
// Service's cluster IP.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

// AggregatedAPIComponent is the component name of the aggregated API
// server (ServeAggregatedAPI).
const AggregatedAPIComponent = "aggregated-api"

// aggregatedPort is where the aggregated API server listens on the node.
const aggregatedPort = 9443

// AggregatedAPI is an aggregated API served from the kubeadm node.
type AggregatedAPI struct {
	Group, Version string
	// Namespace and Service are the Service the APIService names.
	Namespace, Service string
}

// Path is the API group version's discovery path, through kube-apiserver.
func (a AggregatedAPI) Path() string { return "/apis/" + a.Group + "/" + a.Version }

// APIServiceName is the name of its APIService.
func (a AggregatedAPI) APIServiceName() string { return a.Version + "." + a.Group }

var apiServiceGVR = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// ServeAggregatedAPI starts the aggregated API server in the kubeadm
// node's network namespace (component AggregatedAPIComponent, its pid
// recorded like every other's; StopComponent stops it), creates the
// namespace, Service, EndpointSlice and APIService for it, and waits until
// the APIService is Available.
func (c *Cluster) ServeAggregatedAPI(ctx context.Context, api AggregatedAPI) error {
	if !c.State().Kubeadm {
		return errors.New("localcluster: the aggregated API server runs on the kubeadm node (Options.Kubeadm)")
	}
	pid, err := c.State().nodeHostPid(KubeadmNode)
	if err != nil {
		return err
	}
	nsenter, err := exec.LookPath("nsenter")
	if err != nil {
		return err
	}
	bin := filepath.Join(c.opts.BinDir, "cluster")
	exe, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return err
	}
	// nsenter enters the network namespace alone and execs the server, so
	// the pid is the server's own: the pid file records its executable.
	comp := &Component{
		Name: AggregatedAPIComponent, Binary: nsenter, exe: exe,
		LogPath: filepath.Join(c.Dir, "logs", AggregatedAPIComponent+".log"),
		prefix:  []string{"--target", strconv.Itoa(pid), "--net", "--", exe, "_aggregated-api"},
		Flags: []Flag{
			{"kubeconfig", c.NodePath(KubeadmNode, "/etc/kubernetes/admin.conf")},
			{"listen", net.JoinHostPort(NodeAddress, strconv.Itoa(aggregatedPort))},
			{"group", api.Group}, {"version", api.Version},
		},
	}
	c.Components[AggregatedAPIComponent] = comp
	if err := comp.start(c.opts.PidDir, c.opts.Detached); err != nil {
		return err
	}
	client, err := c.Client()
	if err != nil {
		return err
	}
	cfg, err := c.RESTConfig()
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := createAggregatedObjects(ctx, client, dyn, api); err != nil {
		return err
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		if !comp.Running() {
			return false, fmt.Errorf("the aggregated API server exited:\n%s", comp.Tail(20))
		}
		u, err := dyn.Resource(apiServiceGVR).Get(ctx, api.APIServiceName(), metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, cond := range conds {
			if m, ok := cond.(map[string]any); ok && m["type"] == "Available" {
				last = fmt.Sprint(m["status"], " ", m["reason"], ": ", m["message"])
				return m["status"] == "True", nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("APIService %s not Available (%s): %w\n%s", api.APIServiceName(), last, err, comp.Tail(20))
	}
	return nil
}

func createAggregatedObjects(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, api AggregatedAPI) error {
	if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: api.Namespace}}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// No selector: the EndpointSlice below is the harness's, not the
	// endpointslice controller's.
	if _, err := client.CoreV1().Services(api.Namespace).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: api.Service},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(aggregatedPort)}}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	if _, err := client.DiscoveryV1().EndpointSlices(api.Namespace).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: api.Service, Labels: map[string]string{
			discoveryv1.LabelServiceName: api.Service, discoveryv1.LabelManagedBy: "carotate-harness"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{NodeAddress}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](aggregatedPort), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{}); err != nil {
		return err
	}
	// The server's certificate is self-signed and made at its start: what
	// is under test is the client side (the proxy client certificate), so
	// the APIService does not verify the server's.
	_, err := dyn.Resource(apiServiceGVR).Create(ctx, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
		"metadata": map[string]any{"name": api.APIServiceName()},
		"spec": map[string]any{
			"group": api.Group, "version": api.Version, "groupPriorityMinimum": int64(1000), "versionPriority": int64(15),
			"insecureSkipTLSVerify": true,
			"service":               map[string]any{"namespace": api.Namespace, "name": api.Service, "port": int64(443)},
		},
	}}, metav1.CreateOptions{})
	return err
}

// RunAggregatedAPI is "cluster _aggregated-api": the server itself.
func RunAggregatedAPI(args []string) error {
	fs := flag.NewFlagSet("_aggregated-api", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig to read extension-apiserver-authentication with")
	listen := fs.String("listen", "", "address to serve on")
	group := fs.String("group", "", "API group")
	version := fs.String("version", "", "API version")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	s := &aggregatedServer{group: *group, version: *version}
	go s.follow(client)
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: *listen, Handler: s, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert, MinVersion: tls.VersionTLS12}}
	log.Printf("serving /apis/%s/%s on %s", *group, *version, *listen)
	return srv.ListenAndServeTLS("", "")
}

type aggregatedServer struct {
	group, version string

	mu      sync.Mutex
	pool    *x509.CertPool
	allowed []string
	users   []string
	source  string
}

// follow re-reads the requestheader settings every second; a failed read
// keeps the last ones (kube-apiserver restarts during the rotation).
func (s *aggregatedServer) follow(client kubernetes.Interface) {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cm, err := client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
		cancel()
		if err == nil {
			pool := x509.NewCertPool()
			caPEM := cm.Data["requestheader-client-ca-file"]
			if pool.AppendCertsFromPEM([]byte(caPEM)) {
				var allowed, users []string
				_ = json.Unmarshal([]byte(cm.Data["requestheader-allowed-names"]), &allowed)
				_ = json.Unmarshal([]byte(cm.Data["requestheader-username-headers"]), &users)
				if len(users) == 0 {
					users = []string{"X-Remote-User"}
				}
				s.mu.Lock()
				if caPEM != s.source {
					log.Printf("requestheader-client-ca-file now holds %d certificates (allowed names %v)", strings.Count(caPEM, "BEGIN CERTIFICATE"), allowed)
				}
				s.pool, s.allowed, s.users, s.source = pool, allowed, users, caPEM
				s.mu.Unlock()
			}
		}
		time.Sleep(time.Second)
	}
}

// authenticate is the user of a request the aggregator proxied, or why
// it is refused.
func (s *aggregatedServer) authenticate(r *http.Request) (string, error) {
	s.mu.Lock()
	pool, allowed, users := s.pool, s.allowed, s.users
	s.mu.Unlock()
	if pool == nil {
		return "", errors.New("no requestheader-client-ca-file read yet")
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", errors.New("no client certificate")
	}
	leaf := r.TLS.PeerCertificates[0]
	inter := x509.NewCertPool()
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return "", fmt.Errorf("client certificate %q (issuer %q): %w", leaf.Subject.CommonName, leaf.Issuer.CommonName, err)
	}
	if len(allowed) > 0 && !slices.Contains(allowed, leaf.Subject.CommonName) {
		return "", fmt.Errorf("client certificate %q is not one of requestheader-allowed-names %v", leaf.Subject.CommonName, allowed)
	}
	for _, h := range users {
		if u := r.Header.Get(h); u != "" {
			return u, nil
		}
	}
	return "", fmt.Errorf("no user in %v", users)
}

func (s *aggregatedServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, err := s.authenticate(r)
	if err != nil {
		log.Printf("%s %s: 401: %v", r.Method, r.URL.Path, err)
		http.Error(w, "Unauthorized: "+err.Error(), http.StatusUnauthorized)
		return
	}
	gv := s.group + "/" + s.version
	var body any
	switch r.URL.Path {
	case "/apis/" + gv:
		body = map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": []any{}}
	case "/apis/" + s.group:
		body = map[string]any{"kind": "APIGroup", "apiVersion": "v1", "name": s.group,
			"versions": []any{map[string]any{"groupVersion": gv, "version": s.version}}, "preferredVersion": map[string]any{"groupVersion": gv, "version": s.version}}
	case "/apis":
		body = map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{map[string]any{"name": s.group,
			"versions": []any{map[string]any{"groupVersion": gv, "version": s.version}}, "preferredVersion": map[string]any{"groupVersion": gv, "version": s.version}}}}
	default:
		http.NotFound(w, r)
		return
	}
	log.Printf("%s %s: 200 for %s via %s (issuer %s)", r.Method, r.URL.Path, user, r.TLS.PeerCertificates[0].Subject.CommonName, r.TLS.PeerCertificates[0].Issuer.CommonName)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body)
}

// selfSigned is the server's serving certificate, made at start.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "carotate-aggregated-api"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP(NodeAddress)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
