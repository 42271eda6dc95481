package plugin

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// InspectOptions is "kubectl carotate inspect".
type InspectOptions struct {
	*Common
	Cluster bool
	Key     string
	Output  string
	sources []string
	now     func() time.Time
}

// NewCmdInspect is "kubectl carotate inspect".
func NewCmdInspect(c *Common) *cobra.Command {
	o := &InspectOptions{Common: c, Key: rootCAKey, now: time.Now}
	cmd := &cobra.Command{
		Use:   "inspect [FILE | configmap/NS/NAME | secret/NS/NAME]... [--cluster]",
		Short: "Show the certificates in a file, a ConfigMap, a Secret or the cluster",
		Long: `Show every certificate found in PEM files ("-" reads stdin), in a key of a
ConfigMap or Secret (--key, default ca.crt), or with --cluster in the places a
rotation changes: the CA of the current kubeconfig context, kube-system's
kube-root-ca.crt (what the controller-manager publishes to pods), and the
chain the API server presents in a TLS handshake, with whether that chain
verifies against the other two. Useful at any step of the upstream procedure
"Manually Rotate CA Certificates".

The table shortens fingerprints (SHA-256 of the certificate) to 16 hex
digits; -o json|yaml gives them in full with serials, key types and dates.
Private keys are never printed: a key given as input is an error.

Exit status: 0 when every source was read and parsed; 1 otherwise (the
sources that could be read are still shown).`,
		Example: `  kubectl carotate inspect new-ca.crt
  kubectl carotate inspect configmap/kube-system/kube-root-ca.crt secret/default/legacy-token
  kubectl carotate inspect --cluster
  kubectl carotate inspect --cluster -o json`,
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Cluster, "cluster", o.Cluster, "Show the kubeconfig CA, kube-system/kube-root-ca.crt and the API server's serving chain")
	f.StringVar(&o.Key, "key", o.Key, "The ConfigMap or Secret key to read")
	addOutputFlag(cmd, &o.Output)
	noNamespace(cmd, "name the namespace in the argument: configmap/NAMESPACE/NAME or secret/NAMESPACE/NAME")
	return cmd
}

// Validate checks the arguments.
// Complete takes the sources from the arguments.
func (o *InspectOptions) Complete(_ *cobra.Command, args []string) error {
	o.sources = args
	return nil
}

// Validate checks the flags and sources.
func (o *InspectOptions) Validate() error {
	if len(o.sources) == 0 && !o.Cluster {
		return errors.New("nothing to inspect: give a FILE, configmap/NS/NAME, secret/NS/NAME, or --cluster")
	}
	if o.Key == "" {
		return errors.New("--key must not be empty")
	}
	for _, s := range o.sources {
		if _, _, _, isObj, err := inspectParseObject(s); isObj && err != nil {
			return err
		}
	}
	return validateOutput(o.Output)
}

// inspectCert is one certificate with its days left at the time of the
// run.
type inspectCert struct {
	checks.CertInfo
	DaysLeft int `json:"daysLeft"`
}

// inspectSource is one input and what it held.
type inspectSource struct {
	Source       string        `json:"source"`
	Certificates []inspectCert `json:"certificates"`
	Error        string        `json:"error,omitempty"`
	certs        []*x509.Certificate
}

// inspectVerify says whether the serving chain verifies against a source.
type inspectVerify struct {
	Chain    string `json:"chain"`
	Against  string `json:"against"`
	Verifies bool   `json:"verifies"`
}

type inspectReport struct {
	Sources      []inspectSource `json:"sources"`
	Verification []inspectVerify `json:"verification,omitempty"`
}

// Run reads every source; one that fails does not hide the others.
func (o *InspectOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	now := o.now()
	report := &inspectReport{}
	var client kubernetes.Interface
	getClient := func() (kubernetes.Interface, error) {
		if client != nil {
			return client, nil
		}
		var err error
		client, err = o.Clientset()
		return client, err
	}
	for _, s := range o.sources {
		report.Sources = append(report.Sources, o.readSource(ctx, s, getClient))
	}
	if o.Cluster {
		cluster, verify := o.readCluster(ctx, getClient)
		report.Sources = append(report.Sources, cluster...)
		report.Verification = verify
	}
	failed := 0
	for i := range report.Sources {
		src := &report.Sources[i]
		src.Certificates = []inspectCert{}
		for _, c := range src.certs {
			src.Certificates = append(src.Certificates, inspectCert{CertInfo: checks.Describe(c), DaysLeft: checks.DaysLeft(c, now)})
		}
		if src.Error != "" {
			failed++
			fmt.Fprintf(o.ErrOut, "error: %s\n", src.Error)
		}
	}
	if err := printInspectReport(o.Common.Out, o.Output, report); err != nil {
		return err
	}
	if failed > 0 {
		return &ExitError{Code: 1, Err: fmt.Errorf("%d of %d sources could not be read", failed, len(report.Sources))}
	}
	return nil
}

// inspectParseObject recognises configmap/NS/NAME and secret/NS/NAME (also
// cm/..., configmaps/..., secrets/...). isObj is false for anything that
// does not start with such a kind, which is then a file path.
func inspectParseObject(s string) (kind, ns, name string, isObj bool, err error) {
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

func (o *InspectOptions) readSource(ctx context.Context, s string, getClient func() (kubernetes.Interface, error)) inspectSource {
	kind, ns, name, isObj, _ := inspectParseObject(s)
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
			return inspectSource{Source: s, Error: err.Error()}
		}
		return inspectParse(s, data)
	}
	source := fmt.Sprintf("%s/%s/%s[%s]", kind, ns, name, o.Key)
	client, err := getClient()
	if err != nil {
		return inspectSource{Source: source, Error: err.Error()}
	}
	data, err := inspectReadKey(ctx, client, kind, ns, name, o.Key)
	if err != nil {
		return inspectSource{Source: source, Error: source + ": " + err.Error()}
	}
	return inspectParse(source, data)
}

func inspectParse(source string, data []byte) inspectSource {
	certs, err := checks.ParseCertificates(source, data)
	if err != nil {
		return inspectSource{Source: source, Error: err.Error()}
	}
	return inspectSource{Source: source, certs: certs}
}

// inspectReadKey returns one key of a ConfigMap or Secret. A missing key's
// error lists the key names (never values) so the user can pick one.
func inspectReadKey(ctx context.Context, client kubernetes.Interface, kind, ns, name, key string) ([]byte, error) {
	var values map[string][]byte
	err := WithRetry(ctx, func() error {
		values = map[string][]byte{}
		if kind == "secret" {
			s, err := client.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			for k, v := range s.Data {
				values[k] = v
			}
			return nil
		}
		cm, err := client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for k, v := range cm.Data {
			values[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			values[k] = v
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	v, ok := values[key]
	if !ok {
		keys := make([]string, 0, len(values))
		for k := range values {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return nil, fmt.Errorf("no key %q (keys: %s); choose one with --key", key, strings.Join(keys, ", "))
	}
	return v, nil
}

// readCluster reads the three places a rotation changes, and checks the
// serving chain against the other two.
func (o *InspectOptions) readCluster(ctx context.Context, getClient func() (kubernetes.Interface, error)) ([]inspectSource, []inspectVerify) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return []inspectSource{{Source: "kubeconfig", Error: err.Error()}}, nil
	}
	kubeconfigCA := inspectKubeconfigCA(cfg)

	rootCA := inspectSource{Source: "configmap/kube-system/kube-root-ca.crt[ca.crt]"}
	if client, err := getClient(); err != nil {
		rootCA.Error = err.Error()
	} else if data, err := inspectReadKey(ctx, client, "configmap", metav1.NamespaceSystem, rootCAConfigMap, rootCAKey); err != nil {
		rootCA.Error = rootCA.Source + ": " + err.Error()
	} else {
		rootCA = inspectParse(rootCA.Source, data)
	}

	serving := inspectSource{Source: "serving chain of " + cfg.Host}
	if chain, err := fetchServingChain(ctx, cfg); err != nil {
		serving.Error = err.Error()
	} else {
		serving.certs = chain
	}

	var verify []inspectVerify
	if serving.Error == "" {
		for _, against := range []inspectSource{kubeconfigCA, rootCA} {
			if against.Error == "" {
				verify = append(verify, inspectVerify{Chain: serving.Source, Against: against.Source, Verifies: chainVerifies(serving.certs, against.certs)})
			}
		}
	}
	return []inspectSource{kubeconfigCA, rootCA, serving}, verify
}

// inspectKubeconfigCA is the CA the current context trusts.
func inspectKubeconfigCA(cfg *rest.Config) inspectSource {
	switch {
	case len(cfg.TLSClientConfig.CAData) > 0:
		return inspectParse("kubeconfig CA", cfg.TLSClientConfig.CAData)
	case cfg.TLSClientConfig.CAFile != "":
		data, err := os.ReadFile(cfg.TLSClientConfig.CAFile)
		if err != nil {
			return inspectSource{Source: "kubeconfig CA", Error: "kubeconfig CA: " + err.Error()}
		}
		return inspectParse("kubeconfig CA ("+cfg.TLSClientConfig.CAFile+")", data)
	case cfg.TLSClientConfig.Insecure:
		return inspectSource{Source: "kubeconfig CA", Error: "kubeconfig CA: the context skips TLS verification (insecure-skip-tls-verify) and names no CA"}
	}
	return inspectSource{Source: "kubeconfig CA", Error: "kubeconfig CA: the context names no CA (it trusts the system roots)"}
}

func printInspectReport(w io.Writer, format string, r *inspectReport) error {
	if format == outputJSON || format == outputYAML {
		return printStructured(w, format, r)
	}
	var rows [][]string
	for _, s := range r.Sources {
		for _, c := range s.Certificates {
			ca := "no"
			if c.IsCA {
				ca = "yes"
			}
			days := fmt.Sprint(c.DaysLeft)
			if c.DaysLeft < 0 {
				days = "expired"
			}
			rows = append(rows, []string{s.Source, c.Subject, c.Issuer, ca, c.NotAfter.UTC().Format(time.RFC3339), days,
				checks.ShortFingerprint(c.Fingerprint)})
		}
	}
	if len(rows) > 0 {
		if err := writeTable(w, []string{"source", "subject", "issuer", "ca", "not after", "days left", "fingerprint"}, rows); err != nil {
			return err
		}
	}
	for _, v := range r.Verification {
		answer := "no"
		if v.Verifies {
			answer = "yes"
		}
		if _, err := fmt.Fprintf(w, "%s verifies against %s: %s\n", v.Chain, v.Against, answer); err != nil {
			return err
		}
	}
	return nil
}
