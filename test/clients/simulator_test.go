package clients

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestReplacedUnderTheSameName: a relisted watch reports a StatefulSet pod
// replaced under its name as an update; the old pod's client stops, or it
// would go on with a token bound to a pod that no longer exists (401s).
func TestReplacedUnderTheSameName(t *testing.T) {
	s := &Simulator{clients: map[types.UID]*client{}, skip: map[types.UID]bool{}}
	pod := func(uid types.UID, phase corev1.PodPhase) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "queue-0", UID: uid}, Status: corev1.PodStatus{Phase: phase}}
	}
	stopped := map[types.UID]bool{}
	for _, uid := range []types.UID{"old", "other"} {
		c := &client{s: s, namespace: "ns", name: "queue-0", uid: uid}
		c.cancel = func() { stopped[uid] = true }
		s.clients[uid] = c
		s.order = append(s.order, c)
	}
	// The same pod again: nothing stops.
	s.onPodUpdate(pod("other", corev1.PodRunning), pod("other", corev1.PodRunning))
	// The replacement, not running yet: it gets no client, the old one stops.
	s.onPodUpdate(pod("old", corev1.PodRunning), pod("new", corev1.PodPending))
	if !stopped["old"] || !s.clients["old"].stopping {
		t.Error("the client of the replaced pod still runs")
	}
	if stopped["other"] || s.clients["new"] != nil {
		t.Errorf("stopped %v, clients %v: only the replaced pod's client may change", stopped, s.clients)
	}
}
