package checks

import (
	"fmt"
	"path"
	"strings"
	"time"
)

// Where a pod's trust in the API server comes from. A pod reaches the API
// server with the ca.crt its token volume carries: the projected
// ServiceAccount volume copies the kube-root-ca.crt ConfigMap of its
// namespace, a legacy token Secret volume carries the Secret's own ca.crt.
// A projected clusterTrustBundle source (SourceTrustBundle) is a third.
const (
	SourceRootCA = "ConfigMap"
	SourceSecret = "Secret"
	SourceNone   = "none"
)

// Pod verdicts, worst last in the order a table sorts them.
const (
	PodOK            = "ok"
	PodNotStarted    = "not-started"
	PodNoAPICA       = "no-api-ca"
	PodSubPath       = "subpath"
	PodRestartMaybe  = "restart-maybe"
	PodRestartNeeded = "restart-needed"
	PodSourceLacksCA = "source-lacks-ca"
	PodSourceMissing = "source-missing"
)

// Severities of verify findings.
const (
	SeverityOK      = "ok"
	SeverityInfo    = "info"
	SeverityWarning = "warning"
	SeverityError   = "error"
)

// SeverityRank orders severities, ok lowest.
func SeverityRank(s string) int {
	switch s {
	case SeverityInfo:
		return 1
	case SeverityWarning:
		return 2
	case SeverityError:
		return 3
	}
	return 0
}

// PodVerdictSeverity is how much a pod verdict matters: anything that
// leaves a pod trusting something else than the expected CA blocks the next
// step; a subPath mount only blocks the next CA change.
func PodVerdictSeverity(verdict string) string {
	switch verdict {
	case PodRestartNeeded, PodSourceLacksCA, PodSourceMissing:
		return SeverityError
	case PodSubPath, PodRestartMaybe:
		return SeverityWarning
	case PodNoAPICA:
		return SeverityInfo
	}
	return SeverityOK
}

// PodCAVolume is a volume of a pod that can carry a ca.crt: a projected or
// configMap volume of the kube-root-ca.crt ConfigMap, or a secret volume
// (whether that Secret is a legacy ServiceAccount token is for the caller's
// lookup to say).
type PodCAVolume struct {
	Volume string
	// Kind is SourceRootCA or SourceSecret.
	Kind string
	// Object is the ConfigMap's or Secret's name.
	Object string
	// File is where the ca.crt key lands inside the volume ("ca.crt"
	// unless items map it elsewhere).
	File string
}

// PodMount is one volumeMount of a regular container.
type PodMount struct {
	Container   string
	Volume      string
	MountPath   string
	SubPath     string
	SubPathExpr bool
}

// PodTrustInput is what the rules need of a pod, with no API types.
type PodTrustInput struct {
	// AutomountOff is spec.automountServiceAccountToken == false.
	AutomountOff bool
	// Mirror: the API mirror of a static pod, which cannot use a
	// ServiceAccount at all.
	Mirror  bool
	Volumes []PodCAVolume
	Mounts  []PodMount
	// Started is, per running container, when it started; containers
	// that are not running are absent.
	Started map[string]time.Time
	// PodStarted is status.startTime, the fallback when a running pod has
	// no container statuses.
	PodStarted time.Time
	Running    bool
}

// PodCAMount is one container's view of a ca.crt.
type PodCAMount struct {
	Container string `json:"container"`
	Kind      string `json:"kind"`
	Object    string `json:"object"`
	// File is the path of ca.crt inside the container; empty when it
	// cannot be known (subPathExpr).
	File    string `json:"file,omitempty"`
	SubPath bool   `json:"subPath,omitempty"`
}

// CAMounts resolves which container sees which ca.crt, and where. A mount
// with a subPath that does not cover ca.crt gives the container no CA.
func (in PodTrustInput) CAMounts() []PodCAMount {
	vols := map[string]PodCAVolume{}
	for _, v := range in.Volumes {
		vols[v.Volume] = v
	}
	var out []PodCAMount
	for _, m := range in.Mounts {
		v, ok := vols[m.Volume]
		if !ok {
			continue
		}
		cm := PodCAMount{Container: m.Container, Kind: v.Kind, Object: v.Object}
		switch {
		case m.SubPathExpr:
			// Expanded per pod from env vars: it may or may not cover
			// ca.crt; assume it does, the safe side for a frozen copy.
			cm.SubPath = true
		case m.SubPath == "":
			cm.File = path.Join(m.MountPath, v.File)
		default:
			sub := path.Clean(m.SubPath)
			switch {
			case sub == v.File:
				cm.File, cm.SubPath = m.MountPath, true
			case strings.HasPrefix(v.File, sub+"/"):
				cm.File, cm.SubPath = path.Join(m.MountPath, strings.TrimPrefix(v.File, sub+"/")), true
			default:
				continue
			}
		}
		out = append(out, cm)
	}
	return out
}

// PodSource is what the caller knows of one trust source object.
type PodSource struct {
	// Exists: the object is there. A Secret lookup answers only for
	// legacy ServiceAccount token Secrets: other Secrets carry no API trust.
	Exists bool
	// OK: its ca.crt holds the expected CA (CARule.Judge).
	OK bool
	// Holds describes its ca.crt; Problem says what is wrong with it.
	Holds   string
	Problem string
	// ChangedAt is when its ca.crt last changed (managedFields time of the
	// manager owning the key, else the creation time).
	ChangedAt time.Time
	// ChangedBy is that manager, "" when unknown.
	ChangedBy string
	// Unchanged: managedFields show ca.crt last written when the object
	// was created. A creation is not a change: a pod that started in that
	// same second read the only content the object ever had.
	Unchanged bool
	// ContentChanged: the write at ChangedAt is known to have changed what
	// ca.crt holds (it holds the new CA now, and the old CA is known), so a
	// pod that started in that same second may hold the content before it.
	ContentChanged bool
}

// PodSourceLookup answers for (kind, object name) in the pod's namespace;
// known is false for Secrets that are not legacy token Secrets.
type PodSourceLookup func(kind, name string) (src PodSource, known bool)

// PodTrust is the judgement of one pod.
type PodTrust struct {
	// Source names where the pod's API trust comes from, e.g.
	// "ConfigMap kube-root-ca.crt", "Secret legacy-token",
	// "none (automountServiceAccountToken: false)".
	Source  string `json:"source"`
	Verdict string `json:"verdict"`
	Detail  string `json:"detail,omitempty"`
	// Holds is what the source holds.
	Holds string `json:"holds,omitempty"`
	// SubPath lists the containers that mount ca.crt with a subPath.
	SubPath []string     `json:"subPath,omitempty"`
	Mounts  []PodCAMount `json:"mounts,omitempty"`
}

// JudgePod decides a pod's trust source and verdict.
//
// A client reads its CA file when it starts (client-go before v0.36 and
// most other clients never again), so a container that started before its
// source last changed may hold the previous CA in memory: "restart needed".
// Times are compared at the second: both are stored with one-second
// precision. A start in the same second as a write is a tie that cannot be
// settled from the times: it is "restart needed" only when the write is
// known to have changed the content, nothing when the write was the
// object's creation, and "restart maybe" (a warning) otherwise.
func JudgePod(in PodTrustInput, lookup PodSourceLookup) PodTrust {
	var mounts []PodCAMount
	for _, m := range in.CAMounts() {
		// Other Secrets carry no API trust; a ClusterTrustBundle the
		// caller did not read is not judged here.
		if m.Kind == SourceSecret || m.Kind == SourceTrustBundle {
			if _, known := lookup(m.Kind, m.Object); !known {
				continue
			}
		}
		mounts = append(mounts, m)
	}
	if len(mounts) == 0 {
		t := PodTrust{Verdict: PodNoAPICA}
		switch {
		case in.Mirror:
			t.Source = "none (static pod)"
			t.Detail = "a static pod has no ServiceAccount: it trusts what the files on its node say (see kubectl carotate instructions)"
		case in.AutomountOff:
			t.Source = "none (automountServiceAccountToken: false)"
			t.Detail = "does not use the API CA through a ServiceAccount token"
		default:
			t.Source = "none (no token volume)"
			t.Detail = "mounts no ServiceAccount token volume with ca.crt"
		}
		return t
	}

	// One source per pod is the norm; with several, the worst decides and
	// all are named.
	type srcKey struct{ kind, name string }
	var keys []srcKey
	seen := map[srcKey]bool{}
	for _, m := range mounts {
		k := srcKey{m.Kind, m.Object}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	t := PodTrust{Verdict: PodOK, Mounts: mounts}
	var names, holds []string
	for _, k := range keys {
		names = append(names, k.kind+" "+k.name)
	}
	t.Source = strings.Join(names, ", ")
	for _, m := range mounts {
		if m.SubPath && !podTrustContains(t.SubPath, m.Container) {
			t.SubPath = append(t.SubPath, m.Container)
		}
	}

	worst := func(v, detail string) {
		if podVerdictRank(v) > podVerdictRank(t.Verdict) {
			t.Verdict, t.Detail = v, detail
		}
	}
	anyStarted := false
	for _, k := range keys {
		src, _ := lookup(k.kind, k.name)
		name := k.kind + " " + k.name
		content := name + " ca.crt"
		if k.kind == SourceTrustBundle {
			content = name + " content"
		}
		if !src.Exists {
			worst(PodSourceMissing, name+" does not exist: the pod cannot start its containers with it")
			continue
		}
		holds = append(holds, src.Holds)
		if !src.OK {
			worst(PodSourceLacksCA, name+" "+src.Problem)
			continue
		}
		for _, m := range mounts {
			if m.Kind != k.kind || m.Object != k.name {
				continue
			}
			started, ok := in.Started[m.Container]
			if !ok && in.Running && len(in.Started) == 0 && !in.PodStarted.IsZero() {
				started, ok = in.PodStarted, true
			}
			if !ok {
				continue
			}
			anyStarted = true
			startS, changeS := started.Truncate(time.Second), src.ChangedAt.Truncate(time.Second)
			if startS.After(changeS) || src.Unchanged {
				continue
			}
			by := ""
			if src.ChangedBy != "" {
				by = " by " + src.ChangedBy
			}
			if startS.Before(changeS) || src.ContentChanged {
				worst(PodRestartNeeded, fmt.Sprintf("container %s started %s, not after %s changed%s at %s: it may hold the previous CA in memory",
					m.Container, stamp(started), content, by, stamp(src.ChangedAt)))
				continue
			}
			worst(PodRestartMaybe, fmt.Sprintf("container %s started %s, in the same second as %s was last written%s: whether it read the content before or after that write cannot be told; restart it to be sure",
				m.Container, stamp(started), content, by))
		}
	}
	t.Holds = strings.Join(holds, ", ")
	if t.Verdict == PodOK && len(t.SubPath) > 0 {
		t.Verdict = PodSubPath
		t.Detail = fmt.Sprintf("container(s) %s mount ca.crt with subPath: the file never updates; restart after every CA change", strings.Join(t.SubPath, ", "))
	} else if len(t.SubPath) > 0 {
		t.Detail += fmt.Sprintf("; container(s) %s mount ca.crt with subPath (never updates)", strings.Join(t.SubPath, ", "))
	}
	if t.Verdict == PodOK && !anyStarted {
		t.Verdict, t.Detail = PodNotStarted, "no container that mounts ca.crt runs yet: it will read the current CA when it starts"
	}
	return t
}

func podVerdictRank(v string) int {
	order := []string{PodOK, PodNotStarted, PodNoAPICA, PodSubPath, PodRestartMaybe, PodRestartNeeded, PodSourceLacksCA, PodSourceMissing}
	for i, o := range order {
		if o == v {
			return i
		}
	}
	return len(order)
}

func podTrustContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
