package plugin

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// completionRun runs cobra's hidden __complete command the way kubectl's plugin
// completion (kubectl_complete-carotate) does, and returns the offered
// values (descriptions cut off) and the directive.
func completionRun(t *testing.T, root *cobra.Command, args ...string) ([]string, cobra.ShellCompDirective) {
	t.Helper()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{cobra.ShellCompRequestCmd}, args...))
	if err := root.Execute(); err != nil {
		t.Fatalf("__complete %q: %v\nstderr: %s", args, err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	var directive cobra.ShellCompDirective
	if _, err := fmt.Sscanf(last, ":%d", &directive); err != nil {
		t.Fatalf("__complete %q: no directive in output %q", args, out.String())
	}
	var values []string
	for _, l := range lines[:len(lines)-1] {
		values = append(values, strings.SplitN(l, "\t", 2)[0])
	}
	return values, directive
}

func completionTestRoot(t *testing.T) *cobra.Command {
	t.Helper()
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	return NewCmdCarotate(streams, BuildInfo{Version: "test"})
}

func completionHasAll(list []string, want ...string) bool {
	have := map[string]bool{}
	for _, v := range list {
		have[v] = true
	}
	for _, w := range want {
		if !have[w] {
			return false
		}
	}
	return true
}

func TestCompleteSubcommands(t *testing.T) {
	values, directive := completionRun(t, completionTestRoot(t), "")
	if !completionHasAll(values, "version", "completion") {
		t.Errorf("__complete \"\" = %q, want version and completion among them", values)
	}
	if directive&cobra.ShellCompDirectiveNoFileComp == 0 {
		t.Errorf("directive = %d, want NoFileComp", directive)
	}

	values, _ = completionRun(t, completionTestRoot(t), "completion", "")
	if want := []string{"bash", "zsh", "fish", "powershell"}; !reflect.DeepEqual(values, want) {
		t.Errorf("__complete completion \"\" = %q, want %q", values, want)
	}
}

func TestCompleteVersionOutput(t *testing.T) {
	values, directive := completionRun(t, completionTestRoot(t), "version", "-o", "")
	if want := []string{"json", "yaml"}; !reflect.DeepEqual(values, want) {
		t.Errorf("__complete version -o \"\" = %q, want %q", values, want)
	}
	if directive != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("directive = %d, want NoFileComp (%d)", directive, cobra.ShellCompDirectiveNoFileComp)
	}
	values, _ = completionRun(t, completionTestRoot(t), "version", "--output", "y")
	if want := []string{"yaml"}; !reflect.DeepEqual(values, want) {
		t.Errorf("__complete version --output y = %q, want %q", values, want)
	}
}

func TestCompletionCommand(t *testing.T) {
	root := completionTestRoot(t)
	comp, _, err := root.Find([]string{"completion"})
	if err != nil || comp.Name() != "completion" {
		t.Fatalf("no completion command: %v", err)
	}
	for _, text := range []string{comp.Short, comp.Long, comp.Example} {
		if !strings.Contains(text, "kubectl carotate") {
			t.Errorf("completion help should speak of kubectl carotate: %q", text)
		}
	}
	if !strings.Contains(comp.Long, "kubectl_complete-carotate") {
		t.Errorf("completion --help should name kubectl_complete-carotate")
	}

	for shell, marker := range map[string]string{
		"bash":       "__start_kubectl-carotate",
		"zsh":        "#compdef kubectl-carotate",
		"fish":       "complete -c kubectl-carotate",
		"powershell": "Register-ArgumentCompleter",
	} {
		streams, _, out, _ := genericiooptions.NewTestIOStreams()
		root := NewCmdCarotate(streams, BuildInfo{})
		root.SetArgs([]string{"completion", shell})
		if err := root.Execute(); err != nil {
			t.Fatalf("completion %s: %v", shell, err)
		}
		if !strings.Contains(out.String(), marker) {
			t.Errorf("completion %s: output lacks %q", shell, marker)
		}
	}
}

func TestCompleteFixed(t *testing.T) {
	fn := cmdutil.CompleteFixed("none", "client", "server")
	for toComplete, want := range map[string][]string{
		"":   {"none", "client", "server"},
		"s":  {"server"},
		"x":  nil,
		"cl": {"client"},
	} {
		got, directive := fn(nil, nil, toComplete)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("cmdutil.CompleteFixed(%q) = %q, want %q", toComplete, got, want)
		}
		if directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("cmdutil.CompleteFixed(%q) directive = %d", toComplete, directive)
		}
	}
}

func TestCompleteList(t *testing.T) {
	fn := cmdutil.CompleteList("deployments", "daemonsets", "statefulsets")
	for toComplete, want := range map[string][]string{
		"":                        {"deployments", "daemonsets", "statefulsets"},
		"d":                       {"deployments", "daemonsets"},
		"deployments,":            {"deployments,daemonsets", "deployments,statefulsets"},
		"deployments,s":           {"deployments,statefulsets"},
		"deployments,daemonsets,": {"deployments,daemonsets,statefulsets"},
		"x,":                      {"x,deployments", "x,daemonsets", "x,statefulsets"},
	} {
		got, directive := fn(nil, nil, toComplete)
		if !reflect.DeepEqual(got, want) {
			t.Errorf("completeList(%q) = %q, want %q", toComplete, got, want)
		}
		if directive != cobra.ShellCompDirectiveNoFileComp|cobra.ShellCompDirectiveNoSpace {
			t.Errorf("completeList(%q) directive = %d", toComplete, directive)
		}
	}
}

// completionTestRootWithFlags is a root command with the kubectl flags and
// registerCompletions applied, independent of whether NewCmdCarotate calls
// it yet.
func completionTestRootWithFlags(t *testing.T) *cobra.Command {
	t.Helper()
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	f := cmdutil.NewConfigFactory(genericclioptions.NewConfigFlags(true), "test", nil)
	c := &cmdutil.Env{IOStreams: streams, Factory: f}
	root := &cobra.Command{Use: "kubectl-carotate", SilenceUsage: true, SilenceErrors: true}
	f.ConfigFlags.AddFlags(root.PersistentFlags())
	root.AddCommand(&cobra.Command{Use: "status", RunE: func(*cobra.Command, []string) error { return nil }})
	registerCompletions(root, c)
	registerCompletions(root, c) // harmless twice
	return root
}

// completionKubeconfig writes a kubeconfig with two contexts, "test" pointing at
// server and "other" at nothing that answers.
func completionKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: test-cluster
  cluster: {server: %q}
- name: other-cluster
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: test-user
  user: {token: abc}
contexts:
- name: test
  context: {cluster: test-cluster, user: test-user}
- name: other
  context: {cluster: other-cluster, user: test-user}
current-context: test
`, server)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// An HTTP stub of the one namespaces list call: this tests the completion
// plumbing (flags parsed, paging, prefix filter, failure handling), not a
// rotation command's behaviour, which the e2e tests cover on a real
// apiserver.
func TestCompleteNamespaces(t *testing.T) {
	pages := map[string]string{
		"":      `{"kind":"NamespaceList","apiVersion":"v1","metadata":{"continue":"page2"},"items":[{"metadata":{"name":"default"}},{"metadata":{"name":"kube-public"}}]}`,
		"page2": `{"kind":"NamespaceList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"kube-system"}},{"metadata":{"name":"team-a"}}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces" {
			http.NotFound(w, r)
			return
		}
		page, ok := pages[r.URL.Query().Get("continue")]
		if !ok {
			http.Error(w, "bad continue", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	kubeconfig := completionKubeconfig(t, srv.URL)

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--kubeconfig", kubeconfig, "-n", ""}, []string{"default", "kube-public", "kube-system", "team-a"}},
		{[]string{"--kubeconfig", kubeconfig, "status", "--namespace", "kube"}, []string{"kube-public", "kube-system"}},
		{[]string{"--kubeconfig", kubeconfig, "-n", "nope"}, nil},
		// The other context's server does not answer: nothing, no error.
		{[]string{"--kubeconfig", kubeconfig, "--context", "other", "-n", ""}, nil},
		{[]string{"--kubeconfig", filepath.Join(t.TempDir(), "missing"), "-n", ""}, nil},
	} {
		got, directive := completionRun(t, completionTestRootWithFlags(t), tc.args...)
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("__complete %q = %q, want %q", tc.args, got, tc.want)
		}
		if directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("__complete %q directive = %d, want NoFileComp", tc.args, directive)
		}
	}
}

// TestCompleteNamespacesTimesOut: an apiserver that accepts the request and
// never answers must not hang the shell. The handler holds every request
// until the test ends, so completion returns only if completionTimeout
// cancels the request (a wall-clock bound would be a timed assertion).
// Without the timeout the test hangs until go test's -timeout fails it.
func TestCompleteNamespacesTimesOut(t *testing.T) {
	release := make(chan struct{})
	cancelled := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
			select {
			case cancelled <- struct{}{}:
			default: // one is enough
			}
		}
	}))
	defer srv.Close()
	defer close(release)

	old := cmdutil.CompletionTimeout
	cmdutil.CompletionTimeout = 300 * time.Millisecond
	defer func() { cmdutil.CompletionTimeout = old }()

	got, directive := completionRun(t, completionTestRootWithFlags(t), "--kubeconfig", completionKubeconfig(t, srv.URL), "-n", "")
	if got != nil || directive != cobra.ShellCompDirectiveNoFileComp {
		t.Errorf("hung apiserver: got %q, directive %d; want nothing, NoFileComp", got, directive)
	}
	// Returning means the client gave up the request, which the handler
	// sees a moment later (the connection closes): wait for that, with no
	// clock. A completion that never asked is TestCompleteNamespaces' failure.
	<-cancelled
}

func TestCompleteKubeconfigNames(t *testing.T) {
	kubeconfig := completionKubeconfig(t, "https://127.0.0.1:1")
	for flag, want := range map[string][]string{
		"--context": {"other", "test"},
		"--cluster": {"other-cluster", "test-cluster"},
		"--user":    {"test-user"},
	} {
		got, _ := completionRun(t, completionTestRootWithFlags(t), "--kubeconfig", kubeconfig, flag, "")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("__complete %s \"\" = %q, want %q", flag, got, want)
		}
	}
	got, _ := completionRun(t, completionTestRootWithFlags(t), "--kubeconfig", kubeconfig, "--context", "t")
	if want := []string{"test"}; !reflect.DeepEqual(got, want) {
		t.Errorf("__complete --context t = %q, want %q", got, want)
	}
}

// TestRootRegistersCompletions: the root must wire registerCompletions, or
// <TAB> after -n, --context, --cluster and --user completes nothing.
func TestRootRegistersCompletions(t *testing.T) {
	root := completionTestRoot(t)
	for _, flag := range []string{"namespace", "context", "cluster", "user"} {
		if _, ok := root.GetFlagCompletionFunc(flag); !ok {
			t.Errorf("--%s has no completion: NewCmdCarotate must call registerCompletions(cmd, common)", flag)
		}
	}
}

func TestCompletionOfTarget(t *testing.T) {
	for _, cmd := range []string{"start", "status", "instructions", "verify", "finish", "abort"} {
		values, directive := completionRun(t, completionTestRoot(t), cmd, "--target", "")
		if len(values) != 4 || !completionHasAll(values, "cluster-ca", "front-proxy-ca", "etcd-ca", "sa-key") || directive != cobra.ShellCompDirectiveNoFileComp {
			t.Errorf("%s --target <TAB> = %q (%d), want cluster-ca, front-proxy-ca, etcd-ca and sa-key, no files", cmd, values, directive)
		}
	}
}
