package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/carotate/kubectl-carotate/test/drill"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// runKubeadm is "make demo KUBEADM=1": the kubeadm node, rotated by the
// printed scripts alone, each command shown as it runs (CAROTATE_SHOW=1).
func runKubeadm(ctx context.Context, n drill.WriterNarrator, dir, bin string) error {
	for _, b := range []string{"kubeadm", "cluster"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			return fmt.Errorf("%s is missing: run \"make tools build _output/bin/cluster\" first", filepath.Join(bin, b))
		}
	}
	began := time.Now()
	n.Step("Start a kubeadm-built control-plane node on CA \"old\"", "kubeadm itself lays out cp-1 (10.200.0.10) in private namespaces: /etc/kubernetes, static pods, kubelet files; three KWOK workers with their own kubelet files")
	c, err := localcluster.Start(ctx, localcluster.Options{Dir: filepath.Join(dir, "cluster"), BinDir: bin, Kubeadm: true})
	if err != nil {
		return fmt.Errorf("the kubeadm node did not start: %w", err)
	}
	defer func() {
		n.Step("Stop the kubeadm node", "the demo leaves no process behind")
		if err := c.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "demo: stop:", err)
		}
	}()
	n.Logf("up in %s; get in with: CAROTATE_CLUSTER_DIR=%s %s exec -- bash", time.Since(began).Round(time.Second), c.Dir, filepath.Join(bin, "cluster"))
	work := filepath.Join(dir, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	v := &drill.Verbatim{Cluster: c, Dir: work, Narrator: n, Show: true}
	out, err := v.Run(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, c.LogTails(20))
		return err
	}
	n.Step("What kubeadm and kubectl carotate say now", "kubeadm reads the new CA and the certificates it signed; status judges every step from the cluster")
	for _, args := range [][]string{{"kubeadm", "certs", "check-expiration"}, {"kubectl", "carotate", "status"}, {"kubectl", "carotate", "finish"}} {
		if _, err := drill.Show(ctx, c, n, localcluster.KubeadmNode, work, args...); err != nil {
			return err
		}
	}
	n.Step("Done", "")
	n.Logf("rotation %s: every node step was a printed script, run as printed; finished in %s.", out.RotationID, time.Since(began).Round(time.Second))
	return nil
}
