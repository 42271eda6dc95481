// Command copies benchmarks "kubectl carotate verify --only copies" on a
// cluster with many Secrets and ConfigMaps (20,000 of each by default):
// wall time and the peak resident memory of the plugin process, which must
// stay within -max-rss-mib (64 MiB), against a baseline measured in the same
// run on the same objects: "kubectl get secrets,configmaps -A -o json",
// which lists them in 500-object chunks but keeps them all.
//
// The objects are made to look like a cluster's: most a few KiB (an app's
// configuration, a password and a token, a TLS Secret with its ca.crt), one
// in a hundred of hundreds of KiB (a ConfigMap with a system trust store of
// 140 certificates, up to three times over; a Secret with an opaque
// keystore), and one in fifty a copy of the cluster CA (a ConfigMap with a
// ca.pem, a Secret with a stored kubeconfig), which verify must find, every
// one. It starts its own local control plane (test/localcluster) and stops
// it at the end.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/hack/bench/benchutil"
	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// hold: set up and wait instead of measuring.
var hold bool

type result struct {
	Secrets    int     `json:"secrets"`
	ConfigMaps int     `json:"configMaps"`
	Large      int     `json:"largeObjects"`
	DataMiB    float64 `json:"dataMiB"`
	Copies     int     `json:"copiesOfTheOldCA"`
	benchutil.Comparison
}

func main() {
	secrets := flag.Int("secrets", 20000, "Secrets to create")
	configMaps := flag.Int("configmaps", 20000, "ConfigMaps to create")
	namespaces := flag.Int("namespaces", 200, "namespaces to spread them over")
	maxRSS := flag.Int64("max-rss-mib", 64, "fail when verify's peak RSS exceeds this many MiB")
	runs := flag.Int("runs", 3, "verify runs; the report takes the slowest time and the largest RSS")
	out := flag.String("json", "", "also write the result as JSON to this file")
	plugin := flag.String("plugin", "", "the kubectl-carotate binary to measure, built as the release builds it (default: the developer build in the bin dir)")
	flag.BoolVar(&hold, "hold", false, "set up, print KUBECONFIG and the CA files, and wait for Ctrl-C instead of measuring (to profile by hand)")
	flag.Parse()
	if err := run(*plugin, *secrets, *configMaps, *namespaces, *maxRSS, *runs, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench-copies:", err)
		os.Exit(1)
	}
}

func run(plugin string, nSecrets, nConfigMaps, nNamespaces int, maxRSSMiB int64, runs int, out string) (err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	s, err := benchutil.Start(ctx, "copies", plugin)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, s.Stop()) }()
	cluster, client, dir := s.Cluster, s.Client, s.Dir
	newCA, err := localcluster.NewCA("kubernetes-new", 24*time.Hour)
	if err != nil {
		return err
	}
	oldPEM := cluster.PKI.CA.CertPEM
	d, err := newData(oldPEM, checks.BuildBundle([]*x509.Certificate{newCA.Cert}, []*x509.Certificate{cluster.PKI.CA.Cert}))
	if err != nil {
		return err
	}
	res := result{Secrets: nSecrets, ConfigMaps: nConfigMaps}
	if err := d.create(ctx, client, nSecrets, nConfigMaps, nNamespaces, &res); err != nil {
		return err
	}

	bundleFile, oldFile := filepath.Join(dir, "bundle.crt"), filepath.Join(dir, "old.crt")
	if err := os.WriteFile(bundleFile, d.bundle, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(oldFile, oldPEM, 0o644); err != nil {
		return err
	}
	if hold {
		fmt.Printf("export KUBECONFIG=%s\n# kubectl carotate verify --only copies --ca %s --old-ca %s\n# Ctrl-C stops the cluster\n", cluster.Kubeconfig, bundleFile, oldFile)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		return nil
	}
	args := []string{"verify", "--only", "copies", "--ca", bundleFile, "--old-ca", oldFile}
	want := fmt.Sprintf("%d place(s) trust the old CA alone, %d trust it next to the new one", res.Copies, d.both)
	p, err := s.MeasurePlugin(ctx, runs, []int{0, 1}, func(stdout string) error {
		if !strings.Contains(stdout, want) {
			return fmt.Errorf("verify did not find every copy (want %q):\n%s", want, firstLines(stdout, 12))
		}
		return nil
	}, args...)
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	r, err := benchutil.Measure(ctx, cluster.Kubeconfig, filepath.Join(s.BinDir, "kubectl"), nil, "get", "secrets,configmaps", "-A", "-o", "json")
	if err != nil {
		return fmt.Errorf("kubectl get: %w", err)
	}
	res.Comparison = benchutil.Compare(p, r, maxRSSMiB)

	fmt.Printf("bench-copies: %d Secrets + %d ConfigMaps (%.0f MiB of values, %d of hundreds of KiB), %d copies of the old CA\n",
		nSecrets, nConfigMaps, res.DataMiB, res.Large, res.Copies)
	return res.Finish("bench-copies", "verify --only copies", "kubectl get secrets,configmaps -A -o json", out, res)
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// data is what the objects are made of.
type data struct {
	oldPEM, bundle []byte
	// trustStore is a system CA bundle's worth of certificates (140).
	trustStore      []byte
	tlsCert, tlsKey []byte
	both            int // objects whose copy holds old and new (TLS ca.crt)
}

func newData(oldPEM, bundle []byte) (*data, error) {
	d := &data{oldPEM: oldPEM, bundle: bundle}
	// One RSA key signs 140 self-signed CAs: a trust store as large as
	// Debian's ca-certificates, without 140 key generations.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	var store strings.Builder
	for i := range 140 {
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: fmt.Sprintf("Bench Root CA %03d", i), Organization: []string{"Bench Trust Services"}},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(10 * 365 * 24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
			KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(&store, "# Bench Root CA %03d\n", i)
		store.Write(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
		if i == 0 {
			d.tlsCert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
	}
	d.trustStore = []byte(store.String())
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		return nil, err
	}
	d.tlsKey = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	return d, nil
}

// words make configuration text of a given size.
var words = strings.Fields("replicas image pullPolicy resources limits requests memory cpu timeout retries endpoint region bucket " +
	"logLevel info debug featureFlags enabled disabled cache ttl maxConnections poolSize listen port metrics tracing sampler")

func text(r *mrand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		fmt.Fprintf(&b, "%s: %s-%d\n", words[r.IntN(len(words))], words[r.IntN(len(words))], r.IntN(10000))
	}
	return b.String()
}

func randomBytes(r *mrand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func kubeconfig(ca []byte) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster:\n    server: https://10.0.0.1:6443\n    certificate-authority-data: %s\n"+
		"contexts:\n- name: prod\n  context: {cluster: prod, user: ci}\ncurrent-context: prod\nusers:\n- name: ci\n  user:\n    token: %s\n",
		base64.StdEncoding.EncodeToString(ca), strings.Repeat("x", 900))
}

// configMap is ConfigMap i, made the same on every call.
func (d *data) configMap(i int, ns string) (cm *corev1.ConfigMap, large, copies bool) {
	r := mrand.New(mrand.NewPCG(uint64(i), 1))
	cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("cm-%05d", i)}, Data: map[string]string{}}
	switch {
	case i%100 == 0:
		// A trust store, one to three times over (170 to 510 KiB).
		cm.Data["ca-certificates.crt"] = strings.Repeat(string(d.trustStore), 1+i/100%3)
		large = true
	case i%50 == 1:
		cm.Data["ca.pem"] = string(d.oldPEM)
		cm.Data["app.yaml"] = text(r, 1<<10)
		copies = true
	default:
		cm.Data["app.yaml"] = text(r, 1<<10+r.IntN(7<<10))
	}
	return cm, large, copies
}

// secret is Secret i, made the same on every call.
func (d *data) secret(i int, ns string) (s *corev1.Secret, large, copies, both bool) {
	r := mrand.New(mrand.NewPCG(uint64(i), 2))
	s = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("secret-%05d", i)}, Data: map[string][]byte{}}
	switch {
	case i%100 == 0:
		// An opaque keystore of 100 to 500 KiB.
		s.Data["keystore.jks"] = randomBytes(r, 100<<10+r.IntN(400<<10))
		large = true
	case i%50 == 1:
		s.Data["kubeconfig"] = []byte(kubeconfig(d.oldPEM))
		copies = true
	case i%20 == 2:
		s.Type = corev1.SecretTypeTLS
		s.Data["tls.crt"], s.Data["tls.key"], s.Data["ca.crt"] = d.tlsCert, d.tlsKey, d.bundle
		both = true
	default:
		s.Data["password"] = randomBytes(r, 32)
		s.Data["token"] = []byte(base64.StdEncoding.EncodeToString(randomBytes(r, 512)))
		s.Data["config.json"] = []byte(text(r, 1<<10+r.IntN(3<<10)))
	}
	return s, large, copies, both
}

// create makes the namespaces and the objects, 64 requests at a time. The
// objects are made as they are sent, not kept: this process's memory
// counts in the children's peak RSS (see benchutil.Measure).
func (d *data) create(ctx context.Context, client kubernetes.Interface, nSecrets, nConfigMaps, nNamespaces int, res *result) error {
	ns := func(i int) string { return fmt.Sprintf("bench-%03d", i%nNamespaces) }
	if err := benchutil.CreateAll(ctx, "namespaces", nNamespaces, 16, func(ctx context.Context, i int) error {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns(i)}}, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	var bytes int64
	for i := range nConfigMaps {
		cm, large, copies := d.configMap(i, ns(i))
		for _, v := range cm.Data {
			bytes += int64(len(v))
		}
		res.Large, res.Copies = res.Large+b2i(large), res.Copies+b2i(copies)
	}
	for i := range nSecrets {
		s, large, copies, both := d.secret(i, ns(i))
		for _, v := range s.Data {
			bytes += int64(len(v))
		}
		res.Large, res.Copies, d.both = res.Large+b2i(large), res.Copies+b2i(copies), d.both+b2i(both)
	}
	res.DataMiB = float64(bytes) / (1 << 20)
	if err := benchutil.CreateAll(ctx, "ConfigMaps", nConfigMaps, 64, func(ctx context.Context, i int) error {
		cm, _, _ := d.configMap(i, ns(i))
		_, err := client.CoreV1().ConfigMaps(cm.Namespace).Create(ctx, cm, metav1.CreateOptions{})
		return ignoreExists(err)
	}); err != nil {
		return err
	}
	return benchutil.CreateAll(ctx, "Secrets", nSecrets, 64, func(ctx context.Context, i int) error {
		s, _, _, _ := d.secret(i, ns(i))
		_, err := client.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{})
		return ignoreExists(err)
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ignoreExists: a create retried after its answer was lost finds the object.
func ignoreExists(err error) error {
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}
