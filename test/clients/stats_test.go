package clients

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func at(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func TestUnionAndClip(t *testing.T) {
	spans := []interval{{at(5), at(8)}, {at(0), at(2)}, {at(1), at(3)}, {at(8), at(9)}, {at(4), at(4)}}
	if got := unionSeconds(spans); got != 7 {
		t.Errorf("union: %v s, want 7 (0-3 and 5-9)", got)
	}
	windows := []interval{{at(2), at(6)}, {at(8.5), at(20)}}
	if got := unionSeconds(clip(spans, windows)); got != 2.5 {
		t.Errorf("clipped: %v s, want 2.5 (2-3, 5-6, 8.5-9)", got)
	}
}

func TestTimeline(t *testing.T) {
	var tl timeline
	tl.set("start", at(0))
	tl.set("4", at(10))
	tl.set("4", at(12)) // the same step again: no new window
	tl.set("9.3", at(20))
	tl.set("4", at(30))
	if got := strings.Join(tl.steps(), ","); got != "start,4,9.3" {
		t.Errorf("steps %s", got)
	}
	if tl.current() != "4" {
		t.Errorf("current %s", tl.current())
	}
	w := tl.windows("4", at(35))
	if len(w) != 2 || !w[0].from.Equal(at(10)) || !w[0].to.Equal(at(20)) || !w[1].from.Equal(at(30)) || !w[1].to.Equal(at(35)) {
		t.Errorf("windows of 4: %v", w)
	}
}

func TestRecordSpans(t *testing.T) {
	var r record
	r.observe("a", at(0), at(0.1), OK, nil)
	r.observe("a", at(1), at(1.1), Unreachable, errors.New("connection refused"))
	r.observe("a", at(2), at(2.1), Unreachable, errors.New("connection refused again"))
	// A TLS failure is an answer: the API server is back, serving a
	// certificate the client does not trust.
	r.observe("b", at(3), at(3.5), TLSFailure, errors.New("x509: certificate signed by unknown authority"))
	r.observe("b", at(4), at(4.1), Unreachable, errors.New("EOF"))
	if got := unionSeconds(r.spansUntil(at(6))); got != 4.5 {
		t.Errorf("spans %v: %v s, want 2.5 closed + 2 open", r.spansUntil(at(6)), got)
	}
	a, b := r.steps["a"], r.steps["b"]
	if a.Requests != 3 || a.OK != 1 || a.Unreachable != 2 || b.Requests != 2 || b.TLSFailures != 1 || b.Unreachable != 1 {
		t.Errorf("counts a=%+v b=%+v", a, b)
	}
	if r.examples[Unreachable] != "connection refused" || r.examples[TLSFailure] == "" {
		t.Errorf("examples %v", r.examples)
	}
}

func TestRefreshAt(t *testing.T) {
	issued := at(0)
	if got := refreshAt(issued, issued.Add(time.Hour), time.Hour); !got.Equal(issued.Add(48 * time.Minute)) {
		t.Errorf("1h token refreshed at %v, want 48m", got.Sub(issued))
	}
	// The API server may extend a kubelet token's expiry to a year; the
	// kubelet still refreshes after a day.
	if got := refreshAt(issued, issued.Add(365*24*time.Hour), time.Hour); !got.Equal(issued.Add(24 * time.Hour)) {
		t.Errorf("extended token refreshed at %v, want 24h", got.Sub(issued))
	}
}

// TestReport builds a simulator's records by hand: two clients, an outage
// they both saw (counted once), steps, the table and the JSON.
func TestReport(t *testing.T) {
	s := &Simulator{cfg: Config{Name: "in-cluster clients", Host: "https://127.0.0.1:6443"}, variant: VariantStaticCA,
		clients: map[types.UID]*client{}, stopped: at(30)}
	s.tl.set("start", at(0))
	s.tl.set("9.3", at(10))
	s.tl.set("after", at(20))
	a := &client{s: s, namespace: "ns", name: "a", uid: "ua", started: at(0), stopped: at(30)}
	b := &client{s: s, namespace: "ns", name: "b", uid: "ub", started: at(0), stopped: at(25)}
	s.order = []*client{a, b}
	for _, c := range s.order {
		c.rec.observe("start", at(1), at(1.1), OK, nil)
		c.rec.observe("9.3", at(11), at(11.1), Unreachable, errors.New("connection refused"))
	}
	// a: back at 14, but no longer trusted; b: back at 13.
	a.rec.observe("9.3", at(14), at(14), TLSFailure, errors.New("x509: certificate signed by unknown authority"))
	b.rec.observe("9.3", at(13), at(13), OK, nil)
	b.rec.observe("after", at(21), at(21), Unreachable, errors.New("EOF")) // open until b stops at 25
	a.rec.observe("after", at(21), at(21), Unauthorized, errors.New("Unauthorized"))

	r := s.Report()
	if got, want := r.Summary.String(), "in-cluster clients: 2, requests 8, TLS failures 1, 401s 1, API unreachable 7.0 s"; got != want {
		t.Errorf("summary\n got %s\nwant %s", got, want)
	}
	if st := r.Step("9.3"); st.Clients != 2 || st.Requests != 4 || st.UnreachableSeconds != 3 {
		t.Errorf("step 9.3: %+v (want the union 11-14, not 3+2)", st)
	}
	pb, _ := r.Pod("ns", "b")
	if pb.Total.UnreachableSeconds != 6 || pb.Step("after").Unreachable != 1 {
		t.Errorf("pod b: %+v", pb)
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	want := `STEP   CLIENTS  REQUESTS  OK  TLS FAILURES  401s  UNREACHABLE  OTHER  UNREACHABLE SECONDS
start  2        2         2   0             0     0            0      0.0
9.3    2        4         1   1             0     2            0      3.0
after  2        2         0   0             1     1            0      4.0
total  2        8         3   1             1     3            0      7.0
`
	if buf.String() != want {
		t.Errorf("table\n%s\nwant\n%s", buf.String(), want)
	}
	b2, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b2, &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary != r.Summary || len(back.Pods) != 2 || back.Pods[0].Examples["tls"] == "" || !strings.Contains(string(b2), `"tlsFailures":1`) {
		t.Errorf("JSON round trip: %s", b2)
	}
}
