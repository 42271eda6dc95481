//go:build e2e

package restart

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// TestTwoPassesAtOnce: two admins run the same pass at the same moment.
// Each patch is conditional on the version its pass read, so every
// workload is patched once, by one of them: the other sees it current.
// Their reports, and their undo files, add up to what happened, not to
// twice that.
func TestTwoPassesAtOnce(t *testing.T) {
	client := Client(t)
	nss := namespaces(t, client, "twopass", 4)
	for _, ns := range nss {
		w := workloads{client, ns}
		for i := range 25 {
			w.deployment(t, fmt.Sprintf("d%d", i), 0)
		}
	}
	const total = 100
	before := generations(t, client, nss...)

	// A low rate keeps both passes patching for seconds: both list the
	// workloads before either has patched many.
	args := []string{"--namespace-selector", "restart-e2e=twopass", "--value", "twin-1", "--qps", "20", "--burst", "1", "--concurrency", "4"}
	type run struct {
		rep report
		res Result
	}
	out := make(chan run, 2)
	for range 2 {
		go func() {
			rep, res := restartJSON(t, Cmd{}, args...)
			out <- run{rep, res}
		}()
	}
	a, b := <-out, <-out
	for _, r := range []run{a, b} {
		if r.res.Code != 0 || r.rep.Totals.Failed != 0 || r.rep.Totals.Patched+r.rep.Totals.Current != total {
			t.Fatalf("a pass: exit %d, totals %+v\n%s", r.res.Code, r.rep.Totals, r.res.Stderr)
		}
	}
	if p := a.rep.Totals.Patched + b.rep.Totals.Patched; p != total {
		t.Errorf("the two passes report %d + %d patched, want %d in all: each workload was patched once", a.rep.Totals.Patched, b.rep.Totals.Patched, total)
	}
	if a.rep.Totals.Patched == 0 || b.rep.Totals.Patched == 0 {
		t.Logf("one pass found everything done (the other finished first): %d / %d", a.rep.Totals.Patched, b.rep.Totals.Patched)
	}
	for k, g := range generations(t, client, nss...) {
		if g != before[k]+1 {
			t.Errorf("%s: generation %d -> %d, want one change", k, before[k], g)
		}
	}
	// Each undo file lists what its pass changed: together, each workload
	// once.
	listed := map[string]int{}
	for _, r := range []run{a, b} {
		if r.rep.UndoFile == "" {
			if r.rep.Totals.Patched != 0 {
				t.Errorf("a pass patched %d workloads and left no undo file", r.rep.Totals.Patched)
			}
			continue
		}
		_, changes, err := undofile.Read(r.rep.UndoFile)
		Must(t, err)
		if len(changes) != r.rep.Totals.Patched {
			t.Errorf("undo file %s lists %d workloads, its pass patched %d", r.rep.UndoFile, len(changes), r.rep.Totals.Patched)
		}
		for _, c := range changes {
			listed[c.Namespace+"/"+c.Name]++
		}
	}
	if len(listed) != total {
		t.Errorf("the undo files list %d workloads, want %d", len(listed), total)
	}
	for k, n := range listed {
		if n != 1 {
			t.Errorf("%s is in %d undo files", k, n)
		}
	}
}

// TestStalledAPIServer: the API server stops answering for 30 s in the
// middle of a pass (SIGSTOP: connections open, no answers). The requests in
// flight time out (--request-timeout) and are tried again until it answers;
// meanwhile stderr says what the pass waits for, instead of 30 s of
// silence. The pass finishes with nothing failed.
func TestStalledAPIServer(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "stall")
	w := workloads{client, ns}
	for i := range 60 {
		w.deployment(t, fmt.Sprintf("d%d", i), 0)
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	first := make(chan struct{}, 1)
	dw, err := client.AppsV1().Deployments(ns).Watch(watchCtx, metav1.ListOptions{})
	Must(t, err)
	go func() {
		defer dw.Stop()
		for e := range dw.ResultChan() {
			if d, ok := e.Object.(*appsv1.Deployment); ok && d.Spec.Template.Annotations["ca-rotation"] == "stall-1" {
				select {
				case first <- struct{}{}:
				default:
				}
			}
		}
	}()
	type run struct {
		rep report
		res Result
	}
	done := make(chan run, 1)
	go func() {
		rep, res := restartJSON(t, Cmd{Timeout: 5 * time.Minute}, "-n", ns, "--value", "stall-1", "--qps", "10", "--burst", "1",
			"--concurrency", "4", "--request-timeout", "2s")
		done <- run{rep, res}
	}()
	select {
	case <-first:
	case r := <-done:
		t.Fatalf("the pass ended before its first patch was seen: exit %d\n%s", r.res.Code, r.res.Stderr)
	}
	stopWatch()
	apiserver := Cluster.Component(localcluster.APIServer)
	Must(t, apiserver.Pause())
	resumed := false
	defer func() {
		if !resumed {
			_ = apiserver.Resume()
		}
	}()
	time.Sleep(30 * time.Second)
	Must(t, apiserver.Resume())
	resumed = true
	r := <-done
	if r.res.Code != 0 || r.rep.Totals.Failed != 0 || r.rep.Totals.Patched+r.rep.Totals.Current != 60 {
		t.Fatalf("the pass across a 30 s stall: exit %d, totals %+v\n%s", r.res.Code, r.rep.Totals, r.res.Stderr)
	}
	if !strings.Contains(r.res.Stderr, "waiting for the API server at "+Cluster.Server+" (") || !strings.Contains(r.res.Stderr, "retrying)") {
		t.Errorf("nothing said the pass was waiting for the API server:\n%s", r.res.Stderr)
	}
	for k, v := range templateValues(t, client, ns) {
		if v != "stall-1" {
			t.Errorf("%s carries %q", k, v)
		}
	}
}
