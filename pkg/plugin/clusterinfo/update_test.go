package clusterinfo

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// clusterInfoTestSign is HS256 detached JWS by hand (RFC 7515), so the
// tests do not trust the signing code they test.
func clusterInfoTestSign(content, id, secret string) string {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]string{"alg": "HS256", "kid": id})
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(enc.EncodeToString(header) + "." + enc.EncodeToString([]byte(content))))
	return enc.EncodeToString(header) + ".." + enc.EncodeToString(mac.Sum(nil))
}

func TestSignatureReportKeepsRemoved(t *testing.T) {
	tokens := []checks.BootstrapToken{
		{ID: "aaaaaa", Secret: "aaaaaaaaaaaaaaaa", Signing: true},
		{ID: "bbbbbb", Secret: "bbbbbbbbbbbbbbbb", Signing: true, Expired: true, Expiration: "2020-01-01T00:00:00Z"},
	}
	before := map[string]string{"kubeconfig": "old", "jws-kubeconfig-aaaaaa": "x", "jws-kubeconfig-bbbbbb": "y", "jws-kubeconfig-zzzzzz": "z"}
	after := map[string]string{"kubeconfig": "new", "jws-kubeconfig-aaaaaa": clusterInfoTestSign("new", "aaaaaa", "aaaaaaaaaaaaaaaa")}
	got := signatureReport(before, after, tokens, func(string) string { return "me" })
	want := []checks.TokenSignature{
		{TokenID: "aaaaaa", State: checks.SignatureResigned, Signed: true, Detail: "signed by me"},
		{TokenID: "bbbbbb", State: checks.SignatureExpired, Expiration: "2020-01-01T00:00:00Z", Detail: "token expired at 2020-01-01T00:00:00Z; signature removed by me"},
		{TokenID: "zzzzzz", State: checks.SignatureNoToken, Detail: "no bootstrap token Secret bootstrap-token-zzzzzz; signature removed by me"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d:\n got  %+v\n want %+v", i, got[i], want[i])
		}
	}
}

var configMapsGVR = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}

// clusterInfoFake is a fake API with the one behaviour the real one has and
// the fake lacks that matters here: Update refuses a stale resourceVersion.
// concurrent, when set, edits cluster-info behind our back just before our
// first Update lands, as the bootstrap signer or another admin might.
func clusterInfoFake(t *testing.T, objs []runtime.Object, concurrent func(*corev1.ConfigMap)) *fake.Clientset {
	t.Helper()
	client := fake.NewClientset(objs...)
	client.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
		r.Status.Allowed = true
		return true, r, nil
	})
	rv := 100
	client.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
		in := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
		curObj, err := client.Tracker().Get(configMapsGVR, in.Namespace, in.Name)
		if err != nil {
			return true, nil, err
		}
		cur := curObj.(*corev1.ConfigMap)
		if concurrent != nil {
			edit := cur.DeepCopy()
			concurrent(edit)
			concurrent = nil
			rv++
			edit.ResourceVersion = strconv.Itoa(rv)
			if err := client.Tracker().Update(configMapsGVR, edit, edit.Namespace); err != nil {
				return true, nil, err
			}
			cur = edit
		}
		if in.ResourceVersion != cur.ResourceVersion {
			return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, in.Name, nil)
		}
		rv++
		in.ResourceVersion = strconv.Itoa(rv)
		return true, in, client.Tracker().Update(configMapsGVR, in, in.Namespace)
	})
	return client
}

func TestUpdateClusterInfoConflictSafeSign(t *testing.T) {
	oldCA, _, oldPEM, _, err := checks.GenerateCA("old", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	newCA, _, newPEM, _, err := checks.GenerateCA("new", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443", CertificateAuthorityData: oldPEM}
	kc, _ := clientcmd.Write(*cfg)
	const id, secret, expiredID = "abcdef", "0123456789abcdef", "zzzzzz"
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public", ResourceVersion: "1"},
		Data: map[string]string{
			"kubeconfig":              string(kc),
			"jws-kubeconfig-" + id:    clusterInfoTestSign(string(kc), id, secret),
			"jws-kubeconfig-zzzzzz":   clusterInfoTestSign(string(kc), expiredID, "zzzzzzzzzzzzzzzz"),
			"jws-kubeconfig-gone00":   "eyJ..x",
			"unrelated-annotation-ok": "1",
		},
	}
	token := func(id, secret, exp string) *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "bootstrap-token-" + id, Namespace: "kube-system"},
			Type:       corev1.SecretTypeBootstrapToken,
			Data: map[string][]byte{"token-id": []byte(id), "token-secret": []byte(secret), "usage-bootstrap-signing": []byte("true"),
				"expiration": []byte(exp)},
		}
	}
	client := clusterInfoFake(t, []runtime.Object{cm,
		token(id, secret, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)),
		token(expiredID, "zzzzzzzzzzzzzzzz", "2020-01-01T00:00:00Z"),
	}, func(cm *corev1.ConfigMap) { cm.Data["added-meanwhile"] = "keep me" })

	dir := t.TempDir()
	caFile := filepath.Join(dir, "bundle.crt")
	if err := os.WriteFile(caFile, checks.BuildBundle([]*x509.Certificate{newCA}, []*x509.Certificate{oldCA}), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	o := &UpdateClusterInfoOptions{
		Env:    &cmdutil.Env{IOStreams: genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}},
		CAFile: caFile, Sign: true, Output: "json", UndoDir: filepath.Join(dir, "undo"),
		client: client, server: "https://fake", now: time.Now,
		// A fake client has no serving chain; the check against it is
		// proven in the bad-input e2e test.
		Force: true,
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatalf("run: %v\nstderr: %s", err, errOut.String())
	}
	gotObj, _ := client.Tracker().Get(configMapsGVR, "kube-public", "cluster-info")
	got := gotObj.(*corev1.ConfigMap)
	if got.Data["added-meanwhile"] != "keep me" || got.Data["unrelated-annotation-ok"] != "1" {
		t.Errorf("a concurrent or unrelated key was lost: %v", got.Data)
	}
	kcAfter, err := checks.ParseClusterInfoKubeconfig([]byte(got.Data["kubeconfig"]))
	if err != nil || !bytes.Equal(kcAfter.CAData, append(append([]byte{}, newPEM...), oldPEM...)) {
		t.Errorf("CA data after: %q (%v)", kcAfter.CAData, err)
	}
	if sig := got.Data["jws-kubeconfig-"+id]; sig != clusterInfoTestSign(got.Data["kubeconfig"], id, secret) {
		t.Errorf("signature %q does not verify independently", sig)
	}
	for _, k := range []string{"jws-kubeconfig-zzzzzz", "jws-kubeconfig-gone00"} {
		if _, ok := got.Data[k]; ok {
			t.Errorf("%s should have been removed", k)
		}
	}
	var rep ClusterInfoUpdateReport
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out.String())
	}
	states := map[string]checks.SignatureState{}
	for _, s := range rep.Signatures {
		states[s.TokenID] = s.State
	}
	if !rep.Changed || states[id] != checks.SignatureResigned || states[expiredID] != checks.SignatureExpired || states["gone00"] != checks.SignatureNoToken || rep.UndoFile == "" {
		t.Errorf("report: %s", out.String())
	}
	// One write (CA and signatures together), recorded key by key.
	_, changes, err := undofile.Read(rep.UndoFile)
	if err != nil {
		t.Fatal(err)
	}
	prev := map[string]undofile.Change{}
	for _, c := range changes {
		prev[c.Key] = c
	}
	if prev["kubeconfig"].Previous != string(kc) || prev["jws-kubeconfig-"+id].Previous != cm.Data["jws-kubeconfig-"+id] ||
		prev["jws-kubeconfig-gone00"].Previous != "eyJ..x" || len(changes) != 4 || prev["kubeconfig"].ResourceVersion != got.ResourceVersion {
		t.Errorf("undo records: %+v", changes)
	}

	// A re-run finds nothing to do and writes nothing.
	out.Reset()
	rvBefore := got.ResourceVersion
	o.Output = ""
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	again, _ := client.Tracker().Get(configMapsGVR, "kube-public", "cluster-info")
	if again.(*corev1.ConfigMap).ResourceVersion != rvBefore || !strings.Contains(out.String(), "already carries this CA (2 certificate(s))") {
		t.Errorf("re-run wrote or said: %s", out.String())
	}
}

// TestWriteAnswerLost: an update that landed although its answer was lost
// (an error that is neither retried nor a refusal) is ours: write reports
// success and the undo file records what it replaced. One that did not
// land fails and records nothing.
func TestWriteAnswerLost(t *testing.T) {
	_, _, oldPEM, _, err := checks.GenerateCA("old", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, _, newPEM, _, err := checks.GenerateCA("new", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[""] = &clientcmdapi.Cluster{Server: "https://10.0.0.1:6443", CertificateAuthorityData: oldPEM}
	kc, _ := clientcmd.Write(*cfg)
	lost := errors.New("decoding the response: connection closed by the test")
	for _, landed := range []bool{true, false} {
		t.Run(fmt.Sprintf("landed=%v", landed), func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cluster-info", Namespace: "kube-public", ResourceVersion: "1"},
				Data: map[string]string{"kubeconfig": string(kc)}}
			client := fake.NewClientset(cm)
			client.PrependReactor("update", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if landed {
					in := a.(k8stesting.UpdateAction).GetObject().(*corev1.ConfigMap).DeepCopy()
					in.ResourceVersion = "2"
					if err := client.Tracker().Update(configMapsGVR, in, in.Namespace); err != nil {
						return true, nil, err
					}
				}
				return true, nil, lost
			})
			dir := t.TempDir()
			o := &UpdateClusterInfoOptions{Env: &cmdutil.Env{IOStreams: genericiooptions.IOStreams{Out: io.Discard, ErrOut: io.Discard}},
				UndoDir: dir, dryRun: cmdutil.DryRunNone, client: client, server: "https://fake", now: time.Now}
			r := &updateRun{o: o, caPEM: newPEM, by: map[string]string{}}
			_, err := r.write(context.Background(), r.caChange, byUs)
			path := ""
			if r.undo != nil {
				path = r.undo.Path
			}
			r.closeUndo()
			if !landed {
				if err == nil || !strings.Contains(err.Error(), lost.Error()) || !strings.Contains(err.Error(), "run the same command again") {
					t.Fatalf("want the lost answer and what to do, got %v", err)
				}
				if _, serr := os.Stat(path); path == "" || !os.IsNotExist(serr) {
					t.Fatalf("an undo file was left for a write that did not land: %q %v", path, serr)
				}
				return
			}
			if err != nil {
				t.Fatalf("a write that landed failed: %v", err)
			}
			_, changes, err := undofile.Read(path)
			if err != nil || len(changes) != 1 || changes[0].Key != "kubeconfig" || changes[0].Previous != string(kc) {
				t.Fatalf("undo: %+v %v", changes, err)
			}
		})
	}
}
