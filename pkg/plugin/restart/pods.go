package restart

import (
	"encoding/json"
	"iter"
)

// podList holds the pods no patch restarts, as the pods scan finds them.
// A cluster can have very many (bare pods, Job pods): 150,000 in the
// scale benchmark. Each is kept as its name and two small indexes into
// the namespaces and the (reason, detail) pairs seen, in chunks that are
// never copied as they grow, where a slice of podItem took 64 bytes a pod
// plus its own namespace string, and twice that while it grew.
type podList struct {
	chunks  [][]podRef
	n       int
	nsNames []string
	nsIndex map[string]int32
	kinds   []podKind
	kindIdx map[podKind]int32
}

type podRef struct {
	name     string
	ns, kind int32
}

type podKind struct{ reason, detail string }

const podChunk = 4096

func newPodList(pods ...podItem) *podList {
	l := &podList{nsIndex: map[string]int32{}, kindIdx: map[podKind]int32{}}
	for _, p := range pods {
		l.add(p)
	}
	return l
}

func (l *podList) add(p podItem) {
	ns, ok := l.nsIndex[p.Namespace]
	if !ok {
		ns = int32(len(l.nsNames))
		l.nsNames = append(l.nsNames, p.Namespace)
		l.nsIndex[p.Namespace] = ns
	}
	k := podKind{p.Reason, p.Detail}
	kind, ok := l.kindIdx[k]
	if !ok {
		kind = int32(len(l.kinds))
		l.kinds = append(l.kinds, k)
		l.kindIdx[k] = kind
	}
	if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == podChunk {
		l.chunks = append(l.chunks, make([]podRef, 0, podChunk))
	}
	last := &l.chunks[len(l.chunks)-1]
	*last = append(*last, podRef{name: p.Name, ns: ns, kind: kind})
	l.n++
}

// len is the number of pods; 0 for a nil list.
func (l *podList) len() int {
	if l == nil {
		return 0
	}
	return l.n
}

// all yields the pods in the order they were added.
func (l *podList) all() iter.Seq[podItem] {
	return func(yield func(podItem) bool) {
		if l == nil {
			return
		}
		for _, c := range l.chunks {
			for _, r := range c {
				k := l.kinds[r.kind]
				if !yield(podItem{Namespace: l.nsNames[r.ns], Name: r.name, Reason: k.reason, Detail: k.detail}) {
					return
				}
			}
		}
	}
}

// MarshalJSON writes the pods as the list of podItem they stand for
// ([] when there are none).
func (l *podList) MarshalJSON() ([]byte, error) {
	items := make([]podItem, 0, l.len())
	for p := range l.all() {
		items = append(items, p)
	}
	return json.Marshal(items)
}

// UnmarshalJSON reads what MarshalJSON wrote (for a report read back).
func (l *podList) UnmarshalJSON(b []byte) error {
	var items []podItem
	if err := json.Unmarshal(b, &items); err != nil {
		return err
	}
	*l = *newPodList(items...)
	return nil
}
