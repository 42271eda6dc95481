package clients

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what the clients saw, in total, per step and per pod. It
// marshals to JSON as is.
type Report struct {
	Name    string       `json:"name"`
	Variant string       `json:"variant"` // VariantStaticCA or VariantReloadCA
	Host    string       `json:"host"`
	Summary Summary      `json:"summary"`
	Steps   []StepCounts `json:"steps"`
	Pods    []PodReport  `json:"pods"`
	Skipped []SkippedPod `json:"skipped,omitempty"`
}

// Summary is the one-line figure of a group of clients.
type Summary struct {
	Name    string `json:"name"`
	Clients int    `json:"clients"` // clients that started (made requests)
	Counts
}

// StepCounts are the figures of one step. Clients counts the clients that
// made a request in the step; UnreachableSeconds is the wall-clock time in
// the step during which some client could not reach the API server,
// merged over clients.
type StepCounts struct {
	Step    string `json:"step"`
	Clients int    `json:"clients"`
	Counts
}

// PodReport is one pod's client.
type PodReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// CASource is where its ca.crt comes from; CA the subjects of the
	// certificates the client loaded when it started, Volume those its
	// ca.crt file holds now (the kubelet rewrites it; only the reloading
	// variant reads it again).
	CASource string    `json:"caSource"`
	CA       []string  `json:"ca"`
	Volume   []string  `json:"volume"`
	Started  time.Time `json:"started,omitzero"`
	Stopped  time.Time `json:"stopped,omitzero"`
	// Error says why the client has not started (yet), when it has not.
	Error string `json:"error,omitempty"`
	// Ended says why the client stopped before the pod watch reported its
	// pod gone, when it did.
	Ended string       `json:"ended,omitempty"`
	Total Counts       `json:"total"`
	Steps []StepCounts `json:"steps"`
	// Examples holds the first error text of each failed outcome ("tls",
	// "unauthorized", "unreachable", "other").
	Examples map[string]string `json:"examples,omitempty"`
}

// SkippedPod is a selected pod that has no in-cluster config.
type SkippedPod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Reason    string `json:"reason"`
}

// Report reads the figures so far (or the final ones after Stop).
func (s *Simulator) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	end := time.Now()
	if !s.stopped.IsZero() {
		end = s.stopped
	}
	r := Report{Name: s.cfg.Name, Variant: s.variant, Host: s.cfg.Host, Skipped: append([]SkippedPod(nil), s.skipped...)}
	steps := s.tl.steps()
	windows := map[string][]interval{}
	for _, st := range steps {
		windows[st] = s.tl.windows(st, end)
	}
	var all []interval
	for _, c := range s.order {
		cend := end
		if !c.stopped.IsZero() {
			cend = c.stopped
		}
		spans := c.rec.spansUntil(cend)
		all = append(all, spans...)
		p := PodReport{Namespace: c.namespace, Name: c.name, UID: string(c.uid), CASource: c.source.String(),
			CA: subjects(c.ca), Volume: subjects(c.volume), Started: c.started, Error: c.err, Ended: c.ended}
		if !c.started.IsZero() {
			p.Stopped = c.stopped
		}
		for _, st := range steps {
			n := c.rec.steps[st]
			if n == nil {
				continue
			}
			sc := StepCounts{Step: st, Clients: 1, Counts: *n}
			sc.UnreachableSeconds = unionSeconds(clip(spans, windows[st]))
			p.Steps = append(p.Steps, sc)
			p.Total.add(*n)
			p.Total.UnreachableSeconds += sc.UnreachableSeconds
		}
		for o, text := range c.rec.examples {
			if p.Examples == nil {
				p.Examples = map[string]string{}
			}
			p.Examples[o.String()] = text
		}
		if !c.started.IsZero() {
			r.Summary.Clients++
		}
		r.Pods = append(r.Pods, p)
	}
	r.Summary.Name = s.cfg.Name
	for _, st := range steps {
		sc := StepCounts{Step: st}
		for _, c := range s.order {
			if n := c.rec.steps[st]; n != nil {
				sc.Clients++
				sc.add(*n)
			}
		}
		sc.UnreachableSeconds = unionSeconds(clip(all, windows[st]))
		r.Steps = append(r.Steps, sc)
		r.Summary.add(sc.Counts)
		r.Summary.UnreachableSeconds += sc.UnreachableSeconds
	}
	return r
}

// Step returns the figures of one step (zero when nothing ran in it).
func (r Report) Step(step string) StepCounts {
	for _, s := range r.Steps {
		if s.Step == step {
			return s
		}
	}
	return StepCounts{Step: step}
}

// Pod returns the report of the pod namespace/name.
func (r Report) Pod(namespace, name string) (PodReport, bool) {
	for _, p := range r.Pods {
		if p.Namespace == namespace && p.Name == name {
			return p, true
		}
	}
	return PodReport{}, false
}

// Step returns the pod's figures in one step (zero when it made no request
// in it).
func (p PodReport) Step(step string) Counts {
	for _, s := range p.Steps {
		if s.Step == step {
			return s.Counts
		}
	}
	return Counts{}
}

// String is the summary line:
// "in-cluster clients: N, requests R, TLS failures F, 401s U, API unreachable S s",
// followed by ", other errors O" when there were any.
func (s Summary) String() string {
	line := fmt.Sprintf("%s: %d, requests %d, TLS failures %d, 401s %d, API unreachable %s s",
		s.Name, s.Clients, s.Requests, s.TLSFailures, s.Unauthorized, seconds(s.UnreachableSeconds))
	if s.OtherErrors > 0 {
		line += fmt.Sprintf(", other errors %d", s.OtherErrors)
	}
	return line
}

func seconds(s float64) string { return fmt.Sprintf("%.1f", s) }

// WriteTable writes the per-step table, plain text, with a total row.
func (r Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tCLIENTS\tREQUESTS\tOK\tTLS FAILURES\t401s\tUNREACHABLE\tOTHER\tUNREACHABLE SECONDS")
	row := func(step string, clients int, c Counts) {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", step, clients, c.Requests, c.OK, c.TLSFailures,
			c.Unauthorized, c.Unreachable, c.OtherErrors, seconds(c.UnreachableSeconds))
	}
	for _, s := range r.Steps {
		row(s.Step, s.Clients, s.Counts)
	}
	row("total", r.Summary.Clients, r.Summary.Counts)
	return tw.Flush()
}

// WritePods writes one line per pod: where its CA came from, what it
// trusted, and its totals.
func (r Report) WritePods(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "POD\tCA SOURCE\tCA AT START\tREQUESTS\tOK\tTLS FAILURES\t401s\tUNREACHABLE\tOTHER\tUNREACHABLE SECONDS")
	for _, p := range r.Pods {
		c := p.Total
		fmt.Fprintf(tw, "%s/%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", p.Namespace, p.Name, p.CASource, strings.Join(p.CA, "+"),
			c.Requests, c.OK, c.TLSFailures, c.Unauthorized, c.Unreachable, c.OtherErrors, seconds(c.UnreachableSeconds))
	}
	for _, p := range r.Skipped {
		fmt.Fprintf(tw, "%s/%s\tno client: %s\t\t\t\t\t\t\t\t\n", p.Namespace, p.Name, p.Reason)
	}
	return tw.Flush()
}
