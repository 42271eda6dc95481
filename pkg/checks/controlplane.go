package checks

import "time"

// ControlPlanePod is a control-plane static pod as its mirror pod shows it
// (kubeadm's component= label in kube-system).
type ControlPlanePod struct {
	Node      string
	Component string
	Name      string
	Command   CommandLine
	Created   time.Time
	// Mirror is false for a pod with the component label that is not a
	// static pod's mirror (a cloud-controller-manager Deployment).
	Mirror bool
}

// APIServerStarted is when the newest kube-apiserver mirror pod of cp was
// created: when an API server last started serving its current
// certificate. Zero when none is visible.
func APIServerStarted(cp []ControlPlanePod) time.Time {
	var t time.Time
	for _, p := range cp {
		if p.Mirror && p.Component == ComponentAPIServer && p.Created.After(t) {
			t = p.Created
		}
	}
	return t
}

// ComponentPods is the mirror pods of one component in cp.
func ComponentPods(cp []ControlPlanePod, component string) []ControlPlanePod {
	var out []ControlPlanePod
	for _, p := range cp {
		if p.Mirror && p.Component == component {
			out = append(out, p)
		}
	}
	return out
}
