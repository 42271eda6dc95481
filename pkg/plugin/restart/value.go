package restart

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// validateValue keeps the pass value printable and short: it is
// shown in tables and typed back with --value to resume. It must be valid
// UTF-8: the API server replaces invalid bytes, so a value stored mangled
// would never match itself again and every re-run would patch once more.
func validateValue(v string) error {
	if len(v) > maxValueLen {
		return fmt.Errorf("invalid --value: %d bytes, at most %d", len(v), maxValueLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("invalid --value %q: not valid UTF-8", v)
	}
	for _, r := range v {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("invalid --value %q: only printable characters without spaces", v)
		}
	}
	return nil
}

func (o *Options) defaultValue(ctx context.Context) (string, string, error) {
	var rec *rotation.Record
	if o.client != nil {
		if r, err := rotation.Load(ctx, o.client); err == nil && r.Active() {
			rec = r
		}
		o.active, o.activeRead = rec, true
	}
	if o.Value != "" {
		// A value of the active rotation (as status and instructions print
		// them) is that rotation's pass: it is checked and logged as one.
		if rec != nil && strings.HasPrefix(o.Value, rec.ID+"/") {
			o.recorded = rec
		}
		return o.Value, "flag", nil
	}
	if rec != nil {
		value, why := recordedValue(rec, o.Now())
		o.recorded = rec
		return value, why, nil
	}
	return o.Now().UTC().Format(valueLayout), "generated", nil
}

// recordedValue is the pass value of an active rotation: the value
// of the last restart pass if it did not finish (so a re-run resumes it),
// otherwise <id>/<next phase>: bundle, serve, then finish (from the
// unbundle pass on). A phase is done once a pass of it over the whole
// cluster finished; one narrowed by -n, selectors or --kinds does not
// count. Passes beyond those get a timestamp of their own.
func recordedValue(rec *rotation.Record, now time.Time) (value, why string) {
	if last := rec.LastPass("restart-workloads"); last != nil && last.Result != "ok" && last.Value != "" {
		return last.Value, "resuming rotation " + rec.ID + "'s unfinished pass"
	}
	done := map[string]bool{}
	for _, p := range rec.Passes {
		if p.Kind == "restart-workloads" && p.Result == "ok" && p.Scope == "" {
			done[checks.RestartPhaseOf(rec.ID, p.Value)] = true
		}
	}
	phases := []string{checks.PhaseBundle, checks.PhaseServe, checks.PhaseFinish}
	if rec.Unbundled() {
		phases = []string{checks.PhaseFinish}
	}
	for _, phase := range phases {
		if !done[phase] {
			return rec.RestartValue(phase), "rotation " + rec.ID + ", " + phase + " pass"
		}
	}
	return rec.RestartValue("extra-" + now.UTC().Format(valueLayout)), "rotation " + rec.ID + ", an extra pass"
}
