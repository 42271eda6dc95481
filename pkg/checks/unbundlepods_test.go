package checks

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestUnbundleSource(t *testing.T) {
	old, nw, other := newCA(t, "old"), newCA(t, "new"), newCA(t, "other")
	changed := PodSource{Exists: true, ChangedAt: testNow, ChangedBy: "kubectl-carotate", ContentChanged: true}
	tests := []struct {
		name    string
		value   []byte
		present bool
		kept    []*x509.Certificate
		// want: OK, Unchanged, ContentChanged, Holds, Problem
		ok, unchanged, contentChanged bool
		holds, problem                string
	}{
		{"the bundle holds the kept CA", concat(nw.pem, old.pem), true, certs(nw), true, false, true, "the kept CA and others", ""},
		{"the kept CA alone: unbundled already", nw.pem, true, certs(nw), true, true, true, "the kept CA alone", ""},
		{"the old CA alone", old.pem, true, certs(nw), false, false, false, "CN=old (", "does not hold the kept CA"},
		{"a kept set of two, one missing", concat(nw.pem, old.pem), true, certs(nw, other), false, false, false, "CN=new (", "does not hold the kept CA"},
		{"a kept set of two, both there and nothing else", concat(other.pem, nw.pem), true, certs(nw, other), true, true, true, "the kept CA alone", ""},
		{"no ca.crt key", nil, false, certs(nw), false, false, false, "nothing", "has no ca.crt"},
		{"garbage", []byte("not a certificate"), true, certs(nw), false, false, false, "unreadable", "holds no readable certificate"},
		{"nothing kept is never OK", nw.pem, true, nil, false, false, false, "new", "does not hold the kept CA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UnbundleSource(changed, tt.value, tt.present, tt.kept)
			if got.OK != tt.ok || got.Unchanged != tt.unchanged || got.ContentChanged != tt.contentChanged || got.Problem != tt.problem {
				t.Errorf("got OK %v Unchanged %v ContentChanged %v Problem %q, want %v %v %v %q",
					got.OK, got.Unchanged, got.ContentChanged, got.Problem, tt.ok, tt.unchanged, tt.contentChanged, tt.problem)
			}
			if !strings.Contains(got.Holds, tt.holds) {
				t.Errorf("Holds %q, want %q", got.Holds, tt.holds)
			}
			if !got.Exists || !got.ChangedAt.Equal(testNow) {
				t.Errorf("the write history was not kept: %+v", got)
			}
		})
	}
}

// A pod judged against an unbundle source: the verdicts unbundle refuses
// for, from the pod's start time against the source's last write.
func TestUnbundleSourcePodVerdicts(t *testing.T) {
	old, nw := newCA(t, "old"), newCA(t, "new")
	bundledAt := testNow
	src := func(value []byte) PodSource {
		return UnbundleSource(PodSource{Exists: true, ChangedAt: bundledAt, ChangedBy: "kube-controller-manager", ContentChanged: true}, value, true, certs(nw))
	}
	pod := func(started time.Time) PodTrustInput {
		return PodTrustInput{Running: true, Started: map[string]time.Time{"app": started},
			Volumes: []PodCAVolume{{Volume: "kube-api-access", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: "ca.crt"}},
			Mounts:  []PodMount{{Container: "app", Volume: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}}
	}
	tests := []struct {
		name    string
		value   []byte
		started time.Time
		want    string
	}{
		{"started before the bundle: the old CA alone in memory", concat(nw.pem, old.pem), bundledAt.Add(-time.Hour), PodRestartNeeded},
		{"started after the bundle", concat(nw.pem, old.pem), bundledAt.Add(time.Minute), PodOK},
		{"started in the second of the bundle", concat(nw.pem, old.pem), bundledAt.Add(300 * time.Millisecond), PodRestartNeeded},
		{"an unbundled namespace is not judged again", nw.pem, bundledAt.Add(-time.Hour), PodOK},
		{"a namespace the bundle never reached", old.pem, bundledAt.Add(time.Hour), PodSourceLacksCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := src(tt.value)
			got := JudgePod(pod(tt.started), func(kind, name string) (PodSource, bool) { return s, kind == SourceRootCA })
			if got.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", got.Verdict, got.Detail, tt.want)
			}
		})
	}
}
