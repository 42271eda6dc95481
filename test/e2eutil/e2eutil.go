// Package e2eutil is what every e2e test package shares: one local control
// plane per test binary (started in TestMain), running the built plugin and
// kubectl against it, and waits that mirror kubectl rollout status.
package e2eutil

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/test/localcluster"
)

var (
	// Cluster is the local control plane of this test binary. A test that
	// changes a component's flags restores them before it returns.
	Cluster *localcluster.Cluster
	// BinDir holds kubectl-carotate, kubectl and the control-plane binaries.
	BinDir string
	// BeforeStop, when set, runs after the tests, before Main stops the
	// cluster: a package records what runs, to check after Main that
	// nothing is left.
	BeforeStop func()
)

// Main starts the cluster with opts (Dir is set here), runs the tests, prints
// the components' log tails if any failed, and stops everything. Use it as
// func TestMain(m *testing.M) { os.Exit(e2eutil.Main(m, localcluster.Options{})) }
func Main(m *testing.M, opts localcluster.Options) int {
	var err error
	if BinDir, err = localcluster.DefaultBinDir(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if _, err := os.Stat(filepath.Join(BinDir, "kubectl-carotate")); err != nil {
		fmt.Fprintln(os.Stderr, "kubectl-carotate not built: run \"make build\" first")
		return 1
	}
	dir, err := os.MkdirTemp("", "carotate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	opts.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	Cluster, err = localcluster.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "local control plane did not start:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "local control plane up at %s in %s\n", Cluster.Server, time.Since(start).Round(time.Millisecond))
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, Cluster.LogTails(40))
	}
	if BeforeStop != nil {
		BeforeStop()
	}
	if err := Cluster.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stop:", err)
		return 1
	}
	return code
}

// Client is an admin clientset for Cluster.
func Client(t testing.TB) kubernetes.Interface {
	t.Helper()
	c, err := Cluster.Client()
	Must(t, err)
	return c
}

// RESTConfig is the admin client configuration for Cluster.
func RESTConfig(t testing.TB) *rest.Config {
	t.Helper()
	c, err := Cluster.RESTConfig()
	Must(t, err)
	return c
}

// Result is what a command printed and how it exited.
type Result struct {
	Stdout, Stderr string
	Code           int
}

// Cmd describes a command to run against Cluster.
type Cmd struct {
	Kubeconfig string   // default: the admin kubeconfig
	Env        []string // extra KEY=VALUE
	Stdin      string
	Timeout    time.Duration // default 3 minutes
}

// Run runs a binary from BinDir (kubectl-carotate, kubectl) as the admin,
// with BinDir first on PATH so kubectl finds the plugin, and a fresh HOME.
func Run(t testing.TB, name string, args ...string) Result {
	t.Helper()
	return Cmd{}.Run(t, name, args...)
}

// Carotate runs the plugin binary as the admin.
func Carotate(t testing.TB, args ...string) Result {
	t.Helper()
	return Cmd{}.Run(t, "kubectl-carotate", args...)
}

// Run runs the command as c describes.
func (c Cmd) Run(t testing.TB, name string, args ...string) Result {
	t.Helper()
	if c.Timeout == 0 {
		c.Timeout = 3 * time.Minute
	}
	if c.Kubeconfig == "" {
		c.Kubeconfig = Cluster.Kubeconfig
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir, name), args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+c.Kubeconfig,
		"PATH="+BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"HOME="+t.TempDir(),
	)
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.Stdin = bytes.NewBufferString(c.Stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	r := Result{Stdout: out.String(), Stderr: errOut.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.Code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("%s %v: %v", name, args, err)
	}
	t.Logf("$ %s %v -> exit %d\nstdout:\n%s\nstderr:\n%s", name, args, r.Code, r.Stdout, r.Stderr)
	return r
}

// Must fails the test on err.
func Must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Create drops the created object: Must(t, Create(client.X().Create(...))).
func Create[T any](_ T, err error) error { return err }

// CreateNamespace creates a namespace named prefix-xxxxx, deleted after the test.
func CreateNamespace(t testing.TB, client kubernetes.Interface, prefix string) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(context.Background(),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}, metav1.CreateOptions{})
	Must(t, err)
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	return ns.Name
}

// WaitDefaultServiceAccount waits until ns has its default
// ServiceAccount, which appears a moment after the namespace (later under
// load). Pods are refused and legacy token Secrets naming it deleted by
// the tokens controller until it exists.
func WaitDefaultServiceAccount(t testing.TB, client kubernetes.Interface, ns string) {
	t.Helper()
	Must(t, wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}))
}

// PodTemplate is a minimal pod template KWOK runs (no image is pulled).
func PodTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.invalid/app:1"}}},
	}
}

// WaitRolledOut waits until every Deployment, DaemonSet and StatefulSet in
// ns has rolled out its latest template, by kubectl rollout status's rules.
func WaitRolledOut(t testing.TB, client kubernetes.Interface, ns string) {
	t.Helper()
	// pending is what the last poll that listed all three kinds found;
	// listErr the last list that failed (a flake of 2026-12-05 ended on
	// one, and the message said only "[]").
	var pending []string
	var listErr error
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		var now []string
		deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			listErr = err
			return false, nil
		}
		for _, d := range deps.Items {
			if !DeploymentRolledOut(&d) {
				now = append(now, "deployment/"+d.Name)
			}
		}
		dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			listErr = err
			return false, nil
		}
		for _, d := range dss.Items {
			s := d.Status
			if s.ObservedGeneration < d.Generation || s.DesiredNumberScheduled == 0 || s.UpdatedNumberScheduled != s.DesiredNumberScheduled || s.NumberAvailable != s.DesiredNumberScheduled {
				now = append(now, "daemonset/"+d.Name)
			}
		}
		stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			listErr = err
			return false, nil
		}
		for _, s := range stss.Items {
			st := s.Status
			if st.ObservedGeneration < s.Generation || st.UpdateRevision != st.CurrentRevision || st.ReadyReplicas != *s.Spec.Replicas || st.UpdatedReplicas != *s.Spec.Replicas {
				now = append(now, "statefulset/"+s.Name)
			}
		}
		pending = now
		return len(pending) == 0, nil
	})
	if err != nil {
		t.Fatalf("not rolled out in %s: %v (the last failed list: %v)", ns, pending, listErr)
	}
}

// DeploymentRolledOut is kubectl rollout status's rule for a Deployment
// that is not paused.
func DeploymentRolledOut(d *appsv1.Deployment) bool {
	s, want := d.Status, *d.Spec.Replicas
	return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.Replicas == want && s.AvailableReplicas == want
}

// PodUIDs returns the uids of the Running, not-terminating pods in ns.
func PodUIDs(t testing.TB, client kubernetes.Interface, ns string) sets.Set[types.UID] {
	t.Helper()
	pods, err := client.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	Must(t, err)
	uids := sets.New[types.UID]()
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			uids.Insert(p.UID)
		}
	}
	return uids
}

// WaitRootCAPublished waits until each of namespaces has its
// kube-root-ca.crt, which the controller-manager publishes a moment after
// the namespace: one list of those ConfigMaps a poll, not a read each.
func WaitRootCAPublished(t testing.TB, client kubernetes.Interface, namespaces ...string) {
	t.Helper()
	var missing []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		cms, err := client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=kube-root-ca.crt"})
		if err != nil {
			return false, nil
		}
		published := sets.New[string]()
		for _, cm := range cms.Items {
			published.Insert(cm.Namespace)
		}
		missing = slices.DeleteFunc(slices.Clone(namespaces), published.Has)
		return len(missing) == 0, nil
	})
	if err != nil {
		t.Fatalf("no kube-root-ca.crt published in namespaces %v", missing)
	}
}

// WaitRootCA waits until every namespace's kube-root-ca.crt holds want.
func WaitRootCA(t testing.TB, client kubernetes.Interface, want []byte) {
	t.Helper()
	var bad []string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		nss, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, nil
		}
		bad = nil
		for _, ns := range nss.Items {
			if ns.Status.Phase == corev1.NamespaceTerminating {
				continue
			}
			cm, err := client.CoreV1().ConfigMaps(ns.Name).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
			if err != nil || !bytes.Equal([]byte(cm.Data["ca.crt"]), want) {
				bad = append(bad, ns.Name)
			}
		}
		return len(bad) == 0, nil
	})
	if err != nil {
		t.Fatalf("kube-root-ca.crt does not hold the expected CA in namespaces %v", bad)
	}
}

// BindClusterRole binds user to the ClusterRole role and waits until the
// API server's authorizer honours the binding: RBAC reads bindings through
// an informer, so a request made right after the create can still be
// forbidden. The binding is deleted when the test ends. The wait asks a
// SubjectAccessReview for a verb the role grants (verb on resource in
// group, cluster-wide), which the same authorizer answers.
func BindClusterRole(t testing.TB, client kubernetes.Interface, user, role, verb, group, resource string) {
	t.Helper()
	ctx := context.Background()
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{GenerateName: "carotate-e2e-"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: user}}}
	created, err := client.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{})
	Must(t, err)
	t.Cleanup(func() {
		_ = client.RbacV1().ClusterRoleBindings().Delete(context.Background(), created.Name, metav1.DeleteOptions{})
	})
	review := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{User: user,
		ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource}}}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := client.AuthorizationV1().SubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = got.Status.Reason
		return got.Status.Allowed, nil
	})
	if err != nil {
		t.Fatalf("ClusterRole %s bound to %s, but %s %s is still not allowed (%s)", role, user, verb, resource, last)
	}
}

// LineHas tells whether a line of out holds every part, in order.
func LineHas(out string, parts ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		rest, ok := line, true
		for _, p := range parts {
			i := strings.Index(rest, p)
			if i < 0 {
				ok = false
				break
			}
			rest = rest[i+len(p):]
		}
		if ok {
			return true
		}
	}
	return false
}
