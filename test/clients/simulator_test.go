package clients

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
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

// TestPodGone: a 401 ends a client (Linger 0) only when the API server no
// longer has its pod: deleted, terminating, or replaced under its name.
func TestPodGone(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		want bool
	}{
		{"running", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u"}}, false},
		{"deleted", nil, true},
		{"terminating", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "u", DeletionTimestamp: &now}}, true},
		{"replaced", &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p", UID: "other"}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			admin := fake.NewClientset()
			if tc.pod != nil {
				admin = fake.NewClientset(tc.pod)
			}
			s := &Simulator{admin: admin, cfg: Config{Timeout: time.Second}}
			c := &client{s: s, namespace: "ns", name: "p", uid: "u"}
			if got := c.podGone(context.Background()); got != tc.want {
				t.Errorf("podGone = %t, want %t", got, tc.want)
			}
		})
	}
}
