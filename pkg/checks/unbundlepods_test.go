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
			got := UnbundleSource(changed, tt.value, tt.present, tt.kept, time.Time{})
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

// With the bundle pass's end known, a source is judged by it, whatever
// wrote it last; a source without the kept CA stays not OK.
func TestUnbundleSourceBundledAt(t *testing.T) {
	old, nw := newCA(t, "old"), newCA(t, "new")
	bundled := testNow.Add(-time.Hour)
	last := PodSource{Exists: true, ChangedAt: testNow, ChangedBy: "kube-controller-manager", Unchanged: true}
	for _, tc := range []struct {
		name  string
		value []byte
		ok    bool
	}{
		{"the kept CA alone, written at 12.1", nw.pem, true},
		{"still the bundle", concat(nw.pem, old.pem), true},
		{"the old CA alone", old.pem, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := UnbundleSource(last, tc.value, true, certs(nw), bundled)
			if got.OK != tc.ok {
				t.Fatalf("OK %v, want %v", got.OK, tc.ok)
			}
			if tc.ok && (!got.ChangedAt.Equal(bundled) || got.Unchanged || got.ContentChanged || got.ChangedBy != "the rotation's bundle pass") {
				t.Errorf("not judged by the bundle pass: %+v", got)
			}
			if !tc.ok && !got.ChangedAt.Equal(testNow) {
				t.Errorf("a source without the kept CA took the bundle time: %+v", got)
			}
		})
	}
}

// A pod judged against an unbundle source: the verdicts unbundle refuses
// for, from the pod's start time against the source's last write or the
// bundle pass's end.
func TestUnbundleSourcePodVerdicts(t *testing.T) {
	old, nw := newCA(t, "old"), newCA(t, "new")
	bundledAt := testNow
	kcmAt := testNow.Add(2 * time.Hour) // step 12.1: the new CA alone
	src := func(value []byte, changedAt, bundled time.Time) PodSource {
		return UnbundleSource(PodSource{Exists: true, ChangedAt: changedAt, ChangedBy: "kube-controller-manager", ContentChanged: true}, value, true, certs(nw), bundled)
	}
	pod := func(started time.Time) PodTrustInput {
		return PodTrustInput{Running: true, Started: map[string]time.Time{"app": started},
			Volumes: []PodCAVolume{{Volume: "kube-api-access", Kind: SourceRootCA, Object: "kube-root-ca.crt", File: "ca.crt"}},
			Mounts:  []PodMount{{Container: "app", Volume: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"}}}
	}
	bundle := concat(nw.pem, old.pem)
	tests := []struct {
		name    string
		source  PodSource
		started time.Time
		want    string
	}{
		{"no log: started before the bundle", src(bundle, bundledAt, time.Time{}), bundledAt.Add(-time.Hour), PodRestartNeeded},
		{"no log: started after the bundle", src(bundle, bundledAt, time.Time{}), bundledAt.Add(time.Minute), PodOK},
		{"no log: started in the second of the bundle", src(bundle, bundledAt, time.Time{}), bundledAt.Add(300 * time.Millisecond), PodRestartNeeded},
		{"no log: a source holding the kept CA alone says nothing", src(nw.pem, kcmAt, time.Time{}), bundledAt.Add(-time.Hour), PodOK},
		{"logged: started before the bundle, source rewritten at 12.1", src(nw.pem, kcmAt, bundledAt), bundledAt.Add(-time.Hour), PodRestartNeeded},
		{"logged: restarted after the bundle, before 12.1", src(nw.pem, kcmAt, bundledAt), bundledAt.Add(time.Hour), PodOK},
		{"logged: started in the second the bundle pass ended", src(nw.pem, kcmAt, bundledAt), bundledAt.Add(300 * time.Millisecond), PodRestartMaybe},
		{"logged: a namespace the bundle never reached", src(old.pem, kcmAt, bundledAt), kcmAt.Add(time.Hour), PodSourceLacksCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := JudgePod(pod(tt.started), func(kind, name string) (PodSource, bool) { return tt.source, kind == SourceRootCA })
			if got.Verdict != tt.want {
				t.Errorf("verdict %s (%s), want %s", got.Verdict, got.Detail, tt.want)
			}
		})
	}
}
