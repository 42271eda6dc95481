package plugin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// servingChainTimeout bounds one TLS handshake: an API server that is
// restarting refuses the connection at once, one that hangs must not block a
// command for minutes.
const servingChainTimeout = 10 * time.Second

// fetchServingChain does a TLS handshake with the API server of cfg and
// returns the certificates it presents, leaf first. It does not verify
// them: the point is to see what the server serves, so callers can check it
// against the CA a rotation phase expects (chainVerifies). Nothing is sent
// after the handshake. HTTP proxies configured for the client are not used:
// the chain seen through a TLS-terminating proxy would not be the API
// server's anyway.
func fetchServingChain(ctx context.Context, cfg *rest.Config) ([]*x509.Certificate, error) {
	addr, serverName, err := servingChainAddress(cfg)
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

// servingChainAddress is host:port and the TLS server name for cfg.Host,
// which may lack a scheme or a port ("10.0.0.1", "https://api:6443").
func servingChainAddress(cfg *rest.Config) (addr, serverName string, err error) {
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

// chainVerifies tells whether a serving chain (leaf first, then what the
// server sent as intermediates) verifies, for server authentication and
// now, against roots alone. Host names are not checked: clients reach the
// API server under many names (kubernetes.default.svc, a load balancer), and
// the question here is only which CA the chain belongs to.
func chainVerifies(chain, roots []*x509.Certificate) bool {
	if len(chain) == 0 || len(roots) == 0 {
		return false
	}
	rootPool := x509.NewCertPool()
	for _, r := range roots {
		if r != nil {
			rootPool.AddCert(r)
		}
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         rootPool,
		Intermediates: inter,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	})
	return err == nil
}

// servingCAMissing fetches the API server's serving chain and tells, when
// certs do not hold the CA that verifies it, what the server presents
// ("CN=kube-apiserver, issued by CN=kubernetes"); "" when they do. What a
// rotation records as the old CA and what bundle writes into every
// kube-root-ca.crt must hold that CA: before step 9.3 it is the old CA,
// after it the new one, and a root CA without it cuts every pod restarted
// after the write off the API server.
func servingCAMissing(ctx context.Context, cfg *rest.Config, certs []*x509.Certificate) (string, error) {
	chain, err := fetchServingChain(ctx, cfg)
	if err != nil {
		return "", err
	}
	if chainVerifies(chain, certs) {
		return "", nil
	}
	return fmt.Sprintf("%s, issued by %s", chain[0].Subject, chain[0].Issuer), nil
}
