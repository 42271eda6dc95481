package checks

import (
	"net/url"
	"path"
	"strings"
)

// The etcd-ca target: replacing the CA of a kubeadm-style stacked etcd
// (etcd/ca.crt and etcd/ca.key). etcd trusts client and peer certificates
// from --trusted-ca-file and --peer-trusted-ca-file and serves
// --cert-file and --peer-cert-file; kube-apiserver trusts etcd's serving
// certificate through --etcd-cafile and authenticates with
// --etcd-certfile (apiserver-etcd-client.crt); kubeadm also issues
// etcd/healthcheck-client.crt for checks by hand. The rotation: trust the
// new CA beside the old (step 1), re-issue every etcd certificate from the
// new CA (step 2), drop the old CA (step 3), one node at a time. The API
// never shows the etcd CA itself: the judges read the static pods' flags,
// their start times and kube-apiserver's /readyz/etcd, and each node step
// ends with checks on the node that record on its Node object that they
// passed (EtcdCAMark).

// EtcdCASteps are the etcd-ca target's steps, in order.
var EtcdCASteps = []UpstreamStep{
	{"1", "etcd (--trusted-ca-file, --peer-trusted-ca-file) and kube-apiserver (--etcd-cafile) trust the new etcd CA beside the old; etcd restarted, then the API server", "node", PhaseBundle},
	{"2", "etcd's server, peer and healthcheck-client certificates and kube-apiserver's apiserver-etcd-client issued by the new etcd CA; etcd restarted, then the API server", "node", PhaseServe},
	{"3", "The old etcd CA dropped from every trust file; the new CA and its key under kubeadm's names (etcd/ca.crt, etcd/ca.key); restarts", "node", PhaseFinish},
}

// Contents of the etcd-ca target. The new CA's private key is the
// operator's (From new-etcd-ca.key, $NEW_ETCD_CA_KEY in a script).
const (
	ContentOldEtcdCA     = "old-etcd-ca"
	ContentNewEtcdCA     = "new-etcd-ca"
	ContentEtcdBundle    = "etcd-bundle"
	ContentNewEtcdCAKey  = "new-etcd-ca-key"
	operatorNewEtcdCAKey = "new-etcd-ca.key"
)

// ComponentEtcd is etcd's static pod (kubeadm's component=etcd).
const ComponentEtcd = "etcd"

// EtcdCAMarkPrefix starts the annotation a node step's last command puts
// on its Node object once the step's checks passed on that node:
// carotate.io/etcd-ca-step-N: ROTATION/TIME.
const EtcdCAMarkPrefix = "carotate.io/etcd-ca-step-"

// etcdFiles are a host's etcd files, as originals.
type etcdFiles struct {
	ca, caKey, peerCA string
	// apiCA is kube-apiserver's --etcd-cafile (kubeadm: the same ca.crt).
	apiCA                            string
	server, serverKey, peer, peerKey string
	health, healthKey                string
	apiClient, apiClientKey          string
	clientURL                        string
}

func (r *renderer) etcdFiles(h ControlPlaneHost) etcdFiles {
	def := originalOr
	pki := func(name string) string { return path.Join(KubeadmPKIDir, name) }
	keyOf := func(flagValue, fallback string) string {
		if flagValue != "" {
			return flagValue
		}
		return fallback
	}
	e, a := ComponentEtcd, ComponentAPIServer
	f := etcdFiles{ca: def(r.flag(h, e, "trusted-ca-file"), "etcd/ca.crt")}
	f.caKey = strings.TrimSuffix(f.ca, path.Ext(f.ca)) + ".key"
	f.peerCA = def(r.flag(h, e, "peer-trusted-ca-file"), "etcd/ca.crt")
	f.apiCA = def(r.flag(h, a, "etcd-cafile"), "etcd/ca.crt")
	f.server = def(r.flag(h, e, "cert-file"), "etcd/server.crt")
	f.serverKey = keyOf(r.flag(h, e, "key-file"), pki("etcd/server.key"))
	f.peer = def(r.flag(h, e, "peer-cert-file"), "etcd/peer.crt")
	f.peerKey = keyOf(r.flag(h, e, "peer-key-file"), pki("etcd/peer.key"))
	f.apiClient = def(r.flag(h, a, "etcd-certfile"), "apiserver-etcd-client.crt")
	f.apiClientKey = keyOf(r.flag(h, a, "etcd-keyfile"), pki("apiserver-etcd-client.key"))
	// kubeadm's healthcheck client sits beside the CA; no flag names it.
	f.health = path.Join(path.Dir(f.ca), "healthcheck-client.crt")
	f.healthKey = path.Join(path.Dir(f.ca), "healthcheck-client.key")
	f.clientURL = etcdClientURL(r.flag(h, e, "listen-client-urls"))
	return f
}

// etcdClientURL is where a script on the node reaches its etcd member:
// the first https URL of --listen-client-urls, a wildcard address as
// 127.0.0.1.
func etcdClientURL(listen string) string {
	for _, u := range strings.Split(listen, ",") {
		p, err := url.Parse(strings.TrimSpace(u))
		if err != nil || p.Scheme != "https" {
			continue
		}
		host := p.Hostname()
		if host == "" || host == "0.0.0.0" || host == "::" {
			host = "127.0.0.1"
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return "https://" + host + ":" + p.Port()
	}
	return "https://127.0.0.1:2379"
}

// RenderEtcdCA renders the etcd-ca target's steps for a cluster:
// d.Contents holds the old and new etcd CAs and their bundle. Each step
// runs node by node, etcd before the API server, so that at most one
// etcd member restarts at a time.
func RenderEtcdCA(d ClusterDescription) []Step {
	d.Target = TargetEtcdCA
	r := &renderer{d: d, written: map[string]bool{}}
	for _, h := range d.ControlPlane {
		r.etcdStep1(h)
	}
	for _, h := range d.ControlPlane {
		r.etcdStep2(h)
	}
	r.inCluster("3", "Check that every etcd member and API server runs with certificates from the new etcd CA, before the old CA goes",
		"kubectl carotate verify --target etcd-ca", "")
	for _, h := range d.ControlPlane {
		r.etcdStep3(h)
	}
	return r.out
}

// etcdRuns tells whether the host runs an etcd member or an API server
// that talks to etcd: what the etcd-ca steps change.
func etcdRuns(h ControlPlaneHost) bool { return h.has(ComponentEtcd) || h.has(ComponentAPIServer) }

func (r *renderer) etcdStep1(h ControlPlaneHost) {
	if !etcdRuns(h) {
		return
	}
	f := r.etcdFiles(h)
	for _, c := range []string{ComponentEtcd, ComponentAPIServer} {
		if h.has(c) {
			r.backup("1", h.Node, manifestPath(c), []string{"file"})
		}
	}
	r.writeFile("1", h.Node, VariantPath(f.ca, variantNew), ContentNewEtcdCA, "The new etcd CA alone, beside "+path.Base(f.ca))
	for _, o := range []string{f.ca, f.peerCA, f.apiCA} {
		r.writeFile("1", h.Node, VariantPath(o, variantBundle), ContentEtcdBundle, "The etcd CA bundle (new, then old), beside "+path.Base(o)+
			" (which stays as it is: etcd/ca.key beside it is what kubeadm signs with)")
	}
	if h.has(ComponentEtcd) {
		r.setFlag("1", h, ComponentEtcd, "trusted-ca-file", VariantPath(f.ca, variantBundle), ContentEtcdBundle)
		r.setFlag("1", h, ComponentEtcd, "peer-trusted-ca-file", VariantPath(f.peerCA, variantBundle), ContentEtcdBundle)
		i := len(r.out)
		r.restartStatic("1", h.Node, ComponentEtcd, true)
		r.note(i, "with several etcd members do one node at a time: the others keep quorum while this one restarts")
	}
	if h.has(ComponentAPIServer) {
		r.setFlag("1", h, ComponentAPIServer, "etcd-cafile", VariantPath(f.apiCA, variantBundle), ContentEtcdBundle)
		r.restartStatic("1", h.Node, ComponentAPIServer, true)
	}
	r.etcdChecks("1", h, f, VariantPath(f.ca, variantBundle), f.health, f.healthKey)
}

func (r *renderer) etcdStep2(h ControlPlaneHost) {
	if !etcdRuns(h) {
		return
	}
	f := r.etcdFiles(h)
	newCA, newKey := VariantPath(f.ca, variantNew), VariantPath(f.caKey, variantNew)
	for _, c := range []string{ComponentEtcd, ComponentAPIServer} {
		if h.has(c) {
			r.backup("2", h.Node, manifestPath(c), []string{"file"})
		}
	}
	r.writeKey("2", h.Node, newKey, ContentNewEtcdCAKey, operatorNewEtcdCAKey, "The new etcd CA's private key, beside "+path.Base(f.caKey))
	if h.has(ComponentEtcd) {
		server := r.issueCert("2", h.Node, ComponentEtcd, f.server, f.serverKey, ContentNewEtcdCA, newCA, newKey)
		peer := r.issueCert("2", h.Node, ComponentEtcd, f.peer, f.peerKey, ContentNewEtcdCA, newCA, newKey)
		r.etcdHealthCert("2", h.Node, f, newCA, newKey)
		r.setFlag("2", h, ComponentEtcd, "cert-file", server, "")
		r.setFlag("2", h, ComponentEtcd, "peer-cert-file", peer, "")
		i := len(r.out)
		r.restartStatic("2", h.Node, ComponentEtcd, true)
		r.note(i, "the other members and the API servers accept the new certificates: since step 1 they trust both etcd CAs")
	}
	if h.has(ComponentAPIServer) {
		client := r.issueCert("2", h.Node, ComponentAPIServer, f.apiClient, f.apiClientKey, ContentNewEtcdCA, newCA, newKey)
		r.setFlag("2", h, ComponentAPIServer, "etcd-certfile", client, "")
		r.restartStatic("2", h.Node, ComponentAPIServer, true)
	}
	// The new CA alone: etcd now serves a certificate from it and accepts
	// a client certificate from it.
	r.etcdChecks("2", h, f, newCA, VariantPath(f.health, variantNew), f.healthKey)
}

// etcdHealthCert issues kubeadm's healthcheck client from the new CA,
// where the node has one (the API does not show it).
func (r *renderer) etcdHealthCert(step, node string, f etcdFiles, ca, caKey string) {
	r.issueCert(step, node, ComponentEtcd, f.health, f.healthKey, ContentNewEtcdCA, ca, caKey)
	s := &r.out[len(r.out)-1]
	s.Condition = "if " + f.health + " exists (kubeadm's etcd healthcheck client)"
	s.When = "test -f " + shq(f.health)
	s.Command = "test ! -f " + shq(f.health) + " || { " + s.Command + "; }"
}

func (r *renderer) etcdStep3(h ControlPlaneHost) {
	if !etcdRuns(h) {
		return
	}
	f := r.etcdFiles(h)
	newCA, newKey := VariantPath(f.ca, variantNew), VariantPath(f.caKey, variantNew)
	// Nothing reads the originals since steps 1 and 2: the new CA, its key
	// and the new certificates go into them, and the flags go back to
	// kubeadm's names (kubeadm certs renew and upgrades expect them).
	for _, p := range []string{f.ca, f.caKey, f.peerCA, f.apiCA} {
		r.backup("3", h.Node, p, r.pathDefaults("file"))
	}
	for _, c := range []string{ComponentEtcd, ComponentAPIServer} {
		if h.has(c) {
			r.backup("3", h.Node, manifestPath(c), []string{"file"})
		}
	}
	for _, o := range []string{f.ca, f.peerCA, f.apiCA} {
		r.writeFile("3", h.Node, o, ContentNewEtcdCA, "The new etcd CA alone, into the original "+path.Base(o)+", which nothing reads now")
	}
	r.add(Step{Step: "3", Node: h.Node, Action: ActionWriteFile, Description: "Copy " + path.Base(newKey) + " (step 2's new CA key) over " + path.Base(f.caKey) + ", the key kubeadm signs etcd certificates with",
		File: f.caKey, Content: ContentNewEtcdCAKey, Defaults: r.pathDefaults("file"), Command: "install -m 0600 " + shq(newKey) + " " + shq(f.caKey)})
	healthCond := "if " + f.health + " exists (kubeadm's etcd healthcheck client)"
	copyBack := func(c, orig, cond string) {
		next := VariantPath(orig, variantNew)
		r.backupIf("3", h.Node, orig, r.pathDefaults("file"), cond)
		s := Step{Step: "3", Node: h.Node, Component: c, Action: ActionCopyFile,
			Description: "Copy " + path.Base(next) + " (step 2) over " + path.Base(orig) + ", which nothing reads now",
			From:        next, File: orig, Defaults: r.pathDefaults("file", "from"), Command: "cp " + shq(next) + " " + shq(orig)}
		if cond != "" {
			s.Condition, s.When = cond, "test -f "+shq(orig)
			s.Command = "test ! -f " + shq(orig) + " || " + s.Command
		}
		r.add(s)
	}
	if h.has(ComponentEtcd) {
		copyBack(ComponentEtcd, f.server, "")
		copyBack(ComponentEtcd, f.peer, "")
		copyBack(ComponentEtcd, f.health, healthCond)
	}
	if h.has(ComponentAPIServer) {
		copyBack(ComponentAPIServer, f.apiClient, "")
	}
	if h.has(ComponentEtcd) {
		r.setFlag("3", h, ComponentEtcd, "trusted-ca-file", f.ca, ContentNewEtcdCA)
		r.setFlag("3", h, ComponentEtcd, "peer-trusted-ca-file", f.peerCA, ContentNewEtcdCA)
		r.setFlag("3", h, ComponentEtcd, "cert-file", f.server, "")
		r.setFlag("3", h, ComponentEtcd, "peer-cert-file", f.peer, "")
		i := len(r.out)
		r.restartStatic("3", h.Node, ComponentEtcd, true)
		r.note(i, "from now on this member refuses peers and clients with certificates from the old etcd CA: step 2 must be done on every node first")
	}
	if h.has(ComponentAPIServer) {
		r.setFlag("3", h, ComponentAPIServer, "etcd-cafile", f.apiCA, ContentNewEtcdCA)
		r.setFlag("3", h, ComponentAPIServer, "etcd-certfile", f.apiClient, "")
		r.restartStatic("3", h.Node, ComponentAPIServer, true)
	}
	// The -new certificates stay, as front-proxy-client-new.crt does: the
	// copies over the originals are checked against them, so a re-run
	// finds that step done.
	var files []string
	for _, o := range []string{f.ca, f.peerCA, f.apiCA} {
		if b := VariantPath(o, variantBundle); !stepsContains(files, b) {
			files = append(files, b)
		}
	}
	files = append(files, newCA, newKey)
	for _, p := range files {
		r.add(Step{Step: "3", Node: h.Node, Action: ActionRemoveFile, Description: "Remove " + path.Base(p) + " (a transition file of steps 1 and 2), which nothing reads now",
			File: p, Defaults: r.pathDefaults("file"), Command: "rm -f " + shq(p)})
	}
	r.etcdChecks("3", h, f, f.ca, f.health, f.healthKey)
}

// etcdChecks end a node's etcd-ca step: etcd answers /health over TLS
// checked against ca with the healthcheck client cert (when kubeadm laid
// one out), kube-apiserver's /readyz says its etcd check passes, and the
// node records on its Node object that these checks passed there (what
// status judges the files by: the API does not show them).
func (r *renderer) etcdChecks(step string, h ControlPlaneHost, f etcdFiles, ca, cert, key string) {
	if h.has(ComponentEtcd) {
		r.add(Step{Step: step, Node: h.Node, Component: ComponentEtcd, Action: ActionCheck,
			Description: "etcd answers /health with a serving certificate that verifies against " + path.Base(ca) + ", for the client certificate " + path.Base(cert),
			File:        cert, CA: ca, Key: key, Defaults: r.pathDefaults("file", "ca", "key"),
			Condition: "if " + cert + " exists (kubeadm's etcd healthcheck client)", When: "test -f " + shq(cert),
			Note:    "a TLS or certificate error here means etcd does not serve or accept what this step expects: stop and read it",
			Command: "curl -sS --fail --max-time 10 --cacert " + shq(ca) + " --cert " + shq(cert) + " --key " + shq(key) + " " + shq(f.clientURL+"/health") + " && echo"})
	}
	if h.has(ComponentAPIServer) {
		u := ComponentHealthURL(r.d.ControlPlane, h.Node, ComponentAPIServer)
		r.add(Step{Step: step, Node: h.Node, Component: ComponentAPIServer, Action: ActionCheck,
			Description: "kube-apiserver's etcd readiness check passes (/readyz, its [+]etcd line)",
			Command:     "curl -sS --fail --max-time 10 -k " + shq(u+"?verbose") + " | grep -F '[+]etcd ok'"})
	}
	r.add(Step{Step: step, Node: h.Node, Action: ActionMark,
		Description: "Record on node " + h.Node + "'s Node object that step " + step + "'s checks passed here: status judges the files by it, since the API cannot show them",
		Note:        "with the kubelet's credentials, which may annotate only their own node",
		Command: "kubectl --kubeconfig " + shq(KubeadmKubeletConf) + " annotate node " + shq(h.Node) + " --overwrite " +
			"\"" + EtcdCAMarkPrefix + step + "=" + r.d.RotationID + "/$(date -u +%Y-%m-%dT%H:%M:%SZ)\""})
}

// EtcdCANotes are the notes the etcd-ca instructions print.
func EtcdCANotes(id string) []string {
	return []string{
		"The new etcd CA's private key is yours (openssl req -x509 -newkey rsa:2048 -nodes -keyout new-etcd-ca.key -out new-etcd-ca.crt -subj /CN=etcd-ca -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature); kubectl carotate never reads it. The scripts read it from $NEW_ETCD_CA_KEY (default ./new-etcd-ca.key) on the node; each certificate keeps its key, which openssl reads on the node.",
		"etcd/ca.crt and etcd/ca.key stay as they are until step 3: kubeadm signs etcd certificates with that pair (kubeadm certs renew, joining control-plane nodes), so the bundle goes beside them, never into them.",
		"The API cannot show the etcd CA or the files that hold it: status judges the static pods' flags and start times and kube-apiserver's /readyz/etcd, and takes the files' contents from the checks each node step runs last, which record on the node's Node object (" + EtcdCAMarkPrefix + "N) that they passed.",
		"Each node step first backs up what it changes under /var/backups/carotate-" + id + "/step-<N>/.",
	}
}
