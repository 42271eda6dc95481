package start

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// validateEtcdCA checks the etcd-ca flags; it reads no file.
func (o *StartOptions) validateEtcdCA() error {
	switch {
	case o.NewFrontProxyCA != "" || o.OldFrontProxyCA != "":
		return errors.New("--new-front-proxy-ca and --old-front-proxy-ca are for the cluster CA rotation; with --target etcd-ca, --new-ca and --old-ca name the etcd CAs; nothing was written")
	case o.NewPublicKey != "" || o.OldPublicKey != "":
		return errors.New("--new-public-key and --old-public-key are for --target sa-key; nothing was written")
	case o.NewCA == "":
		return errors.New("--target etcd-ca needs --new-ca: the PEM file of the new etcd CA (the certificate alone; its key stays with you); nothing was written")
	case o.OldCA == "":
		return errors.New("--target etcd-ca needs --old-ca: the API cannot show the etcd CA, so pass the one etcd runs on today (kubeadm: /etc/kubernetes/pki/etcd/ca.crt on a control-plane node, the certificate alone); nothing was written")
	}
	return nil
}

// runEtcdCA records an etcd-ca rotation in its own record. The old CA is
// --old-ca: no API shows the etcd CA.
func (o *StartOptions) runEtcdCA(ctx context.Context) error {
	return o.runCATarget(ctx, checks.TargetEtcdCA, "etcd ", nil, nil)
}

// abortEtcdCAPlan says how to go back to the old etcd CA, from what the
// cluster shows: undo in reverse order, so that etcd and the API servers
// accept each other's certificates at every moment.
func abortEtcdCAPlan(rec *rotation.Record, ev checks.EtcdCAEvidence) string {
	var b strings.Builder
	b.WriteString("\nTo go back to the old etcd CA:\n")
	n := 0
	item := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. %s\n", n, fmt.Sprintf(format, args...))
	}
	backups := "/var/backups/carotate-" + rec.ID
	steps := checks.JudgeEtcdCA(ev)
	if steps[2].State == checks.StateDone {
		item("The old etcd CA is dropped (step 3 is done): going back is a rotation of its own (kubectl carotate start --target etcd-ca --new-ca OLD-CA --old-ca %s/etcd/ca.crt, with the old CA's key from %s/step-3).",
			checks.KubeadmPKIDir, backups)
	}
	var flags []string
	for _, f := range checks.TransitionFlags(ev.ControlPlane) {
		for _, name := range []string{"trusted-ca-file", "peer-trusted-ca-file", "cert-file", "peer-cert-file", "etcd-cafile", "etcd-certfile"} {
			if strings.Contains(f, " --"+name+"=") {
				flags = append(flags, "   "+f)
				break
			}
		}
	}
	if len(flags) > 0 {
		b.WriteString("   Flags that name a transition file now:\n" + strings.Join(flags, "\n") + "\n")
	}
	certs := func(f string) bool {
		return strings.Contains(f, " --cert-file=") || strings.Contains(f, " --peer-cert-file=") || strings.Contains(f, " --etcd-certfile=")
	}
	hasCerts, hasTrust := false, false
	for _, f := range flags {
		if certs(f) {
			hasCerts = true
		} else {
			hasTrust = true
		}
	}
	if hasCerts || ev.ControlPlaneErr != nil {
		item("First, node by node: point etcd's --cert-file and --peer-cert-file and kube-apiserver's --etcd-certfile back at the certificates from the old CA (kubeadm: %s/etcd/server.crt, etcd/peer.crt, apiserver-etcd-client.crt, unchanged until step 3), etcd first, and let each restart; they are accepted while the trust flags hold both CAs.",
			checks.KubeadmPKIDir)
	}
	if hasTrust || ev.ControlPlaneErr != nil {
		item("Then, node by node: point etcd's --trusted-ca-file and --peer-trusted-ca-file and kube-apiserver's --etcd-cafile back at the old CA (kubeadm: %s/etcd/ca.crt, unchanged until step 3) and let each restart.",
			checks.KubeadmPKIDir)
	}
	item("Remove the transition files (etcd/ca-bundle.crt, etcd/ca-new.crt, etcd/ca-new.key and the *-new.crt certificates) once no flag names them; backups are under %s/step-*.", backups)
	item("Remove the marks on the control-plane Node objects: kubectl annotate node NODE %s1- %[1]s2- %[1]s3-", checks.EtcdCAMarkPrefix)
	item("Check: kubectl carotate status --target etcd-ca")
	return b.String()
}
