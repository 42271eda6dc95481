package plugin

import (
	"crypto/x509"
	"os"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// Every "next:" line verify and status print is a command an admin pastes
// mid-incident. checkRunnable parses one with a real shell parser and
// checks each call in it: kubectl carotate calls against our own command
// tree (the subcommand and its flags exist, each value is what the flag
// takes), other kubectl calls against the flags we print for them.

// TestVerifyNextLinesRunnable builds the findings of every check that
// prints a command, with the CAs from files and from the rotation record.
func TestVerifyNextLinesRunnable(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := newVerifyTestCA(t, dir, "old"), newVerifyTestCA(t, dir, "new")
	kubeconfig := dir + "/kubeconfig"
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters:
- name: my-cluster
  cluster: {server: "https://127.0.0.1:6443"}
users:
- name: me
  user: {token: abc}
contexts:
- name: my-context
  context: {cluster: my-cluster, user: me}
current-context: my-context
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, fromRecord := range []bool{false, true} {
		for _, expect := range []checks.Expect{checks.ExpectBundle, checks.ExpectNew} {
			want := []*x509.Certificate{newCA.cert}
			if expect == checks.ExpectBundle {
				want = append(want, oldCA.cert)
			}
			o := &VerifyOptions{rule: checks.NewCARule(expect, want, []*x509.Certificate{oldCA.cert})}
			if fromRecord {
				o.caKey, o.caName = rotationKeyBundle, "rotation r1's bundle (new+old)"
			} else {
				o.CAFile = dir + "/ca-bundle.crt"
			}
			cf := genericclioptions.NewConfigFlags(true)
			*cf.KubeConfig = kubeconfig
			o.Common = &Common{Factory: cmdutil.NewConfigFactory(cf, "test", nil)}
			o.cfg = &rest.Config{Host: "https://127.0.0.1:6443", TLSClientConfig: rest.TLSClientConfig{CAData: oldCA.pem}}
			r := &verifyRun{o: o}

			var lines []string
			lines = append(lines, r.verifyKubeconfigItem().Action)
			o.cfg.Insecure, o.cfg.TLSClientConfig.CAData = true, nil
			lines = append(lines, r.verifyKubeconfigItem().Action)
			lines = append(lines, r.verifyClusterInfoItem(ClusterInfoStatus{Present: true, Namespace: "kube-public", Name: "cluster-info"}).Action)
			for _, reason := range []string{checks.CAStillOld, checks.CALacks, checks.CAOutside} {
				a, _ := o.verifyRootCAAction(checks.CAVerdict{Reason: reason})
				lines = append(lines, a)
			}
			lines = append(lines, verifyServingAction, "kubectl carotate instructions --step 9.2")
			for _, l := range lines {
				if l == "" {
					t.Errorf("record=%v expect=%s: an empty next line among %q", fromRecord, expect, lines)
				}
				checkRunnable(t, l)
			}
			if !strings.Contains(lines[0], "kubectl config set-cluster my-cluster ") {
				t.Errorf("the kubeconfig's cluster is not named: %q", lines[0])
			}
			if fromRecord && !strings.HasPrefix(lines[0], "kubectl -n kube-system get configmap carotate-state -o jsonpath='{.data.ca-bundle\\.crt}' > ca-bundle.crt && ") {
				t.Errorf("from the record, the CA file is not written first: %q", lines[0])
			}
			if fromRecord && lines[2] != "kubectl carotate update-cluster-info" {
				t.Errorf("from the record, update-cluster-info needs no --ca: %q", lines[2])
			}
		}
	}
}
