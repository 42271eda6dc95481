package drill

import (
	"strings"
	"testing"

	"github.com/carotate/kubectl-carotate/test/clients"
)

func steps(rows ...clients.StepCounts) []clients.StepCounts { return rows }

func ok(step string, n int) clients.StepCounts {
	return clients.StepCounts{Step: step, Clients: 1, Counts: clients.Counts{Requests: n, OK: n}}
}

func tlsFailed(step string, n int) clients.StepCounts {
	return clients.StepCounts{Step: step, Clients: 1, Counts: clients.Counts{Requests: n, TLSFailures: n}}
}

func pod(ns, name string, rows ...clients.StepCounts) clients.PodReport {
	p := clients.PodReport{Namespace: ns, Name: name, UID: "uid-" + name, Steps: rows}
	for _, r := range rows {
		p.Total.Requests += r.Requests
		p.Total.OK += r.OK
		p.Total.TLSFailures += r.TLSFailures
		p.Total.Unauthorized += r.Unauthorized
	}
	return p
}

// report sums the pods into the summary and the step rows.
func report(name string, pods ...clients.PodReport) clients.Report {
	r := clients.Report{Name: name, Summary: clients.Summary{Name: name}, Pods: pods}
	byStep := map[string]*clients.StepCounts{}
	var order []string
	for _, p := range pods {
		r.Summary.Clients++
		for _, s := range p.Steps {
			if byStep[s.Step] == nil {
				byStep[s.Step] = &clients.StepCounts{Step: s.Step}
				order = append(order, s.Step)
			}
			b := byStep[s.Step]
			b.Clients++
			b.Requests += s.Requests
			b.OK += s.OK
			b.TLSFailures += s.TLSFailures
			b.Unauthorized += s.Unauthorized
			r.Summary.Requests += s.Requests
			r.Summary.OK += s.OK
			r.Summary.TLSFailures += s.TLSFailures
			r.Summary.Unauthorized += s.Unauthorized
		}
	}
	for _, s := range order {
		r.Steps = append(r.Steps, *byStep[s])
	}
	return r
}

// goodOutcome is a drill whose restarted clients never failed and whose
// control failed from step 9.3 until its restart by hand.
func goodOutcome() ClientsOutcome {
	var restarted []clients.PodReport
	for i := range minClients {
		restarted = append(restarted, pod("drill-apps", "web-"+string(rune('a'+i)), ok("4", 4), ok("10", 2), ok("12.2-12.3", 3), ok("finish", 1)))
	}
	broken := []string{"10", "11", "12.1"}
	control := func(name string) clients.PodReport {
		return pod(nsClients, name, ok("4", 4), ok("9.2", 2), clients.StepCounts{Step: "9.3", Counts: clients.Counts{Requests: 5, OK: 2, TLSFailures: 3}},
			tlsFailed("10", 2), tlsFailed("11", 1), tlsFailed("12.1", 6), tlsFailed("control", 2))
	}
	return ClientsOutcome{
		Restarted:   report("in-cluster clients", restarted...),
		Control:     report("control clients", control("control-1"), control("control-2"), pod(nsClients, "control-3", ok("control", 1), ok("finish", 3)), pod(nsClients, "control-4", ok("control", 2))),
		ControlPods: []string{"control-1", "control-2"},
		ControlVerify: VerifyItem{Kind: "Deployment", Namespace: nsClients, Name: controlDeployment, Severity: "error",
			Verdict: "restart-needed"},
		ControlVerifyExit: 1,
		Broken:            broken,
		Unbundle: Result{Code: 1, Stderr: "error: refusing to unbundle, nothing was changed: 2 running pods may still trust the old CA alone.\n" +
			"Started before their CA source held the kept CA, so they hold the old CA in memory:\n  drill-clients/control-1, drill-clients/control-2\n"},
	}
}

func TestClientsProblems(t *testing.T) {
	if p := goodOutcome().Problems(); len(p) != 0 {
		t.Fatalf("a good drill: %v", p)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*ClientsOutcome)
		want   string
	}{
		{"a restarted client failed TLS verification", func(c *ClientsOutcome) {
			c.Restarted.Pods[3].Total.TLSFailures, c.Restarted.Summary.TLSFailures = 1, 1
		}, "TLS failures"},
		{"a restarted client got a 401", func(c *ClientsOutcome) {
			c.Restarted.Pods[0].Total.Unauthorized, c.Restarted.Summary.Unauthorized = 3, 3
		}, "3 401s"},
		{"too few clients", func(c *ClientsOutcome) { c.Restarted.Summary.Clients = 3 }, "want at least"},
		{"a pod got no client", func(c *ClientsOutcome) {
			c.Restarted.Skipped = []clients.SkippedPod{{Namespace: "drill-apps", Name: "x", Reason: "no token"}}
		}, "got no client"},
		{"nothing answered after the switch", func(c *ClientsOutcome) { c.Restarted.Steps = c.Restarted.Steps[:1] }, "no answered request in step 10"},
		{"verify did not name the control", func(c *ClientsOutcome) { c.ControlVerifyExit, c.ControlVerify = 0, VerifyItem{} }, "verify before step 9.3"},
		{"the control was restarted with the others", func(c *ClientsOutcome) {
			for _, name := range []string{"control-1", "control-2"} {
				c.Control.Pods = append(c.Control.Pods, pod(nsClients, name, ok("4", 4), ok("9.3", 5), ok("10", 2), ok("11", 1), ok("12.1", 6)))
			}
			c.Control.Pods = c.Control.Pods[2:]
		}, "the negative control did not fail"},
		{"the control answered after the switch", func(c *ClientsOutcome) {
			c.Control.Pods[0].Steps[3].OK = 1
		}, "answered requests in step 10"},
		{"the control failed before the switch", func(c *ClientsOutcome) {
			c.Control.Pods[1].Steps[1].TLSFailures = 1
		}, "before the API server served from the new CA"},
		{"the control was not measured broken", func(c *ClientsOutcome) { c.Broken = nil }, "is not among the steps"},
		{"unbundle did not refuse for the control", func(c *ClientsOutcome) { c.Unbundle = Result{} }, "unbundle with the control not restarted: exit 0"},
		{"unbundle refused for something else", func(c *ClientsOutcome) {
			c.Unbundle.Stderr = "error: refusing to unbundle, nothing was changed: kube-system/kube-root-ca.crt holds both and\nwas last written by kube-controller-manager"
		}, "a refusal naming every control pod"},
		{"unbundle named one control pod of two", func(c *ClientsOutcome) {
			c.Unbundle.Stderr = strings.Replace(c.Unbundle.Stderr, "drill-clients/control-2", "drill-clients/web-1", 1)
		}, "a refusal naming every control pod"},
		{"the restarted control failed", func(c *ClientsOutcome) { c.Control.Pods[2].Total.TLSFailures = 1 }, "restarted by hand"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := goodOutcome()
			tc.mutate(&c)
			got := strings.Join(c.Problems(), "\n")
			if !strings.Contains(got, tc.want) {
				t.Errorf("problems %q, want one with %q", got, tc.want)
			}
		})
	}
}
