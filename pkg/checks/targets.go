package checks

import (
	"fmt"
	"strings"
)

// Rotation targets: what a rotation replaces. cluster-ca is the upstream
// procedure (the steps in steps.go); each other target has its own record,
// its own numbered steps and its own judges.
const (
	TargetClusterCA    = "cluster-ca"
	TargetFrontProxyCA = "front-proxy-ca"
	TargetEtcdCA       = "etcd-ca"
	TargetSAKey        = "sa-key"
)

// Targets are every --target value, in the order help and completion show them.
var Targets = []string{TargetClusterCA, TargetFrontProxyCA, TargetEtcdCA, TargetSAKey}

// SupportedTargets are the targets this version rotates.
var SupportedTargets = []string{TargetClusterCA, TargetFrontProxyCA, TargetEtcdCA, TargetSAKey}

// CheckTarget refuses a --target this version cannot rotate, naming what it
// can; "" is cluster-ca.
func CheckTarget(t string) error {
	if t == "" {
		return nil
	}
	for _, s := range SupportedTargets {
		if t == s {
			return nil
		}
	}
	supported := strings.Join(SupportedTargets[:len(SupportedTargets)-1], ", ") + " and " + SupportedTargets[len(SupportedTargets)-1]
	for _, k := range Targets {
		if t == k {
			return fmt.Errorf("--target %s is not supported yet: this version rotates %s; nothing was read or written", t, supported)
		}
	}
	return fmt.Errorf("unknown --target %q: use one of %s (this version rotates %s); nothing was read or written", t, strings.Join(Targets, ", "), supported)
}

// OtherTarget tells whether t is a target other than cluster-ca ("" is
// cluster-ca): one with its own record, steps and judges.
func OtherTarget(t string) bool { return t != "" && t != TargetClusterCA }
