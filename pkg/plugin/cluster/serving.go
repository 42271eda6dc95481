package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// An endpoint address of default/kubernetes is often a node or pod network
// address this machine cannot reach: one quick try, no retries.
const endpointTimeout = 5 * time.Second

// servingChainTimeout bounds one TLS handshake: an API server that is
// restarting refuses the connection at once, one that hangs must not block a
// command for minutes.
const servingChainTimeout = 10 * time.Second

// FetchServingChain does a TLS handshake with the API server of cfg and
// returns the certificates it presents, leaf first. It does not verify
// them: the point is to see what the server serves, so callers can check it
// against the CA a rotation phase expects (checks.ChainVerifies). Nothing is sent
// after the handshake. HTTP proxies configured for the client are not used:
// the chain seen through a TLS-terminating proxy would not be the API
// server's anyway.
func FetchServingChain(ctx context.Context, cfg *rest.Config) ([]*x509.Certificate, error) {
	addr, serverName, err := ServingChainAddress(cfg)
	if err != nil {
		return nil, err
	}
	var chain []*x509.Certificate
	err = WithRetry(ctx, func() error {
		hctx, cancel := context.WithTimeout(ctx, servingChainTimeout)
		defer cancel()
		d := tls.Dialer{
			NetDialer: &net.Dialer{},
			Config: &tls.Config{
				ServerName: serverName,
				// We verify the chain ourselves against the CA in question;
				// the kubeconfig's CA may be the one being replaced.
				InsecureSkipVerify: true, //nolint:gosec // inspection only, no data is exchanged
				MinVersion:         tls.VersionTLS12,
			},
		}
		conn, err := d.DialContext(hctx, "tcp", addr)
		if err != nil {
			return err
		}
		defer conn.Close()
		chain = conn.(*tls.Conn).ConnectionState().PeerCertificates
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("TLS handshake with the API server at %s: %w", addr, err)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("the API server at %s presented no certificate", addr)
	}
	return chain, nil
}

// ServingChainAddress is host:port and the TLS server name for cfg.Host,
// which may lack a scheme or a port ("10.0.0.1", "https://api:6443").
func ServingChainAddress(cfg *rest.Config) (addr, serverName string, err error) {
	host := cfg.Host
	if host == "" {
		return "", "", errors.New("the kubeconfig names no API server")
	}
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	u, err := url.Parse(host)
	if err != nil {
		return "", "", fmt.Errorf("API server address %q: %w", cfg.Host, err)
	}
	if u.Scheme != "https" {
		return "", "", fmt.Errorf("the API server %s is not served over HTTPS: there is no serving chain to check", cfg.Host)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	serverName = cfg.TLSClientConfig.ServerName
	if serverName == "" {
		serverName = u.Hostname()
	}
	return net.JoinHostPort(u.Hostname(), port), serverName, nil
}

// ServingCAMissing fetches the API server's serving chain and tells, when
// certs do not hold the CA that verifies it, what the server presents
// ("CN=kube-apiserver, issued by CN=kubernetes"); "" when they do. What a
// rotation records as the old CA and what bundle writes into every
// kube-root-ca.crt must hold that CA: before step 9.3 it is the old CA,
// after it the new one, and a root CA without it cuts every pod restarted
// after the write off the API server.
func ServingCAMissing(ctx context.Context, cfg *rest.Config, certs []*x509.Certificate) (string, error) {
	chain, err := FetchServingChain(ctx, cfg)
	if err != nil {
		return "", err
	}
	if checks.ChainVerifies(chain, certs) {
		return "", nil
	}
	return fmt.Sprintf("%s, issued by %s", chain[0].Subject, chain[0].Issuer), nil
}

// APIEndpoints lists the addresses of default/kubernetes, where every
// API server of the cluster registers itself.
func APIEndpoints(ctx context.Context, client kubernetes.Interface) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	slices := client.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	_, err := Each(ctx, PageSize, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=kubernetes"},
		func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) { return slices.List(ctx, lo) },
		func() { out, seen = nil, map[string]bool{} },
		func(s *discoveryv1.EndpointSlice) {
			for _, p := range s.Ports {
				if p.Port == nil {
					continue
				}
				for _, ep := range s.Endpoints {
					if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
						continue
					}
					for _, a := range ep.Addresses {
						hp := net.JoinHostPort(a, strconv.Itoa(int(*p.Port)))
						if !seen[hp] {
							seen[hp] = true
							out = append(out, hp)
						}
					}
				}
			}
		})
	return out, err
}

// DialChain is one handshake with one address, presenting the
// kubeconfig's server name, without verifying: what is served is the
// question.
func DialChain(ctx context.Context, addr, serverName string) ([]*x509.Certificate, error) {
	ctx, cancel := context.WithTimeout(ctx, endpointTimeout)
	defer cancel()
	d := tls.Dialer{Config: &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, //nolint:gosec // inspection only, no data is exchanged
		MinVersion:         tls.VersionTLS12,
	}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	chain := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(chain) == 0 {
		return nil, fmt.Errorf("%s presented no certificate", addr)
	}
	return chain, nil
}
