package checks

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
)

// Step 9.2's kubelet client certificates. A kubelet presents its client
// certificate to the API server; at step 12.2 the API server stops
// accepting the old CA's, so before then every kubelet must present one
// from the new CA, whether or not it rotates its certificate itself (a
// rotating kubelet renews only at 70-90% of the certificate's lifetime).
//
// The renewal is a CertificateSigningRequest made on the node with the
// kubelet's current key and sent with the kubelet's own credentials, which
// the API server accepts until step 12.2; the admin approves it, the
// controller-manager signs it with the new CA (its signing flags moved in
// step 2), and the node installs the certificate the way the kubelet does
// (a kubelet-client-<time>.pem, and the kubelet-client-current.pem symlink
// that kubelet.conf names) before the kubelet restarts. A bootstrap
// kubeconfig with a fresh bootstrap token would work too, but needs a
// token Secret made and removed, bootstrap-token authentication on, and
// the kubelet's --bootstrap-kubeconfig (kubeadm deletes
// bootstrap-kubelet.conf after the join), and it replaces the key.

const (
	// KubeletClientSigner is the signer of kubelet client certificates.
	KubeletClientSigner = "kubernetes.io/kube-apiserver-client-kubelet"
	// KubeletClientCurrent is the kubelet's client certificate and key, a
	// symlink to the newest kubelet-client-<time>.pem.
	KubeletClientCurrent = "/var/lib/kubelet/pki/kubelet-client-current.pem"
	// KubeletNodeUserPrefix and KubeletNodeGroup make a kubelet's identity:
	// user system:node:<node name> in group system:nodes.
	KubeletNodeUserPrefix = "system:node:"
	KubeletNodeGroup      = "system:nodes"
)

// KubeletIssuerCommand shows, on a node, which CA issued the client
// certificate its kubelet presents.
const KubeletIssuerCommand = "openssl x509 -issuer -noout -in " + KubeletClientCurrent

// KubeletCSRName is the name of the CertificateSigningRequest through
// which step 9.2 of rotation id renews node's kubelet client certificate.
func KubeletCSRName(id, node string) string {
	name := "carotate-" + strings.ToLower(id) + "-" + node
	// A name is a DNS subdomain of at most 253 characters.
	if len(name) > 253 {
		sum := sha256.Sum256([]byte(node))
		name = name[:253-17] + "-" + hex.EncodeToString(sum[:8])
	}
	return name
}

// kubeletSubject is the subject of a kubelet's client certificate, in the
// form openssl's -subj takes and -nameopt compat prints.
func kubeletSubject(node string) string {
	return "/O=" + KubeletNodeGroup + "/CN=" + KubeletNodeUserPrefix + node
}

// kubeletStage is where a node keeps the request and the certificate
// between the steps of 9.2.
func (r *renderer) kubeletStage() string { return "/var/lib/carotate/" + r.d.RotationID }

// kubeletKeyCommand prints the private key kubelet.conf authenticates
// with, whether kubelet.conf names a file (kubeadm: the current pem, which
// holds certificate and key) or embeds it.
func kubeletKeyCommand() string {
	return "kubectl config view --raw --flatten --minify --kubeconfig " + shq(KubeadmKubeletConf) +
		" -o jsonpath='{.users[0].user.client-key-data}' | base64 -d"
}

// kubeletRenewalNote says why every kubelet renews, whatever its
// rotateCertificates, and why through a CSR.
func kubeletRenewalNote(n KubeletNode) string {
	var why string
	switch {
	case n.RotateCertificates == nil:
		why = "rotateCertificates is not readable through the API; renew either way"
	case *n.RotateCertificates:
		why = "the kubelet rotates its client certificate (rotateCertificates: true), but only at 70-90% of its lifetime, " +
			"which may come after step 12.2: then its node goes NotReady with 401s"
	default:
		why = "rotateCertificates is off: nothing but this step renews its client certificate"
	}
	return why + ". Renewed through a CSR with the kubelet's current key and credentials, which work until step 12.2 " +
		"(not a bootstrap token: kubeadm deletes bootstrap-kubelet.conf after the join); the controller-manager signs it with the new CA since step 2"
}

// kubeletRequest makes the CSR on the node with the kubelet's current key
// and sends it with the kubelet's credentials, unless it was sent before.
func (r *renderer) kubeletRequest(n KubeletNode) {
	stage := r.kubeletStage()
	csrFile := stage + "/kubelet-client.csr"
	name := KubeletCSRName(r.d.RotationID, n.Name)
	kc := shq(KubeadmKubeletConf)
	object := `{"apiVersion":"certificates.k8s.io/v1","kind":"CertificateSigningRequest","metadata":{"name":"` + name + `"},` +
		`"spec":{"signerName":"` + KubeletClientSigner + `","usages":["digital signature","client auth"],"request":"%s"}}`
	r.add(Step{Step: "9.2", Node: n.Name, Component: ComponentKubelet, Action: ActionRequestCert,
		Description: "Request a client certificate for the kubelet of " + n.Name + " with its current key (CertificateSigningRequest " + name + ")",
		CSR:         name, SignerName: KubeletClientSigner, Subject: kubeletSubject(n.Name), Kubeconfig: KubeadmKubeletConf,
		Key: KubeletClientCurrent, File: csrFile, Defaults: []string{"kubeconfig", "key"}, Note: kubeletRenewalNote(n),
		Command: strings.Join([]string{
			"mkdir -p " + shq(stage),
			kubeletKeyCommand() + " | openssl req -new -key /dev/stdin -subj " + shq(kubeletSubject(n.Name)) + " -out " + shq(csrFile),
			"{ kubectl --kubeconfig " + kc + " get csr " + name + " >/dev/null 2>&1 || printf " + shq(object) +
				" \"$(base64 -w0 " + shq(csrFile) + ")\" | kubectl --kubeconfig " + kc + " create -f -; }",
		}, " && "),
		Check: "kubectl --kubeconfig " + kc + " get csr " + name})
}

// kubeletApprove approves a kubelet's CSR from the workstation, once it is
// shown to come from that kubelet for its own name: anyone who may create
// CSRs could send one under this name.
func (r *renderer) kubeletApprove(n KubeletNode) {
	name := KubeletCSRName(r.d.RotationID, n.Name)
	user := KubeletNodeUserPrefix + n.Name
	r.add(Step{Step: "9.2", Node: "", ForNode: n.Name, Action: ActionApproveCSR,
		Description: "Approve " + name + " once it shows to come from the kubelet of " + n.Name + " for its own name",
		CSR:         name, SignerName: KubeletClientSigner, Subject: kubeletSubject(n.Name),
		Note: "kube-controller-manager approves it by itself where kubelets may renew their own certificates (kubeadm's " +
			"kubeadm:node-autoapprove-certificate-rotation); approving twice changes nothing",
		Command: strings.Join([]string{
			"test \"$(kubectl get csr " + name + " -o jsonpath='{.spec.username}')\" = " + shq(user),
			"kubectl get csr " + name + " -o jsonpath='{.spec.request}' | base64 -d | openssl req -noout -subject -nameopt compat | grep -qx " +
				shq("subject="+kubeletSubject(n.Name)),
			"kubectl certificate approve " + name,
		}, " && "),
		Check: "kubectl get csr " + name})
}

// kubeletInstall waits for the signed certificate, refuses one the new
// CA did not issue, and installs it with the kubelet's key as the
// kubelet does: a new kubelet-client-<time>.pem, kubelet-client-current.pem
// pointing at it, and kubelet.conf naming that symlink.
func (r *renderer) kubeletInstall(n KubeletNode) {
	stage := r.kubeletStage()
	ca := stage + "/ca-new.crt"
	crt := stage + "/kubelet-client.crt"
	name := KubeletCSRName(r.d.RotationID, n.Name)
	kc := shq(KubeadmKubeletConf)
	r.add(Step{Step: "9.2", Node: n.Name, Action: ActionWriteFile, Description: "The new CA, to check the certificate the request returns",
		File: ca, Content: ContentNewCA, Command: heredoc(ca, r.d.Contents[ContentNewCA], "0644")})
	pem := path.Join(KubeletPKIDir, "kubelet-client-$(date -u +%Y-%m-%d-%H-%M-%S).pem")
	r.add(Step{Step: "9.2", Node: n.Name, Component: ComponentKubelet, Action: ActionInstallCert,
		Description: "Install the certificate of " + name + " as the kubelet's client certificate (" + KubeletClientCurrent + "), with its current key",
		CSR:         name, SignerName: KubeletClientSigner, Kubeconfig: KubeadmKubeletConf, File: KubeletClientCurrent, CA: ca,
		Signer: ContentNewCA, Defaults: []string{"kubeconfig", "file"},
		Note: "the certificate must verify against the new CA: one from the old CA means the controller-manager does not sign with the new CA yet (step 2)",
		Command: strings.Join([]string{
			"kubectl --kubeconfig " + kc + " wait --for=jsonpath='{.status.certificate}' csr/" + name + " --timeout=300s >/dev/null",
			"kubectl --kubeconfig " + kc + " get csr " + name + " -o jsonpath='{.status.certificate}' | base64 -d > " + shq(crt),
			"openssl verify -CAfile " + shq(ca) + " " + shq(crt),
			"f=" + pem,
			"(umask 077 && { cat " + shq(crt) + " && " + kubeletKeyCommand() + " | openssl pkey; } > \"$f\")",
			"ln -sfn \"$f\" " + shq(KubeletClientCurrent),
			"kubectl config set-credentials \"$(kubectl config view --minify --kubeconfig " + kc + " -o jsonpath='{.users[0].name}')\" --kubeconfig " + kc +
				" --client-certificate " + shq(KubeletClientCurrent) + " --client-key " + shq(KubeletClientCurrent),
			"rm -f " + shq(stage+"/kubelet-client.csr") + " " + shq(crt) + " " + shq(ca),
		}, " && ")})
}
