package checks

import (
	"reflect"
	"testing"
	"time"
)

func TestJudgePod(t *testing.T) {
	changed := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	before, after := changed.Add(-time.Hour), changed.Add(time.Second)
	const saDir = "/var/run/secrets/kubernetes.io/serviceaccount"
	projected := []PodCAVolume{{Volume: "kube-api-access-x", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: "ca.crt"}}
	saMount := func(c string) PodMount { return PodMount{Container: c, Volume: "kube-api-access-x", MountPath: saDir} }
	good := PodSource{Exists: true, OK: true, Holds: "new+old", ChangedAt: changed, ChangedBy: "kube-controller-manager"}
	changedContent := good
	changedContent.ContentChanged = true
	created := good
	created.Unchanged = true
	sources := map[string]PodSource{
		"ConfigMap/kube-root-ca.crt": good,
		"Secret/legacy-token":        {Exists: true, OK: true, Holds: "new+old", ChangedAt: changed},
	}
	lookup := func(src map[string]PodSource) PodSourceLookup {
		return func(kind, name string) (PodSource, bool) {
			s, ok := src[kind+"/"+name]
			return s, ok
		}
	}
	running := func(starts map[string]time.Time) PodTrustInput {
		return PodTrustInput{Volumes: projected, Mounts: []PodMount{saMount("app")}, Started: starts, Running: true}
	}
	cases := []struct {
		name string
		in   PodTrustInput
		src  map[string]PodSource
		want PodTrust
	}{
		{"started after the change", running(map[string]time.Time{"app": after}), sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodOK, Holds: "new+old",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"started before the change", running(map[string]time.Time{"app": before}), sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodRestartNeeded, Holds: "new+old",
			Detail: "container app started 2026-01-02T09:00:00Z, not after ConfigMap kube-root-ca.crt ca.crt changed by kube-controller-manager at 2026-01-02T10:00:00Z: it may hold the previous CA in memory",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"same second as a change known to change the content", running(map[string]time.Time{"app": changed.Add(900 * time.Millisecond)}),
			map[string]PodSource{"ConfigMap/kube-root-ca.crt": changedContent}, PodTrust{
				Source: "ConfigMap kube-root-ca.crt", Verdict: PodRestartNeeded, Holds: "new+old",
				Detail: "container app started 2026-01-02T10:00:00Z, not after ConfigMap kube-root-ca.crt ca.crt changed by kube-controller-manager at 2026-01-02T10:00:00Z: it may hold the previous CA in memory",
				Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"same second as a write of unknown effect", running(map[string]time.Time{"app": changed.Add(900 * time.Millisecond)}), sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodRestartMaybe, Holds: "new+old",
			Detail: "container app started 2026-01-02T10:00:00Z, in the same second as ConfigMap kube-root-ca.crt ca.crt was last written by kube-controller-manager: whether it read the content before or after that write cannot be told; restart it to be sure",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"same second as the source's creation: not a change", running(map[string]time.Time{"app": changed.Add(900 * time.Millisecond)}),
			map[string]PodSource{"ConfigMap/kube-root-ca.crt": created}, PodTrust{
				Source: "ConfigMap kube-root-ca.crt", Verdict: PodOK, Holds: "new+old",
				Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"pod start time when there are no container statuses",
			PodTrustInput{Volumes: projected, Mounts: []PodMount{saMount("app")}, Running: true, PodStarted: before}, sources, PodTrust{
				Source: "ConfigMap kube-root-ca.crt", Verdict: PodRestartNeeded, Holds: "new+old",
				Detail: "container app started 2026-01-02T09:00:00Z, not after ConfigMap kube-root-ca.crt ca.crt changed by kube-controller-manager at 2026-01-02T10:00:00Z: it may hold the previous CA in memory",
				Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"not started yet", PodTrustInput{Volumes: projected, Mounts: []PodMount{saMount("app")}}, sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodNotStarted, Holds: "new+old",
			Detail: "no container that mounts ca.crt runs yet: it will read the current CA when it starts",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"automount off", PodTrustInput{AutomountOff: true, Running: true, Started: map[string]time.Time{"app": before}}, sources, PodTrust{
			Source: "none (automountServiceAccountToken: false)", Verdict: PodNoAPICA, Detail: "does not use the API CA through a ServiceAccount token"}},
		{"no token volume", PodTrustInput{Running: true}, sources, PodTrust{
			Source: "none (no token volume)", Verdict: PodNoAPICA, Detail: "mounts no ServiceAccount token volume with ca.crt"}},
		{"static pod", PodTrustInput{Mirror: true, AutomountOff: true}, sources, PodTrust{
			Source: "none (static pod)", Verdict: PodNoAPICA,
			Detail: "a static pod has no ServiceAccount: it trusts what the files on its node say (see kubectl carotate instructions)"}},
		{"volume not mounted by any container", PodTrustInput{Volumes: projected, Running: true}, sources, PodTrust{
			Source: "none (no token volume)", Verdict: PodNoAPICA, Detail: "mounts no ServiceAccount token volume with ca.crt"}},
		{"subPath of ca.crt, started after", PodTrustInput{Volumes: projected, Running: true, Started: map[string]time.Time{"app": after},
			Mounts: []PodMount{{Container: "app", Volume: "kube-api-access-x", MountPath: "/etc/ca.crt", SubPath: "ca.crt"}}}, sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodSubPath, Holds: "new+old", SubPath: []string{"app"},
			Detail: "container(s) app mount ca.crt with subPath: the file never updates; restart after every CA change",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: "/etc/ca.crt", SubPath: true}}}},
		{"subPath of ca.crt, started before", PodTrustInput{Volumes: projected, Running: true, Started: map[string]time.Time{"app": before},
			Mounts: []PodMount{{Container: "app", Volume: "kube-api-access-x", MountPath: "/etc/ca.crt", SubPath: "./ca.crt"}}}, sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodRestartNeeded, Holds: "new+old", SubPath: []string{"app"},
			Detail: "container app started 2026-01-02T09:00:00Z, not after ConfigMap kube-root-ca.crt ca.crt changed by kube-controller-manager at 2026-01-02T10:00:00Z: it may hold the previous CA in memory; container(s) app mount ca.crt with subPath (never updates)",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: "/etc/ca.crt", SubPath: true}}}},
		{"subPath of the token only: no CA", PodTrustInput{Volumes: projected, Running: true, Started: map[string]time.Time{"app": before},
			Mounts: []PodMount{{Container: "app", Volume: "kube-api-access-x", MountPath: "/token", SubPath: "token"}}}, sources, PodTrust{
			Source: "none (no token volume)", Verdict: PodNoAPICA, Detail: "mounts no ServiceAccount token volume with ca.crt"}},
		{"subPathExpr is assumed to freeze ca.crt", PodTrustInput{Volumes: projected, Running: true, Started: map[string]time.Time{"app": after},
			Mounts: []PodMount{{Container: "app", Volume: "kube-api-access-x", MountPath: "/x", SubPathExpr: true}}}, sources, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodSubPath, Holds: "new+old", SubPath: []string{"app"},
			Detail: "container(s) app mount ca.crt with subPath: the file never updates; restart after every CA change",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", SubPath: true}}}},
		{"legacy token Secret", PodTrustInput{Running: true, Started: map[string]time.Time{"app": before},
			Volumes: []PodCAVolume{{Volume: "tok", Kind: SourceSecret, Object: "legacy-token", File: "ca.crt"}, {Volume: "other", Kind: SourceSecret, Object: "tls", File: "ca.crt"}},
			Mounts:  []PodMount{{Container: "app", Volume: "tok", MountPath: "/tok"}, {Container: "app", Volume: "other", MountPath: "/tls"}}}, sources, PodTrust{
			Source: "Secret legacy-token", Verdict: PodRestartNeeded, Holds: "new+old",
			Detail: "container app started 2026-01-02T09:00:00Z, not after Secret legacy-token ca.crt changed at 2026-01-02T10:00:00Z: it may hold the previous CA in memory",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceSecret, Object: "legacy-token", File: "/tok/ca.crt"}}}},
		{"ConfigMap missing", running(map[string]time.Time{"app": after}), map[string]PodSource{"ConfigMap/kube-root-ca.crt": {}}, PodTrust{
			Source: "ConfigMap kube-root-ca.crt", Verdict: PodSourceMissing,
			Detail: "ConfigMap kube-root-ca.crt does not exist: the pod cannot start its containers with it",
			Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
		{"ConfigMap lacks the CA", running(map[string]time.Time{"app": before}),
			map[string]PodSource{"ConfigMap/kube-root-ca.crt": {Exists: true, Holds: "old", Problem: "does not hold new", ChangedAt: changed}}, PodTrust{
				Source: "ConfigMap kube-root-ca.crt", Verdict: PodSourceLacksCA, Holds: "old",
				Detail: "ConfigMap kube-root-ca.crt does not hold new",
				Mounts: []PodCAMount{{Container: "app", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: saDir + "/ca.crt"}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := JudgePod(c.in, lookup(c.src))
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("\n got %#v\nwant %#v", got, c.want)
			}
		})
	}
}

func TestPodVerdictSeverity(t *testing.T) {
	want := map[string]string{PodOK: SeverityOK, PodNotStarted: SeverityOK, PodNoAPICA: SeverityInfo, PodSubPath: SeverityWarning,
		PodRestartMaybe: SeverityWarning, PodRestartNeeded: SeverityError, PodSourceLacksCA: SeverityError, PodSourceMissing: SeverityError}
	for v, s := range want {
		if got := PodVerdictSeverity(v); got != s {
			t.Errorf("%s: %s, want %s", v, got, s)
		}
	}
	if SeverityRank(SeverityError) <= SeverityRank(SeverityWarning) || SeverityRank(SeverityInfo) <= SeverityRank(SeverityOK) {
		t.Fatal("severity order")
	}
}
