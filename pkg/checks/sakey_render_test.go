package checks

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// saKeyCluster is kubeadm's control plane with its ServiceAccount key
// flags, and the golden public keys.
func saKeyCluster(t *testing.T) ClusterDescription {
	t.Helper()
	h := kubeadmHost("cp-1")
	api := h.Components[ComponentAPIServer]
	api.Flags = append(api.Flags, Flag{Name: "service-account-key-file", Value: "/etc/kubernetes/pki/sa.pub"},
		Flag{Name: "service-account-signing-key-file", Value: "/etc/kubernetes/pki/sa.key"},
		Flag{Name: "service-account-issuer", Value: "https://kubernetes.default.svc.cluster.local"})
	h.Components[ComponentAPIServer] = api
	kcm := h.Components[ComponentControllerManager]
	kcm.Flags = append(kcm.Flags, Flag{Name: "service-account-private-key-file", Value: "/etc/kubernetes/pki/sa.key"})
	h.Components[ComponentControllerManager] = kcm
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("testdata", "script", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	oldPub, newPub := read("old-sa.pub"), read("new-sa.pub")
	return ClusterDescription{RotationID: "20261202-5a4e7e", Target: TargetSAKey, Source: SourceMirrorPods, ControlPlane: []ControlPlaneHost{h},
		Contents: map[string]string{ContentOldSAPublicKey: oldPub, ContentNewSAPublicKey: newPub, ContentSAPublicKeys: newPub + oldPub}}
}

func TestRenderSAKeyGolden(t *testing.T) {
	d := saKeyCluster(t)
	targetGoldens(t, d, RenderSAKey(d), SAKeyNotes(d.RotationID))
}

// targetGoldens writes a target's text, JSON and per-phase scripts as
// goldens, named after the target.
func targetGoldens(t *testing.T, d ClusterDescription, steps []Step, notes []string) {
	t.Helper()
	golden(t, filepath.Join("testdata", "instructions", d.Target+".txt"), []byte(RenderText(d, steps, notes)))
	js, err := json.MarshalIndent(InstructionsDoc{Rotation: d.RotationID, Target: d.Target, Source: d.Source, Notes: notes, Contents: d.Contents, Steps: steps}, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	if ContainsPrivateKey(js) {
		t.Fatal("the JSON holds key material")
	}
	golden(t, filepath.Join("testdata", "instructions", d.Target+".json"), append(js, '\n'))
	for _, phase := range TargetPhases(d.Target) {
		script, err := RenderScript(d, FilterSteps(steps, "", phase, ""), ScriptOptions{Node: "cp-1", Workstation: true,
			Selection: []string{"--target", d.Target, "--phase", phase}})
		if err != nil {
			t.Fatal(err)
		}
		script = strings.Replace(script, scriptHelpers, "# (the helpers of pkg/checks/scripthelpers.sh)\n", 1)
		golden(t, filepath.Join("testdata", "script", d.Target+"-"+phase+".sh"), []byte(script))
	}
}

// targetScriptsPassShellCheck runs ShellCheck on every phase's script.
func targetScriptsPassShellCheck(t *testing.T, d ClusterDescription, steps []Step) {
	t.Helper()
	bin := shellcheck(t)
	for _, phase := range TargetPhases(d.Target) {
		script, err := RenderScript(d, FilterSteps(steps, "", phase, ""), ScriptOptions{Node: "cp-1", Workstation: true})
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--shell=bash", "--severity=style", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("%s: shellcheck: %v\n%s", phase, err, out)
		}
	}
}

// TestRenderSAKey checks what the steps must do, whatever their wording.
func TestRenderSAKey(t *testing.T) {
	d := saKeyCluster(t)
	steps := RenderSAKey(d)
	var flags []string
	for _, s := range steps {
		if s.Phase == "" || TargetPhaseOf(TargetSAKey, s.Step) != s.Phase {
			t.Errorf("step %s %s: phase %q", s.Step, s.Description, s.Phase)
		}
		if s.Check != "kubectl carotate status --target sa-key --step "+s.Step {
			t.Errorf("step %s: check %q", s.Step, s.Check)
		}
		if strings.Contains(s.Command, "PRIVATE KEY") {
			t.Errorf("step %s holds key material", s.Step)
		}
		if s.Action == ActionSetFlag {
			flags = append(flags, s.Step+" "+s.Component+" "+s.Flag+"="+s.File)
		}
	}
	want := []string{
		"1 kube-apiserver --service-account-key-file=/etc/kubernetes/pki/sa-bundle.pub",
		"2 kube-apiserver --service-account-signing-key-file=/etc/kubernetes/pki/sa-new.key",
		"2 kube-controller-manager --service-account-private-key-file=/etc/kubernetes/pki/sa-new.key",
		"4 kube-apiserver --service-account-key-file=/etc/kubernetes/pki/sa.pub",
		"4 kube-apiserver --service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
		"4 kube-controller-manager --service-account-private-key-file=/etc/kubernetes/pki/sa.key",
	}
	if strings.Join(flags, "\n") != strings.Join(want, "\n") {
		t.Errorf("flags:\n%s\nwant:\n%s", strings.Join(flags, "\n"), strings.Join(want, "\n"))
	}
	// The key comes from the operator, in the text as a file and in a
	// script from $NEW_SA_KEY, and is checked before any step.
	script, err := RenderScript(d, FilterSteps(steps, "", SAPhaseTrust, ""), ScriptOptions{Node: "cp-1", Workstation: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`install -m 0600 "${NEW_SA_KEY}" /etc/kubernetes/pki/sa-new.key`, "carotate_key_given NEW_SA_KEY \"${NEW_SA_KEY}\"",
		"carotate_content /etc/kubernetes/pki/sa-bundle.pub", "carotate_flag /etc/kubernetes/manifests/kube-apiserver.yaml --service-account-key-file /etc/kubernetes/pki/sa-bundle.pub"} {
		if !strings.Contains(script, w) {
			t.Errorf("the trust script lacks %q", w)
		}
	}
	// The finish phase checks that no old-key token is left first.
	fin := FilterSteps(steps, "", SAPhaseFinish, "")
	if len(fin) == 0 || fin[0].Command != "kubectl carotate verify --target sa-key" {
		t.Errorf("the finish phase does not start with verify: %+v", fin[0])
	}
}

func TestSAKeyScriptsPassShellCheck(t *testing.T) {
	d := saKeyCluster(t)
	targetScriptsPassShellCheck(t, d, RenderSAKey(d))
}

// TestSAScriptContentCheck runs the sa-key helper on a file that holds
// what the step writes and on one that does not.
func TestSAScriptContentCheck(t *testing.T) {
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.pub"), filepath.Join(dir, "bad.pub")
	if err := os.WriteFile(good, []byte("abc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("abd\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const sum = "edeaaff3f1774ad2888673770c6d64097e391bc362d7d6fb34982ddf0efd18cb" // sha256 of "abc\n"
	for _, c := range []struct{ body, want string }{
		{saScriptHelpers + "carotate_content " + good + " " + sum + " && echo OK", "OK"},
		{saScriptHelpers + "carotate_content " + bad + " " + sum + " || echo \"$carotate_why\"", bad + " does not hold what the step writes"},
		{saScriptHelpers + "carotate_content " + filepath.Join(dir, "none") + " " + sum + " || echo \"$carotate_why\"", "does not exist"},
	} {
		out, _ := helperShell(t, dir, c.body)
		if !strings.Contains(out, c.want) {
			t.Errorf("%s:\n%s\nwant %q", c.body, out, c.want)
		}
	}
}
