package localcluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
)

// kwokNodeAnnotation marks the nodes KWOK manages; nothing else is touched.
const kwokNodeAnnotation = "kwok.x-k8s.io/node"

// bootstrap creates what kubeadm would right after the apiserver comes up:
// the fake nodes, two bootstrap tokens and the kube-public/cluster-info
// ConfigMap (signed by the controller-manager's bootstrap signer).
func (c *Cluster) bootstrap(ctx context.Context) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	for i := range c.opts.Nodes {
		if err := createNode(ctx, client, fmt.Sprintf("kwok-node-%d", i)); err != nil {
			return err
		}
	}
	for range 2 {
		tok, err := createBootstrapToken(ctx, client)
		if err != nil {
			return err
		}
		c.BootstrapTokens = append(c.BootstrapTokens, tok)
	}
	return createClusterInfo(ctx, client, c.Server, c.PKI.CA.CertPEM)
}

func createNode(ctx context.Context, client kubernetes.Interface, name string) error {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("250"),
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{kwokNodeAnnotation: "fake"},
			Labels: map[string]string{
				"type": "kwok", "kubernetes.io/hostname": name, "kubernetes.io/os": "linux",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
	created, err := client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("create node %s: %w", name, err)
	}
	// Status is ignored on create. KWOK, started before, may write the
	// node first (a lease, its conditions): a conflict reads it again.
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		created.Status.Capacity, created.Status.Allocatable = capacity, capacity
		_, err := client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if fresh, gerr := client.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				created = fresh
			}
		}
		return err
	})
}

const tokenChars = "0123456789abcdefghijklmnopqrstuvwxyz"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = tokenChars[int(b[i])%len(tokenChars)]
	}
	return string(b)
}

// createBootstrapToken creates a kubeadm-style token that may sign
// cluster-info and authenticate joining kubelets; it returns "id.secret".
func createBootstrapToken(ctx context.Context, client kubernetes.Interface) (string, error) {
	id, secret := randomString(6), randomString(16)
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: metav1.NamespaceSystem},
		Type:       corev1.SecretTypeBootstrapToken,
		StringData: map[string]string{
			"token-id":                       id,
			"token-secret":                   secret,
			"expiration":                     time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339),
			"usage-bootstrap-authentication": "true",
			"usage-bootstrap-signing":        "true",
			"auth-extra-groups":              "system:bootstrappers:kubeadm:default-node-token",
		},
	}
	if _, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, s, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create bootstrap token: %w", err)
	}
	return id + "." + secret, nil
}

// createClusterInfo writes kube-public/cluster-info as kubeadm does: a
// kubeconfig with one unnamed cluster, readable anonymously.
func createClusterInfo(ctx context.Context, client kubernetes.Interface, server string, caPEM []byte) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: metav1.NamespacePublic},
		Data:       map[string]string{"kubeconfig": string(data)},
	}
	if _, err := client.CoreV1().ConfigMaps(metav1.NamespacePublic).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create cluster-info: %w", err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeadm:bootstrap-signer-clusterinfo", Namespace: metav1.NamespacePublic},
		Rules: []rbacv1.PolicyRule{{
			APIGroups: []string{""}, Resources: []string{"configmaps"}, ResourceNames: []string{"cluster-info"}, Verbs: []string{"get"},
		}},
	}
	if _, err := client.RbacV1().Roles(metav1.NamespacePublic).Create(ctx, role, metav1.CreateOptions{}); err != nil {
		return err
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name, Namespace: metav1.NamespacePublic},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "system:anonymous"}},
	}
	_, err = client.RbacV1().RoleBindings(metav1.NamespacePublic).Create(ctx, binding, metav1.CreateOptions{})
	return err
}

// waitSettled waits for what every test takes for granted: Ready nodes, the
// default ServiceAccount, kube-root-ca.crt in default, and cluster-info
// signed for every bootstrap token.
func (c *Cluster) waitSettled(ctx context.Context) error {
	client, err := c.Client()
	if err != nil {
		return err
	}
	var pending string
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil {
			pending = err.Error()
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			for _, cond := range n.Status.Conditions {
				if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		want := c.opts.Nodes
		if c.opts.MirrorPods { // the control-plane node (or the kubeadm node)
			want++
		}
		if ready < want {
			pending = fmt.Sprintf("%d/%d nodes Ready", ready, want)
			return false, nil
		}
		if _, err := client.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{}); err != nil {
			pending = "default ServiceAccount: " + err.Error()
			return false, nil
		}
		cm, err := client.CoreV1().ConfigMaps("default").Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		if err != nil || !bytes.Equal([]byte(cm.Data["ca.crt"]), c.PKI.CA.CertPEM) {
			pending = "default/kube-root-ca.crt not published yet"
			return false, nil
		}
		if c.signerEnabled() {
			ci, err := client.CoreV1().ConfigMaps(metav1.NamespacePublic).Get(ctx, "cluster-info", metav1.GetOptions{})
			if err != nil {
				pending = err.Error()
				return false, nil
			}
			for _, tok := range c.BootstrapTokens {
				if _, ok := ci.Data["jws-kubeconfig-"+strings.SplitN(tok, ".", 2)[0]]; !ok {
					pending = "cluster-info not signed yet"
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("cluster did not settle: %v (waiting for: %s)", err, pending)
	}
	return nil
}

func (c *Cluster) signerEnabled() bool {
	for _, ctl := range strings.Split(c.opts.Controllers, ",") {
		if ctl == "bootstrapsigner" || ctl == "bootstrap-signer-controller" {
			return true
		}
	}
	return false
}

// DefaultBinDir is $CAROTATE_BIN_DIR, or _output/bin of the repository that
// contains the working directory.
func DefaultBinDir() (string, error) {
	if d := os.Getenv("CAROTATE_BIN_DIR"); d != "" {
		return filepath.Abs(d)
	}
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "_output", "bin"), nil
}

// RepoRoot finds the repository root (the directory of our go.mod) from the
// working directory, which go test sets to the package's directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/carotate/kubectl-carotate\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("localcluster: not inside the kubectl-carotate repository; set CAROTATE_BIN_DIR")
		}
		dir = parent
	}
}
