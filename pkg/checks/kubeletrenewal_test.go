package checks

import (
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// TestStep92RenewsEveryKubelet: step 9.2 gives every kubelet a client
// certificate from the new CA, whether it rotates its certificate (a
// rotating kubelet renews at 70-90% of the lifetime, maybe after 12.2),
// does not, or cannot be read: a CSR made on the node with the kubelet's
// current key, approved from the workstation after checking who asked,
// and installed as kubelet-client-current.pem before the kubelet restarts.
func TestStep92RenewsEveryKubelet(t *testing.T) {
	d := goldenCases()["kubeadm"] // cp-1: rotation unknown; worker-a: on; worker-b: off
	steps := FilterSteps(Render(d), "9.2", "", "")
	type seen struct{ request, approve, newCA, install, restart int }
	at := map[string]*seen{}
	for _, n := range d.Nodes {
		at[n.Name] = &seen{-1, -1, -1, -1, -1}
	}
	lastRequest, lastApprove, firstInstall := -1, -1, len(steps)
	for i, s := range steps {
		if s.Action == ActionSkip || s.Condition != "" {
			t.Errorf("step 9.2 skips or conditions a kubelet: %+v", s)
		}
		if s.Action == ActionIssueCert || strings.Contains(s.Command, "ca-new.key") || strings.Contains(s.Command, "-newkey") {
			t.Errorf("step 9.2 issues a certificate by hand or makes a new key: %s", s.Command)
		}
		node := s.Node
		if s.Action == ActionApproveCSR {
			node = s.ForNode
		}
		a := at[node]
		switch s.Action {
		case ActionRequestCert:
			a.request, lastRequest = i, i
			name := KubeletCSRName(d.RotationID, node)
			if s.CSR != name || s.SignerName != "kubernetes.io/kube-apiserver-client-kubelet" || s.Subject != "/O=system:nodes/CN=system:node:"+node {
				t.Errorf("request on %s: csr %q signer %q subject %q", node, s.CSR, s.SignerName, s.Subject)
			}
			for _, want := range []string{
				// The key kubelet.conf authenticates with, from the file it names or embeds.
				"kubectl config view --raw --flatten --minify --kubeconfig /etc/kubernetes/kubelet.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d | openssl req -new -key /dev/stdin -subj /O=system:nodes/CN=system:node:" + node + " ",
				// Sent with the kubelet's own credentials, once.
				"kubectl --kubeconfig /etc/kubernetes/kubelet.conf get csr " + name + " >/dev/null 2>&1 || printf ",
				`"metadata":{"name":"` + name + `"}`,
				`"signerName":"kubernetes.io/kube-apiserver-client-kubelet","usages":["digital signature","client auth"]`,
				"| kubectl --kubeconfig /etc/kubernetes/kubelet.conf create -f -",
			} {
				if !strings.Contains(s.Command, want) {
					t.Errorf("request on %s lacks %q:\n%s", node, want, s.Command)
				}
			}
			if !strings.Contains(s.Note, "not a bootstrap token: kubeadm deletes bootstrap-kubelet.conf after the join") {
				t.Errorf("request on %s does not say why a CSR: %s", node, s.Note)
			}
		case ActionApproveCSR:
			a.approve, lastApprove = i, i
			name := KubeletCSRName(d.RotationID, node)
			if s.Node != "" {
				t.Errorf("approve for %s runs on %q, want the workstation", node, s.Node)
			}
			want := "test \"$(kubectl get csr " + name + " -o jsonpath='{.spec.username}')\" = system:node:" + node + " && " +
				"kubectl get csr " + name + " -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -subject -nameopt compat | grep -qx subject=/O=system:nodes/CN=system:node:" + node + " && " +
				"kubectl certificate approve " + name
			if s.Command != want {
				t.Errorf("approve for %s:\n got %s\nwant %s", node, s.Command, want)
			}
		case ActionWriteFile:
			if s.File == "/var/lib/carotate/"+d.RotationID+"/ca-new.crt" {
				if s.Content != ContentNewCA {
					t.Errorf("the CA the certificate is checked against on %s is %q, want the new CA", node, s.Content)
				}
				a.newCA = i
			}
		case ActionInstallCert:
			a.install = i
			if firstInstall > i {
				firstInstall = i
			}
			name := KubeletCSRName(d.RotationID, node)
			stage := "/var/lib/carotate/" + d.RotationID
			for _, want := range []string{
				"kubectl --kubeconfig /etc/kubernetes/kubelet.conf wait --for=jsonpath='{.status.certificate}' csr/" + name + " ",
				"get csr " + name + " -o jsonpath='{.status.certificate}' | base64 -d > " + stage + "/kubelet-client.crt && " +
					"openssl verify -CAfile " + stage + "/ca-new.crt " + stage + "/kubelet-client.crt && ",
				"f=/var/lib/kubelet/pki/kubelet-client-$(date -u +%Y-%m-%d-%H-%M-%S).pem && ",
				"(umask 077 && { cat " + stage + "/kubelet-client.crt && kubectl config view --raw --flatten --minify --kubeconfig /etc/kubernetes/kubelet.conf -o jsonpath='{.users[0].user.client-key-data}' | base64 -d | openssl pkey; } > \"$f\")",
				"ln -sfn \"$f\" /var/lib/kubelet/pki/kubelet-client-current.pem && ",
				"--kubeconfig /etc/kubernetes/kubelet.conf --client-certificate /var/lib/kubelet/pki/kubelet-client-current.pem --client-key /var/lib/kubelet/pki/kubelet-client-current.pem",
			} {
				if !strings.Contains(s.Command, want) {
					t.Errorf("install on %s lacks %q:\n%s", node, want, s.Command)
				}
			}
		case ActionRestart:
			a.restart = i
			if !strings.HasPrefix(s.Check, "openssl x509 -issuer -noout -in /var/lib/kubelet/pki/kubelet-client-current.pem && ") {
				t.Errorf("the check after the kubelet restart on %s does not show the issuer: %s", node, s.Check)
			}
		}
		if s.Action != ActionSkip {
			if _, err := syntax.NewParser().Parse(strings.NewReader(s.Command), ""); err != nil {
				t.Errorf("step 9.2 %s on %q does not parse as shell: %v\n%s", s.Action, s.Node, err, s.Command)
			}
		}
	}
	for node, a := range at {
		if a.request < 0 || a.approve < 0 || a.newCA < 0 || a.install < 0 || a.restart < 0 {
			t.Errorf("%s: request %d, approve %d, new CA %d, install %d, restart %d: a step is missing", node, a.request, a.approve, a.newCA, a.install, a.restart)
			continue
		}
		if !(a.request < a.approve && a.approve < a.newCA && a.newCA < a.install && a.install < a.restart) {
			t.Errorf("%s: request %d, approve %d, new CA %d, install %d, restart %d: out of order", node, a.request, a.approve, a.newCA, a.install, a.restart)
		}
	}
	if lastRequest > lastApprove || lastApprove > firstInstall {
		t.Errorf("last request %d, last approval %d, first install %d: every kubelet asks, then the workstation approves all in one block, then each installs its own",
			lastRequest, lastApprove, firstInstall)
	}

	var rotating, off, unknown string
	for _, s := range steps {
		if s.Action != ActionRequestCert {
			continue
		}
		switch s.Node {
		case "worker-a":
			rotating = s.Note
		case "worker-b":
			off = s.Note
		case "cp-1":
			unknown = s.Note
		}
	}
	for note, want := range map[string]string{
		rotating: "rotates its client certificate (rotateCertificates: true), but only at 70-90% of its lifetime, which may come after step 12.2",
		off:      "rotateCertificates is off: nothing but this step renews its client certificate",
		unknown:  "rotateCertificates is not readable through the API; renew either way",
	} {
		if !strings.Contains(note, want) {
			t.Errorf("request note %q lacks %q", note, want)
		}
	}

	// --node narrows the workstation's approvals to that node's.
	var approvals []string
	for _, s := range FilterSteps(Render(d), "9.2", "", "worker-a") {
		if s.Node != "worker-a" && s.Node != "" {
			t.Errorf("--node worker-a keeps a step of %s", s.Node)
		}
		if s.Action == ActionApproveCSR {
			approvals = append(approvals, s.ForNode)
		}
	}
	if len(approvals) != 1 || approvals[0] != "worker-a" {
		t.Errorf("--node worker-a: approvals for %v", approvals)
	}
}

func TestKubeletCSRName(t *testing.T) {
	if got := KubeletCSRName("20260101-ABCDEF", "worker-a"); got != "carotate-20260101-abcdef-worker-a" {
		t.Errorf("KubeletCSRName: %q", got)
	}
	long := strings.Repeat("n", 250)
	a, b := KubeletCSRName("r1", long), KubeletCSRName("r1", long[:249]+"m")
	if len(a) != 253 || len(b) != 253 || a == b {
		t.Errorf("long names: %d %d, equal %v", len(a), len(b), a == b)
	}
}
