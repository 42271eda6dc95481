package checks

import (
	"strings"
	"testing"
)

// Hand-written expectations for steps 5 and 12.2, the two restarts of the
// API server around the old CA: the golden files show what is printed,
// these say what must hold whatever the wording.

// stepIndex returns the index in steps of the first step matching ok, or -1.
func stepIndex(steps []Step, ok func(Step) bool) int {
	for i, s := range steps {
		if ok(s) {
			return i
		}
	}
	return -1
}

func flagStep(component, flag string) func(Step) bool {
	return func(s Step) bool { return s.Action == ActionSetFlag && s.Component == component && s.Flag == flag }
}

func restartStep(component string) func(Step) bool {
	return func(s Step) bool { return s.Action == ActionRestart && s.Restart == component }
}

func backupStep(file string) func(Step) bool {
	return func(s Step) bool { return s.Action == ActionBackup && s.File == file }
}

// TestStep5 checks that step 5 makes the API server accept client
// certificates of both CAs: its trust flags point at bundle files written in
// step 1, after a backup of its manifest and before its restart, and no
// other cluster-CA flag of another component moves.
func TestStep5(t *testing.T) {
	t.Run("kubeadm", func(t *testing.T) {
		all := Render(goldenCases()["kubeadm"])
		steps := FilterSteps(all, "5", "", "")
		backup := stepIndex(steps, backupStep("/etc/kubernetes/manifests/kube-apiserver.yaml"))
		client := stepIndex(steps, flagStep(ComponentAPIServer, "--client-ca-file"))
		restart := stepIndex(steps, restartStep(ComponentAPIServer))
		if backup < 0 || client < 0 || restart < 0 || !(backup < client && client < restart) {
			t.Fatalf("want backup < --client-ca-file < restart of kube-apiserver, got %d, %d, %d in %+v", backup, client, restart, steps)
		}
		if s := steps[client]; s.File != "/etc/kubernetes/pki/ca-bundle.crt" || s.Content != ContentBundle || s.Node != "cp-1" {
			t.Errorf("--client-ca-file: %s (%s) on %q, want /etc/kubernetes/pki/ca-bundle.crt (bundle) on cp-1", s.File, s.Content, s.Node)
		}
		if !strings.Contains(steps[client].Note, "no --kubelet-certificate-authority") {
			t.Errorf("kubeadm's API server does not verify kubelets; the step must say that flag needs nothing: %q", steps[client].Note)
		}
		if !strings.Contains(steps[restart].Note, "outage") {
			t.Errorf("the restart must warn that one API server means an outage: %q", steps[restart].Note)
		}
		if i := stepIndex(steps, flagStep(ComponentAPIServer, "--kubelet-certificate-authority")); i >= 0 {
			t.Errorf("kubeadm has no --kubelet-certificate-authority, step 5 sets it: %+v", steps[i])
		}
		for _, s := range steps {
			if s.Action == ActionSetFlag && s.Flag == "--requestheader-client-ca-file" {
				t.Errorf("no front-proxy rotation here, step 5 moves %s of %s", s.Flag, s.Component)
			}
			if s.Component != "" && s.Component != ComponentAPIServer {
				t.Errorf("step 5 touches %s: %+v", s.Component, s)
			}
		}
		// The bundle file exists by then: step 1 wrote it on the same node.
		if i := stepIndex(all, func(s Step) bool {
			return s.Step == "1" && s.Node == "cp-1" && s.Action == ActionWriteFile && s.File == "/etc/kubernetes/pki/ca-bundle.crt" && s.Content == ContentBundle
		}); i < 0 {
			t.Error("step 1 does not write the bundle file step 5 points at")
		}
	})

	t.Run("separate files and front-proxy", func(t *testing.T) {
		steps := FilterSteps(Render(goldenCases()["separate-files"]), "5", "", "")
		want := []struct{ component, flag, file, content string }{
			{ComponentAPIServer, "--client-ca-file", "/srv/k8s/pki/ca-bundle.crt", ContentBundle},
			{ComponentAPIServer, "--kubelet-certificate-authority", "/srv/k8s/pki/kubelet-ca-bundle.crt", ContentBundle},
			{ComponentAPIServer, "--requestheader-client-ca-file", "/srv/k8s/pki/front-proxy-ca-bundle.crt", ContentFrontProxyBundle},
			{ComponentControllerManager, "--requestheader-client-ca-file", "/srv/k8s/pki/front-proxy-ca-bundle.crt", ContentFrontProxyBundle},
		}
		for _, w := range want {
			i := stepIndex(steps, flagStep(w.component, w.flag))
			if i < 0 {
				t.Errorf("step 5 does not set %s of %s", w.flag, w.component)
				continue
			}
			if s := steps[i]; s.File != w.file || s.Content != w.content {
				t.Errorf("%s %s: %s (%s), want %s (%s)", w.component, s.Flag, s.File, s.Content, w.file, w.content)
			}
			b := stepIndex(steps, backupStep(manifestPath(w.component)))
			r := stepIndex(steps, restartStep(w.component))
			if b < 0 || r < 0 || !(b < i && i < r) {
				t.Errorf("%s %s: want its manifest backed up before and the component restarted after (backup %d, flag %d, restart %d)", w.component, w.flag, b, i, r)
			}
		}
		if i := stepIndex(steps, flagStep(ComponentAPIServer, "--kubelet-certificate-authority")); i >= 0 && !strings.Contains(steps[i].Note, "before step 12.2") {
			t.Errorf("--kubelet-certificate-authority must say kubelet serving certificates need the new CA before 12.2: %q", steps[i].Note)
		}
		// The scheduler's only CA flag is a cluster-CA one, which is step 6's.
		if i := stepIndex(steps, func(s Step) bool { return s.Component == ComponentScheduler }); i >= 0 {
			t.Errorf("step 5 touches the scheduler: %+v", steps[i])
		}
	})
}

// TestStep122 replays every set-flag from step 1 through 12.2 on the
// control plane's command lines: after 12.2 every flag the rotation moved
// names its original file again, that file holds the new CA alone, and
// nothing still points at a transition file, which 12.2 then removes.
func TestStep122(t *testing.T) {
	for _, name := range []string{"kubeadm", "separate-files"} {
		t.Run(name, func(t *testing.T) {
			d := goldenCases()[name]
			all := Render(d)
			host := d.ControlPlane[0]
			start := map[string]string{} // component + flag -> value before the rotation
			for comp, cl := range host.Components {
				for _, f := range cl.Flags {
					start[comp+" --"+f.Name] = f.Value
				}
			}
			flags := map[string]string{}
			for k, v := range start {
				flags[k] = v
			}
			content := map[string]string{} // file -> what the last write put in it
			last122 := -1
			for i, s := range all {
				if s.Step == "12.3" {
					break
				}
				switch s.Action {
				case ActionSetFlag:
					flags[s.Component+" "+s.Flag] = s.File
				case ActionWriteFile:
					content[s.File] = s.Content
				case ActionCopyFile:
					content[s.File] = "copy of " + s.From
				}
				if s.Step == "12.2" {
					last122 = i
				}
			}
			if last122 < 0 {
				t.Fatal("no step 12.2")
			}
			for k, v := range flags {
				if v != start[k] {
					t.Errorf("after 12.2, %s=%s, want %s as before the rotation", k, v, start[k])
				}
				if OriginalPath(v) != v {
					t.Errorf("after 12.2, %s still names the transition file %s", k, v)
				}
			}
			// Every cluster-CA trust file the flags name holds the new CA alone.
			for comp, fl := range trustFlags {
				for _, f := range fl {
					v, ok := flags[comp+" --"+f]
					if !ok {
						continue
					}
					if content[v] != ContentNewCA {
						t.Errorf("%s --%s=%s, which holds %q after 12.2, want the new CA alone", comp, f, v, content[v])
					}
				}
			}

			steps := FilterSteps(all, "12.2", "", "")
			for _, s := range steps {
				if s.Content == ContentOldCA || s.Content == ContentBundle || s.Content == ContentFrontProxyBundle {
					t.Errorf("step 12.2 puts the old CA back: %+v", s)
				}
			}
			// The API server's serving certificate of step 9.3 replaces the
			// original file, backed up first, before the flag points back.
			cert := start[ComponentAPIServer+" --tls-cert-file"]
			b := stepIndex(steps, backupStep(cert))
			cp := stepIndex(steps, func(s Step) bool {
				return s.Action == ActionCopyFile && s.File == cert && s.From == VariantPath(cert, variantNew)
			})
			fl := stepIndex(steps, flagStep(ComponentAPIServer, "--tls-cert-file"))
			r := stepIndex(steps, restartStep(ComponentAPIServer))
			if b < 0 || cp < 0 || fl < 0 || r < 0 || !(b < cp && cp < fl && fl < r) {
				t.Errorf("--tls-cert-file: want backup < copy of %s < set-flag < restart, got %d, %d, %d, %d", VariantPath(cert, variantNew), b, cp, fl, r)
			}
			// Component kubeconfigs trust the new CA alone, and each component
			// restarts after its kubeconfig changed.
			for _, comp := range []string{ComponentControllerManager, ComponentScheduler} {
				kc := start[comp+" --kubeconfig"]
				k := stepIndex(steps, func(s Step) bool { return s.Action == ActionSetKubeconfigCA && s.Kubeconfig == kc })
				if k < 0 || steps[k].Content != ContentNewCA {
					t.Errorf("%s's kubeconfig %s does not get the new CA alone in 12.2", comp, kc)
					continue
				}
				if r := stepIndex(steps[k:], restartStep(comp)); r < 0 {
					t.Errorf("%s is not restarted after its kubeconfig %s changed", comp, kc)
				}
			}
			if d.ClusterInfo {
				if stepIndex(steps, func(s Step) bool {
					return s.Action == ActionInCluster && s.Command == "kubectl carotate update-cluster-info --ca "+shq(d.Files.NewCA)
				}) < 0 {
					t.Error("12.2 does not put the new CA alone into cluster-info")
				}
			}

			// Step 1's new-CA copies go last on the node, backed up first,
			// once nothing reads them: no later step names them again.
			var copies []string
			for _, s := range FilterSteps(all, "1", "", host.Node) {
				if s.Action == ActionWriteFile && s.Content == ContentNewCA {
					copies = append(copies, s.File)
				}
			}
			if len(copies) == 0 {
				t.Fatal("step 1 writes no new-CA copy")
			}
			lastRestart := -1
			for i, s := range steps {
				if s.Action == ActionRestart && s.Node == host.Node {
					lastRestart = i
				}
			}
			for _, c := range copies {
				rm := stepIndex(steps, func(s Step) bool { return s.Action == ActionRemoveFile && s.File == c && s.Node == host.Node })
				if rm < 0 {
					t.Errorf("12.2 does not remove %s", c)
					continue
				}
				if rm < lastRestart {
					t.Errorf("12.2 removes %s before the last restart on %s", c, host.Node)
				}
				if steps[rm].Command != "rm -f "+shq(c) {
					t.Errorf("removal of %s: command %q", c, steps[rm].Command)
				}
				for k, v := range flags {
					if v == c {
						t.Errorf("%s still reads %s, which 12.2 removes", k, c)
					}
				}
				for _, s := range all[stepIndex(all, func(s Step) bool { return s.Step == "12.3" }):] {
					if s.File == c || s.From == c || s.CA == c {
						t.Errorf("step %s names %s after 12.2 removed it: %+v", s.Step, c, s)
					}
				}
			}
		})
	}
}
