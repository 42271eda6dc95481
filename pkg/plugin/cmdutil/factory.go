// Package cmdutil is the plumbing every command shares: the client factory,
// Complete -> Validate -> Run, the shared flags (--dry-run, -o, --undo-dir,
// -A, -n's refusal), exit codes, printing, and the RBAC preflight. It holds
// no command and reads no cluster state for judging (that is package
// cluster's).
package cmdutil

import (
	"io"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/transport"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// Client-go's defaults (5 QPS, burst 10) make a cluster-wide pass over
// thousands of objects take minutes; kubectl itself uses 50/300. We pick the
// same order of magnitude and let the admin lower it on a fragile apiserver.
const (
	DefaultQPS   = 50
	DefaultBurst = 100
)

// BuildInfo is what the release build stamps into the binary.
type BuildInfo struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
	Date    string `json:"date"`
}

// Factory hands a command what it talks to the cluster with. Commands take
// every client from it and never build their own, so a test swaps one
// piece (a client, the kubeconfig) without faking the world.
type Factory interface {
	// RESTConfig is the chosen kubeconfig context's client configuration,
	// with our rate limit, user agent and stall tracking.
	RESTConfig() (*rest.Config, error)
	// Clientset is a typed client speaking JSON.
	Clientset() (kubernetes.Interface, error)
	// ProtobufClientset is a typed client speaking protobuf, for the
	// cluster-wide passes: decoding a page of 500 objects costs a fraction
	// of JSON. qps and burst override the rate limit when qps is not 0;
	// wrap sees every request (a pass's Pace).
	ProtobufClientset(qps float32, burst int, wrap ...transport.WrapperFunc) (kubernetes.Interface, error)
	DynamicClient() (dynamic.Interface, error)
	MetadataClient() (metadata.Interface, error)
	// RawKubeConfigLoader is the kubeconfig as the kubectl flags select it.
	RawKubeConfigLoader() clientcmd.ClientConfig
	// ExplicitNamespace is -n as given on the command line: the namespace
	// a kubeconfig context carries does not narrow a cluster-wide command.
	ExplicitNamespace() string
	// KubeconfigNames are the context and cluster in use (after --context
	// and --cluster) and the --kubeconfig file, "" when unknown.
	KubeconfigNames() (context, cluster, file string)
	// RateLimit is the --qps and --burst in effect.
	RateLimit() (float32, int)
	// Contexts are the kubeconfig's context names, sorted.
	Contexts() ([]string, error)
	// ForContext is a factory for another context of the same kubeconfig,
	// with the same rate limit and --request-timeout.
	ForContext(name string) Factory
	// RequestTimeout is --request-timeout, 0 when not given.
	RequestTimeout() time.Duration
}

// Env is what the root gives every command: the streams, the client
// factory and the build.
type Env struct {
	genericiooptions.IOStreams
	Factory
	Build BuildInfo
}

// ConfigFactory is the Factory of the kubectl flags (cli-runtime's
// ConfigFlags) and our --qps/--burst.
type ConfigFactory struct {
	ConfigFlags *genericclioptions.ConfigFlags
	QPS         float32
	Burst       int
	UserAgent   string
	// StallOut receives the stall watchdog's lines; nil keeps it quiet.
	StallOut io.Writer

	watchdog sync.Once
}

// NewConfigFactory is the factory of the root command's flags.
func NewConfigFactory(flags *genericclioptions.ConfigFlags, userAgent string, stallOut io.Writer) *ConfigFactory {
	return &ConfigFactory{ConfigFlags: flags, QPS: DefaultQPS, Burst: DefaultBurst, UserAgent: userAgent, StallOut: stallOut}
}

// RESTConfig implements Factory.
func (f *ConfigFactory) RESTConfig() (*rest.Config, error) {
	cfg, err := f.ConfigFlags.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS = f.QPS
	cfg.Burst = f.Burst
	cfg.UserAgent = f.UserAgent
	cfg.Wrap(cluster.Stalls.Wrap(time.Now))
	f.watchdog.Do(func() {
		if f.StallOut == nil {
			return
		}
		// It lives as long as the process: one command per process.
		go cluster.Stalls.Watch(f.StallOut, cfg.Host, time.NewTicker(cluster.StallEvery).C, time.Now, nil)
	})
	return cfg, nil
}

// Clientset implements Factory.
func (f *ConfigFactory) Clientset() (kubernetes.Interface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// ProtobufClientset implements Factory. Patches keep their own JSON
// content type.
func (f *ConfigFactory) ProtobufClientset(qps float32, burst int, wrap ...transport.WrapperFunc) (kubernetes.Interface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	if qps != 0 {
		cfg.QPS, cfg.Burst = qps, burst
	}
	for _, w := range wrap {
		cfg.Wrap(w)
	}
	cfg.ContentType = runtime.ContentTypeProtobuf
	cfg.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(cfg)
}

// DynamicClient implements Factory.
func (f *ConfigFactory) DynamicClient() (dynamic.Interface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(cfg)
}

// MetadataClient implements Factory.
func (f *ConfigFactory) MetadataClient() (metadata.Interface, error) {
	cfg, err := f.RESTConfig()
	if err != nil {
		return nil, err
	}
	return metadata.NewForConfig(cfg)
}

// RawKubeConfigLoader implements Factory.
func (f *ConfigFactory) RawKubeConfigLoader() clientcmd.ClientConfig {
	return f.ConfigFlags.ToRawKubeConfigLoader()
}

// ExplicitNamespace implements Factory.
func (f *ConfigFactory) ExplicitNamespace() string {
	if f != nil && f.ConfigFlags != nil && f.ConfigFlags.Namespace != nil {
		return *f.ConfigFlags.Namespace
	}
	return ""
}

// KubeconfigNames implements Factory.
func (f *ConfigFactory) KubeconfigNames() (contextName, clusterName, file string) {
	flags := f.ConfigFlags
	if flags.KubeConfig != nil {
		file = *flags.KubeConfig
	}
	raw, err := flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return "", "", file
	}
	contextName = raw.CurrentContext
	if flags.Context != nil && *flags.Context != "" {
		contextName = *flags.Context
	}
	if c, ok := raw.Contexts[contextName]; ok {
		clusterName = c.Cluster
	} else {
		contextName = ""
	}
	if flags.ClusterName != nil && *flags.ClusterName != "" {
		clusterName = *flags.ClusterName
	}
	return contextName, clusterName, file
}

// RateLimit implements Factory.
func (f *ConfigFactory) RateLimit() (float32, int) { return f.QPS, f.Burst }

// Contexts implements Factory.
func (f *ConfigFactory) Contexts() ([]string, error) {
	raw, err := f.ConfigFlags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, err
	}
	var names []string
	for n := range raw.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// ForContext implements Factory. The new flags carry the kubeconfig file
// and the request timeout only: every other setting (user, cluster,
// namespace) is the context's own.
func (f *ConfigFactory) ForContext(name string) Factory {
	flags := genericclioptions.NewConfigFlags(true)
	flags.KubeConfig = f.ConfigFlags.KubeConfig
	flags.Timeout = f.ConfigFlags.Timeout
	flags.Context = &name
	// The stall watchdog speaks for one API server; a fleet has many.
	return &ConfigFactory{ConfigFlags: flags, QPS: f.QPS, Burst: f.Burst, UserAgent: f.UserAgent}
}

// RequestTimeout implements Factory.
func (f *ConfigFactory) RequestTimeout() time.Duration {
	if f.ConfigFlags.Timeout == nil || *f.ConfigFlags.Timeout == "" || *f.ConfigFlags.Timeout == "0" {
		return 0
	}
	d, err := time.ParseDuration(*f.ConfigFlags.Timeout)
	if err != nil {
		return 0
	}
	return d
}
