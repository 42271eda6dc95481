package checks

import (
	"path"
	"strings"
)

// The front-proxy-ca target: replacing the CA that signs the API server's
// proxy client certificate (kubeadm's front-proxy-ca.crt/.key and
// front-proxy-client.crt/.key). kube-apiserver authenticates to
// aggregated API servers with --proxy-client-cert-file; they trust the
// callers that --requestheader-client-ca-file names, which the API server
// publishes in kube-system/extension-apiserver-authentication (merged with
// what it published before). The rotation: trust the new CA beside the old
// (step 1), re-issue the proxy client certificate from the new CA (step
// 2), drop the old CA (step 3). The three steps are the cluster CA's
// phases: bundle, serve, finish.

// FrontProxySteps are the front-proxy-ca target's steps, in order.
var FrontProxySteps = []UpstreamStep{
	{"1", "kube-apiserver (and the controller-manager) trust the new front-proxy CA beside the old: --requestheader-client-ca-file holds both", "node", PhaseBundle},
	{"2", "kube-apiserver's proxy client certificate (--proxy-client-cert-file) issued by the new front-proxy CA", "node", PhaseServe},
	{"3", "The old front-proxy CA dropped: --requestheader-client-ca-file and extension-apiserver-authentication hold the new CA alone", "both", PhaseFinish},
}

// fpFiles are a host's front-proxy files, as originals: the CA the API
// server trusts (and its key, beside it), its proxy client certificate and
// key.
type fpFiles struct {
	ca, caKey, client, clientKey string
}

func (r *renderer) fpFiles(h ControlPlaneHost) fpFiles {
	def := originalOr
	f := fpFiles{
		ca:     def(r.flag(h, ComponentAPIServer, "requestheader-client-ca-file"), "front-proxy-ca.crt"),
		client: def(r.flag(h, ComponentAPIServer, "proxy-client-cert-file"), "front-proxy-client.crt"),
	}
	f.caKey = strings.TrimSuffix(f.ca, path.Ext(f.ca)) + ".key"
	// The key never changes: it is not a transition file.
	f.clientKey = r.flag(h, ComponentAPIServer, "proxy-client-key-file")
	if f.clientKey == "" {
		f.clientKey = path.Join(KubeadmPKIDir, "front-proxy-client.key")
	}
	return f
}

// fpOthers are the other components of a host that trust the front-proxy
// CA (kubeadm's controller-manager has --requestheader-client-ca-file).
var fpOthers = []string{ComponentControllerManager, ComponentScheduler}

// RenderFrontProxy renders the front-proxy-ca target's steps for a
// cluster: d.Contents holds the old and new front-proxy CAs and their
// bundle.
func RenderFrontProxy(d ClusterDescription) []Step {
	d.Target = TargetFrontProxyCA
	r := &renderer{d: d, written: map[string]bool{}}
	for _, h := range d.ControlPlane {
		r.fpStep1(h)
	}
	for _, h := range d.ControlPlane {
		r.fpStep2(h)
	}
	r.inCluster("3", "Check that every API server uses a proxy client certificate from the new front-proxy CA and the aggregated APIs answer, before the old CA goes",
		"kubectl carotate verify --target front-proxy-ca", "")
	for _, h := range d.ControlPlane {
		r.fpStep3(h)
	}
	r.extensionAuth("3", "--requestheader-client-ca-file", "aggregated API servers keep accepting a proxy client certificate from the old CA")
	return r.out
}

func (r *renderer) fpStep1(h ControlPlaneHost) {
	if !h.has(ComponentAPIServer) {
		return
	}
	f := r.fpFiles(h)
	c := ComponentAPIServer
	r.backup("1", h.Node, manifestPath(c), []string{"file"})
	r.writeFile("1", h.Node, VariantPath(f.ca, variantNew), ContentNewFrontProxyCA, "The new front-proxy CA alone, beside "+path.Base(f.ca))
	r.writeFile("1", h.Node, VariantPath(f.ca, variantBundle), ContentFrontProxyBundle, "The front-proxy bundle (new, then old), beside "+path.Base(f.ca))
	r.setFlag("1", h, c, "requestheader-client-ca-file", VariantPath(f.ca, variantBundle), ContentFrontProxyBundle)
	i := len(r.out)
	r.restartStatic("1", h.Node, c, true)
	r.note(i, "kube-apiserver then publishes both front-proxy CAs in kube-system/extension-apiserver-authentication, where aggregated API servers read them; with several API servers do one node at a time")
	for _, other := range fpOthers {
		v := r.flag(h, other, "requestheader-client-ca-file")
		if v == "" || !h.has(other) {
			continue
		}
		o := OriginalPath(v)
		r.backup("1", h.Node, manifestPath(other), []string{"file"})
		r.writeFile("1", h.Node, VariantPath(o, variantBundle), ContentFrontProxyBundle, "The front-proxy bundle (new, then old), beside "+path.Base(o))
		i := r.setFlag("1", h, other, "requestheader-client-ca-file", VariantPath(o, variantBundle), ContentFrontProxyBundle)
		r.note(i, "moved off "+path.Base(o)+" so that step 3 can write the new CA into it while nothing reads it")
		r.restartStatic("1", h.Node, other, true)
	}
}

func (r *renderer) fpStep2(h ControlPlaneHost) {
	if !h.has(ComponentAPIServer) {
		return
	}
	f := r.fpFiles(h)
	c := ComponentAPIServer
	newCA, newKey := VariantPath(f.ca, variantNew), VariantPath(f.caKey, variantNew)
	r.backup("2", h.Node, manifestPath(c), []string{"file"})
	r.writeKey("2", h.Node, newKey, ContentNewFrontProxyCAKey, operatorNewFPCAKey, "The new front-proxy CA's private key, beside "+path.Base(f.caKey))
	next := r.issueCert("2", h.Node, c, f.client, f.clientKey, ContentNewFrontProxyCA, newCA, newKey)
	r.setFlag("2", h, c, "proxy-client-cert-file", next, "")
	i := len(r.out)
	r.restartStatic("2", h.Node, c, true)
	r.note(i, "aggregated API servers accept the new certificate: since step 1 extension-apiserver-authentication holds both front-proxy CAs")
}

func (r *renderer) fpStep3(h ControlPlaneHost) {
	f := r.fpFiles(h)
	c := ComponentAPIServer
	newCA, bundle, newKey, newClient := VariantPath(f.ca, variantNew), VariantPath(f.ca, variantBundle), VariantPath(f.caKey, variantNew), VariantPath(f.client, variantNew)
	if h.has(c) {
		// Nothing reads the originals since steps 1 and 2: the new CA, its
		// key and the new certificate go into them, and the flags go back
		// to kubeadm's usual names (kubeadm certs renew and upgrades
		// expect them).
		for _, p := range []string{f.ca, f.caKey, f.client} {
			r.backup("3", h.Node, p, r.pathDefaults("file"))
		}
		r.writeFile("3", h.Node, f.ca, ContentNewFrontProxyCA, "The new front-proxy CA alone, into the original "+path.Base(f.ca)+", which nothing reads now")
		r.add(Step{Step: "3", Node: h.Node, Action: ActionWriteFile, Description: "Copy " + path.Base(newKey) + " (step 2's new CA key) over " + path.Base(f.caKey),
			File: f.caKey, Content: ContentNewFrontProxyCAKey, Defaults: r.pathDefaults("file"), Command: "install -m 0600 " + shq(newKey) + " " + shq(f.caKey)})
		r.add(Step{Step: "3", Node: h.Node, Component: c, Action: ActionCopyFile,
			Description: "Copy " + path.Base(newClient) + " (step 2) over " + path.Base(f.client) + ", which nothing reads now",
			From:        newClient, File: f.client, Defaults: r.pathDefaults("file", "from"), Command: "cp " + shq(newClient) + " " + shq(f.client)})
		r.backup("3", h.Node, manifestPath(c), []string{"file"})
		r.setFlag("3", h, c, "requestheader-client-ca-file", f.ca, ContentNewFrontProxyCA)
		r.setFlag("3", h, c, "proxy-client-cert-file", f.client, "")
		r.restartStatic("3", h.Node, c, true)
	}
	for _, other := range fpOthers {
		v := r.flag(h, other, "requestheader-client-ca-file")
		if v == "" || !h.has(other) {
			continue
		}
		o := OriginalPath(v)
		if o != f.ca {
			r.backup("3", h.Node, o, r.pathDefaults("file"))
			r.writeFile("3", h.Node, o, ContentNewFrontProxyCA, "The new front-proxy CA alone, into the original "+path.Base(o)+", which nothing reads now")
		}
		r.backup("3", h.Node, manifestPath(other), []string{"file"})
		r.setFlag("3", h, other, "requestheader-client-ca-file", o, ContentNewFrontProxyCA)
		r.restartStatic("3", h.Node, other, true)
	}
	// front-proxy-client-new.crt stays, as the cluster CA's step 12.2
	// leaves apiserver-new.crt: the copy over front-proxy-client.crt is
	// checked against it, so a re-run finds that step done.
	var files []string
	if h.has(c) {
		files = []string{bundle, newCA, newKey}
	}
	for _, other := range fpOthers {
		if v := r.flag(h, other, "requestheader-client-ca-file"); v != "" && h.has(other) {
			if b := VariantPath(v, variantBundle); !stepsContains(files, b) {
				files = append(files, b)
			}
		}
	}
	for _, p := range files {
		r.add(Step{Step: "3", Node: h.Node, Action: ActionRemoveFile, Description: "Remove " + path.Base(p) + " (a transition file of steps 1 and 2), which nothing reads now",
			File: p, Defaults: r.pathDefaults("file"), Command: "rm -f " + shq(p)})
	}
}

// FrontProxyNotes are the notes the front-proxy-ca instructions print.
func FrontProxyNotes(id string) []string {
	return []string{
		"The new front-proxy CA's private key is yours (openssl req -x509 -newkey rsa:2048 -nodes -keyout new-front-proxy-ca.key -out new-front-proxy-ca.crt -subj /CN=front-proxy-ca -days 3650 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature); kubectl carotate never reads it. The scripts read it from $NEW_FRONT_PROXY_CA_KEY (default ./new-front-proxy-ca.key) on the node; the proxy client certificate keeps its key, which openssl reads on the node.",
		"Aggregated API servers that read kube-system/extension-apiserver-authentication (k8s.io/apiserver's delegated authentication) follow each step by themselves; one configured with its own copy of the front-proxy CA needs the bundle before step 2 and the new CA alone after step 3.",
		"Each node step first backs up what it changes under /var/backups/carotate-" + id + "/step-<N>/.",
	}
}
