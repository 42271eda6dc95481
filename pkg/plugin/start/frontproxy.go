package start

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// One record per target: "start --new-front-proxy-ca" rotates the
// front-proxy CA inside the cluster-ca rotation (its record
// kube-system/carotate-state, its steps 1, 5, 9.3 and 12.2), "start
// --target front-proxy-ca" rotates it alone (its own record
// kube-system/carotate-state-front-proxy-ca, its own steps 1-3). Both
// edit the same flags and files, so one refuses while the other is active.

// validateFrontProxy checks the front-proxy-ca flags; it reads no file.
func (o *StartOptions) validateFrontProxy() error {
	switch {
	case o.NewFrontProxyCA != "" || o.OldFrontProxyCA != "":
		return errors.New("--new-front-proxy-ca and --old-front-proxy-ca rotate the front-proxy CA along with the cluster CA; with --target front-proxy-ca, --new-ca and --old-ca name the front-proxy CAs; nothing was written")
	case o.NewPublicKey != "" || o.OldPublicKey != "":
		return errors.New("--new-public-key and --old-public-key are for --target sa-key; nothing was written")
	case o.NewCA == "":
		return errors.New("--target front-proxy-ca needs --new-ca: the PEM file of the new front-proxy CA (the certificate alone; its key stays with you); nothing was written")
	}
	return nil
}

// runFrontProxy records a front-proxy-ca rotation in its own record.
func (o *StartOptions) runFrontProxy(ctx context.Context) error {
	return o.runCATarget(ctx, checks.TargetFrontProxyCA, "front-proxy ", func(ctx context.Context, client kubernetes.Interface) error {
		if cr, err := rotation.Load(ctx, client); err != nil {
			return err
		} else if cr.Active() && cr.FrontProxy() {
			return fmt.Errorf("cluster-ca rotation %s (%s/%s, started by %s at %s) also rotates the front-proxy CA (start --new-front-proxy-ca): "+
				"a second rotation of it would edit the same flags and files; finish or abort that one first, or carry on with its steps; nothing was written",
				cr.ID, rotation.Namespace, rotation.ConfigMapName, cr.StartedBy, cr.StartedAt.Format(time.RFC3339))
		}
		return nil
	}, func(ctx context.Context, client kubernetes.Interface, newCAs []*x509.Certificate) ([]*x509.Certificate, string, error) {
		oldCAs, err := servedFrontProxyCA(ctx, client, "--old-ca")
		if err != nil {
			return nil, "", err
		}
		if checks.Contains(newCAs, oldCAs[0]) {
			return nil, "", errors.New("kube-system/extension-apiserver-authentication publishes the new front-proxy CA alone, so the old one cannot be read from the cluster: pass --old-ca (nothing was written)")
		}
		return oldCAs, "requestheader-client-ca-file of kube-system/extension-apiserver-authentication", nil
	})
}

// runCATarget records a rotation of a CA target other than cluster-ca in
// its own record: --new-ca and --old-ca are that target's CAs, certificates
// only. check refuses what conflicts with the rotation; served reads the
// old CA from the cluster when --old-ca is not given (nil: it is required).
func (o *StartOptions) runCATarget(ctx context.Context, target, role string, check func(context.Context, kubernetes.Interface) error,
	served func(context.Context, kubernetes.Interface, []*x509.Certificate) ([]*x509.Certificate, string, error)) error {
	if err := refuseKeys(map[string]string{"--new-ca": o.NewCA, "--old-ca": o.OldCA}); err != nil {
		return err
	}
	newCAs, err := cmdutil.ReadCertFile("--new-ca", o.NewCA)
	if err != nil {
		return err
	}
	var oldCAs []*x509.Certificate
	if o.OldCA != "" {
		if oldCAs, err = cmdutil.ReadCertFile("--old-ca", o.OldCA); err != nil {
			return err
		}
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(ctx, client); err != nil {
			return err
		}
	}
	rec := &rotation.Record{Lifecycle: rotation.Started(o.ID, o.now()), Target: target, NewCAFile: absPath(o.NewCA)}
	if o.OldCA != "" {
		rec.OldCASource, rec.OldCAFile = "--old-ca "+o.OldCA, absPath(o.OldCA)
	} else {
		if served == nil {
			return fmt.Errorf("--target %s needs --old-ca: the API cannot show this CA; nothing was written", target)
		}
		if oldCAs, rec.OldCASource, err = served(ctx, client, newCAs); err != nil {
			return err
		}
		fmt.Fprintf(o.ErrOut, "start: old %sCA %s, from %s\n", role, checks.DescribeSet(oldCAs, nil), rec.OldCASource)
	}
	findings, err := checks.ValidateRotation(oldCAs, newCAs, checks.ValidateOptions{Now: o.now(), AllowSameKey: o.AllowSameKey})
	if err := cmdutil.ReportFindings(o.ErrOut, withRole(findings, role), err); err != nil {
		return err
	}
	rec.OldCAs, rec.NewCAs = oldCAs, newCAs
	rec.OldCAPEM, rec.NewCAPEM = checks.EncodePEM(oldCAs), checks.EncodePEM(newCAs)

	existing, err := rotation.LoadTarget(ctx, client, target)
	if err != nil {
		return err
	}
	if existing.Active() && checks.SameCertificates(existing.OldCAs, rec.OldCAs) && checks.SameCertificates(existing.NewCAs, rec.NewCAs) && (o.ID == "" || o.ID == existing.ID) {
		return o.alreadyRecorded(existing)
	}
	return o.saveTarget(ctx, client, rec, existing)
}

// refuseFrontProxyTwice refuses a cluster-ca rotation with
// --new-front-proxy-ca while a front-proxy-ca rotation is active.
func refuseFrontProxyTwice(ctx context.Context, client kubernetes.Interface) error {
	fp, err := rotation.LoadTarget(ctx, client, checks.TargetFrontProxyCA)
	if err != nil {
		return err
	}
	if fp.Active() {
		return fmt.Errorf("front-proxy-ca rotation %s (%s/%s, started by %s at %s) rotates the front-proxy CA on its own: "+
			"--new-front-proxy-ca would edit the same flags and files; finish or abort it (kubectl carotate finish --target front-proxy-ca), "+
			"or start the cluster CA rotation without --new-front-proxy-ca; nothing was written",
			fp.ID, rotation.Namespace, rotation.NameOf(checks.TargetFrontProxyCA), fp.StartedBy, fp.StartedAt.Format(time.RFC3339))
	}
	return nil
}

// abortFrontProxyPlan says how to go back to the old front-proxy CA, from
// what the cluster shows: undo in reverse order, so that the aggregated
// API servers accept the proxy client certificate at every moment.
func abortFrontProxyPlan(rec *rotation.Record, ev checks.FrontProxyEvidence) string {
	var b strings.Builder
	b.WriteString("\nTo go back to the old front-proxy CA:\n")
	n := 0
	item := func(format string, args ...any) {
		n++
		fmt.Fprintf(&b, "%d. %s\n", n, fmt.Sprintf(format, args...))
	}
	backups := "/var/backups/carotate-" + rec.ID
	steps := checks.JudgeFrontProxy(ev)
	if steps[2].State == checks.StateDone {
		item("The old front-proxy CA is dropped (step 3 is done): going back is a rotation of its own (kubectl carotate start --target front-proxy-ca --new-ca OLD-CA, with the old CA's key from %s/step-3).", backups)
	}
	var flags []string
	for _, f := range checks.TransitionFlags(ev.ControlPlane) {
		if strings.Contains(f, "requestheader-client-ca-file") || strings.Contains(f, "proxy-client-cert-file") {
			flags = append(flags, "   "+f)
		}
	}
	if len(flags) > 0 {
		b.WriteString("   Flags that name a transition file now:\n" + strings.Join(flags, "\n") + "\n")
	}
	if slices.ContainsFunc(flags, func(f string) bool { return strings.Contains(f, "proxy-client-cert-file") }) || ev.ControlPlaneErr != nil {
		item("First, on every control-plane node: point kube-apiserver's --proxy-client-cert-file back at the certificate from the old CA (kubeadm: %s/front-proxy-client.crt, unchanged until step 3) and let it restart; aggregated API servers accept it while --requestheader-client-ca-file holds both CAs.",
			checks.KubeadmPKIDir)
	}
	if slices.ContainsFunc(flags, func(f string) bool { return strings.Contains(f, "requestheader-client-ca-file") }) || ev.ControlPlaneErr != nil {
		item("Then point --requestheader-client-ca-file of kube-apiserver and kube-controller-manager back at the old CA (kubeadm: %s/front-proxy-ca.crt, unchanged until step 3) and let each restart; then have kube-apiserver publish it alone again: kubectl -n kube-system delete configmap extension-apiserver-authentication (it writes it again within seconds).",
			checks.KubeadmPKIDir)
	}
	item("Remove the transition files (front-proxy-ca-bundle.crt, front-proxy-ca-new.crt, front-proxy-ca-new.key, front-proxy-client-new.crt) once no flag names them; backups are under %s/step-*.", backups)
	item("Check: kubectl carotate status --target front-proxy-ca")
	return b.String()
}
