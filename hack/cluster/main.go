// Command cluster runs the local control plane for humans: "make cluster-up"
// and "make cluster-down" call it. Tests use package localcluster directly.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: cluster up|down|reap|new-ca NAME DIR")
		os.Exit(2)
	}
	root, err := localcluster.RepoRoot()
	if err == nil {
		switch os.Args[1] {
		case "up":
			err = up(root)
		case "down":
			err = down(root)
		case "reap":
			err = reap(root)
		case "new-ca":
			err = newCA(os.Args[2:])
		default:
			err = fmt.Errorf("unknown command %q: use up, down or reap", os.Args[1])
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func stateDir(root string) string { return filepath.Join(root, "_output", "cluster") }
func pidDir(root string) string   { return filepath.Join(stateDir(root), "pids") }

// up starts a detached cluster, or reuses the one already running.
func up(root string) error {
	dir := stateDir(root)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if s, err := readState(dir); err == nil {
		if running(s) {
			fmt.Fprintf(os.Stderr, "local cluster already running at %s\n", s.Server)
			fmt.Printf("export KUBECONFIG=%s\n", kubeconfig)
			return nil
		}
		fmt.Fprintln(os.Stderr, "found a stale local cluster; removing it")
		if err := down(root); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	c, err := localcluster.Start(ctx, localcluster.Options{
		Dir: dir, PidDir: pidDir(root), Detached: true,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) },
	})
	if err != nil {
		_, _ = localcluster.StopRecorded(pidDir(root), 5*time.Second)
		return err
	}
	if err := c.WriteState(); err != nil {
		return err
	}
	// The PKI stays in pki/; the admin kubeconfig gets its well-known name.
	if err := os.Symlink(c.Kubeconfig, kubeconfig); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "local cluster up at %s (logs in %s)\n", c.Server, filepath.Join(dir, "logs"))
	fmt.Printf("export KUBECONFIG=%s\n", kubeconfig)
	return nil
}

// down stops exactly the processes up started, by recorded pid, and deletes
// the state.
func down(root string) error {
	stopped, err := localcluster.StopRecorded(pidDir(root), 5*time.Second)
	if err != nil {
		return err
	}
	for _, s := range stopped {
		fmt.Fprintln(os.Stderr, "stopped", s)
	}
	return os.RemoveAll(stateDir(root))
}

// reap stops anything a test run left behind (tests record their processes
// in _output/pids), so "make test" never leaves a process running.
func reap(root string) error {
	stopped, err := localcluster.StopRecorded(filepath.Join(root, "_output", "pids"), 5*time.Second)
	for _, s := range stopped {
		fmt.Fprintln(os.Stderr, "reaped left-over test process", s)
	}
	return err
}

// newCA writes DIR/NAME.crt and DIR/NAME.key: a CA made the way the harness
// makes its own, for the demo (a fresh machine may have no openssl).
func newCA(args []string) error {
	if len(args) != 2 {
		return errors.New("usage: cluster new-ca NAME DIR")
	}
	ca, err := localcluster.NewCA(args[0], 10*365*24*time.Hour)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(args[1], 0o700); err != nil {
		return err
	}
	return ca.Write(args[1], args[0])
}

func readState(dir string) (localcluster.State, error) {
	var s localcluster.State
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// running tells whether the recorded apiserver process exists and answers.
func running(s localcluster.State) bool {
	pid := s.Pids[localcluster.APIServer]
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); pid == 0 || err != nil {
		return false
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return false
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
	return err == nil
}
