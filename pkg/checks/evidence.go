package checks

import (
	"crypto/x509"
	"time"
)

// Evidence is what the cluster shows of a rotation, read once
// (cluster.ReadEvidence) and judged by JudgeSteps. A part that could not
// be read carries its error: the steps that need it are unknown, the
// others are judged all the same.
type Evidence struct {
	Rotation RotationFacts
	// ControlPlane is the control plane's pods by their component label:
	// the static pods' mirror pods, and pods that are not mirrors (a
	// cloud-controller-manager Deployment).
	ControlPlane []ControlPlanePod
	RootCA       RootCAEvidence
	Pods         PodEvidence
	Backends     BackendEvidence
	// ExtensionAuth is what kube-apiserver publishes of its client CAs in
	// kube-system/extension-apiserver-authentication.
	ExtensionAuth ExtensionAuthEvidence
	// Serving is the API server's serving chain, leaf first.
	Serving     ServingEvidence
	Kubeconfig  KubeconfigEvidence
	ClusterInfo ClusterInfoEvidence
	Nodes       NodeEvidence
	// KubeletCerts is which CA issued each kubelet's newest client
	// certificate (step 9.2).
	KubeletCerts KubeletCertEvidence
	// CloudControllers are the cloud-controller-managers that run as
	// workloads ("Deployment kube-system/ccm").
	CloudControllers []string
}

// RotationFacts is the rotation the cluster is judged against.
type RotationFacts struct {
	ID       string
	Old, New []*x509.Certificate
	// OldFP and NewFP are the front-proxy CAs, when the rotation replaces
	// that CA too.
	OldFP, NewFP []*x509.Certificate
	// OldFile and NewFile are the CA files the printed commands read.
	OldFile, NewFile string
	// Passes are the restart passes of the rotation's log (see
	// NextPassValue); none without a record.
	Passes []PassRun
	// Verified is the record's last verify pass, when it passed.
	Verified *LoggedPass
}

// LoggedPass is a pass of the rotation's log: when, and by whom.
type LoggedPass struct {
	At time.Time
	By string
}

// RootCAEvidence is what the ServiceAccount root CA objects (every
// kube-root-ca.crt and legacy token Secret) hold, against the rotation's
// CAs.
type RootCAEvidence struct {
	// Err: kube-root-ca.crt could not be read.
	Err error
	// Summary counts the objects by what they hold.
	Summary string
	// Bundled: every object trusts the new CA (the bundle, or the new CA
	// alone). Unbundled: every object holds the new CA alone.
	Bundled, Unbundled bool
	// KubeSystem is what kube-system/kube-root-ca.crt holds, and
	// KubeSystemWriter who last wrote its ca.crt (the newest managedFields
	// entry by time).
	KubeSystem       BundleState
	KubeSystemWriter string
	// LastChange is the newest change of ca.crt among the objects.
	LastChange time.Time
}

// PublishedByControllerManager tells whether kube-controller-manager last
// wrote kube-system/kube-root-ca.crt: it rewrites it within moments to its
// --root-ca-file, so then KubeSystem is what that flag names. (Its field
// manager is its user agent up to the first "/": the component's name.)
func (r RootCAEvidence) PublishedByControllerManager() bool {
	return r.KubeSystemWriter == ComponentControllerManager
}

// PodEvidence is the running pods that use the ServiceAccount root CA,
// each judged by JudgePod against its CA source; pods are named
// "namespace/name".
type PodEvidence struct {
	Err    error
	WithCA int
	// Restart started before their CA source last changed; Maybe in the
	// same second as it was written; Lacking mount a source without the new
	// CA; BeforeServe started before kube-apiserver last restarted.
	Restart, Maybe, Lacking, BeforeServe []string
}

// BackendEvidence is the aggregated API servers and webhooks the API
// server calls, and the services behind them.
type BackendEvidence struct {
	// Err: not every list could be read.
	Err error
	// APIs are the APIServices served by a service; Webhooks the admission
	// and CRD conversion webhooks.
	APIs, Webhooks []ServiceRef
	// Services are the services behind them, by Key.
	Services []BackendService
}

// BackendService is one service behind an aggregated API or a webhook.
type BackendService struct {
	// Key is "namespace/name".
	Key string
	// Pods counts its running pods that use the ServiceAccount root CA;
	// Restart names those that started before their CA source changed or
	// mount one without the new CA.
	Pods    int
	Restart []string
}

// ExtensionAuthEvidence is kube-apiserver's --client-ca-file and
// --requestheader-client-ca-file as it publishes them.
type ExtensionAuthEvidence struct {
	Err error
	// ClientCA against the rotation's CAs; FrontProxy against its
	// front-proxy CAs, when it replaces them.
	ClientCA, FrontProxy BundleState
}

// ServingEvidence is the chain the API server serves.
type ServingEvidence struct {
	Chain []*x509.Certificate
	Err   error
}

// What the kubeconfig's client certificate is issued by.
const (
	IssuedByOld   = "old"
	IssuedByNew   = "new"
	IssuedByOther = "other"
)

// KubeconfigEvidence is the kubeconfig this command runs with.
type KubeconfigEvidence struct {
	// CA is what its certificate authority holds; "system" when it names
	// none (the system's CAs).
	CA BundleState
	// ClientIssuer is IssuedByOld, IssuedByNew or IssuedByOther; "" without
	// a client certificate.
	ClientIssuer string
}

// ClusterInfoEvidence is kube-public/cluster-info and its signatures.
type ClusterInfoEvidence struct {
	Err error
	// Present is false when the cluster has no cluster-info.
	Present bool
	Report  ClusterInfoReport
}

// NodeEvidence is the nodes and when each last renewed its Lease.
type NodeEvidence struct {
	// Err: the nodes or their Leases could not be read.
	Err    error
	Names  []string
	Leases map[string]time.Time
}
