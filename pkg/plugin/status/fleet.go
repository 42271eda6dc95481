package status

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
)

// A platform team owns many clusters built the same year, whose CAs expire
// the same month. With --all-contexts (or --contexts) status reads every
// kubeconfig context at once and prints one row per cluster: the CA its API
// server runs on and its days left, the ServiceAccount root CA's days left,
// and the rotation under way with its next step.

// caLife is one CA and how long it has left.
type caLife struct {
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"fingerprint"`
	NotAfter    time.Time `json:"notAfter"`
	DaysLeft    int       `json:"daysLeft"`
	// Source is where the cluster shows it (serving CA only).
	Source string `json:"source,omitempty"`
}

func lifeOf(c *x509.Certificate, now time.Time, source string) caLife {
	return caLife{Subject: c.Subject.String(), Fingerprint: checks.Fingerprint(c), NotAfter: c.NotAfter.UTC(),
		DaysLeft: int(math.Floor(c.NotAfter.Sub(now).Hours() / 24)), Source: source}
}

// fleetRotation is the rotation under way in one cluster.
type fleetRotation struct {
	ID     string `json:"id"`
	Target string `json:"target"`
	State  string `json:"state"`
	// Phase is the phase of the next step (bundle, serve, finish), or
	// "done" when every step the API shows is done.
	Phase    string `json:"phase,omitempty"`
	NextStep string `json:"nextStep,omitempty"`
	Next     string `json:"next,omitempty"`
}

// isStep tells whether NextStep is one of the target's numbered steps (not
// "finish", nor empty).
func (r fleetRotation) isStep() bool {
	if checks.OtherTarget(r.Target) {
		_, ok := checks.LookupTargetStep(r.Target, r.NextStep)
		return ok
	}
	return checks.IsStep(r.NextStep)
}

// fleetRow is one context.
type fleetRow struct {
	Context string `json:"context"`
	Server  string `json:"server,omitempty"`
	// ServingCA is the CA the API server's chain verifies against.
	ServingCA *caLife `json:"servingCA,omitempty"`
	// RootCA is what kube-system/kube-root-ca.crt holds: what pods trust.
	RootCA   []caLife       `json:"rootCA,omitempty"`
	Rotation *fleetRotation `json:"rotation,omitempty"`
	// OtherRotations are the active rotations of the other targets
	// (front-proxy-ca, sa-key, ...), each with its next step.
	OtherRotations []fleetRotation `json:"otherRotations,omitempty"`
	// Error says why the cluster could not be read (fully); the row is
	// then incomplete.
	Error       string  `json:"error,omitempty"`
	TookSeconds float64 `json:"tookSeconds"`
}

// fleetReport is -o json|yaml of a fleet.
type fleetReport struct {
	Rows []fleetRow `json:"clusters"`
	// FailWithin is --fail-within; Expiring names the clusters with a CA
	// that expires within it.
	FailWithin int      `json:"failWithinDays,omitempty"`
	Expiring   []string `json:"expiring,omitempty"`
	Unread     []string `json:"unread,omitempty"`
}

// runFleet reads every context at once and prints one row each.
func (o *Options) runFleet(ctx context.Context) error {
	names, err := o.Fleet.Select(o.Env)
	if err != nil {
		return &cmdutil.ExitError{Code: 2, Err: err}
	}
	rows := make([]fleetRow, len(names))
	cmdutil.EachContext(ctx, o.Env, names, func(ctx context.Context, i int, f cmdutil.Factory, timeout time.Duration) {
		rows[i] = o.readRow(ctx, names[i], f, timeout)
	})
	rep := fleetReport{Rows: rows, FailWithin: o.FailWithin}
	for _, r := range rows {
		if r.Error != "" {
			rep.Unread = append(rep.Unread, r.Context)
		}
		if o.FailWithin > 0 && r.expiresWithin(o.FailWithin) {
			rep.Expiring = append(rep.Expiring, r.Context)
		}
	}
	if o.Output == cmdutil.OutputJSON || o.Output == cmdutil.OutputYAML {
		err = cmdutil.PrintStructured(o.Out, o.Output, rep)
	} else {
		err = printFleet(o.Out, rep)
	}
	if err != nil {
		return err
	}
	switch {
	case len(rep.Unread) > 0:
		return &cmdutil.ExitError{Code: 2, Err: fmt.Errorf("%s could not be read: %s", cmdutil.Plural(len(rep.Unread), "cluster"), strings.Join(rep.Unread, ", "))}
	case len(rep.Expiring) > 0:
		return &cmdutil.ExitError{Code: 1, Err: fmt.Errorf("%s with a CA that expires within %d days: %s",
			cmdutil.Plural(len(rep.Expiring), "cluster"), o.FailWithin, strings.Join(rep.Expiring, ", "))}
	}
	return nil
}

// readRow reads one context within timeout.
func (o *Options) readRow(ctx context.Context, name string, f cmdutil.Factory, timeout time.Duration) (row fleetRow) {
	start := time.Now()
	row.Context = name
	defer func() { row.TookSeconds = math.Round(time.Since(start).Seconds()*100) / 100 }()
	fail := func(what string, err error) fleetRow {
		switch {
		case ctx.Err() != nil && err != nil && !errors.Is(err, context.DeadlineExceeded):
			row.Error = fmt.Sprintf("%s: no answer within %s (%s)", what, timeout, cluster.ShortError(err))
		case ctx.Err() != nil:
			row.Error = fmt.Sprintf("%s: no answer within %s", what, timeout)
		case apierrors.IsForbidden(err):
			row.Error = what + ": forbidden"
		default:
			row.Error = what + ": " + cluster.ShortError(err)
		}
		return row
	}
	cfg, err := f.RESTConfig()
	if err != nil {
		return fail("kubeconfig", err)
	}
	cfg.Timeout = timeout
	row.Server = cfg.Host
	client, err := f.Clientset()
	if err != nil {
		return fail("client", err)
	}
	now := o.now()
	served, err := cluster.ReadServed(ctx, cfg, client)
	if err != nil {
		return fail("serving chain", err)
	}
	if served.CA != nil {
		l := lifeOf(served.CA, now, served.Source)
		row.ServingCA = &l
	}
	for _, c := range served.RootCA {
		row.RootCA = append(row.RootCA, lifeOf(c, now, ""))
	}
	rec, err := rotation.Load(ctx, client)
	if err != nil {
		return fail("rotation record", err)
	}
	if others := rotation.OtherActive(ctx, client); len(others) > 0 {
		dyn, err := f.DynamicClient()
		if err != nil {
			return fail("client", err)
		}
		for _, other := range others {
			r := fleetRotation{ID: other.ID, Target: other.Target, State: other.State}
			r.NextStep, r.Next = checks.TargetNext(other.Target, rotation.JudgeTarget(ctx, client, dyn, other, now), true)
			r.Phase = checks.TargetPhaseOf(other.Target, r.NextStep)
			if r.NextStep == "finish" {
				r.Phase = "done"
			}
			row.OtherRotations = append(row.OtherRotations, r)
		}
		if ctx.Err() != nil {
			return fail("judging the other targets' rotations", ctx.Err())
		}
	}
	if !rec.Active() {
		if served.CA == nil {
			row.Error = fmt.Sprintf("the serving certificate (issued by %s) verifies against no CA the cluster shows", served.Chain[0].Issuer)
		}
		return row
	}
	r := &fleetRotation{ID: rec.ID, Target: checks.TargetClusterCA, State: rec.State}
	row.Rotation = r
	steps, err := cluster.Judge(ctx, client, cfg, rotation.FromRecord(rec).Facts(), now)
	if err != nil {
		return fail("client", err)
	}
	if ctx.Err() != nil {
		return fail("judging the rotation's steps", ctx.Err())
	}
	r.NextStep, r.Next, _ = checks.PickNext(steps, true)
	r.Phase = checks.PhaseOf(r.NextStep)
	if r.NextStep == "finish" {
		r.Phase = "done"
	}
	return row
}

// expiresWithin tells whether a CA of the row has fewer than days left.
func (r fleetRow) expiresWithin(days int) bool {
	if r.ServingCA != nil && r.ServingCA.DaysLeft < days {
		return true
	}
	for _, c := range r.RootCA {
		if c.DaysLeft < days {
			return true
		}
	}
	return false
}

// printFleet writes one row per cluster; errors in their own column, last.
func printFleet(w io.Writer, rep fleetReport) error {
	rows := make([][]string, 0, len(rep.Rows))
	for _, r := range rep.Rows {
		serving, days := "-", "-"
		if r.ServingCA != nil {
			serving, days = r.ServingCA.Subject+" ("+checks.ShortFingerprint(r.ServingCA.Fingerprint)+")", fmt.Sprint(r.ServingCA.DaysLeft)
		}
		root := "-"
		if len(r.RootCA) > 0 {
			var parts []string
			for _, c := range r.RootCA {
				parts = append(parts, fmt.Sprint(c.DaysLeft))
			}
			root = strings.Join(parts, ",")
		}
		rot, next := "none", "-"
		all := r.OtherRotations
		if r.Rotation != nil {
			all = append([]fleetRotation{*r.Rotation}, all...)
		}
		var rots, nexts []string
		for _, x := range all {
			rots = append(rots, x.ID+" ("+x.Target+", "+cmdutil.Or(x.Phase, "?")+")")
			n := x.Next
			if x.isStep() {
				n = "step " + x.NextStep + ": " + x.Next
			}
			if n != "" && len(all) > 1 {
				n = x.Target + " " + n
			}
			if n != "" {
				nexts = append(nexts, n)
			}
		}
		if len(rots) > 0 {
			rot = strings.Join(rots, "; ")
		}
		if len(nexts) > 0 {
			next = strings.Join(nexts, "; ")
		}
		if r.Error != "" && r.ServingCA == nil && len(all) == 0 {
			rot = "-"
		}
		rows = append(rows, []string{r.Context, cmdutil.Or(r.Server, "-"), serving, days, root, rot, fmt.Sprintf("%.1fs", r.TookSeconds), next, r.Error})
	}
	if err := cmdutil.WriteTable(w, []string{"context", "server", "serving CA", "days left", "root CA days left", "rotation", "took", "next", "error"}, rows); err != nil {
		return err
	}
	if len(rep.Expiring) > 0 {
		fmt.Fprintf(w, "\nA CA expires within %d days in: %s\n", rep.FailWithin, strings.Join(rep.Expiring, ", "))
	}
	return nil
}
