package checks

import (
	"encoding/base64"
	"fmt"
	"path"
	"sort"
	"strings"
)

// The node work of the upstream procedure, rendered for one cluster: which
// file to write, which static-pod flag to point where, which component to
// restart, on which node, with the exact shell command. The plugin reads the
// cluster (mirror pods' flags, nodes, webhooks) into a ClusterDescription;
// Render turns it into Steps; RenderText prints them for a human, and the
// Steps themselves are the JSON an automation follows (the schema is in
// docs/instructions-schema.md).
//
// Files are never rewritten while a component reads them. The transition
// uses new files beside the originals (ca-bundle.crt, ca-new.crt, ca-new.key,
// apiserver-new.crt) and moves flags onto them; once every flag has left an
// original file, the finish phase writes the new CA into it and points the
// flags back, so the cluster ends with kubeadm's usual file names.

// Where the paths of a description come from.
const (
	SourceMirrorPods = "mirror-pods"
	SourceDefaults   = "kubeadm-defaults"
)

// Phases of the rotation: the node work before the serving certificates
// change, the serving certificates themselves, and the removal of the old CA.
const (
	PhaseBundle = "bundle"
	PhaseServe  = "serve"
	PhaseFinish = "finish"
)

// Components, named as their static pods' component= label.
const (
	ComponentAPIServer         = "kube-apiserver"
	ComponentControllerManager = "kube-controller-manager"
	ComponentScheduler         = "kube-scheduler"
	ComponentCloudController   = "cloud-controller-manager"
	ComponentKubelet           = "kubelet"
)

// Actions of a Step.
const (
	ActionBackup            = "backup"
	ActionWriteFile         = "write-file"
	ActionCopyFile          = "copy-file"
	ActionIssueCert         = "issue-cert"
	ActionSetFlag           = "set-flag"
	ActionSetKubeconfigCA   = "set-kubeconfig-ca"
	ActionReissueKubeconfig = "reissue-kubeconfig-client-cert"
	ActionRequestCert       = "request-kubelet-cert"
	ActionApproveCSR        = "approve-csr"
	ActionInstallCert       = "install-kubelet-cert"
	ActionSetKubeletConfig  = "set-kubelet-config"
	ActionRemoveFile        = "remove-file"
	ActionRestart           = "restart"
	ActionInCluster         = "in-cluster"
	ActionSkip              = "skip"
	// ActionCheck runs a test on the node that fails loudly; ActionMark
	// records on the node's Node object that its step's checks passed.
	ActionCheck = "check"
	ActionMark  = "mark"
)

// Contents a step writes or points at. Certificates are in
// InstructionsDoc.Contents; keys never are: a step with a key content names
// the operator's file in From.
const (
	ContentOldCA              = "old-ca"
	ContentNewCA              = "new-ca"
	ContentBundle             = "bundle"
	ContentNewCAKey           = "new-ca-key"
	ContentOldFrontProxyCA    = "old-front-proxy-ca"
	ContentNewFrontProxyCA    = "new-front-proxy-ca"
	ContentFrontProxyBundle   = "front-proxy-bundle"
	ContentNewFrontProxyCAKey = "new-front-proxy-ca-key"
)

// Kubeadm's file layout, the fallback when the control plane's flags are not
// visible, and the place of node files the API never shows.
const (
	KubeadmPKIDir        = "/etc/kubernetes/pki"
	KubeadmManifestDir   = "/etc/kubernetes/manifests"
	KubeadmKubeletConf   = "/etc/kubernetes/kubelet.conf"
	KubeletConfigFile    = "/var/lib/kubelet/config.yaml"
	KubeletPKIDir        = "/var/lib/kubelet/pki"
	operatorNewCAKey     = "new-ca.key"
	operatorNewFPCAKey   = "new-front-proxy-ca.key"
	backupRoot           = "/var/backups/carotate-"
	certValidityDays     = 365
	restartValueSep      = "/"
	defaultsNodeWildcard = "*"
)

// UpstreamStep is one step of the upstream procedure.
type UpstreamStep struct {
	Step  string `json:"step"`
	Title string `json:"title"`
	Kind  string `json:"kind"`
	Phase string `json:"phase"`
}

// UpstreamSteps are the steps of "Manually Rotate CA Certificates" in
// order, numbered as in UPSTREAM-PROCEDURE.md.
var UpstreamSteps = []UpstreamStep{
	{"1", "Copy the new CA (and front-proxy CA) into every control-plane node's certificate directory", "node", PhaseBundle},
	{"2", "Point kube-controller-manager's --root-ca-file at the bundle and restart it", "node", PhaseBundle},
	{"3", "The controller-manager publishes the bundle to every ServiceAccount root CA", "in-cluster", PhaseBundle},
	{"4", "Restart every pod that uses in-cluster config", "in-cluster", PhaseBundle},
	{"5", "kube-apiserver: old+new in --client-ca-file and --kubelet-certificate-authority", "node", PhaseBundle},
	{"6", "kube-scheduler: old+new in --client-ca-file", "node", PhaseBundle},
	{"7", "Kubeconfigs: the bundle as certificate-authority-data, client certificates from the new CA", "node / user", PhaseBundle},
	{"8", "cloud-controller-manager: the bundle as --root-ca-file", "node", PhaseBundle},
	{"9.1", "Restart aggregated API servers and webhook handlers", "in-cluster", PhaseBundle},
	{"9.2", "Kubelets: the bundle in clientCAFile and kubelet.conf, a client certificate from the new CA, restart node by node", "node", PhaseServe},
	{"9.3", "API servers serve certificates signed by the new CA; restart the scheduler", "node", PhaseServe},
	{"9.4", "Roll every workload once more", "in-cluster", PhaseServe},
	{"10", "The new CA in kube-public/cluster-info", "in-cluster", PhaseServe},
	{"11", "Verify: no TLS errors anywhere", "in-cluster", PhaseServe},
	{"12.1", "ServiceAccount root CA: the new CA alone; restart in-cluster clients", "both", PhaseFinish},
	{"12.2", "Remove the old CA from kubeconfigs and control-plane files; restart the control plane", "node", PhaseFinish},
	{"12.3", "Kubelets: remove the old CA, restart node by node", "node", PhaseFinish},
}

// LookupStep returns the upstream step numbered n.
func LookupStep(n string) (UpstreamStep, bool) {
	for _, s := range UpstreamSteps {
		if s.Step == n {
			return s, true
		}
	}
	return UpstreamStep{}, false
}

// IsStep tells whether n numbers an upstream step.
func IsStep(n string) bool {
	_, ok := LookupStep(n)
	return ok
}

// ClusterDescription is what Render needs to know about a cluster.
type ClusterDescription struct {
	RotationID string `json:"rotationID"`
	// Source tells whether the control plane's paths were read from mirror
	// pods or are kubeadm's defaults.
	Source       string             `json:"source"`
	ControlPlane []ControlPlaneHost `json:"controlPlane"`
	Nodes        []KubeletNode      `json:"nodes"`
	// CloudControllerManagers run as workloads ("Deployment kube-system/ccm");
	// a static one is a component of its ControlPlaneHost instead.
	CloudControllerManagers []string     `json:"cloudControllerManagers,omitempty"`
	AggregatedAPIs          []ServiceRef `json:"aggregatedAPIs,omitempty"`
	Webhooks                []ServiceRef `json:"webhooks,omitempty"`
	// FrontProxy is set when the rotation also replaces the front-proxy CA.
	FrontProxy bool `json:"frontProxy"`
	// ClusterInfo is set when kube-public/cluster-info exists.
	ClusterInfo    bool           `json:"clusterInfo"`
	UserKubeconfig UserKubeconfig `json:"userKubeconfig"`
	// Files are the workstation files the in-cluster commands read.
	Files LocalFiles `json:"files"`
	// Contents holds the PEM of each certificate content name.
	Contents map[string]string `json:"contents"`
	// PassValues overrides the restart pass value of a phase (see
	// NextPassValue); RestartValue's otherwise.
	PassValues map[string]string `json:"-"`
	// Target is the rotation target the steps are for: "" (cluster-ca) or
	// sa-key (RenderSAKey).
	Target string `json:"target,omitempty"`
}

// ControlPlaneHost is one control-plane node and the command lines of the
// static pods it runs, keyed by component.
type ControlPlaneHost struct {
	Node       string                 `json:"node"`
	Components map[string]CommandLine `json:"components"`
}

// KubeletNode is one node's kubelet, as far as the API shows it.
type KubeletNode struct {
	Name         string `json:"name"`
	ControlPlane bool   `json:"controlPlane,omitempty"`
	// ClientCAFile is the kubelet's authentication.x509.clientCAFile from
	// its configz; empty when not readable.
	ClientCAFile string `json:"clientCAFile,omitempty"`
	// RotateCertificates is the kubelet's rotateCertificates from configz;
	// nil when not readable.
	RotateCertificates *bool `json:"rotateCertificates,omitempty"`
}

// ServiceRef is an APIService or webhook served from inside the cluster.
type ServiceRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
	Service   string `json:"service,omitempty"`
	URL       string `json:"url,omitempty"`
}

// UserKubeconfig is the kubeconfig the instructions were rendered with.
type UserKubeconfig struct {
	File    string `json:"file,omitempty"`
	Cluster string `json:"cluster,omitempty"`
}

// LocalFiles are the CA files on the operator's workstation.
type LocalFiles struct {
	OldCA  string `json:"oldCA"`
	NewCA  string `json:"newCA"`
	Bundle string `json:"bundle"`
}

// Step is one machine-actionable instruction. Which fields are set depends
// on Action; docs/instructions-schema.md describes each.
type Step struct {
	Step        string `json:"step"`
	Phase       string `json:"phase"`
	Node        string `json:"node"`
	Component   string `json:"component,omitempty"`
	Action      string `json:"action"`
	Description string `json:"description"`
	// Flag is the static-pod flag a set-flag changes; Field the kubelet
	// configuration field a set-kubelet-config changes.
	Flag  string `json:"flag,omitempty"`
	Field string `json:"field,omitempty"`
	// File is the file the step creates, points at or backs up.
	File string `json:"file,omitempty"`
	// Content names what File holds (a key of InstructionsDoc.Contents, or
	// a key content that the operator supplies from From).
	Content string `json:"content,omitempty"`
	// From is the source of a copy, the operator's key file, or the
	// certificate an issue-cert copies subject and extensions from.
	From string `json:"from,omitempty"`
	// Key is the private key of the certificate an issue-cert creates.
	Key string `json:"key,omitempty"`
	// Signer is the content name of the issuing CA; CA and CAKey its files
	// on the node.
	Signer  string `json:"signer,omitempty"`
	CA      string `json:"ca,omitempty"`
	CAKey   string `json:"caKey,omitempty"`
	Subject string `json:"subject,omitempty"`
	// CSR is the CertificateSigningRequest a kubelet's client certificate
	// is requested, approved and installed through; SignerName its signer.
	CSR        string `json:"csr,omitempty"`
	SignerName string `json:"signerName,omitempty"`
	// ForNode is the node a workstation step (node "") is for.
	ForNode string `json:"forNode,omitempty"`
	// The file a step edits: a static pod manifest, a kubelet
	// configuration, a kubeconfig.
	Manifest   string `json:"manifest,omitempty"`
	Config     string `json:"config,omitempty"`
	Kubeconfig string `json:"kubeconfig,omitempty"`
	Target     string `json:"target,omitempty"`
	Restart    string `json:"restart,omitempty"`
	// Defaults lists the fields above whose values are kubeadm's defaults
	// because the cluster does not show them.
	Defaults  []string `json:"defaults,omitempty"`
	Condition string   `json:"condition,omitempty"`
	Note      string   `json:"note,omitempty"`
	Command   string   `json:"command"`
	Check     string   `json:"check"`

	// When is Condition as a test a script runs on the step's node (bash;
	// exit 0: the step applies). A step with a Condition and no When
	// cannot be run by a script (instructions -o script refuses it).
	When string `json:"when,omitempty"`
}

// InstructionsDoc is the -o json form of "kubectl carotate instructions".
type InstructionsDoc struct {
	Rotation string `json:"rotation"`
	// Target is "" for cluster-ca, else the target the steps are for.
	Target   string            `json:"target,omitempty"`
	Source   string            `json:"source"`
	Notes    []string          `json:"notes"`
	Contents map[string]string `json:"contents"`
	Steps    []Step            `json:"steps"`
}

// KubeadmDefaults is the command line kubeadm gives a component, for
// clusters whose control plane is not visible through the API.
func KubeadmDefaults(component string) CommandLine {
	p := func(name string) string { return path.Join(KubeadmPKIDir, name) }
	f := func(pairs ...string) []Flag {
		var out []Flag
		for i := 0; i+1 < len(pairs); i += 2 {
			out = append(out, Flag{Name: pairs[i], Value: pairs[i+1]})
		}
		return out
	}
	switch component {
	case ComponentAPIServer:
		return CommandLine{Binary: component, Flags: f(
			"client-ca-file", p("ca.crt"),
			"tls-cert-file", p("apiserver.crt"), "tls-private-key-file", p("apiserver.key"),
			"kubelet-client-certificate", p("apiserver-kubelet-client.crt"), "kubelet-client-key", p("apiserver-kubelet-client.key"),
			"proxy-client-cert-file", p("front-proxy-client.crt"), "proxy-client-key-file", p("front-proxy-client.key"),
			"requestheader-client-ca-file", p("front-proxy-ca.crt"))}
	case ComponentControllerManager:
		return CommandLine{Binary: component, Flags: f(
			"root-ca-file", p("ca.crt"), "client-ca-file", p("ca.crt"),
			"cluster-signing-cert-file", p("ca.crt"), "cluster-signing-key-file", p("ca.key"),
			"requestheader-client-ca-file", p("front-proxy-ca.crt"),
			"kubeconfig", "/etc/kubernetes/controller-manager.conf",
			"authentication-kubeconfig", "/etc/kubernetes/controller-manager.conf",
			"authorization-kubeconfig", "/etc/kubernetes/controller-manager.conf")}
	case ComponentScheduler:
		return CommandLine{Binary: component, Flags: f(
			"kubeconfig", "/etc/kubernetes/scheduler.conf",
			"authentication-kubeconfig", "/etc/kubernetes/scheduler.conf",
			"authorization-kubeconfig", "/etc/kubernetes/scheduler.conf")}
	}
	return CommandLine{Binary: component}
}

// Transition file names: a variant sits beside its original.
const (
	variantBundle = "bundle"
	variantNew    = "new"
)

// OriginalPath undoes VariantPath: ".../ca-bundle.crt" and ".../ca-new.crt"
// are ".../ca.crt". Flags read mid-rotation point at variants; the finish
// phase needs the originals back.
func OriginalPath(p string) string {
	dir, base := path.Split(p)
	ext := path.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	for _, v := range []string{variantBundle, variantNew} {
		if s, ok := strings.CutSuffix(stem, "-"+v); ok && s != "" {
			return dir + s + ext
		}
	}
	return p
}

// VariantPath is the transition file of kind v beside the original of p.
func VariantPath(p, v string) string {
	o := OriginalPath(p)
	dir, base := path.Split(o)
	ext := path.Ext(base)
	return dir + strings.TrimSuffix(base, ext) + "-" + v + ext
}

// PhaseOf is the phase an upstream step belongs to.
func PhaseOf(step string) string {
	if s, ok := LookupStep(step); ok {
		return s.Phase
	}
	return ""
}

// RestartValue is the restart-workloads pass value of a rotation phase, so
// each phase rolls once and a re-run of the same phase rolls nothing again.
func RestartValue(rotationID, phase string) string {
	if rotationID == "" {
		return ""
	}
	return rotationID + restartValueSep + phase
}

// Render turns a cluster description into the steps of the whole rotation,
// in upstream order.
func Render(d ClusterDescription) []Step {
	r := &renderer{d: d, written: map[string]bool{}}
	r.step1()
	r.step2()
	r.inCluster("3", "Publish the bundle to every ServiceAccount root CA (kube-root-ca.crt, legacy token Secrets)",
		"kubectl carotate bundle --old-ca "+shq(d.Files.OldCA)+" --new-ca "+shq(d.Files.NewCA)+" --out "+shq(d.Files.Bundle), "")
	r.inCluster("4", "Roll every workload so its pods load the bundle",
		r.restartCommand(PhaseBundle, ""), "")
	r.step5()
	r.step6()
	r.step7()
	r.step8()
	r.step91()
	r.step92()
	r.step93()
	r.inCluster("9.4", "Roll every workload once more, now that the API servers serve from the new CA",
		r.restartCommand(PhaseServe, ""), "")
	if d.ClusterInfo {
		r.inCluster("10", "Put the bundle into kube-public/cluster-info (joining nodes trust old and new until the finish phase)",
			"kubectl carotate update-cluster-info --ca "+shq(d.Files.Bundle), "")
	} else {
		r.skip("10", "", "", "kube-public/cluster-info does not exist: nodes do not join with bootstrap tokens here")
	}
	r.inCluster("11", "Check that everything trusts the new CA and no component logs TLS errors",
		"kubectl carotate verify --ca "+shq(d.Files.Bundle)+" --expect bundle", "")
	r.step121()
	r.step122()
	r.step123()
	return r.out
}

type renderer struct {
	d       ClusterDescription
	out     []Step
	written map[string]bool // node + "\x00" + path of files written
}

func (r *renderer) add(s Step) {
	if s.Phase == "" {
		s.Phase = TargetPhaseOf(r.d.Target, s.Step)
	}
	if s.Check == "" {
		s.Check = "kubectl carotate status " + targetFlag(r.d.Target) + "--step " + s.Step
	}
	r.out = append(r.out, s)
}

func (r *renderer) defaults() bool { return r.d.Source != SourceMirrorPods }

// pathDefaults marks fields holding paths taken from kubeadm's layout.
func (r *renderer) pathDefaults(fields ...string) []string {
	if r.defaults() {
		return fields
	}
	return nil
}

func (r *renderer) backupTarget(step string) string {
	return backupRoot + r.d.RotationID + "/step-" + step
}

func (r *renderer) backup(step, node, file string, defaults []string) {
	r.backupIf(step, node, file, defaults, "")
}

// backupIf copies file under the step's backup directory, keeping its full
// path; with a condition, only if the file exists.
func (r *renderer) backupIf(step, node, file string, defaults []string, condition string) {
	key := "backup\x00" + step + "\x00" + node + "\x00" + file
	if r.written[key] {
		return
	}
	r.written[key] = true
	target := r.backupTarget(step)
	var def []string
	if stepsContains(defaults, "file") {
		def = []string{"file"}
	}
	// From "/": GNU cp 9.1 (Debian 12) fails "cp -a --parents /abs/path"
	// from any other directory.
	cmd := "mkdir -p " + shq(target) + " && (cd / && cp -a --parents " + shq(file) + " " + shq(target) + "/)"
	when := ""
	if condition != "" {
		cmd = "test ! -e " + shq(file) + " || { " + cmd + "; }"
		when = "test -e " + shq(file)
	}
	r.add(Step{Step: step, Node: node, Action: ActionBackup, Description: "Back up " + file,
		File: file, Target: target, Defaults: def, Condition: condition, When: when, Command: cmd})
}

func (r *renderer) skip(step, node, component, why string) {
	r.add(Step{Step: step, Node: node, Component: component, Action: ActionSkip, Description: "Nothing to do", Note: why, Command: ""})
}

func (r *renderer) inCluster(step, desc, command, note string) {
	r.add(Step{Step: step, Node: "", Action: ActionInCluster, Description: desc, Command: command, Note: note})
}

func (r *renderer) restartCommand(phase, namespace string) string {
	cmd := "kubectl carotate restart-workloads"
	if namespace != "" {
		cmd += " -n " + shq(namespace)
	}
	v := r.d.PassValues[phase]
	if v == "" {
		v = RestartValue(r.d.RotationID, phase)
	}
	if v != "" {
		cmd += " --value " + shq(v)
	}
	return cmd + " --wait"
}

// flag returns a component's flag on a host, from kubeadm's defaults when
// the control plane is not visible.
func (r *renderer) flag(h ControlPlaneHost, component, name string) string {
	if cl, ok := h.Components[component]; ok {
		return cl.Value(name)
	}
	return ""
}

func (h ControlPlaneHost) has(component string) bool {
	_, ok := h.Components[component]
	return ok
}

// hostsRunning are the control-plane hosts that run component, in order.
func (r *renderer) hostsRunning(component string) []ControlPlaneHost {
	var out []ControlPlaneHost
	for _, h := range r.d.ControlPlane {
		if h.has(component) {
			out = append(out, h)
		}
	}
	return out
}

func manifestPath(component string) string {
	return path.Join(KubeadmManifestDir, component+".yaml")
}

// firstWrite says whether file on node is written for the first time in
// this rendering, and marks it written.
func (r *renderer) firstWrite(node, file string) bool {
	key := node + "\x00" + file
	if r.written[key] {
		return false
	}
	r.written[key] = true
	return true
}

// writeFile writes a certificate content to file on node once per
// rendering; a later step needing the same file relies on the earlier one.
func (r *renderer) writeFile(step, node, file, content, desc string) {
	if !r.firstWrite(node, file) {
		return
	}
	r.add(Step{Step: step, Node: node, Action: ActionWriteFile, Description: desc, File: file, Content: content,
		Defaults: r.pathDefaults("file"), Command: heredoc(file, r.d.Contents[content], "0644")})
}

// writeKey installs a private key the operator brings: the plugin never
// sees it.
func (r *renderer) writeKey(step, node, file, content, from, desc string) {
	if !r.firstWrite(node, file) {
		return
	}
	r.add(Step{Step: step, Node: node, Action: ActionWriteFile, Description: desc, File: file, Content: content, From: from,
		Defaults: r.pathDefaults("file"),
		Note:     "copy the key from where you generated it to this node first; kubectl carotate never reads or stores private keys",
		Command:  "install -m 0600 " + shq(from) + " " + shq(file)})
}

// setFlag points a static pod's flag at file. content "" means a file
// that is not one of the rotation's contents (an issued certificate).
func (r *renderer) setFlag(step string, h ControlPlaneHost, component, flag, file, content string) int {
	manifest := manifestPath(component)
	def := []string{"manifest"}
	if r.defaults() {
		def = append(def, "file")
	}
	desc := fmt.Sprintf("%s: --%s=%s", component, flag, file)
	if content != "" {
		desc += " (" + contentWords(content) + ")"
	}
	s := Step{Step: step, Node: h.Node, Component: component, Action: ActionSetFlag, Description: desc,
		Flag: "--" + flag, File: file, Content: content, Manifest: manifest, Defaults: def,
		Command: "sed -i -e " + shq("s|- --"+flag+"=.*|- --"+flag+"="+sedEscape(file)+"|") + " " + shq(manifest)}
	r.add(s)
	return len(r.out) - 1
}

// note appends to the note of step i.
func (r *renderer) note(i int, text string) {
	if r.out[i].Note != "" {
		r.out[i].Note += "; "
	}
	r.out[i].Note += text
}

func (r *renderer) restartStatic(step, node, component string, edited bool) {
	s := Step{Step: step, Node: node, Component: component, Action: ActionRestart, Restart: component}
	if edited {
		s.Description = "Wait for " + component + " to restart"
		s.Note = "the kubelet restarts a static pod when its manifest changes; wait until the container below is new and running"
		s.Command = "crictl ps --name " + shq("^"+component+"$")
	} else {
		s.Description = "Restart " + component
		// Only the ready sandbox: the kubelet may remove an old, stopped
		// one between the listing and the stop, which then fails.
		s.Note = "stopping the static pod's sandbox makes the kubelet start it again"
		s.Command = "crictl stopp $(crictl pods --name " + shq("^"+component+"-") + " --state ready -q)"
	}
	r.add(s)
}

func (r *renderer) setKubeconfigCA(step, node, kubeconfig, content string, def []string, condition string) {
	b64 := base64.StdEncoding.EncodeToString([]byte(r.d.Contents[content]))
	cmd := "sed -i " + shq("s|certificate-authority-data: .*|certificate-authority-data: "+b64+"|") + " " + shq(kubeconfig)
	when := ""
	if condition != "" {
		cmd = "test -f " + shq(kubeconfig) + " && " + cmd
		when = "test -f " + shq(kubeconfig)
	}
	r.add(Step{Step: step, Node: node, Action: ActionSetKubeconfigCA,
		Description: "Set certificate-authority-data in " + kubeconfig + " to the " + contentWords(content),
		Kubeconfig:  kubeconfig, Content: content, Defaults: def, Condition: condition, When: when, Command: cmd})
}

// cluster CA files of a host, as originals.
type hostFiles struct {
	pkiDir      string
	trust       []string // originals of every cluster-CA trust flag on the host
	signCert    string   // original of --cluster-signing-cert-file
	signKey     string   // original of --cluster-signing-key-file
	frontProxy  []string // originals of every front-proxy trust flag
	fpKey       string   // original front-proxy CA key, beside its certificate
	kubeconfigs map[string][]string
}

// trustFlags are the flags that name a file of CA certificates to trust,
// per component; all hold the cluster CA except requestheader ones.
var trustFlags = map[string][]string{
	ComponentControllerManager: {"root-ca-file", "client-ca-file"},
	ComponentAPIServer:         {"client-ca-file", "kubelet-certificate-authority"},
	ComponentScheduler:         {"client-ca-file"},
	ComponentCloudController:   {"root-ca-file", "client-ca-file"},
}

var kubeconfigFlags = []string{"kubeconfig", "authentication-kubeconfig", "authorization-kubeconfig"}

func (r *renderer) files(h ControlPlaneHost) hostFiles {
	hf := hostFiles{kubeconfigs: map[string][]string{}}
	add := func(list *[]string, p string) {
		if p == "" {
			return
		}
		o := OriginalPath(p)
		if !stepsContains(*list, o) {
			*list = append(*list, o)
		}
	}
	for _, comp := range []string{ComponentControllerManager, ComponentAPIServer, ComponentScheduler, ComponentCloudController} {
		for _, f := range trustFlags[comp] {
			add(&hf.trust, r.flag(h, comp, f))
		}
		add(&hf.frontProxy, r.flag(h, comp, "requestheader-client-ca-file"))
		for _, f := range kubeconfigFlags {
			if kc := r.flag(h, comp, f); kc != "" && !stepsContains(hf.kubeconfigs[comp], kc) {
				hf.kubeconfigs[comp] = append(hf.kubeconfigs[comp], kc)
			}
		}
	}
	if s := r.flag(h, ComponentControllerManager, "cluster-signing-cert-file"); s != "" {
		hf.signCert = OriginalPath(s)
		add(&hf.trust, s)
	}
	if k := r.flag(h, ComponentControllerManager, "cluster-signing-key-file"); k != "" {
		hf.signKey = OriginalPath(k)
	}
	switch {
	case r.flag(h, ComponentControllerManager, "root-ca-file") != "":
		hf.pkiDir = path.Dir(OriginalPath(r.flag(h, ComponentControllerManager, "root-ca-file")))
	case len(hf.trust) > 0:
		hf.pkiDir = path.Dir(hf.trust[0])
	default:
		hf.pkiDir = KubeadmPKIDir
	}
	if hf.signKey == "" && hf.signCert != "" {
		hf.signKey = strings.TrimSuffix(hf.signCert, path.Ext(hf.signCert)) + ".key"
	}
	if len(hf.frontProxy) > 0 {
		fp := hf.frontProxy[0]
		hf.fpKey = strings.TrimSuffix(fp, path.Ext(fp)) + ".key"
	}
	return hf
}

func (r *renderer) step1() {
	for _, h := range r.d.ControlPlane {
		hf := r.files(h)
		r.backup("1", h.Node, hf.pkiDir, r.pathDefaults("file"))
		for _, o := range hf.trust {
			r.writeFile("1", h.Node, VariantPath(o, variantNew), ContentNewCA, "The new CA alone, beside "+path.Base(o))
			r.writeFile("1", h.Node, VariantPath(o, variantBundle), ContentBundle, "The bundle (new CA, then old), beside "+path.Base(o))
		}
		if hf.signKey != "" {
			r.writeKey("1", h.Node, VariantPath(hf.signKey, variantNew), ContentNewCAKey, operatorNewCAKey, "The new CA's private key, beside "+path.Base(hf.signKey))
		}
		if r.d.FrontProxy {
			for _, o := range hf.frontProxy {
				r.writeFile("1", h.Node, VariantPath(o, variantNew), ContentNewFrontProxyCA, "The new front-proxy CA alone, beside "+path.Base(o))
				r.writeFile("1", h.Node, VariantPath(o, variantBundle), ContentFrontProxyBundle, "The front-proxy bundle (new, then old), beside "+path.Base(o))
			}
			if hf.fpKey != "" {
				r.writeKey("1", h.Node, VariantPath(hf.fpKey, variantNew), ContentNewFrontProxyCAKey, operatorNewFPCAKey, "The new front-proxy CA's private key")
			}
		}
	}
}

func (r *renderer) step2() {
	c := ComponentControllerManager
	for _, h := range r.hostsRunning(c) {
		root := r.flag(h, c, "root-ca-file")
		if root == "" {
			r.skip("2", h.Node, c, "kube-controller-manager on "+h.Node+" has no --root-ca-file: it publishes the CA of its kubeconfig; point that kubeconfig at the bundle in step 7")
			continue
		}
		rootO := OriginalPath(root)
		hf := r.files(h)
		r.backup("2", h.Node, manifestPath(c), []string{"file"})
		rootStep := r.setFlag("2", h, c, "root-ca-file", VariantPath(rootO, variantBundle), ContentBundle)
		var shared []string
		if cl := r.flag(h, c, "client-ca-file"); cl != "" && OriginalPath(cl) == rootO {
			shared = append(shared, "--client-ca-file")
			r.setFlag("2", h, c, "client-ca-file", VariantPath(rootO, variantNew), ContentNewCA)
		}
		if hf.signCert != "" {
			if hf.signCert == rootO {
				shared = append(shared, "--cluster-signing-cert-file")
			}
			// The signer moves to the new CA now, as upstream's step 1
			// implies, so that certificates issued during the rotation
			// survive the removal of the old CA.
			r.setFlag("2", h, c, "cluster-signing-cert-file", VariantPath(hf.signCert, variantNew), ContentNewCA)
			r.setFlag("2", h, c, "cluster-signing-key-file", VariantPath(hf.signKey, variantNew), ContentNewCAKey)
		}
		if len(shared) > 0 {
			r.note(rootStep, fmt.Sprintf("caveat: --root-ca-file shares %s with %s. Those flags must hold one CA, never the bundle "+
				"(kubeadm issue 1350: \"the PEM file should contain only one object\"), so they get the separate new-CA copy %s; "+
				"the finish phase (step 12.1) points them back at %s once it holds the new CA alone",
				rootO, strings.Join(shared, " and "), VariantPath(rootO, variantNew), rootO))
		}
		i := len(r.out)
		r.restartStatic("2", h.Node, c, true)
		if hf.signCert != "" {
			r.note(i, "from now on the controller-manager signs certificates (kubelet client certificates) with the new CA, "+
				"which the API server accepts only after step 5: do step 5 right after this one")
		}
	}
}

func (r *renderer) step5() {
	c := ComponentAPIServer
	for _, h := range r.hostsRunning(c) {
		r.backup("5", h.Node, manifestPath(c), []string{"file"})
		if v := r.flag(h, c, "client-ca-file"); v != "" {
			i := r.setFlag("5", h, c, "client-ca-file", VariantPath(v, variantBundle), ContentBundle)
			if r.flag(h, c, "kubelet-certificate-authority") == "" {
				r.note(i, "kube-apiserver has no --kubelet-certificate-authority: it does not verify kubelet serving certificates, so that flag needs nothing")
			}
		}
		if v := r.flag(h, c, "kubelet-certificate-authority"); v != "" {
			i := r.setFlag("5", h, c, "kubelet-certificate-authority", VariantPath(v, variantBundle), ContentBundle)
			r.note(i, "kubelet serving certificates signed by this CA must be re-issued from the new CA before step 12.2")
		}
		if r.d.FrontProxy {
			if v := r.flag(h, c, "requestheader-client-ca-file"); v != "" {
				r.setFlag("5", h, c, "requestheader-client-ca-file", VariantPath(v, variantBundle), ContentFrontProxyBundle)
			}
		}
		i := len(r.out)
		r.restartStatic("5", h.Node, c, true)
		r.note(i, "with one API server this restart is an outage, with several do one node at a time")
		if !r.d.FrontProxy {
			continue
		}
		for _, other := range []string{ComponentControllerManager, ComponentScheduler} {
			if v := r.flag(h, other, "requestheader-client-ca-file"); v != "" && h.has(other) {
				r.backup("5", h.Node, manifestPath(other), []string{"file"})
				r.setFlag("5", h, other, "requestheader-client-ca-file", VariantPath(v, variantBundle), ContentFrontProxyBundle)
				r.restartStatic("5", h.Node, other, true)
			}
		}
	}
}

func (r *renderer) step6() {
	c := ComponentScheduler
	r.bundleFlag("6", c, "client-ca-file", r.hostsRunning(c), func(node string) string {
		return "kube-scheduler on " + node + " has no --client-ca-file: it reads the client CA from " +
			"kube-system/extension-apiserver-authentication, which the API server fills from its own --client-ca-file (step 5)"
	})
}

// bundleFlag points --flag of component c at the bundle beside the file
// it names and restarts c, on each of hosts; where c has no such flag it
// says why nothing is needed (none(node)).
func (r *renderer) bundleFlag(step, c, flag string, hosts []ControlPlaneHost, none func(node string) string) {
	for _, h := range hosts {
		v := r.flag(h, c, flag)
		if v == "" {
			r.skip(step, h.Node, c, none(h.Node))
			continue
		}
		r.backup(step, h.Node, manifestPath(c), []string{"file"})
		r.setFlag(step, h, c, flag, VariantPath(v, variantBundle), ContentBundle)
		r.restartStatic(step, h.Node, c, true)
	}
}

// reissueKubeconfig re-issues the client certificate embedded in a
// kubeconfig from the new CA, keeping its key, subject and extensions.
func (r *renderer) reissueKubeconfig(step, node, kubeconfig, ca, caKey string, def []string, condition string) {
	kc := shq(kubeconfig)
	cmd := strings.Join([]string{
		"d=$(mktemp -d)",
		"kubectl config view --raw --kubeconfig " + kc + " -o jsonpath='{.users[0].user.client-certificate-data}' | base64 -d > \"$d/client.crt\"",
		"kubectl config view --raw --kubeconfig " + kc + " -o jsonpath='{.users[0].user.client-key-data}' | base64 -d > \"$d/client.key\"",
		"openssl x509 -x509toreq -in \"$d/client.crt\" -signkey \"$d/client.key\" -copy_extensions copyall -out \"$d/client.csr\"",
		fmt.Sprintf("openssl x509 -req -in \"$d/client.csr\" -CA %s -CAkey %s -set_serial 0x$(openssl rand -hex 16) -days %d -copy_extensions copyall -out \"$d/client-new.crt\"",
			shq(ca), shq(caKey), certValidityDays),
		"kubectl config set-credentials \"$(kubectl config view --kubeconfig " + kc + " -o jsonpath='{.users[0].name}')\" --kubeconfig " + kc +
			" --client-certificate \"$d/client-new.crt\" --client-key \"$d/client.key\" --embed-certs",
		"rm -rf \"$d\"",
	}, " && ")
	when := ""
	if condition != "" {
		cmd = "test -f " + kc + " && " + cmd
		when = "test -f " + kc
	}
	r.add(Step{Step: step, Node: node, Action: ActionReissueKubeconfig,
		Description: "Re-issue the client certificate of " + kubeconfig + " from the new CA (same key, subject and extensions)",
		Kubeconfig:  kubeconfig, Signer: ContentNewCA, CA: ca, CAKey: caKey, Defaults: def, Condition: condition, When: when,
		Note:    "needs OpenSSL 3 (-copy_extensions); a client certificate from the old CA stops working at step 12.2",
		Command: cmd})
}

func (r *renderer) step7() {
	for _, h := range r.d.ControlPlane {
		hf := r.files(h)
		ca, caKey := r.signerFiles(hf)
		restart := r.kubeconfigCAs("7", h, hf, ContentBundle, ca, caKey)
		for _, comp := range restart {
			r.restartStatic("7", h.Node, comp, false)
		}
	}
	r.userKubeconfig("7", ContentBundle, "the bundle",
		"every admin and CI kubeconfig needs the same change, and a client certificate issued by the new CA before step 12.2")
}

// userKubeconfig is the step for the kubeconfig this command runs with:
// content as certificate-authority-data of its cluster, when it names one.
func (r *renderer) userKubeconfig(step, content, what, note string) {
	u := r.d.UserKubeconfig
	if u.Cluster == "" {
		return
	}
	b64 := base64.StdEncoding.EncodeToString([]byte(r.d.Contents[content]))
	cmd := "kubectl config set clusters." + u.Cluster + ".certificate-authority-data " + b64
	if u.File != "" {
		cmd += " --kubeconfig " + shq(u.File)
	}
	r.add(Step{Step: step, Node: "", Action: ActionSetKubeconfigCA,
		Description: "Your kubeconfig: " + what + " as certificate-authority-data of cluster " + u.Cluster,
		Kubeconfig:  u.File, Content: content, Command: cmd, Note: note})
}

// kubeconfigCAs makes content the CA of every control-plane component's
// kubeconfig on h and of kubeadm's admin kubeconfigs beside them (the API
// does not show those, so they are kubeadm's layout, if present), with a
// backup of each, and re-issues each client certificate from ca and caKey
// when ca is set. It returns the components to restart.
func (r *renderer) kubeconfigCAs(step string, h ControlPlaneHost, hf hostFiles, content, ca, caKey string) (restart []string) {
	seen := map[string]bool{}
	for _, comp := range []string{ComponentControllerManager, ComponentScheduler, ComponentCloudController} {
		for _, kc := range hf.kubeconfigs[comp] {
			if !seen[kc] {
				seen[kc] = true
				r.backup(step, h.Node, kc, r.pathDefaults("file"))
				r.setKubeconfigCA(step, h.Node, kc, content, r.pathDefaults("kubeconfig"), "")
				if ca != "" {
					r.reissueKubeconfig(step, h.Node, kc, ca, caKey, r.pathDefaults("kubeconfig"), "")
				}
			}
			if !stepsContains(restart, comp) {
				restart = append(restart, comp)
			}
		}
	}
	dir := "/etc/kubernetes"
	if kcs := hf.kubeconfigs[ComponentControllerManager]; len(kcs) > 0 {
		dir = path.Dir(kcs[0])
	}
	for _, name := range []string{"admin.conf", "super-admin.conf"} {
		kc := path.Join(dir, name)
		if seen[kc] {
			continue
		}
		cond := "if " + kc + " exists (kubeadm's admin kubeconfig)"
		r.backupIf(step, h.Node, kc, []string{"file"}, cond)
		r.setKubeconfigCA(step, h.Node, kc, content, []string{"kubeconfig"}, cond)
		if ca != "" {
			r.reissueKubeconfig(step, h.Node, kc, ca, caKey, []string{"kubeconfig"}, cond)
		}
	}
	return restart
}

// signerFiles are the new CA's files on a control-plane host, written in
// step 1.
func (r *renderer) signerFiles(hf hostFiles) (ca, key string) {
	cert := hf.signCert
	if cert == "" && len(hf.trust) > 0 {
		cert = hf.trust[0]
	}
	if cert == "" {
		cert = path.Join(hf.pkiDir, "ca.crt")
	}
	k := hf.signKey
	if k == "" {
		k = strings.TrimSuffix(cert, path.Ext(cert)) + ".key"
	}
	return VariantPath(cert, variantNew), VariantPath(k, variantNew)
}

func (r *renderer) step8() {
	c := ComponentCloudController
	hosts := r.hostsRunning(c)
	found := len(hosts) > 0
	r.bundleFlag("8", c, "root-ca-file", hosts, func(node string) string {
		return "cloud-controller-manager on " + node + " has no --root-ca-file"
	})
	for _, w := range r.d.CloudControllerManagers {
		found = true
		r.skip("8", "", ComponentCloudController, w+" runs as a workload: it trusts the ServiceAccount root CA, and the restart of step 4 reloads it")
	}
	if !found {
		r.skip("8", "", "", "no cloud-controller-manager found (no static pod, Deployment or DaemonSet labelled or named cloud-controller-manager)")
	}
}

func (r *renderer) step91() {
	if len(r.d.AggregatedAPIs)+len(r.d.Webhooks) == 0 {
		r.skip("9.1", "", "", "no aggregated API server (APIService with a service) and no webhook found")
		return
	}
	namespaces := map[string][]string{}
	var urls []string
	for _, a := range r.d.AggregatedAPIs {
		if a.Service != "" {
			namespaces[a.Namespace] = append(namespaces[a.Namespace], "APIService "+a.Name+" -> service "+a.Service)
		}
	}
	for _, w := range r.d.Webhooks {
		if w.Service != "" {
			namespaces[w.Namespace] = append(namespaces[w.Namespace], "webhook "+w.Name+" -> service "+w.Service)
		} else if w.URL != "" {
			urls = append(urls, "webhook "+w.Name+" -> "+w.URL)
		}
	}
	var nss []string
	for ns := range namespaces {
		nss = append(nss, ns)
	}
	sort.Strings(nss)
	for _, ns := range nss {
		r.inCluster("9.1", "Roll the servers behind "+strings.Join(namespaces[ns], ", "),
			r.restartCommand(PhaseBundle, ns),
			"the same pass value as step 4: what step 4 rolled already is not rolled again")
	}
	if len(urls) > 0 {
		r.skip("9.1", "", "", "served outside the cluster, restart by hand if they call the API server: "+strings.Join(urls, ", "))
	}
}

// kubeletFiles are a node's kubelet files: clientCAFile (from configz or
// kubeadm's layout) and the configuration and kubeconfig kubeadm writes.
func (r *renderer) kubeletCAFile(n KubeletNode) (string, []string) {
	if n.ClientCAFile != "" {
		return n.ClientCAFile, nil
	}
	return path.Join(KubeadmPKIDir, "ca.crt"), []string{"file"}
}

// setKubeletClientCA points the kubelet's clientCAFile on node at file,
// which holds content; caDef are the file's defaults (kubeletCAFile).
func (r *renderer) setKubeletClientCA(step, node, file, content string, caDef []string) {
	r.add(Step{Step: step, Node: node, Component: ComponentKubelet, Action: ActionSetKubeletConfig,
		Description: "kubelet: clientCAFile: " + file, Field: "clientCAFile", File: file, Content: content,
		Config: KubeletConfigFile, Defaults: append([]string{"config"}, caDef...),
		Command: "sed -i -E " + shq("s|^([[:space:]]*clientCAFile:).*|\\1 "+sedEscape(file)+"|") + " " + shq(KubeletConfigFile)})
}

func (r *renderer) kubeletRestart(step string, n KubeletNode) {
	r.add(Step{Step: step, Node: n.Name, Component: ComponentKubelet, Action: ActionRestart, Restart: ComponentKubelet,
		Description: "Restart the kubelet on " + n.Name, Command: "systemctl restart kubelet",
		Check: "kubectl get node " + shq(n.Name) + " && kubectl carotate status --step " + step})
}

func (r *renderer) step92() {
	// Every kubelet asks for a client certificate first, the admin approves
	// them together, then each node installs its own and restarts: node by
	// node, so at most one kubelet is down at a time.
	for _, n := range r.d.Nodes {
		r.backup("9.2", n.Name, KubeletConfigFile, []string{"file"})
		r.backup("9.2", n.Name, KubeadmKubeletConf, []string{"file"})
		r.backup("9.2", n.Name, KubeletPKIDir, []string{"file"})
		r.kubeletRequest(n)
	}
	for _, n := range r.d.Nodes {
		r.kubeletApprove(n)
	}
	for _, n := range r.d.Nodes {
		caFile, caDef := r.kubeletCAFile(n)
		orig := OriginalPath(caFile)
		bundle := VariantPath(orig, variantBundle)
		if r.firstWrite(n.Name, bundle) {
			r.add(Step{Step: "9.2", Node: n.Name, Action: ActionWriteFile, Description: "The bundle for the kubelet, beside " + path.Base(orig),
				File: bundle, Content: ContentBundle, Defaults: caDef, Command: heredoc(bundle, r.d.Contents[ContentBundle], "0644")})
		}
		r.setKubeletClientCA("9.2", n.Name, bundle, ContentBundle, caDef)
		r.setKubeconfigCA("9.2", n.Name, KubeadmKubeletConf, ContentBundle, []string{"kubeconfig"}, "")
		r.kubeletInstall(n)
		r.kubeletRestart("9.2", n)
		last := len(r.out) - 1
		r.out[last].Check = "openssl x509 -issuer -noout -in " + shq(KubeletClientCurrent) + " && " + r.out[last].Check
	}
}

// serving certificates the API server presents or uses as a client, and
// the CA each must come from.
var apiserverCerts = []struct{ cert, key, signer string }{
	{"tls-cert-file", "tls-private-key-file", ContentNewCA},
	{"kubelet-client-certificate", "kubelet-client-key", ContentNewCA},
	{"proxy-client-cert-file", "proxy-client-key-file", ContentNewFrontProxyCA},
}

func (r *renderer) step93() {
	c := ComponentAPIServer
	for _, h := range r.hostsRunning(c) {
		hf := r.files(h)
		ca, caKey := r.signerFiles(hf)
		r.backup("9.3", h.Node, manifestPath(c), []string{"file"})
		var flags []Step
		for _, pc := range apiserverCerts {
			cert, key := r.flag(h, c, pc.cert), r.flag(h, c, pc.key)
			if cert == "" || key == "" {
				continue
			}
			sca, skey := ca, caKey
			if pc.signer == ContentNewFrontProxyCA {
				if !r.d.FrontProxy || len(hf.frontProxy) == 0 {
					continue
				}
				sca, skey = VariantPath(hf.frontProxy[0], variantNew), VariantPath(hf.fpKey, variantNew)
			}
			next := r.issueCert("9.3", h.Node, c, cert, key, pc.signer, sca, skey)
			flags = append(flags, Step{Flag: pc.cert, File: next})
		}
		for _, f := range flags {
			r.setFlag("9.3", h, c, f.Flag, f.File, "")
		}
		i := len(r.out)
		r.restartStatic("9.3", h.Node, c, true)
		r.note(i, "every client must trust the new CA before this restart (steps 7 and 9.2)")
		if h.has(ComponentScheduler) {
			r.restartStatic("9.3", h.Node, ComponentScheduler, false)
		}
	}
}

// issueCert issues the -new variant of cert from a CA, keeping its key,
// subject and extensions (key and CA key are read on the node by openssl,
// never by the plugin); it returns the new certificate's path.
func (r *renderer) issueCert(step, node, component, cert, key, signer, ca, caKey string) string {
	orig := OriginalPath(cert)
	next := VariantPath(orig, variantNew)
	r.add(Step{Step: step, Node: node, Component: component, Action: ActionIssueCert,
		Description: fmt.Sprintf("Issue %s from the %s (same key, subject and extensions as %s)", path.Base(next), contentWords(signer), path.Base(orig)),
		File:        next, From: orig, Key: key, Signer: signer, CA: ca, CAKey: caKey, Defaults: r.pathDefaults("file", "from", "key"),
		Note: "needs OpenSSL 3 (-copy_extensions)",
		Command: strings.Join([]string{
			"openssl x509 -x509toreq -in " + shq(orig) + " -signkey " + shq(key) + " -copy_extensions copyall -out " + shq(next+".csr"),
			fmt.Sprintf("openssl x509 -req -in %s -CA %s -CAkey %s -set_serial 0x$(openssl rand -hex 16) -days %d -copy_extensions copyall -out %s",
				shq(next+".csr"), shq(ca), shq(caKey), certValidityDays, shq(next)),
			"rm " + shq(next+".csr"),
		}, " && ")})
	return next
}

func (r *renderer) step121() {
	c := ComponentControllerManager
	for _, h := range r.hostsRunning(c) {
		hf := r.files(h)
		r.backup("12.1", h.Node, hf.pkiDir, r.pathDefaults("file"))
		// Every control-plane flag moved off the original files in steps
		// 2, 5 and 9.2, so nothing reads them while they are rewritten.
		for _, o := range hf.trust {
			r.writeFile("12.1", h.Node, o, ContentNewCA, "The new CA alone, into the original "+path.Base(o))
		}
		if hf.signKey != "" {
			r.writeKey("12.1", h.Node, hf.signKey, ContentNewCAKey, operatorNewCAKey, "The new CA's private key, into the original "+path.Base(hf.signKey))
		}
		r.backup("12.1", h.Node, manifestPath(c), []string{"file"})
		for _, f := range []string{"root-ca-file", "client-ca-file", "cluster-signing-cert-file"} {
			if v := r.flag(h, c, f); v != "" {
				i := r.setFlag("12.1", h, c, f, OriginalPath(v), ContentNewCA)
				if f != "root-ca-file" {
					r.note(i, "points back at the original file, which now holds the new CA alone")
				}
			}
		}
		if v := r.flag(h, c, "cluster-signing-key-file"); v != "" {
			r.setFlag("12.1", h, c, "cluster-signing-key-file", OriginalPath(v), ContentNewCAKey)
		}
		r.restartStatic("12.1", h.Node, c, true)
	}
	r.inCluster("12.1", "Leave only the new CA in every ServiceAccount root CA", "kubectl carotate unbundle --keep "+shq(r.d.Files.NewCA), "")
	r.inCluster("12.1", "Roll every workload so no pod keeps the old CA", r.restartCommand(PhaseFinish, ""), "")
}

func (r *renderer) step122() {
	for _, h := range r.d.ControlPlane {
		hf := r.files(h)
		if r.d.FrontProxy {
			for _, o := range hf.frontProxy {
				r.backup("12.2", h.Node, o, r.pathDefaults("file"))
				if hf.fpKey != "" {
					r.backup("12.2", h.Node, hf.fpKey, r.pathDefaults("file"))
				}
				r.writeFile("12.2", h.Node, o, ContentNewFrontProxyCA, "The new front-proxy CA alone, into the original "+path.Base(o))
			}
			if hf.fpKey != "" {
				r.writeKey("12.2", h.Node, hf.fpKey, ContentNewFrontProxyCAKey, operatorNewFPCAKey, "The new front-proxy CA's private key, into the original "+path.Base(hf.fpKey))
			}
		}
		if h.has(ComponentAPIServer) {
			c := ComponentAPIServer
			r.backup("12.2", h.Node, manifestPath(c), []string{"file"})
			var copies []Step
			// Whatever the flags show now, step 9.3 left each certificate
			// in its -new variant: the plan does not depend on how far the
			// rotation has got when it is printed.
			for _, pc := range apiserverCerts {
				cert, key := r.flag(h, c, pc.cert), r.flag(h, c, pc.key)
				if cert == "" || key == "" || (pc.signer == ContentNewFrontProxyCA && !r.d.FrontProxy) {
					continue
				}
				orig := OriginalPath(cert)
				next := VariantPath(orig, variantNew)
				copies = append(copies, Step{Flag: pc.cert, File: orig})
				r.backup("12.2", h.Node, orig, r.pathDefaults("file"))
				r.add(Step{Step: "12.2", Node: h.Node, Component: c, Action: ActionCopyFile,
					Description: "Copy " + path.Base(next) + " (step 9.3) over " + path.Base(orig) + ", which nothing reads now",
					From:        next, File: orig, Defaults: r.pathDefaults("file", "from"),
					Command: "cp " + shq(next) + " " + shq(orig)})
			}
			for _, f := range []string{"client-ca-file", "kubelet-certificate-authority"} {
				if v := r.flag(h, c, f); v != "" {
					r.setFlag("12.2", h, c, f, OriginalPath(v), ContentNewCA)
				}
			}
			if r.d.FrontProxy {
				if v := r.flag(h, c, "requestheader-client-ca-file"); v != "" {
					r.setFlag("12.2", h, c, "requestheader-client-ca-file", OriginalPath(v), ContentNewFrontProxyCA)
				}
			}
			for _, cp := range copies {
				r.setFlag("12.2", h, c, cp.Flag, cp.File, "")
			}
			r.restartStatic("12.2", h.Node, c, true)
		}
		for _, other := range []string{ComponentScheduler, ComponentCloudController, ComponentControllerManager} {
			if !h.has(other) {
				continue
			}
			var sets [][3]string
			for _, f := range []string{"client-ca-file", "root-ca-file"} {
				if other == ComponentControllerManager {
					break // pointed back in step 12.1
				}
				if v := r.flag(h, other, f); v != "" {
					sets = append(sets, [3]string{f, OriginalPath(v), ContentNewCA})
				}
			}
			if r.d.FrontProxy {
				if v := r.flag(h, other, "requestheader-client-ca-file"); v != "" {
					sets = append(sets, [3]string{"requestheader-client-ca-file", OriginalPath(v), ContentNewFrontProxyCA})
				}
			}
			if len(sets) == 0 {
				continue
			}
			r.backup("12.2", h.Node, manifestPath(other), []string{"file"})
			for _, s := range sets {
				r.setFlag("12.2", h, other, s[0], s[1], s[2])
			}
			r.restartStatic("12.2", h.Node, other, true)
		}
		restart := r.kubeconfigCAs("12.2", h, hf, ContentNewCA, "", "")
		for _, comp := range restart {
			r.restartStatic("12.2", h.Node, comp, false)
		}
		// Every flag has left step 1's new-CA copies (12.1 and the flags
		// above point at the originals again): upstream ends with the CA in
		// the original files only, so the copies go. No backup: the plan
		// wrote them in step 1, and they hold contents[new-ca], which the
		// original files now hold too.
		for _, o := range hf.trust {
			cp := VariantPath(o, variantNew)
			r.add(Step{Step: "12.2", Node: h.Node, Action: ActionRemoveFile,
				Description: "Remove " + path.Base(cp) + " (step 1's copy of the new CA), which nothing reads now",
				File:        cp, Defaults: r.pathDefaults("file"), Command: "rm -f " + shq(cp)})
		}
	}
	r.userKubeconfig("12.2", ContentNewCA, "the new CA alone", "and in every other admin and CI kubeconfig")
	if r.d.ClusterInfo {
		r.inCluster("12.2", "The new CA alone in kube-public/cluster-info", "kubectl carotate update-cluster-info --ca "+shq(r.d.Files.NewCA), "")
	}
	r.extensionAuth("12.2", "--client-ca-file", "aggregated API servers and webhooks that authenticate callers with it keep trusting it")
}

// extensionAuth has kube-apiserver publish
// kube-system/extension-apiserver-authentication afresh, once every API
// server runs with the new CA alone in flag (above).
func (r *renderer) extensionAuth(step, flag, who string) {
	const cm = "configmap/" + extensionAuthName
	r.inCluster(step, "Publish kube-system/"+extensionAuthName+" afresh, without the old CA",
		"kubectl -n kube-system delete "+cm+" --ignore-not-found && kubectl -n kube-system wait --for=create "+cm+" --timeout=300s",
		"kube-apiserver merges its "+flag+" into this ConfigMap and never drops a CA it published, so the old CA stays "+
			"there (and "+who+") until the ConfigMap "+
			"is deleted; each API server then writes it again from its own flags, the new CA alone once every one has restarted above")
}

func (r *renderer) step123() {
	for _, n := range r.d.Nodes {
		caFile, caDef := r.kubeletCAFile(n)
		orig := OriginalPath(caFile)
		r.backup("12.3", n.Name, KubeletConfigFile, []string{"file"})
		r.backup("12.3", n.Name, KubeadmKubeletConf, []string{"file"})
		if r.firstWrite(n.Name, orig) {
			r.backup("12.3", n.Name, orig, caDef)
			r.add(Step{Step: "12.3", Node: n.Name, Action: ActionWriteFile, Description: "The new CA alone, into the original " + path.Base(orig),
				File: orig, Content: ContentNewCA, Defaults: caDef, Command: heredoc(orig, r.d.Contents[ContentNewCA], "0644")})
		}
		r.setKubeletClientCA("12.3", n.Name, orig, ContentNewCA, caDef)
		r.setKubeconfigCA("12.3", n.Name, KubeadmKubeletConf, ContentNewCA, []string{"kubeconfig"}, "")
		r.kubeletRestart("12.3", n)
	}
}

// FilterSteps keeps the steps of one upstream step, one phase and/or one
// node ("" keeps all). Node filtering keeps the in-cluster steps, but for
// the workstation steps of other nodes (ForNode).
func FilterSteps(steps []Step, step, phase, node string) []Step {
	var out []Step
	for _, s := range steps {
		if step != "" && s.Step != step {
			continue
		}
		if phase != "" && s.Phase != phase {
			continue
		}
		if node != "" && s.Node != node && (s.Node != "" || (s.ForNode != "" && s.ForNode != node)) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// RenderText prints steps for a human: one block per step and node, each
// action's description as a comment above its command, notes and
// conditions before, the confirming check after.
func RenderText(d ClusterDescription, steps []Step, notes []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# kubectl carotate instructions for rotation %s\n", d.RotationID)
	for _, n := range notes {
		for _, line := range wrap(n, 76) {
			fmt.Fprintf(&b, "# %s\n", line)
		}
	}
	phase, group := "", ""
	var check string
	flush := func() {
		if check != "" {
			fmt.Fprintf(&b, "# check:\n%s\n", check)
		}
		check = ""
	}
	for _, s := range steps {
		if s.Phase != phase {
			flush()
			phase = s.Phase
			group = ""
			fmt.Fprintf(&b, "\n######## phase %s ########\n", phase)
		}
		g := s.Step + "\x00" + s.Node
		if g != group {
			flush()
			group = g
			where := "on " + s.Node
			switch s.Node {
			case "":
				where = "from your workstation"
			case defaultsNodeWildcard:
				where = "on every control-plane node"
			}
			title := ""
			if u, ok := LookupTargetStep(d.Target, s.Step); ok {
				title = u.Title
			}
			fmt.Fprintf(&b, "\n## Step %s %s: %s\n", s.Step, where, title)
		}
		if s.Action == ActionSkip {
			for _, line := range wrap("nothing to do: "+s.Note, 76) {
				fmt.Fprintf(&b, "# %s\n", line)
			}
			continue
		}
		fmt.Fprintf(&b, "# %s\n", s.Description)
		if s.Condition != "" {
			fmt.Fprintf(&b, "# %s:\n", s.Condition)
		}
		if s.Note != "" {
			for _, line := range wrap(s.Note, 76) {
				fmt.Fprintf(&b, "#   %s\n", line)
			}
		}
		if s.Command != "" {
			fmt.Fprintf(&b, "%s\n", s.Command)
		}
		check = s.Check
	}
	flush()
	return b.String()
}

func wrap(s string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(s) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// heredoc writes a PEM to file with a shell here-document, so the command
// carries the certificate itself and needs no file copied over.
func heredoc(file, pemText, mode string) string {
	if !strings.HasSuffix(pemText, "\n") {
		pemText += "\n"
	}
	return "cat > " + shq(file) + " <<'EOF'\n" + pemText + "EOF\nchmod " + mode + " " + shq(file)
}

// shq quotes a word for a POSIX shell when it needs quoting.
// ShellQuote quotes s for a POSIX shell: as it is when it needs no quotes,
// else in single quotes.
func ShellQuote(s string) string { return shq(s) }

func shq(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./:=@%+,", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// sedEscape makes s literal in the replacement of an s|...|...| command.
func sedEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `&`, `\&`, `|`, `\|`)
	return r.Replace(s)
}

func contentWords(c string) string {
	switch c {
	case ContentBundle:
		return "bundle: new CA, then old"
	case ContentNewCA:
		return "new CA"
	case ContentOldCA:
		return "old CA"
	case ContentNewCAKey:
		return "new CA's key"
	case ContentNewFrontProxyCA:
		return "new front-proxy CA"
	case ContentFrontProxyBundle:
		return "front-proxy bundle"
	case ContentNewFrontProxyCAKey:
		return "new front-proxy CA's key"
	case ContentNewSAPublicKey:
		return "new ServiceAccount public key"
	case ContentSAPublicKeys:
		return "ServiceAccount public keys: new, then old"
	case ContentNewSAKey:
		return "new ServiceAccount signing key"
	case ContentNewEtcdCA:
		return "new etcd CA"
	case ContentEtcdBundle:
		return "etcd CA bundle: new, then old"
	case ContentNewEtcdCAKey:
		return "new etcd CA's key"
	}
	return c
}

func stepsContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
