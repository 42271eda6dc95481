package checks

import (
	"strconv"
	"strings"
	"time"
)

// A rotation rolls its workloads three times, one pass per phase: after
// the bundle is published (step 4), after the API servers serve from the
// new CA (9.4), and after the old CA is removed (12.1). Each pass has a
// value of its own, "<rotation id>/<phase>", so a re-run of a pass patches
// only what does not carry it yet. When a pass must roll again (it ran
// before the change it follows, so its pods predate that change), the
// value gets a counter: "<id>/bundle-2", "<id>/bundle-3".

// RestartPhaseOf is the phase (bundle, serve, finish) of a pass value of
// rotation id, "" when the value is not one of its phase passes.
func RestartPhaseOf(rotationID, value string) string {
	rest, ok := strings.CutPrefix(value, rotationID+restartValueSep)
	if rotationID == "" || !ok {
		return ""
	}
	phase, n, _ := strings.Cut(rest, "-")
	switch phase {
	case PhaseBundle, PhaseServe, PhaseFinish:
	default:
		return ""
	}
	if n != "" {
		if v, err := strconv.Atoi(n); err != nil || v < 2 || strconv.Itoa(v) != n {
			return ""
		}
	}
	return phase
}

// restartValueRound is the counter of a phase pass value: 1 for
// "<id>/bundle", n for "<id>/bundle-n".
func restartValueRound(value string) int {
	i := strings.LastIndex(value, "-")
	if i < 0 || strings.LastIndex(value, restartValueSep) > i {
		return 1
	}
	n, err := strconv.Atoi(value[i+1:])
	if err != nil {
		return 1
	}
	return n
}

// PassRun is one restart pass as the rotation's log shows it.
type PassRun struct {
	Value string
	// Started is when the pass began patching.
	Started time.Time
}

// NextPassValue is the value the next pass of phase should use, given the
// passes logged so far and when the change that phase follows was last made
// (the newest ca.crt change of the ServiceAccount root CA for bundle and
// finish, the API server's restart for serve; zero when unknown). The
// newest pass of the phase is resumed (its value again: what it patched is
// current, what it missed is patched, and --wait waits for the rollouts)
// unless it started no later than that change: then every workload it
// patched rolled before the change and carries a value that would patch
// nothing, so the phase needs a value it has not used.
func NextPassValue(rotationID, phase string, passes []PassRun, changedAt time.Time) string {
	base := RestartValue(rotationID, phase)
	if base == "" {
		return ""
	}
	var newest *PassRun
	round := 0
	for i := range passes {
		p := &passes[i]
		if RestartPhaseOf(rotationID, p.Value) != phase {
			continue
		}
		if r := restartValueRound(p.Value); r > round {
			round = r
		}
		if newest == nil || !p.Started.Before(newest.Started) {
			newest = p
		}
	}
	if newest == nil {
		return base
	}
	if changedAt.IsZero() || newest.Started.Truncate(time.Second).After(changedAt.Truncate(time.Second)) {
		return newest.Value
	}
	return base + "-" + strconv.Itoa(round+1)
}
