package localcluster

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CertKey is a certificate with its private key, in parsed and PEM form.
type CertKey struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// CertSpec describes a certificate to issue from a CA.
type CertSpec struct {
	CommonName    string
	Organizations []string
	DNSNames      []string
	IPs           []net.IP
	Client        bool
	Server        bool
	Validity      time.Duration // default one year
}

// NewCA makes a self-signed CA the way kubeadm does (CA:true, certSign).
func NewCA(commonName string, validity time.Duration) (*CertKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(),
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	return sign(tmpl, tmpl, key, key)
}

// Issue signs a leaf certificate for spec with this CA.
func (ca *CertKey) Issue(spec CertSpec) (*CertKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if spec.Validity == 0 {
		spec.Validity = 365 * 24 * time.Hour
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(spec.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		DNSNames:     spec.DNSNames,
		IPAddresses:  spec.IPs,
	}
	if spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	return sign(tmpl, ca.Cert, key, ca.Key)
}

func sign(tmpl, parent *x509.Certificate, key *ecdsa.PrivateKey, parentKey crypto.Signer) (*CertKey, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &CertKey{
		Cert:    cert,
		Key:     key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}, nil
}

func randomSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return n
}

// Write stores the pair as dir/name.crt (0644) and dir/name.key (0600).
func (ck *CertKey) Write(dir, name string) error {
	if err := os.WriteFile(filepath.Join(dir, name+".crt"), ck.CertPEM, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".key"), ck.KeyPEM, 0o600)
}

// PKI is the cluster's public key infrastructure, laid out as kubeadm lays
// out /etc/kubernetes/pki so that printed instructions name familiar files.
type PKI struct {
	Dir string

	CA                *CertKey // the cluster CA: clients, serving, ServiceAccount root CA
	FrontProxyCA      *CertKey // requestheader CA for aggregated API servers
	ServiceAccountKey *rsa.PrivateKey

	APIServer              *CertKey
	APIServerKubeletClient *CertKey
	FrontProxyClient       *CertKey
	Admin                  *CertKey
	ControllerManager      *CertKey
	Scheduler              *CertKey
	KWOK                   *CertKey // KWOK's client identity and its kubelet serving cert
}

// NewPKI generates every certificate the local control plane uses, signed by
// ca (a new CA when nil), and writes them under dir.
func NewPKI(dir string, ca *CertKey) (*PKI, error) {
	var err error
	if ca == nil {
		if ca, err = NewCA("kubernetes", 10*365*24*time.Hour); err != nil {
			return nil, err
		}
	}
	p := &PKI{Dir: dir, CA: ca}
	if p.FrontProxyCA, err = NewCA("front-proxy-ca", 10*365*24*time.Hour); err != nil {
		return nil, err
	}
	if p.ServiceAccountKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		return nil, err
	}
	loopback := []net.IP{net.ParseIP("127.0.0.1")}
	issue := []struct {
		dst  **CertKey
		ca   *CertKey
		spec CertSpec
	}{
		{&p.APIServer, ca, CertSpec{CommonName: "kube-apiserver", Server: true, IPs: append(loopback, net.ParseIP("10.96.0.1")),
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}}},
		{&p.APIServerKubeletClient, ca, CertSpec{CommonName: "kube-apiserver-kubelet-client", Organizations: []string{"kubeadm:cluster-admins"}, Client: true}},
		{&p.FrontProxyClient, p.FrontProxyCA, CertSpec{CommonName: "front-proxy-client", Client: true}},
		{&p.Admin, ca, CertSpec{CommonName: "kubernetes-admin", Organizations: []string{"system:masters"}, Client: true}},
		{&p.ControllerManager, ca, CertSpec{CommonName: "system:kube-controller-manager", Client: true}},
		{&p.Scheduler, ca, CertSpec{CommonName: "system:kube-scheduler", Client: true}},
		{&p.KWOK, ca, CertSpec{CommonName: "kwok", Organizations: []string{"system:masters"}, Client: true, Server: true, IPs: loopback, DNSNames: []string{"localhost"}}},
	}
	for _, i := range issue {
		if *i.dst, err = i.ca.Issue(i.spec); err != nil {
			return nil, err
		}
	}
	return p, p.write()
}

func (p *PKI) write() error {
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return err
	}
	files := map[string]*CertKey{
		"ca": p.CA, "front-proxy-ca": p.FrontProxyCA, "apiserver": p.APIServer,
		"apiserver-kubelet-client": p.APIServerKubeletClient, "front-proxy-client": p.FrontProxyClient,
		"admin": p.Admin, "controller-manager": p.ControllerManager, "scheduler": p.Scheduler, "kwok": p.KWOK,
	}
	for name, ck := range files {
		if err := ck.Write(p.Dir, name); err != nil {
			return err
		}
	}
	_, _, err := WriteKeyPair(p.Dir, "sa", p.ServiceAccountKey)
	return err
}

// WriteKeyPair writes key as kubeadm writes the ServiceAccount key pair:
// dir/name.key (PKCS#8 PEM, 0600) and its public half dir/name.pub (PKIX
// PEM). It returns both paths.
func WriteKeyPair(dir, name string, key *rsa.PrivateKey) (keyFile, pubFile string, err error) {
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	keyFile, pubFile = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return "", "", err
	}
	return keyFile, pubFile, nil
}

// Path is the absolute path of a file in the PKI directory.
func (p *PKI) Path(name string) string { return filepath.Join(p.Dir, name) }

// WriteFile writes a new file into the PKI directory and returns its path.
// Components watch their certificate files, so a rotation writes new files
// and restarts with new paths rather than rewriting files in place.
func (p *PKI) WriteFile(name string, data []byte) (string, error) {
	path := p.Path(name)
	if _, err := os.Stat(path); err == nil {
		return "", fmt.Errorf("%s exists: write a new file instead of rewriting one a component may watch", path)
	}
	return path, os.WriteFile(path, data, 0o644)
}
