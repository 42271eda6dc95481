// Command cluster runs the local control plane for humans: "make cluster-up",
// "make cluster-down" and "make playground" call it. Tests use package
// localcluster directly. Under the names crictl, systemctl and scp (symlinks
// on the kubeadm node's PATH) it is the node's stand-in for those commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/test/localcluster"
)

const usage = `usage: cluster COMMAND
  up [--kubeadm]          start the local cluster in the background (reuses a running one);
                          --kubeadm: a control-plane node laid out by kubeadm (cp-1, 10.200.0.10)
  down                    stop exactly what up started (by recorded pid) and delete its state
  exec [--node N] -- CMD  run CMD inside the kubeadm node (default cp-1) as root, in this directory,
                          with KUBECONFIG=/etc/kubernetes/admin.conf
  shell [--node N]        an interactive shell inside the node (exit leaves the node running)
  reap                    stop any process a test run left behind (by recorded pid)
  new-ca NAME DIR         write DIR/NAME.crt and DIR/NAME.key, a new CA
The state directory is _output/cluster, or $CAROTATE_CLUSTER_DIR.`

func main() {
	// The kubeadm node's stand-ins are this binary under another name.
	if name := filepath.Base(os.Args[0]); slices.Contains(localcluster.StandIns, name) {
		os.Exit(localcluster.RunStandIn(name, os.Args[1:], os.Stdout, os.Stderr))
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "_machine": // PID 1 of the kubeadm node's namespaces (started by the harness)
		err = localcluster.RunMachine(os.Args[2])
	case "_node": // one node inside the machine
		err = localcluster.RunNode(os.Args[2], os.Args[3])
	case "_aggregated-api": // the kubeadm node's aggregated API server (ServeAggregatedAPI)
		err = localcluster.RunAggregatedAPI(os.Args[2:])
	case "new-ca":
		err = newCA(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Println(usage)
	default:
		var root string
		if root, err = repoRoot(); err != nil {
			break
		}
		switch os.Args[1] {
		case "up":
			err = up(root, os.Args[2:])
		case "down":
			err = down(root)
		case "reap":
			err = reap(root)
		case "exec":
			var code int
			code, err = execIn(root, os.Args[2:], false)
			if err == nil {
				os.Exit(code)
			}
		case "shell":
			var code int
			code, err = execIn(root, os.Args[2:], true)
			if err == nil {
				os.Exit(code)
			}
		default:
			err = fmt.Errorf("unknown command %q\n%s", os.Args[1], usage)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// repoRoot is the repository of the working directory, else the one this
// binary was built into (_output/bin/cluster), so "cluster exec" works
// from any directory.
func repoRoot() (string, error) {
	root, err := localcluster.RepoRoot()
	if err == nil {
		return root, nil
	}
	if exe, exeErr := os.Executable(); exeErr == nil {
		if exe, exeErr = filepath.EvalSymlinks(exe); exeErr == nil {
			r := filepath.Dir(filepath.Dir(filepath.Dir(exe)))
			if _, statErr := os.Stat(filepath.Join(r, "go.mod")); statErr == nil {
				return r, nil
			}
		}
	}
	return "", err
}

func stateDir(root string) string {
	if d := os.Getenv("CAROTATE_CLUSTER_DIR"); d != "" {
		abs, err := filepath.Abs(d)
		if err == nil {
			return abs
		}
	}
	return filepath.Join(root, "_output", "cluster")
}
func pidDir(root string) string { return filepath.Join(stateDir(root), "pids") }

// up starts a detached cluster, or reuses the one already running.
func up(root string, args []string) error {
	kubeadm := false
	for _, a := range args {
		switch a {
		case "--kubeadm":
			kubeadm = true
		default:
			return fmt.Errorf("up: unknown flag %q", a)
		}
	}
	dir := stateDir(root)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if s, err := readState(dir); err == nil {
		if running(s) {
			if kubeadm && !s.Kubeadm {
				return errors.New("a local cluster without the kubeadm node is running: \"make cluster-down\" first")
			}
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
	start := time.Now()
	c, err := localcluster.Start(ctx, localcluster.Options{
		Dir: dir, PidDir: pidDir(root), Detached: true, Kubeadm: kubeadm,
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
	fmt.Fprintf(os.Stderr, "local cluster up at %s in %s (logs in %s)\n", c.Server, time.Since(start).Round(100*time.Millisecond), filepath.Join(dir, "logs"))
	if kubeadm {
		fmt.Fprintf(os.Stderr, "kubeadm node %s: its /etc/kubernetes is %s; get in with \"make playground\" or %s exec -- CMD\n",
			localcluster.KubeadmNode, filepath.Join(dir, "nodes", localcluster.KubeadmNode, "etc", "kubernetes"), filepath.Join(root, "_output", "bin", "cluster"))
	}
	fmt.Printf("export KUBECONFIG=%s\n", kubeconfig)
	return nil
}

// down stops exactly the processes up started, by recorded pid, and deletes
// the state.
func down(root string) error {
	// The kubeadm node's machine stops its nodes first: give it time.
	stopped, err := localcluster.StopRecorded(pidDir(root), 40*time.Second)
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
	stopped, err := localcluster.StopRecorded(filepath.Join(root, "_output", "pids"), 40*time.Second)
	for _, s := range stopped {
		fmt.Fprintln(os.Stderr, "reaped left-over test process", s)
	}
	return err
}

// execIn is "cluster exec [--node N] -- CMD..." and "cluster shell".
func execIn(root string, args []string, shell bool) (int, error) {
	node := ""
	for len(args) > 0 {
		if args[0] == "--" {
			args = args[1:]
			break
		}
		if args[0] == "--node" && len(args) > 1 {
			node, args = args[1], args[2:]
			continue
		}
		if v, ok := strings.CutPrefix(args[0], "--node="); ok {
			node, args = v, args[1:]
			continue
		}
		if shell || !strings.HasPrefix(args[0], "-") {
			break
		}
		return 0, fmt.Errorf("exec: unknown flag %q\n%s", args[0], usage)
	}
	s, err := readState(stateDir(root))
	if err != nil {
		return 0, fmt.Errorf("no local cluster running (%v): \"make cluster-up KUBEADM=1\" starts one", err)
	}
	if node == "" {
		node = localcluster.KubeadmNode
	}
	if shell {
		if len(args) > 0 {
			return 0, fmt.Errorf("shell: unexpected arguments %v", args)
		}
		fmt.Fprintf(os.Stderr, `You are root on %s, the local cluster's kubeadm node (in its own namespaces).
  /etc/kubernetes, /var/lib/kubelet, /var/lib/etcd, /var/lib/carotate, /var/backups,
  /var/log/pods and /run are this node's own (on the host: %s/...); everything else is the host's.
  KUBECONFIG=/etc/kubernetes/admin.conf; kubectl, kubeadm, kubectl carotate and openssl are on PATH;
  crictl, systemctl and scp are the harness's stand-ins (see their --help).
  exit leaves the node running; "make cluster-down" stops it.
`, node, filepath.Join(s.Dir, "nodes", node))
		args = []string{"bash", "--norc", "-i"}
	}
	wd, err := os.Getwd()
	if err != nil {
		return 0, err
	}
	cmd, err := s.NodeCommand(node, wd, args...)
	if err != nil {
		return 0, err
	}
	if shell {
		cmd.Env = append(cmd.Env, `PS1=[\u@\h \W]# `)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return exitErr.ExitCode(), nil
	}
	return 0, err
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

// running tells whether the recorded apiserver (or kubeadm machine)
// process exists and the API server answers.
func running(s localcluster.State) bool {
	pid := s.Pids[localcluster.APIServer]
	if s.Kubeadm {
		pid = s.Pids[localcluster.Machine]
	}
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
