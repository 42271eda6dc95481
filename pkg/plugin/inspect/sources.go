package inspect

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// parseObject recognises configmap/NS/NAME and secret/NS/NAME (also
// cm/..., configmaps/..., secrets/...). isObj is false for anything that
// does not start with such a kind, which is then a file path.
func parseObject(s string) (kind, ns, name string, isObj bool, err error) {
	parts := strings.Split(s, "/")
	switch strings.ToLower(parts[0]) {
	case "configmap", "configmaps", "cm":
		kind = "configmap"
	case "secret", "secrets":
		kind = "secret"
	default:
		return "", "", "", false, nil
	}
	if _, statErr := os.Stat(s); statErr == nil {
		return "", "", "", false, nil // a file that happens to be named like an object
	}
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return kind, "", "", true, fmt.Errorf("%q: write %s/NAMESPACE/NAME", s, kind)
	}
	return kind, parts[1], parts[2], true, nil
}

func (o *InspectOptions) readSource(ctx context.Context, s string, getClient func() (kubernetes.Interface, error)) sourceResult {
	kind, ns, name, isObj, _ := parseObject(s)
	if !isObj {
		var data []byte
		var err error
		if s == "-" {
			data, err = io.ReadAll(o.In)
			s = "stdin"
		} else {
			data, err = os.ReadFile(s)
		}
		if err != nil {
			return sourceResult{Source: s, Error: err.Error()}
		}
		return parse(s, data)
	}
	source := fmt.Sprintf("%s/%s/%s[%s]", kind, ns, name, o.Key)
	client, err := getClient()
	if err != nil {
		return sourceResult{Source: source, Error: err.Error()}
	}
	data, err := cluster.ObjectKey(ctx, client, kind, ns, name, o.Key)
	if err != nil {
		return sourceResult{Source: source, Error: source + ": " + err.Error()}
	}
	return parse(source, data)
}

func parse(source string, data []byte) sourceResult {
	certs, err := checks.ParseCertificates(source, data)
	if err != nil {
		return sourceResult{Source: source, Error: err.Error()}
	}
	return sourceResult{Source: source, certs: certs}
}

// readLive reads the three places a rotation changes, and checks the
// serving chain against the other two. With a timeout (one context of
// several), the row says when that was what stopped a read.
func readLive(ctx context.Context, f cmdutil.Factory, timeout time.Duration) ([]sourceResult, []verification) {
	failed := func(err error) string {
		if timeout > 0 && ctx.Err() != nil {
			return fmt.Sprintf("no answer within %s (%s)", timeout, cluster.ShortError(err))
		}
		return err.Error()
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return []sourceResult{{Source: "kubeconfig", Error: err.Error()}}, nil
	}
	kubeconfigCA := readKubeconfigCA(cfg)

	rootCA := sourceResult{Source: "configmap/kube-system/kube-root-ca.crt[ca.crt]"}
	if client, err := f.Clientset(); err != nil {
		rootCA.Error = err.Error()
	} else if data, err := cluster.ObjectKey(ctx, client, "configmap", metav1.NamespaceSystem, cluster.RootCAConfigMap, cluster.RootCAKey); err != nil {
		rootCA.Error = rootCA.Source + ": " + failed(err)
	} else {
		rootCA = parse(rootCA.Source, data)
	}

	serving := sourceResult{Source: "serving chain of " + cfg.Host}
	if chain, err := cluster.FetchServingChain(ctx, cfg); err != nil {
		serving.Error = failed(err)
	} else {
		serving.certs = chain
	}

	var verify []verification
	if serving.Error == "" {
		for _, against := range []sourceResult{kubeconfigCA, rootCA} {
			if against.Error == "" {
				verify = append(verify, verification{Chain: serving.Source, Against: against.Source, Verifies: checks.ChainVerifies(serving.certs, against.certs)})
			}
		}
	}
	return []sourceResult{kubeconfigCA, rootCA, serving}, verify
}

// readKubeconfigCA is the CA the current context trusts.
func readKubeconfigCA(cfg *rest.Config) sourceResult {
	switch {
	case len(cfg.TLSClientConfig.CAData) > 0:
		return parse("kubeconfig CA", cfg.TLSClientConfig.CAData)
	case cfg.TLSClientConfig.CAFile != "":
		data, err := os.ReadFile(cfg.TLSClientConfig.CAFile)
		if err != nil {
			return sourceResult{Source: "kubeconfig CA", Error: "kubeconfig CA: " + err.Error()}
		}
		return parse("kubeconfig CA ("+cfg.TLSClientConfig.CAFile+")", data)
	case cfg.TLSClientConfig.Insecure:
		return sourceResult{Source: "kubeconfig CA", Error: "kubeconfig CA: the context skips TLS verification (insecure-skip-tls-verify) and names no CA"}
	}
	return sourceResult{Source: "kubeconfig CA", Error: "kubeconfig CA: the context names no CA (it trusts the system roots)"}
}
