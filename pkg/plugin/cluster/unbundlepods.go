package cluster

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// PodsOnTheOldCA finds the running pods in ns ("" for all) that may still
// trust the old CA alone, for unbundle's pods check: pods that started
// before their namespace's kube-root-ca.crt (or their legacy token Secret)
// held the kept CA (bundledAt, the rotation's bundle pass; when zero, the
// source's last write), and pods whose source does not hold the kept CA
// at all (checks.UnbundleSource). The pods are judged as verify and status
// judge them (checks.JudgePod); nothing is written.
func PodsOnTheOldCA(ctx context.Context, client kubernetes.Interface, ns string, kept []*x509.Certificate, bundledAt time.Time) (checks.PodEvidence, error) {
	root := &RootCAState{}
	resetCMs := func() { root.RootSrc = map[string]checks.PodSource{} }
	resetSecrets := func() { root.SecretSrc = map[string]checks.PodSource{} }
	resetCMs()
	resetSecrets()
	cmErr, secErr := EachRootCAObject(ctx, client, ns, resetCMs, resetSecrets, func(o RootCAObject) {
		src := checks.UnbundleSource(o.Source(true), o.Value, o.Present, kept, bundledAt)
		if o.Kind == "Secret" {
			root.SecretSrc[o.Namespace+"/"+o.Name] = src
			return
		}
		root.RootSrc[o.Namespace] = src
	})
	switch {
	case cmErr != nil:
		return checks.PodEvidence{}, fmt.Errorf("listing the kube-root-ca.crt ConfigMaps: %w", cmErr)
	case secErr != nil:
		return checks.PodEvidence{}, fmt.Errorf("listing the legacy ServiceAccount token Secrets: %w", secErr)
	}
	ev, _ := readPods(ctx, client, ns, root, time.Time{}, nil)
	if ev.Err != nil {
		return ev, fmt.Errorf("listing the running pods: %w", ev.Err)
	}
	return ev, nil
}
