package checks

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"mvdan.cc/sh/v3/syntax"
)

// scriptContents are real certificates (testdata/script): a script checks
// files by fingerprint, so it parses its contents.
func scriptContents(t *testing.T, frontProxy bool) map[string]string {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "script", name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	c := map[string]string{ContentNewCA: read("new-ca"), ContentOldCA: read("old-ca")}
	c[ContentBundle] = c[ContentNewCA] + c[ContentOldCA]
	if frontProxy {
		c[ContentNewFrontProxyCA], c[ContentOldFrontProxyCA] = read("new-front-proxy-ca"), read("old-front-proxy-ca")
		c[ContentFrontProxyBundle] = c[ContentNewFrontProxyCA] + c[ContentOldFrontProxyCA]
	}
	return c
}

// scriptCase is one script of a golden cluster.
type scriptCase struct {
	name, cluster string
	phase, step   string
	opts          ScriptOptions
	// refused, when set, is what the error must say.
	refused string
}

func scriptCases() []scriptCase {
	conductor := func(node string) ScriptOptions { return ScriptOptions{Node: node, Workstation: true} }
	return []scriptCase{
		{name: "kubeadm-bundle", cluster: "kubeadm", phase: PhaseBundle, opts: conductor("cp-1")},
		{name: "kubeadm-finish", cluster: "kubeadm", phase: PhaseFinish, opts: conductor("cp-1")},
		{name: "kubeadm-finish-worker-a", cluster: "kubeadm", phase: PhaseFinish, opts: ScriptOptions{Node: "worker-a"}},
		{name: "kubeadm-step-2-node", cluster: "kubeadm", step: "2", opts: ScriptOptions{Node: "cp-1"}},
		{name: "separate-files-serve", cluster: "separate-files", phase: PhaseServe, opts: conductor("master-0")},
		{name: "separate-files-finish", cluster: "separate-files", phase: PhaseFinish, opts: conductor("master-0")},
		{name: "kubeadm-serve-worker-a", cluster: "kubeadm", phase: PhaseServe, opts: ScriptOptions{Node: "worker-a"}},
		// Without a known control-plane node there is no node to run on.
		{name: "defaults-bundle", cluster: "defaults", phase: PhaseBundle, opts: conductor("*"), refused: "control-plane nodes are not known"},
	}
}

func renderScriptCase(t *testing.T, c scriptCase) (string, error) {
	t.Helper()
	d := goldenCases()[c.cluster]
	d.Contents = scriptContents(t, d.FrontProxy)
	o := c.opts
	switch {
	case c.phase != "":
		o.Selection = []string{"--phase", c.phase}
	case c.step != "":
		o.Selection = []string{"--step", c.step}
	}
	o.Notes = []string{"Golden note: paths for " + c.cluster + "."}
	return RenderScript(d, FilterSteps(Render(d), c.step, c.phase, ""), o)
}

func TestRenderScriptGolden(t *testing.T) {
	for _, c := range scriptCases() {
		t.Run(c.name, func(t *testing.T) {
			script, err := renderScriptCase(t, c)
			if c.refused != "" {
				if err == nil || !strings.Contains(err.Error(), c.refused) {
					t.Fatalf("want a refusal saying %q, got %v", c.refused, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			// The helpers are the same in every script: tested on their own.
			if !strings.Contains(script, scriptHelpers) {
				t.Fatal("the script lacks the helpers")
			}
			script = strings.Replace(script, scriptHelpers, "# (the helpers of pkg/checks/scripthelpers.sh)\n", 1)
			golden(t, filepath.Join("testdata", "script", c.name+".sh"), []byte(script))
		})
	}
}

// TestRenderScriptShape parses every script and checks what each must
// hold: strict mode first, every step's command inside the check that
// guards it, waits and checks that name what they wait for, no key.
func TestRenderScriptShape(t *testing.T) {
	eachScript(t, func(t *testing.T, c scriptCase, script string) {
		f, err := syntax.NewParser(syntax.KeepComments(true)).Parse(strings.NewReader(script), c.name)
		if err != nil {
			t.Fatalf("the script does not parse: %v", err)
		}
		if !strings.HasPrefix(script, "#!/usr/bin/env bash\n") || !strings.Contains(script, "\nset -euo pipefail\n") {
			t.Errorf("no shebang or strict mode")
		}
		if ContainsPrivateKey([]byte(script)) {
			t.Errorf("the script holds a private key")
		}
		d := goldenCases()[c.cluster]
		d.Contents = scriptContents(t, d.FrontProxy)
		steps := FilterSteps(Render(d), c.step, c.phase, "")
		calls := topLevelCalls(f)
		// Each step's command as the printer prints it ("cat >f"), with
		// the operator's key read from its variable.
		first := func(s Step) string {
			cmd := printed(t, s.Command)
			if _, ok := keyContents[s.Content]; ok && s.From != "" {
				cmd = strings.ReplaceAll(cmd, " "+s.From+" ", ` "${`+keyVariable(s.From)+`}" `)
			}
			return strings.SplitN(cmd, "\n", 2)[0]
		}
		var mine int
		ran := map[string]bool{}
		for _, s := range steps {
			if s.Action == ActionSkip || s.Command == "" {
				continue
			}
			if s.Node == c.opts.Node || (s.Node == "" && c.opts.Workstation) {
				ran[first(s)] = true
				if !strings.Contains(script, first(s)) {
					t.Errorf("step %s %s on %q (%s) is not in the script", s.Step, s.Action, s.Node, s.Description)
				}
				if s.Node != "" {
					mine++
				}
			}
		}
		for _, s := range steps {
			if s.Action == ActionSkip || s.Command == "" || s.Node == c.opts.Node || (s.Node == "" && c.opts.Workstation) {
				continue
			}
			if !ran[first(s)] && strings.Contains(script, first(s)) {
				t.Errorf("step %s %s of %q (%s) is in the script of %s", s.Step, s.Action, s.Node, s.Description, c.opts.Node)
			}
		}
		// One announcement per step that runs, so a failure names it.
		if n := calls["carotate_step"]; n < mine {
			t.Errorf("%d carotate_step calls for %d node steps", n, mine)
		}
		if c.opts.Node != "" && mine > 0 && calls["carotate_on_node"] != 1 {
			t.Errorf("the script does not check the node it runs on")
		}
		// Every kind of edit has its check, before and after.
		for _, s := range steps {
			if s.Node != c.opts.Node || s.Condition != "" {
				continue
			}
			want := map[string]string{ActionSetFlag: "carotate_flag " + quote(s.Manifest) + " " + s.Flag + " " + quote(s.File),
				ActionBackup: "carotate_backed_up " + quote(s.Target) + " " + quote(s.File), ActionRemoveFile: "carotate_absent " + quote(s.File)}[s.Action]
			if want != "" && strings.Count(script, want) < 2 {
				t.Errorf("step %s %s: %q is not there before and after the command", s.Step, s.Action, want)
			}
		}
		if strings.Contains(script, "new-ca.key") && !strings.Contains(script, `carotate_key_given NEW_CA_KEY "${NEW_CA_KEY}"`) {
			t.Errorf("the script uses the new CA's key but does not check $NEW_CA_KEY first")
		}
		if regexp.MustCompile(`install -m 0600 new-ca\.key`).MatchString(script) {
			t.Errorf("the script installs ./new-ca.key, not $NEW_CA_KEY")
		}
	})
}

// eachScript runs test on every script the cases render.
func eachScript(t *testing.T, test func(t *testing.T, c scriptCase, script string)) {
	for _, c := range scriptCases() {
		if c.refused != "" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			script, err := renderScriptCase(t, c)
			if err != nil {
				t.Fatal(err)
			}
			test(t, c, script)
		})
	}
}

// printed is a command as the script's printer prints it.
func printed(t *testing.T, cmd string) string {
	t.Helper()
	f, err := syntax.NewParser().Parse(strings.NewReader(cmd), "")
	if err != nil {
		t.Fatalf("%q: %v", cmd, err)
	}
	var b strings.Builder
	for _, st := range f.Stmts {
		if err := syntax.NewPrinter(syntax.Indent(2)).Print(&b, st); err != nil {
			t.Fatal(err)
		}
		b.WriteString("\n")
	}
	return b.String()
}

// topLevelCalls counts the simple commands of the script by name.
func topLevelCalls(f *syntax.File) map[string]int {
	out := map[string]int{}
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			out[c.Args[0].Lit()]++
		}
		if _, ok := n.(*syntax.FuncDecl); ok {
			return false // the helpers' own calls do not count
		}
		return true
	})
	return out
}

// shellcheck finds ShellCheck: $SHELLCHECK, then _output/bin (make
// shellcheck), then PATH. Under make (CAROTATE_REQUIRE_SHELLCHECK=1) a
// missing binary fails the test instead of skipping it.
func shellcheck(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("SHELLCHECK"), filepath.Join(os.Getenv("CAROTATE_BIN_DIR"), "shellcheck"), filepath.Join("..", "..", "_output", "bin", "shellcheck")} {
		if p == "" || strings.HasPrefix(p, "shellcheck") {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("shellcheck"); err == nil {
		return p
	}
	if os.Getenv("CAROTATE_REQUIRE_SHELLCHECK") != "" {
		t.Fatal("shellcheck is not installed: make shellcheck unpacks Debian's into _output/bin")
	}
	t.Skip("shellcheck is not installed (make shellcheck); the printed scripts were not linted")
	return ""
}

// TestScriptsPassShellCheck lints every printed script: no warning, or
// one disabled in the script with its reason.
func TestScriptsPassShellCheck(t *testing.T) {
	bin := shellcheck(t)
	eachScript(t, func(t *testing.T, c scriptCase, script string) {
		cmd := exec.Command(bin, "--shell=bash", "--severity=style", "-")
		cmd.Stdin = strings.NewReader(script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("shellcheck: %v\n%s", err, out)
		}
		for _, line := range strings.Split(script, "\n") {
			if strings.HasPrefix(line, "# shellcheck disable=") && !strings.Contains(line, " # ") {
				t.Errorf("a disabled check without its reason: %s", line)
			}
		}
	})
}

// TestShellCheckCatches proves the lint test can fail: ShellCheck flags a
// script with an unquoted variable.
func TestShellCheckCatches(t *testing.T) {
	bin := shellcheck(t)
	cmd := exec.Command(bin, "--shell=bash", "-")
	cmd.Stdin = strings.NewReader("#!/usr/bin/env bash\nf=$1\nrm $f\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "SC2086") {
		t.Fatalf("shellcheck let an unquoted variable pass: %v\n%s", err, out)
	}
}

// helperShell runs bash with the script helpers defined, in dir.
func helperShell(t *testing.T, dir, body string) (string, error) {
	t.Helper()
	cmd := exec.Command("bash", "-c", "set -euo pipefail\nset -o errtrace\n"+scriptHelpers+"\ncarotate_rotation=r1\n"+body)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestScriptChecks runs the helpers' checks on files that hold and that
// do not hold what a step writes: each check must pass on the one and
// fail, saying why and naming the file, on the other.
func TestScriptChecks(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	contents := scriptContents(t, false)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	g := &scriptGen{d: ClusterDescription{Contents: contents}, fps: map[string][]string{}}
	bundleFPs, err := g.fingerprints(ContentBundle)
	if err != nil {
		t.Fatal(err)
	}
	newFP := bundleFPs[0]
	manifest := write("kcm.yaml", "spec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - --root-ca-file=/pki/ca-bundle.crt\n    - --kubeconfig=/etc/kubernetes/controller-manager.conf\n")
	quoted := write("kcm-quoted.yaml", "spec:\n  containers:\n  - command:\n    - kube-controller-manager\n    - \"--root-ca-file=/pki/ca.crt\"\n")
	config := write("config.yaml", "authentication:\n  x509:\n    clientCAFile: /pki/ca-bundle.crt\n")
	bundle := write("ca-bundle.crt", contents[ContentBundle])
	newOnly := write("ca-new.crt", contents[ContentNewCA])
	for _, c := range []struct {
		name, body, why string
	}{
		{"flag set", "carotate_flag " + manifest + " --root-ca-file /pki/ca-bundle.crt", ""},
		{"flag elsewhere", "carotate_flag " + manifest + " --root-ca-file /pki/ca-new.crt", manifest + " has no line '- --root-ca-file=/pki/ca-new.crt' (its lines for --root-ca-file: - --root-ca-file=/pki/ca-bundle.crt)"},
		// The broken manifest of test/e2e/verbatim: the flag quoted, which the sed does not match.
		{"flag quoted", "carotate_flag " + quoted + " --root-ca-file /pki/ca.crt", quoted + " has no line '- --root-ca-file=/pki/ca.crt' (its lines for --root-ca-file: - \"--root-ca-file=/pki/ca.crt\")"},
		{"field set", "carotate_config_field " + config + " clientCAFile /pki/ca-bundle.crt", ""},
		{"field other", "carotate_config_field " + config + " clientCAFile /pki/ca.crt", config + " has no line 'clientCAFile: /pki/ca.crt'"},
		{"bundle", "carotate_certs " + bundle + " " + strings.Join(bundleFPs, " "), ""},
		{"bundle in the wrong order", "carotate_certs " + bundle + " " + bundleFPs[1] + " " + bundleFPs[0], bundle + " holds the certificates " + bundleFPs[0] + " " + bundleFPs[1]},
		{"new alone is not the bundle", "carotate_certs " + newOnly + " " + strings.Join(bundleFPs, " "), newOnly + " holds the certificates " + newFP + ", not"},
		{"missing file", "carotate_certs " + filepath.Join(dir, "nope.crt") + " " + newFP, filepath.Join(dir, "nope.crt") + " does not exist"},
		{"copy", "carotate_same " + bundle + " " + bundle, ""},
		{"not a copy", "carotate_same " + bundle + " " + newOnly, newOnly + " is not a copy of " + bundle},
		{"absent", "carotate_absent " + filepath.Join(dir, "nope"), ""},
		{"present", "carotate_absent " + bundle, bundle + " still exists"},
		{"backed up", "carotate_backed_up " + dir + " /ca-bundle.crt", ""},
		{"not backed up", "carotate_backed_up " + dir + " /nope", "there is no backup " + dir + "/nope"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, err := helperShell(t, dir, c.body+" || { echo \"why: $carotate_why\"; exit 3; }")
			if c.why == "" {
				if err != nil {
					t.Fatalf("the check failed on a file that holds it: %v\n%s", err, out)
				}
				return
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("the check passed (or broke) on a file that does not hold it: %v\n%s", err, out)
			}
			if !strings.Contains(out, c.why) {
				t.Errorf("why: %q, want it to say %q", out, c.why)
			}
		})
	}
}

// TestScriptStopsAtAStepThatDidNotTake runs a step as the script renders
// it, on a manifest the sed does not match: the script stops there, names
// the manifest, and runs nothing after it.
func TestScriptStopsAtAStepThatDidNotTake(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "kube-controller-manager.yaml")
	if err := os.WriteFile(manifest, []byte("    - \"--root-ca-file=/pki/ca.crt\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := Step{Step: "2", Node: "cp-1", Component: ComponentControllerManager, Action: ActionSetFlag, Description: "kube-controller-manager: --root-ca-file=/pki/ca-bundle.crt",
		Flag: "--root-ca-file", File: "/pki/ca-bundle.crt", Manifest: manifest,
		Command: "sed -i -e " + shq("s|- --root-ca-file=.*|- --root-ca-file=/pki/ca-bundle.crt|") + " " + shq(manifest)}
	g := &scriptGen{o: ScriptOptions{Node: "cp-1"}, fps: map[string][]string{}, needs: map[string]bool{}, keys: map[string]string{}}
	if err := g.step(&stepGroup{step: "2", node: "cp-1", steps: []Step{s}}, 0, s, "on cp-1"); err != nil {
		t.Fatal(err)
	}
	out, err := helperShell(t, dir, g.b.String()+"\necho AFTER\n")
	if err == nil || strings.Contains(out, "AFTER") {
		t.Fatalf("the script went on past a step that did not take: %v\n%s", err, out)
	}
	for _, want := range []string{"step 2 on cp-1 did not take", manifest + " has no line '- --root-ca-file=/pki/ca-bundle.crt'"} {
		if !strings.Contains(out, want) {
			t.Errorf("the failure does not say %q:\n%s", want, out)
		}
	}
	// The same step on a manifest the sed matches takes, and a re-run
	// leaves it alone.
	if err := os.WriteFile(manifest, []byte("    - --root-ca-file=/pki/ca.crt\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"step 2 on cp-1: kube-controller-manager", "already done"} {
		out, err := helperShell(t, dir, g.b.String()+"\necho AFTER\n")
		if err != nil || !strings.Contains(out, "AFTER") || !strings.Contains(out, want) {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
	}
	if b, _ := os.ReadFile(manifest); string(b) != "    - --root-ca-file=/pki/ca-bundle.crt\n" {
		t.Errorf("manifest after the step: %q", b)
	}
}

// TestScriptKeyChecks: the operator's key must be the new CA's, and a
// key file a step installs must be it, mode 0600.
func TestScriptKeyChecks(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl is not installed")
	}
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	writeKey := func(name string, k *ecdsa.PrivateKey, mode os.FileMode) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	spkiDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(spkiDER)
	spki := hex.EncodeToString(sum[:])
	good, loose, wrong := writeKey("ca.key", key, 0o600), writeKey("loose.key", key, 0o644), writeKey("other.key", other, 0o600)
	for _, c := range []struct{ body, want string }{
		{"carotate_key_file " + good + " " + spki + " && echo OK", "OK"},
		{"carotate_key_file " + loose + " " + spki + " || echo \"$carotate_why\"", loose + " has mode 644, not 600"},
		{"carotate_key_file " + wrong + " " + spki + " \"the new CA's key\" || echo \"$carotate_why\"", wrong + " is not the new CA's key"},
		{"carotate_key_given NEW_CA_KEY " + good + " " + spki + " 'the new CA' && echo OK", "OK"},
		{"carotate_key_given NEW_CA_KEY " + wrong + " " + spki + " 'the new CA'", "NEW_CA_KEY=" + wrong + " is not the private key of the new CA; nothing was changed"},
		{"carotate_key_given NEW_CA_KEY " + filepath.Join(dir, "none.key") + " " + spki + " 'the new CA'", "no such file"},
	} {
		out, _ := helperShell(t, dir, c.body)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s:\n%s\nwant %q", c.body, out, c.want)
		}
		if strings.Contains(out, "PRIVATE KEY") {
			t.Errorf("%s printed key material", c.body)
		}
	}
}

// TestScriptRefusesAnUntestableCondition: a condition in words only is
// refused, not guessed.
func TestScriptRefusesAnUntestableCondition(t *testing.T) {
	d := goldenCases()["kubeadm"]
	d.Contents = scriptContents(t, false)
	steps := []Step{{Step: "7", Phase: PhaseBundle, Node: "cp-1", Action: ActionRemoveFile, Description: "Remove /tmp/x", File: "/tmp/x",
		Condition: "if nobody needs it", Command: "rm -f /tmp/x"}}
	_, err := RenderScript(d, steps, ScriptOptions{Node: "cp-1"})
	if err == nil || !strings.Contains(err.Error(), `it applies only "if nobody needs it", which a script cannot test`) {
		t.Fatalf("want a refusal, got %v", err)
	}
	steps[0].When = "test -e /tmp/x"
	script, err := RenderScript(d, steps, ScriptOptions{Node: "cp-1"})
	if err != nil || !strings.Contains(script, "if test -e /tmp/x; then") {
		t.Fatalf("with a when: %v\n%s", err, script)
	}
}

// TestScriptShowsCommands: CAROTATE_SHOW=1 prints each step's command
// before it runs (a here-document by its first line), not the helpers'.
func TestScriptShowsCommands(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command("bash", "-c", "set -euo pipefail\n"+scriptHelpers+"\ncarotate_step 1 on-x 'write'\ncat >"+dir+"/f <<'EOF'\nsecret-looking line\nEOF\nchmod 0600 "+dir+"/f\n")
	cmd.Env = append(os.Environ(), "CAROTATE_SHOW=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"+ cat > " + dir + "/f <<'EOF' ...(here-document)\n", "+ chmod 0600 " + dir + "/f\n", "carotate: step 1 on-x: write\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "secret-looking line") || strings.Contains(string(out), "+ carotate_") {
		t.Errorf("the here-document's body or a helper call was shown:\n%s", out)
	}
}

func TestKeyVariable(t *testing.T) {
	for file, want := range map[string]string{"new-ca.key": "NEW_CA_KEY", "new-front-proxy-ca.key": "NEW_FRONT_PROXY_CA_KEY"} {
		if got := keyVariable(file); got != want || keyFileOf(got) != file {
			t.Errorf("%s: variable %s (file %s), want %s", file, got, keyFileOf(got), want)
		}
	}
}

func TestHealthURL(t *testing.T) {
	d := goldenCases()["kubeadm"]
	h := d.ControlPlane[0]
	h.Components[ComponentScheduler] = ParseCommandLine([]string{"kube-scheduler", "--bind-address=10.0.0.10", "--secure-port=20259"}, nil)
	g := &scriptGen{d: d}
	for comp, want := range map[string]string{
		ComponentAPIServer:         "https://127.0.0.1:6443/readyz",
		ComponentControllerManager: "https://127.0.0.1:10257/healthz",
		ComponentScheduler:         "https://10.0.0.10:20259/healthz",
	} {
		if got := g.healthURL("cp-1", comp); got != want {
			t.Errorf("%s: %s, want %s", comp, got, want)
		}
	}
}

// TestScriptWaitsForOtherNodes: the script with the workstation steps
// waits for each other node's group at its turn; a node's own script
// records each group it finished, with the same ordinal.
func TestScriptWaitsForOtherNodes(t *testing.T) {
	var waits, marks []string
	for _, c := range scriptCases() {
		if c.name != "kubeadm-finish" && c.name != "kubeadm-finish-worker-a" {
			continue
		}
		script, err := renderScriptCase(t, c)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(script, "\n") {
			if strings.HasPrefix(line, "carotate_wait \"${CAROTATE_NODE_TIMEOUT}\"") {
				f := strings.Fields(line)
				waits = append(waits, strings.Join(f[len(f)-3:], " "))
			}
			if strings.HasPrefix(line, "carotate_mark ") {
				marks = append(marks, strings.TrimPrefix(line, "carotate_mark "))
			}
		}
	}
	if !slices.Contains(waits, "worker-a 12.3 1") || !slices.Contains(waits, "worker-b 12.3 1") {
		t.Errorf("the finish script waits for %v, want worker-a's and worker-b's 12.3", waits)
	}
	if !slices.Equal(marks, []string{"worker-a 12.3 1"}) {
		t.Errorf("worker-a's finish script records %v, want its 12.3", marks)
	}
}
