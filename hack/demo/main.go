// Command demo is "make demo": it starts a local control plane (real
// kube-apiserver, etcd, controller-manager, scheduler, KWOK nodes, and
// kubeadm-like mirror pods), rotates its CA end to end with kubectl
// carotate while narrating each command, its output and why, and stops
// everything it started. With --kubeadm ("make demo KUBEADM=1") the
// control plane is the harness's kubeadm-built node, and every node step
// is done by the scripts "instructions -o script" prints, run as printed
// in the nodes, each command shown as it runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/carotate/kubectl-carotate/test/drill"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	kubeadm := flag.Bool("kubeadm", false, "rotate a kubeadm-built node through the printed scripts (needs root, util-linux and iproute2)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	n := drill.WriterNarrator{W: os.Stdout, Bold: isTerminal(os.Stdout)}

	dir, err := os.MkdirTemp("", "carotate-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := localcluster.DefaultBinDir()
	if err != nil {
		return err
	}
	for _, b := range []string{"kubectl-carotate", "kubectl", "kube-apiserver", "etcd", "kwok"} {
		if _, err := os.Stat(bin + "/" + b); err != nil {
			return fmt.Errorf("%s/%s is missing: run \"make tools build\" first", bin, b)
		}
	}
	if *kubeadm {
		return runKubeadm(ctx, n, dir, bin)
	}

	began := time.Now()
	n.Step("Start a local control plane on CA \"old\"", "a real kube-apiserver v1.37.2, etcd, controller-manager, scheduler and KWOK nodes on 127.0.0.1, with kubeadm-like mirror pods")
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: dir, BinDir: bin, MirrorPods: true, NodeKubelets: true})
	if err != nil {
		return fmt.Errorf("the local control plane did not start: %w", err)
	}
	defer func() {
		n.Step("Stop the local control plane", "the demo leaves no process behind")
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop:", err)
		}
	}()
	n.Logf("up at %s in %s; admin kubeconfig %s", c.Server, time.Since(began).Round(time.Second), c.Kubeconfig)

	d := &drill.Drill{Cluster: c, BinDir: bin, Dir: dir, Narrator: n, Clients: true}
	out, err := d.Run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, c.LogTails(20))
		return err
	}
	n.Step("Done", "")
	n.Logf("rotation %s finished in %s: the API server serves from %s, every pod and kube-root-ca.crt trusts it alone, the old CA is gone from every file and kubeconfig.",
		out.RotationID, time.Since(began).Round(time.Second), out.NewCA.Cert.Subject.CommonName)
	n.Logf("%s", out.Clients.Restarted.Summary)
	n.Logf("%s", out.Clients.Control.Summary)
	return nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
