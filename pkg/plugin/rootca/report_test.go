package rootca

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

func testReport() *report {
	return &report{
		Command: "bundle", DryRun: cmdutil.DryRunNone, Settle: "10s",
		Namespaces: counts{Total: 3, Already: 1, Reverted: 1, Skipped: 1},
		Secrets:    counts{Total: 1, Updated: 1},
		Objects: []reportObject{
			{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Found: "new+old", Result: resultAlready},
			{Kind: "ConfigMap", Namespace: "b", Name: "kube-root-ca.crt", Found: "old", Result: resultReverted, Reason: "kube-controller-manager put back old"},
			{Kind: "ConfigMap", Namespace: "c", Name: "kube-root-ca.crt", Found: "-", Result: resultSkipped, Reason: "namespace is terminating"},
			{Kind: "Secret", Namespace: "a", Name: "tok", Found: "old", Result: resultUpdated, Reason: "adds new"},
		},
	}
}

func TestPrintReportTable(t *testing.T) {
	var b bytes.Buffer
	if err := printReport(&b, "", testReport()); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"KIND        NAMESPACE   NAME               FOUND     RESULT     REASON\n" +
		"ConfigMap   a           kube-root-ca.crt   new+old   already\n" +
		"ConfigMap   b           kube-root-ca.crt   old       reverted   kube-controller-manager put back old\n" +
		"ConfigMap   c           kube-root-ca.crt   -         skipped    namespace is terminating\n" +
		"Secret      a           tok                old       updated    adds new\n" +
		"\n" +
		"OBJECTS                         TOTAL   ALREADY BUNDLED   UPDATED   CREATED   REVERTED   SKIPPED   FAILED\n" +
		"namespaces (kube-root-ca.crt)   3       1                 0         0         1          1         0\n" +
		"legacy token Secrets (ca.crt)   1       0                 1         0         0          0         0\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintReportDryRunAndUnbundle(t *testing.T) {
	r := &report{Command: "unbundle", DryRun: cmdutil.DryRunServer,
		Namespaces: counts{Total: 1, Updated: 1},
		Objects:    []reportObject{{Kind: "ConfigMap", Namespace: "a", Name: "kube-root-ca.crt", Found: "kept+CN=x (0011)", Result: resultUpdated, Reason: "removes CN=x (0011)"}},
	}
	var b bytes.Buffer
	if err := printReport(&b, "", r); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"KIND        NAMESPACE   NAME               FOUND              RESULT                     REASON\n" +
		"ConfigMap   a           kube-root-ca.crt   kept+CN=x (0011)   updated (server dry run)   removes CN=x (0011)\n" +
		"\n" +
		"OBJECTS                         TOTAL   ALREADY UNBUNDLED   UPDATED   CREATED   REVERTED   SKIPPED   FAILED\n" +
		"namespaces (kube-root-ca.crt)   1       0                   1         0         0          0         0\n" +
		"legacy token Secrets (ca.crt)   0       0                   0         0         0          0         0\n"
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestPrintReportJSON(t *testing.T) {
	var b bytes.Buffer
	if err := printReport(&b, cmdutil.OutputJSON, testReport()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"command": "bundle"`, `"reverted": 1`, `"reason": "kube-controller-manager put back old"`, `"objects": [`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "outside") {
		t.Errorf("internal fields must not be printed")
	}
}

func TestReportOutcome(t *testing.T) {
	r := testReport()
	hint, err := r.outcome("DO STEP 2")
	if hint != "DO STEP 2" || err == nil || err.Error() != "1 of 2 objects written were changed back within 10s by kube-controller-manager" {
		t.Fatalf("revert: hint %q, err %v", hint, err)
	}

	r = testReport()
	r.Objects[1].Result, r.Objects[1].Reason = resultFailed, "boom"
	r.Objects = append(r.Objects, reportObject{Kind: "Secret", Namespace: "z", Name: "s", Result: resultSkipped, outside: true})
	hint, err = r.outcome("DO STEP 2")
	want := "1 objects failed (see the RESULT column); run the same command again: what already holds the CA is not written twice; 1 objects hold certificates outside this rotation and were left alone (see the REASON column; --replace-other replaces them)"
	if hint != "" || err == nil || err.Error() != want {
		t.Fatalf("failed+outside: hint %q, err %v", hint, err)
	}

	r = testReport()
	r.Objects = r.Objects[:1]
	if hint, err := r.outcome("x"); hint != "" || err != nil {
		t.Fatalf("all in place: %q %v", hint, err)
	}
}

func TestProgress(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	p := &progress{w: &b, what: "namespaces", total: 3, now: func() time.Time { return now }}
	p.tick()
	now = now.Add(time.Second)
	p.tick() // too soon to print
	now = now.Add(2 * time.Second)
	p.tick()
	p.finish()
	if want := "namespaces: 3/3 done\nnamespaces: 3/3 done\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	q := &progress{w: &b, what: "legacy token Secrets", total: -1, now: time.Now}
	q.finish()
	if want := "legacy token Secrets: 0 done\n"; b.String() != want {
		t.Fatalf("got %q", b.String())
	}
}

func TestNamePods(t *testing.T) {
	refs := func(n int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("ns/p%d", i))
		}
		return out
	}
	for _, tc := range []struct {
		n    int
		want string
	}{
		{1, "ns/p0"},
		{maxNamedPods, strings.Join(refs(maxNamedPods), ", ")},
		{maxNamedPods + 3, strings.Join(refs(maxNamedPods), ", ") + " and 3 more"},
	} {
		if got := namePods(refs(tc.n)); got != tc.want {
			t.Errorf("%d pods: %q, want %q", tc.n, got, tc.want)
		}
	}
}
