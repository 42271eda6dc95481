package drilltest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
)

// assertKubelets checks step 9.2 from outside the plugin: every kubelet
// that followed the printed renewal authenticates as its node with a
// client certificate from the new CA, got it through its own approved
// request, and the one left out gets 401 since step 12.2 (the negative
// control: without the renewal, a kubelet, rotating or not, loses its
// node). What status said along the way names the left-out node.
func assertKubelets(t *testing.T, out *drill.Outcome) {
	t.Helper()
	ctx := context.Background()
	if out.LeftOut == "" || len(out.Renewed) < 2 {
		t.Fatalf("the drill left out %q and renewed %v: want one node left out, the others renewed", out.LeftOut, out.Renewed)
	}
	csrs, err := Client(t).CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
	Must(t, err)
	for _, n := range append([]string{out.LeftOut}, out.Renewed...) {
		kubeconfig := out.Kubeconfigs[n]
		cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
		Must(t, err)
		raw, err := clientcmd.LoadFromFile(kubeconfig)
		Must(t, err)
		var certFile string
		for _, a := range raw.AuthInfos {
			certFile = a.ClientCertificate
		}
		data, err := os.ReadFile(certFile)
		Must(t, err)
		// The kubelet's pem holds its certificate, then its key.
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "CERTIFICATE" {
			t.Fatalf("%s does not start with a certificate", certFile)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		Must(t, err)
		issuer := checks.IssuerOf(cert, []*x509.Certificate{out.OldCA.Cert}, []*x509.Certificate{out.NewCA.Cert})
		client, err := kubernetes.NewForConfig(cfg)
		Must(t, err)
		review, err := client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		name := checks.KubeletCSRName(out.RotationID, n)
		var request *certRequest
		for _, c := range csrs.Items {
			if c.Name == name {
				request = &certRequest{user: c.Spec.Username, signer: c.Spec.SignerName, issued: len(c.Status.Certificate) > 0}
				for _, cond := range c.Status.Conditions {
					if cond.Type == "Approved" {
						request.approved = true
					}
				}
			}
		}
		if n == out.LeftOut {
			if !apierrors.IsUnauthorized(err) {
				t.Errorf("%s, left out of the renewal, with its kubelet.conf after step 12.2: %v, want 401 Unauthorized", n, err)
			}
			if issuer != checks.IssuedByOld {
				t.Errorf("%s, left out of the renewal: its client certificate is issued by the %s CA, want the old", n, issuer)
			}
			if request != nil {
				t.Errorf("%s, left out of the renewal, has a request %s: %+v", n, name, *request)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s's kubelet.conf after step 12.2: %v", n, err)
		} else if u := review.Status.UserInfo; u.Username != "system:node:"+n || !contains(u.Groups, "system:nodes") {
			t.Errorf("%s's kubelet authenticates as %s %v", n, u.Username, u.Groups)
		}
		if issuer != checks.IssuedByNew {
			t.Errorf("%s's kubelet client certificate (%s) is issued by the %s CA, want the new", n, certFile, issuer)
		}
		if want := (certRequest{user: "system:node:" + n, signer: checks.KubeletClientSigner, approved: true, issued: true}); request == nil || *request != want {
			t.Errorf("%s's request %s: %+v, want %+v", n, name, request, want)
		}
	}

	// status after the renewal: the left-out node is not visible, the
	// others are from the new CA; after step 12.2 its Lease stopped.
	total := len(out.Renewed) + 1
	for _, c := range []struct {
		what  string
		got   drill.StatusStep
		state string
		in    []string
	}{
		{"after the renewal", out.Step92, "unknown", []string{
			fmt.Sprintf("%d of %d nodes have a kubelet client certificate from the new CA", len(out.Renewed), total),
			fmt.Sprintf("1 of %d nodes have no issued request of signer kubernetes.io/kube-apiserver-client-kubelet left (%s;", total, out.LeftOut),
			"gets 401 at step 12.2"}},
		{"after step 12.2", out.Step92LeftOut, "not done", []string{
			fmt.Sprintf("1 of %d nodes have not renewed their Lease since kube-apiserver restarted", total), "(" + out.LeftOut + ")"}},
	} {
		if c.got.State != c.state {
			t.Errorf("status step 9.2 %s: %q, want %q (%s)", c.what, c.got.State, c.state, c.got.Evidence)
		}
		for _, want := range c.in {
			if !strings.Contains(c.got.Evidence, want) {
				t.Errorf("status step 9.2 %s does not say %q: %s", c.what, want, c.got.Evidence)
			}
		}
	}
}

type certRequest struct {
	user, signer     string
	approved, issued bool
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
