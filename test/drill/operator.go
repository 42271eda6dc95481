// Package drill is the operator of a CA rotation on the local control plane:
// it follows "kubectl carotate instructions -o json" on the harness's files
// and components, runs the plugin's in-cluster commands, and narrates the
// whole rotation. The e2e tests and "make demo" share it.
package drill

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// Result is what a command printed and how it exited.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Operator acts on one cluster as the admin would: it runs the plugin and
// applies the node steps the plugin prints.
type Operator struct {
	Cluster *localcluster.Cluster
	// BinDir holds kubectl-carotate (and kubectl).
	BinDir string
	// Dir receives backups, CA files and kubeconfigs the operator writes;
	// it is also HOME for the plugin (undo files).
	Dir string
	// NewCA is the operator's new CA, with its key.
	NewCA *localcluster.CertKey
	// Narrator, when set, is told every command and its output.
	Narrator Narrator
	// Kubeconfig overrides the cluster's admin kubeconfig for Carotate.
	Kubeconfig string

	// flags collects set-flag edits per component until its restart.
	flags map[string]map[string]string
}

// Carotate runs the plugin binary as the admin and narrates it. An error
// means the binary could not run; a non-zero exit is in Result.Code.
func (o *Operator) Carotate(ctx context.Context, args ...string) (Result, error) {
	return o.run(ctx, "kubectl-carotate", args...)
}

func (o *Operator) run(ctx context.Context, name string, args ...string) (Result, error) {
	kc := o.Kubeconfig
	if kc == "" {
		kc = o.Cluster.Kubeconfig
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(o.BinDir, name), args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+kc,
		"PATH="+o.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+o.Dir,
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.Code = exitErr.ExitCode()
	case err != nil:
		return r, fmt.Errorf("%s %v: %w", name, args, err)
	}
	if o.Narrator != nil {
		o.Narrator.Command(strings.TrimPrefix(name, "kubectl-")+" "+shellJoin(args), r)
	}
	return r, nil
}

// MustCarotate runs the plugin and turns a non-zero exit into an error.
func (o *Operator) MustCarotate(ctx context.Context, args ...string) (Result, error) {
	r, err := o.Carotate(ctx, args...)
	if err == nil && r.Code != 0 {
		err = fmt.Errorf("kubectl carotate %s: exit %d: %s", shellJoin(args), r.Code, strings.TrimSpace(r.Stderr))
	}
	return r, err
}

// Instructions is instructions -o json with args.
func (o *Operator) Instructions(ctx context.Context, args ...string) (checks.InstructionsDoc, error) {
	var d checks.InstructionsDoc
	r, err := o.quiet().MustCarotate(ctx, append([]string{"instructions", "-o", "json"}, args...)...)
	if err != nil {
		return d, err
	}
	return d, json.Unmarshal([]byte(r.Stdout), &d)
}

// quiet is o without narration, for machine-read output.
func (o *Operator) quiet() *Operator {
	c := *o
	c.Narrator = nil
	return &c
}

// Apply follows the node steps of instructions -o json for one step, as the
// operator: it writes the files they name into the harness's PKI directory,
// sets the flags and restarts the components they name. Steps on files the
// cluster does not show (kubeadm defaults such as /etc/kubernetes/kubelet.conf)
// do not exist here and are left out; the KWOK "kubelets" and the
// workstation's steps are the caller's. It returns the steps it acted on.
func (o *Operator) Apply(ctx context.Context, step string) ([]checks.Step, error) {
	if o.flags == nil {
		o.flags = map[string]map[string]string{}
	}
	d, err := o.Instructions(ctx, "--step", step)
	if err != nil {
		return nil, err
	}
	var done []checks.Step
	for _, s := range d.Steps {
		if s.Node != localcluster.ControlPlaneNode {
			continue
		}
		if s.Condition != "" || slices.Contains(s.Defaults, "file") || slices.Contains(s.Defaults, "kubeconfig") || slices.Contains(s.Defaults, "config") {
			continue
		}
		if err := o.applyOne(ctx, d, s); err != nil {
			return done, fmt.Errorf("step %s (%s %s): %w", s.Step, s.Action, s.Description, err)
		}
		if s.Action != checks.ActionSkip && s.Action != checks.ActionInCluster {
			done = append(done, s)
			if o.Narrator != nil {
				o.Narrator.Logf("  [node %s] %s: %s", s.Node, s.Action, s.Description)
			}
		}
	}
	if len(o.flags) > 0 {
		return done, fmt.Errorf("step %s set flags but restarted nothing: %v", step, o.flags)
	}
	return done, nil
}

func (o *Operator) applyOne(ctx context.Context, d checks.InstructionsDoc, s checks.Step) error {
	switch s.Action {
	case checks.ActionBackup:
		// The printed command itself, into the operator's directory instead
		// of /var/backups.
		target := filepath.Join(o.Dir, "backup", "step-"+s.Step)
		cmd := strings.ReplaceAll(s.Command, s.Target, target)
		if out, err := exec.CommandContext(ctx, "bash", "-c", cmd).CombinedOutput(); err != nil {
			return fmt.Errorf("%s: %v: %s", cmd, err, out)
		}
		if _, err := os.Stat(filepath.Join(target, s.File)); err != nil {
			return fmt.Errorf("the backup of %s is not there: %w", s.File, err)
		}
	case checks.ActionWriteFile:
		data := []byte(d.Contents[s.Content])
		if s.Content == checks.ContentNewCAKey {
			data = o.NewCA.KeyPEM // the operator's key: never in the instructions
		}
		if len(data) == 0 {
			return fmt.Errorf("no content %q", s.Content)
		}
		if err := o.assertUnread(s.File); err != nil {
			return err
		}
		return os.WriteFile(s.File, data, 0o644)
	case checks.ActionCopyFile:
		if err := o.assertUnread(s.File); err != nil {
			return err
		}
		data, err := os.ReadFile(s.From)
		if err != nil {
			return err
		}
		return os.WriteFile(s.File, data, 0o644)
	case checks.ActionRemoveFile:
		// The plan removes only what nothing reads any more: a running
		// component naming the file fails the drill.
		if err := o.assertUnread(s.File); err != nil {
			return err
		}
		return os.Remove(s.File)
	case checks.ActionIssueCert:
		return o.issueFromTemplate(s.From, s.Key, s.File)
	case checks.ActionSetFlag:
		if o.flags[s.Component] == nil {
			o.flags[s.Component] = map[string]string{}
		}
		o.flags[s.Component][strings.TrimPrefix(s.Flag, "--")] = s.File
	case checks.ActionSetKubeconfigCA:
		return SetKubeconfigCA(s.Kubeconfig, []byte(d.Contents[s.Content]))
	case checks.ActionReissueKubeconfig:
		return o.reissueKubeconfig(s.Kubeconfig)
	case checks.ActionRestart:
		if s.Restart == checks.ComponentKubelet {
			return nil
		}
		if err := o.Cluster.Restart(ctx, s.Restart, o.flags[s.Restart]); err != nil {
			return err
		}
		delete(o.flags, s.Restart)
	case checks.ActionInCluster, checks.ActionSkip:
	default:
		return fmt.Errorf("action %q not handled", s.Action)
	}
	return nil
}

// assertUnread fails if a running component still names path: the plan
// promises never to rewrite a file a component reads.
func (o *Operator) assertUnread(path string) error {
	for name, c := range o.Cluster.Components {
		for _, f := range c.Flags {
			if f.Value == path {
				return fmt.Errorf("instructions rewrite %s, which %s reads (--%s)", path, name, f.Name)
			}
		}
	}
	return nil
}

// issueFromTemplate signs a copy of template (same key, subject and
// extensions) with the new CA, as the printed openssl commands do.
func (o *Operator) issueFromTemplate(templatePath, keyPath, out string) error {
	data, err := os.ReadFile(templatePath)
	if err != nil {
		return err
	}
	certs, err := checks.ParseCertificates(templatePath, data)
	if err != nil {
		return err
	}
	tmpl := *certs[0]
	if tmpl.SerialNumber, err = rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120)); err != nil {
		return err
	}
	tmpl.AuthorityKeyId = nil
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, o.NewCA.Cert, certs[0].PublicKey, o.NewCA.Key)
	if err != nil {
		return err
	}
	if _, err := os.Stat(keyPath); err != nil {
		return fmt.Errorf("the key %s of %s does not exist: %w", keyPath, templatePath, err)
	}
	if err := o.assertUnread(out); err != nil {
		return err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	return os.WriteFile(out, checks.EncodePEM([]*x509.Certificate{cert}), 0o644)
}

// SetKubeconfigCA sets certificate-authority-data of every cluster in the
// kubeconfig at path.
func SetKubeconfigCA(path string, ca []byte) error {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return err
	}
	for _, c := range cfg.Clusters {
		c.CertificateAuthorityData, c.CertificateAuthority = ca, ""
	}
	return clientcmd.WriteToFile(*cfg, path)
}

// reissueKubeconfig replaces the client certificate of a kubeconfig with one
// from the new CA for the same subject.
func (o *Operator) reissueKubeconfig(path string) error {
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		return err
	}
	for _, a := range cfg.AuthInfos {
		certs, err := checks.ParseCertificates(path, a.ClientCertificateData)
		if err != nil {
			return err
		}
		ck, err := o.NewCA.Issue(localcluster.CertSpec{CommonName: certs[0].Subject.CommonName, Organizations: certs[0].Subject.Organization, Client: true})
		if err != nil {
			return err
		}
		a.ClientCertificateData, a.ClientKeyData = ck.CertPEM, ck.KeyPEM
	}
	return clientcmd.WriteToFile(*cfg, path)
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t'\"$") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
