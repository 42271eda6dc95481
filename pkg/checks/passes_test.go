package checks

import (
	"testing"
	"time"
)

func TestRestartPhaseOf(t *testing.T) {
	for _, c := range []struct{ id, value, want string }{
		{"r1", "r1/bundle", PhaseBundle},
		{"r1", "r1/serve", PhaseServe},
		{"r1", "r1/finish", PhaseFinish},
		{"r1", "r1/bundle-2", PhaseBundle},
		{"r1", "r1/finish-12", PhaseFinish},
		{"r1", "r1/bundle-1", ""}, // the first round has no counter
		{"r1", "r1/bundle-02", ""},
		{"r1", "r1/bundle-x", ""},
		{"r1", "r1/abort", ""},
		{"r1", "r1/extra-20261202T101010Z", ""},
		{"r1", "r2/bundle", ""},
		{"r1", "bundle", ""},
		{"", "/bundle", ""},
		{"r1", "20261202T101010Z", ""},
	} {
		if got := RestartPhaseOf(c.id, c.value); got != c.want {
			t.Errorf("RestartPhaseOf(%q, %q) = %q, want %q", c.id, c.value, got, c.want)
		}
	}
}

func TestNextPassValue(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	for _, c := range []struct {
		name    string
		phase   string
		passes  []PassRun
		changed time.Time
		want    string
	}{
		{"no pass yet", PhaseBundle, nil, at(10), "r1/bundle"},
		{"a pass after the change is resumed", PhaseBundle, []PassRun{{"r1/bundle", at(20)}}, at(10), "r1/bundle"},
		{"a pass before the change needs a new value", PhaseBundle, []PassRun{{"r1/bundle", at(5)}}, at(10), "r1/bundle-2"},
		{"a pass in the same second as the change is before it", PhaseBundle, []PassRun{{"r1/bundle", at(10).Add(300 * time.Millisecond)}}, at(10), "r1/bundle-2"},
		{"the newest pass decides", PhaseBundle, []PassRun{{"r1/bundle", at(5)}, {"r1/bundle-2", at(20)}}, at(10), "r1/bundle-2"},
		{"rounds keep counting", PhaseBundle, []PassRun{{"r1/bundle", at(1)}, {"r1/bundle-2", at(5)}}, at(10), "r1/bundle-3"},
		{"other phases do not count", PhaseServe, []PassRun{{"r1/bundle", at(20)}}, at(10), "r1/serve"},
		{"other rotations do not count", PhaseBundle, []PassRun{{"r0/bundle", at(5)}}, at(10), "r1/bundle"},
		{"an unknown change time resumes", PhaseFinish, []PassRun{{"r1/finish", at(5)}}, time.Time{}, "r1/finish"},
	} {
		if got := NextPassValue("r1", c.phase, c.passes, c.changed); got != c.want {
			t.Errorf("%s: NextPassValue = %q, want %q", c.name, got, c.want)
		}
	}
	if got := NextPassValue("", PhaseBundle, nil, at(1)); got != "" {
		t.Errorf("without a rotation: %q", got)
	}
}
