package start

import (
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

func TestStartEtcdCAFlags(t *testing.T) {
	for _, c := range []struct {
		o    StartOptions
		want string
	}{
		{StartOptions{NewCA: "n.crt", OldCA: "o.crt", NewFrontProxyCA: "fp.crt"}, "with --target etcd-ca, --new-ca and --old-ca name the etcd CAs"},
		{StartOptions{NewCA: "n.crt", OldCA: "o.crt", NewPublicKey: "new.pub"}, "are for --target sa-key"},
		{StartOptions{OldCA: "o.crt"}, "--target etcd-ca needs --new-ca"},
		{StartOptions{NewCA: "n.crt"}, "--target etcd-ca needs --old-ca: the API cannot show the etcd CA"},
	} {
		c.o.recordCommand = recordCommand{Target: checks.TargetEtcdCA, DryRunFlag: "none"}
		if err := c.o.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.o, err, c.want)
		}
	}
	ok := StartOptions{NewCA: "n.crt", OldCA: "o.crt", recordCommand: recordCommand{Target: checks.TargetEtcdCA, DryRunFlag: "none"}}
	if err := ok.Validate(); err != nil {
		t.Errorf("--new-ca and --old-ca: %v", err)
	}
}

func TestAbortEtcdCAPlan(t *testing.T) {
	const pki = "/etc/kubernetes/pki/"
	pods := func(trust, cert, apiCA, apiCert string) []checks.ControlPlanePod {
		return []checks.ControlPlanePod{
			{Node: "cp-1", Component: checks.ComponentEtcd, Mirror: true, Command: checks.CommandLine{Flags: []checks.Flag{
				{Name: "trusted-ca-file", Value: pki + "etcd/" + trust}, {Name: "peer-trusted-ca-file", Value: pki + "etcd/" + trust},
				{Name: "cert-file", Value: pki + "etcd/" + cert}, {Name: "peer-cert-file", Value: pki + "etcd/" + strings.Replace(cert, "server", "peer", 1)}}}},
			{Node: "cp-1", Component: checks.ComponentAPIServer, Mirror: true, Command: checks.CommandLine{Flags: []checks.Flag{
				{Name: "etcd-cafile", Value: pki + "etcd/" + apiCA}, {Name: "etcd-certfile", Value: pki + apiCert}}}},
		}
	}
	rec := &rotation.Record{Lifecycle: rotation.Lifecycle{ID: "r1"}}
	at := "r1/" + time.Now().UTC().Add(time.Hour).Format(time.RFC3339)
	marks := map[string]map[string]string{"cp-1": {"1": at, "2": at, "3": at}}
	for name, c := range map[string]struct {
		ev        checks.EtcdCAEvidence
		want, not string
	}{
		"after serve": {checks.EtcdCAEvidence{RotationID: "r1", ControlPlane: pods("ca-bundle.crt", "server-new.crt", "ca-bundle.crt", "apiserver-etcd-client-new.crt")},
			"First, node by node: point etcd's --cert-file", "going back is a rotation of its own"},
		"after bundle": {checks.EtcdCAEvidence{RotationID: "r1", ControlPlane: pods("ca-bundle.crt", "server.crt", "ca-bundle.crt", "apiserver-etcd-client.crt")},
			"Then, node by node: point etcd's --trusted-ca-file", "--cert-file and --peer-cert-file"},
		"finished": {checks.EtcdCAEvidence{RotationID: "r1", ControlPlane: pods("ca.crt", "server.crt", "ca.crt", "apiserver-etcd-client.crt"), Marks: marks},
			"going back is a rotation of its own", "Flags that name a transition file"},
	} {
		plan := abortEtcdCAPlan(rec, c.ev)
		if !strings.Contains(plan, c.want) || (c.not != "" && strings.Contains(plan, c.not)) {
			t.Errorf("%s:\n%s\nwant %q, not %q", name, plan, c.want, c.not)
		}
	}
}
