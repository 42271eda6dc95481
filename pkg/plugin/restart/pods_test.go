package restart

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
)

// The pod list gives back what was added, in order, across chunks, and
// writes the same JSON as the slice of podItem it replaced.
func TestPodList(t *testing.T) {
	var want []podItem
	for i := range 2*podChunk + 3 {
		p := podItem{Namespace: fmt.Sprintf("ns-%d", i%7), Name: fmt.Sprintf("p-%d", i), Reason: "bare pod", Detail: "delete it"}
		if i%5 == 0 {
			p.Reason, p.Detail = "job", fmt.Sprintf("owned by Job j-%d", i%3)
		}
		want = append(want, p)
	}
	l := newPodList(want...)
	got := slices.Collect(l.all())
	if l.len() != len(want) || !slices.Equal(got, want) {
		t.Fatalf("got %d pods back (len %d), want the %d added in order", len(got), l.len(), len(want))
	}
	if len(l.chunks) != 3 || len(l.nsNames) != 7 || len(l.kinds) != 4 {
		t.Errorf("%d chunks, %d namespaces, %d kinds; want 3, 7 and 4 (each kept once)", len(l.chunks), len(l.nsNames), len(l.kinds))
	}
	gotJSON, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("JSON differs from the []podItem it stands for")
	}
	var back podList
	if err := json.Unmarshal(gotJSON, &back); err != nil || !slices.Equal(slices.Collect(back.all()), want) {
		t.Errorf("read back from JSON: %d pods, %v; want the %d written", back.len(), err, len(want))
	}
	b, err := json.Marshal(struct {
		Pods *podList `json:"pods"`
	}{newPodList()})
	if err != nil || string(b) != `{"pods":[]}` {
		t.Errorf("an empty list: %s, %v; want {\"pods\":[]}", b, err)
	}
	var none *podList // a pass that has not scanned
	if none.len() != 0 || len(slices.Collect(none.all())) != 0 {
		t.Errorf("a nil list has pods")
	}
}
