package drill

// Verbatim is the rotation on the kubeadm node done only by the scripts
// "kubectl carotate instructions -o script" prints, run as printed inside
// the nodes: the control-plane node's script (with the workstation steps)
// and each other node's, at once, phase after phase. test/e2e/verbatim
// checks its end state from outside; "make demo KUBEADM=1" narrates it.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// Verbatim drives the rotation through the printed scripts.
type Verbatim struct {
	Cluster *localcluster.Cluster
	// Dir is where the new CA, its key and the scripts are: a directory of
	// the host, which every node sees at the same path.
	Dir      string
	Narrator Narrator
	// Env is added to every script's environment (CAROTATE_TIMEOUT=...).
	Env []string
	// Show runs the scripts with CAROTATE_SHOW=1: each command is printed
	// before it runs.
	Show bool
	// Lint, when set, checks every script before it runs (ShellCheck).
	Lint func(name, script string) error
}

// ScriptRun is one script as it ran.
type ScriptRun struct {
	Phase, Node, File string
	Stdout, Stderr    string
	Code              int
	Took              time.Duration
}

// VerbatimOutcome is what the scripts did.
type VerbatimOutcome struct {
	RotationID string
	// NewCAFile and NewCAKey are in Dir; OldCA is the CA kubeadm made.
	NewCAFile, NewCAKey string
	NewCA               []byte
	Runs                []ScriptRun
}

// Phases are the three phases, in order.
var Phases = []string{checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish}

// NodeExec runs args inside node (the kubeadm node's namespaces), in dir,
// as "cluster exec" does; stdout and stderr go to the writers.
func NodeExec(ctx context.Context, c *localcluster.Cluster, node, dir string, env []string, stdout, stderr io.Writer, args ...string) (int, error) {
	cmd, err := c.State().NodeCommand(node, dir, args...)
	if err != nil {
		return 0, err
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		<-done
		return 0, ctx.Err()
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	return 0, err
}

// NodeOutput runs args inside node and returns its stdout; a non-zero exit
// is an error that carries both outputs.
func NodeOutput(ctx context.Context, c *localcluster.Cluster, node, dir string, args ...string) (string, error) {
	var out, errOut bytes.Buffer
	code, err := NodeExec(ctx, c, node, dir, nil, &out, &errOut, args...)
	if err == nil && code != 0 {
		err = fmt.Errorf("%s on %s: exit %d: %s%s", strings.Join(args, " "), node, code, out.String(), errOut.String())
	}
	return out.String(), err
}

func (v *Verbatim) logf(format string, args ...any) {
	if v.Narrator != nil {
		v.Narrator.Logf(format, args...)
	}
}

func (v *Verbatim) step(title, why string) {
	if v.Narrator != nil {
		v.Narrator.Step(title, why)
	}
}

// Run makes the new CA on the node, records the rotation and runs the
// three phases' scripts.
func (v *Verbatim) Run(ctx context.Context) (*VerbatimOutcome, error) {
	out := &VerbatimOutcome{NewCAFile: filepath.Join(v.Dir, "new-ca.crt"), NewCAKey: filepath.Join(v.Dir, "new-ca.key")}
	cp := localcluster.KubeadmNode
	v.step("Generate the new CA on "+cp, "its key stays in this directory: the scripts read it from $NEW_CA_KEY, kubectl carotate never does")
	if _, err := v.show(ctx, cp, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "new-ca.key", "-out", "new-ca.crt",
		"-subj", "/CN=kubernetes-new", "-days", "365", "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"); err != nil {
		return out, err
	}
	var err error
	if out.NewCA, err = os.ReadFile(out.NewCAFile); err != nil {
		return out, err
	}
	v.step("Record the rotation", "every later command, and every script, takes the CAs from the record")
	// -o json for the id; the narration shows what start says on stderr.
	var stdout, stderr bytes.Buffer
	args := []string{"kubectl", "carotate", "start", "--new-ca", "new-ca.crt", "-o", "json"}
	code, err := NodeExec(ctx, v.Cluster, cp, v.Dir, nil, &stdout, &stderr, args...)
	v.logf("[root@%s]# %s\n%s", cp, shellJoin(args), strings.TrimRight(stderr.String(), "\n"))
	if err == nil && code != 0 {
		err = fmt.Errorf("%s: exit %d: %s", shellJoin(args), code, stderr.String())
	}
	if err != nil {
		return out, err
	}
	started := stdout.String()
	var rec struct{ ID string }
	if err := json.Unmarshal([]byte(started), &rec); err != nil || rec.ID == "" {
		return out, fmt.Errorf("start -o json: no id in %q (%v)", started, err)
	}
	out.RotationID = rec.ID
	for _, phase := range Phases {
		runs, err := v.Phase(ctx, phase)
		out.Runs = append(out.Runs, runs...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// show runs a command on node, narrated as the admin typing it there.
func (v *Verbatim) show(ctx context.Context, node string, args ...string) (string, error) {
	return Show(ctx, v.Cluster, v.Narrator, node, v.Dir, args...)
}

// Show runs a command on node in dir, narrated (when n is set) as the
// admin typing it there; a non-zero exit is an error.
func Show(ctx context.Context, c *localcluster.Cluster, n Narrator, node, dir string, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	code, err := NodeExec(ctx, c, node, dir, nil, &stdout, &stderr, args...)
	if n != nil {
		// As a prompt on that node (Narrator.Command prints kubectl lines).
		n.Logf("[root@%s]# %s", node, shellJoin(args))
		for _, s := range []string{stdout.String(), stderr.String()} {
			if s = strings.TrimRight(s, "\n"); s != "" {
				n.Logf("%s", s)
			}
		}
		if code != 0 {
			n.Logf("  (exit %d)", code)
		}
	}
	if err == nil && code != 0 {
		err = fmt.Errorf("%s on %s: exit %d: %s", shellJoin(args), node, code, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// otherNodeScript finds, in a script's header, the commands that print the
// other nodes' scripts.
var otherNodeScript = regexp.MustCompile(`(?m)^#   (kubectl carotate instructions -o script .*--node (\S+))$`)

// Phase prints the phase's scripts on the control-plane node (its own,
// with the workstation steps, and every other node's it names) and runs
// them at once, each on its node: the control-plane script waits for the
// others at their turn.
func (v *Verbatim) Phase(ctx context.Context, phase string) ([]ScriptRun, error) {
	cp := localcluster.KubeadmNode
	v.step("Phase "+phase+": the printed scripts, run as printed", map[string]string{
		checks.PhaseBundle: "steps 1 to 9.1: the control plane trusts old and new, components and kubeconfigs move to the bundle",
		checks.PhaseServe:  "steps 9.2 to 11: kubelets renew their client certificates, the API server serves from the new CA",
		checks.PhaseFinish: "steps 12.x: the old CA leaves every file, flag, kubeconfig and ConfigMap",
	}[phase])
	main := phase + "-" + cp + ".sh"
	script, err := v.printScript(ctx, main, "--phase", phase)
	if err != nil {
		return nil, err
	}
	scripts := []ScriptRun{{Phase: phase, Node: cp, File: main}}
	for _, m := range otherNodeScript.FindAllStringSubmatch(script, -1) {
		file := phase + "-" + m[2] + ".sh"
		if _, err := v.printScript(ctx, file, strings.Fields(m[1])[5:]...); err != nil {
			return nil, err
		}
		scripts = append(scripts, ScriptRun{Phase: phase, Node: m[2], File: file})
	}
	env := append([]string{}, v.Env...)
	if v.Show {
		env = append(env, "CAROTATE_SHOW=1")
	}
	show := ""
	if v.Show {
		show = "CAROTATE_SHOW=1 "
	}
	for _, r := range scripts {
		v.logf("[root@%s]# %sbash %s", r.Node, show, r.File)
	}
	var wg sync.WaitGroup
	for i := range scripts {
		wg.Add(1)
		go func(r *ScriptRun) {
			defer wg.Done()
			var stdout, stderr bytes.Buffer
			lines := &prefixWriter{prefix: "[" + r.Node + "] ", logf: v.logf}
			began := time.Now()
			var err error
			r.Code, err = NodeExec(ctx, v.Cluster, r.Node, v.Dir, env, io.MultiWriter(&stdout, lines), io.MultiWriter(&stderr, lines), "bash", r.File)
			lines.Flush()
			r.Took = time.Since(began)
			r.Stdout, r.Stderr = stdout.String(), stderr.String()
			if err != nil {
				r.Code, r.Stderr = -1, r.Stderr+"\n"+err.Error()
			}
		}(&scripts[i])
	}
	wg.Wait()
	var failed []string
	for _, r := range scripts {
		v.logf("  %s on %s: exit %d in %s", r.File, r.Node, r.Code, r.Took.Round(time.Second))
		if r.Code != 0 {
			failed = append(failed, fmt.Sprintf("%s on %s: exit %d:\n%s", r.File, r.Node, r.Code, lastLines(r.Stderr, 15)))
		}
	}
	if len(failed) > 0 {
		return scripts, fmt.Errorf("phase %s: %s", phase, strings.Join(failed, "\n"))
	}
	return scripts, nil
}

// printScript prints a script on the control-plane node into Dir/file and
// lints it.
func (v *Verbatim) printScript(ctx context.Context, file string, selection ...string) (string, error) {
	args := append([]string{"kubectl", "carotate", "instructions", "-o", "script"}, selection...)
	script, err := NodeOutput(ctx, v.Cluster, localcluster.KubeadmNode, v.Dir, args...)
	if err != nil {
		return "", err
	}
	v.logf("[root@%s]# %s > %s   (%d lines)", localcluster.KubeadmNode, shellJoin(args), file, strings.Count(script, "\n"))
	if v.Lint != nil {
		if err := v.Lint(file, script); err != nil {
			return "", fmt.Errorf("%s: %w", file, err)
		}
	}
	return script, os.WriteFile(filepath.Join(v.Dir, file), []byte(script), 0o644)
}

// prefixWriter hands each complete line to logf, prefixed.
type prefixWriter struct {
	mu     sync.Mutex
	prefix string
	logf   func(string, ...any)
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.logf("%s%s", w.prefix, truncate(string(w.buf[:i]), 200))
		w.buf = w.buf[i+1:]
	}
}

// Flush hands on what is left of a last line without a newline.
func (w *prefixWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.logf("%s%s", w.prefix, truncate(string(w.buf), 200))
		w.buf = nil
	}
}

// truncate shortens a line for the narration (a base64 CA in a sed).
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("... (%d more characters)", len(s)-n)
}

func lastLines(s string, n int) string {
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
