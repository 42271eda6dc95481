package e2eutil

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/test/drill"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// InNode runs a command on the kubeadm node's control plane in dir; it
// must succeed.
func InNode(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := drill.NodeOutput(context.Background(), Cluster, localcluster.KubeadmNode, dir, args...)
	Must(t, err)
	return out
}

// NodeRun runs a command on the kubeadm node's control plane with extra
// environment and returns what it printed and its exit code.
func NodeRun(t testing.TB, dir string, extra []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code, err := drill.NodeExec(context.Background(), Cluster, localcluster.KubeadmNode, dir, extra, &out, &errOut, args...)
	Must(t, err)
	return out.String(), errOut.String(), code
}

// LintScript runs ShellCheck on a printed script when it is there
// (make shellcheck; CAROTATE_REQUIRE_SHELLCHECK makes its absence fatal).
func LintScript(t testing.TB, script string) {
	t.Helper()
	bin := filepath.Join(BinDir, "shellcheck")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CAROTATE_REQUIRE_SHELLCHECK") != "" {
			t.Fatalf("%s is missing: make shellcheck", bin)
		}
		t.Logf("%s is missing (make shellcheck): the printed scripts are not linted", bin)
		return
	}
	cmd := exec.Command(bin, "--shell=bash", "--severity=style", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

// ManifestHas checks that a file in the kubeadm node holds each line.
func ManifestHas(t testing.TB, dir, manifest string, lines ...string) {
	t.Helper()
	m := InNode(t, dir, "cat", manifest)
	for _, l := range lines {
		if !strings.Contains(m, l) {
			t.Errorf("%s lacks %q", manifest, l)
		}
	}
}

// NodeAbsent checks that no file of files exists in the kubeadm node
// (transition files a step removes).
func NodeAbsent(t testing.TB, dir string, files ...string) {
	t.Helper()
	for _, f := range files {
		if _, _, code := NodeRun(t, dir, nil, "test", "!", "-e", f); code != 0 {
			t.Errorf("the transition file %s is left", f)
		}
	}
}

// BackedUp checks that a step's backup of file holds what it held before.
func BackedUp(t testing.TB, dir, rotation, step, file, before string) {
	t.Helper()
	if backup := InNode(t, dir, "cat", "/var/backups/carotate-"+rotation+"/step-"+step+file); backup != before {
		t.Errorf("the step %s backup of %s is not what was there before", step, file)
	}
}
