//go:build e2e

package chaos

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/rotation"
	"github.com/carotate/kubectl-carotate/test/drill"
	. "github.com/carotate/kubectl-carotate/test/e2eutil"
	"github.com/carotate/kubectl-carotate/test/localcluster"
)

// resignReason is what resign-tokens says of a Secret it found cleared
// when it sent its clear again after the answer was lost (satokens'
// reasonClearedLostAnswer).
const resignReason = "found cleared when its clear was sent again after the API server's answer was lost"

// TestChaosResignTokens kills kube-apiserver while resign-tokens clears
// legacy token Secrets, after 4 of 10 clears. The clear whose answer the
// kill cut off is sent again and meets its own resourceVersion
// precondition; the Secret read back has no token yet (the
// controller-manager is restarted after the kill, so it signs later).
// resign-tokens must call it cleared, wait for the tokens controller to
// sign it with the new key, and record it in the undo file: before
// 2026-12-06 it was called "re-signed" with no key, was not waited for,
// and was missing from the undo file.
func TestChaosResignTokens(t *testing.T) {
	ctx := context.Background()
	client := Client(t)
	ns := CreateNamespace(t, client, "chaos-resign")
	WaitDefaultServiceAccount(t, client, ns)
	const n = 10
	var names []string
	for i := range n {
		name := fmt.Sprintf("legacy-%02d", i)
		Must(t, Create(client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
			Type:       corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})))
		names = append(names, name)
	}
	var oldKIDs map[string]string
	Must(t, wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		var err error
		oldKIDs, err = tokenKIDs(ctx, client, ns)
		return err == nil && len(oldKIDs) == n && !slices.Contains(slices.Collect(maps.Values(oldKIDs)), ""), nil
	}))

	// A new signing key: the API server signs with it and accepts both,
	// the controller-manager signs legacy tokens with it (upstream's
	// steps for the ServiceAccount key, which the sakey package runs
	// verbatim on a kubeadm node; here they are the harness's flags).
	dir := t.TempDir()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	Must(t, err)
	newKey, newPub, err := localcluster.WriteKeyPair(dir, "new-sa", key)
	Must(t, err)
	api, cm := Cluster.Component(localcluster.APIServer), Cluster.Component(localcluster.ControllerManager)
	oldPubFile, oldSigning, oldPrivate := api.Get("service-account-key-file"), api.Get("service-account-signing-key-file"), cm.Get("service-account-private-key-file")
	// One file of both public keys: the API server reads every key in it.
	var both []byte
	for _, f := range []string{oldPubFile, newPub} {
		pem, err := os.ReadFile(f)
		Must(t, err)
		both = append(both, pem...)
	}
	bothPub := filepath.Join(dir, "both-sa.pub")
	Must(t, os.WriteFile(bothPub, both, 0o600))

	if r := Carotate(t, "start", "--target", "sa-key", "--new-public-key", newPub); r.Code != 0 {
		t.Fatalf("start --target sa-key: exit %d\n%s", r.Code, r.Stderr)
	}
	t.Cleanup(func() {
		_ = client.CoreV1().ConfigMaps(rotation.Namespace).Delete(context.Background(), rotation.NameOf(checks.TargetSAKey), metav1.DeleteOptions{})
	})
	// Back to the cluster's own key for the tests after this one: the
	// API server first, then the controller-manager, which asks it for
	// fresh tokens.
	t.Cleanup(func() {
		Must(t, Cluster.Restart(context.Background(), localcluster.APIServer,
			map[string]string{"service-account-key-file": oldPubFile, "service-account-signing-key-file": oldSigning}))
		Must(t, Cluster.Restart(context.Background(), localcluster.ControllerManager,
			map[string]string{"service-account-private-key-file": oldPrivate}))
	})
	Must(t, Cluster.Restart(ctx, localcluster.APIServer,
		map[string]string{"service-account-key-file": bothPub, "service-account-signing-key-file": newKey}))
	Must(t, Cluster.Restart(ctx, localcluster.ControllerManager, map[string]string{"service-account-private-key-file": newKey}))

	undoDir := filepath.Join(dir, "undo")
	d := &drill.Drill{Cluster: Cluster, BinDir: BinDir, Dir: dir, Narrator: drill.LogfNarrator(t.Logf)}
	t.Cleanup(d.Close)
	k := drill.KillAfterTokensCleared(drill.PointMidPass+" (after 4 clears)", ns, 4, "--qps", "5", "--burst", "1")
	_, err = d.Disrupt(ctx, k, "resign-tokens", "-o", "json", "--undo-dir", undoDir)
	dis := survivedOneKill(t, d, err)

	var rep struct {
		Secrets []struct {
			Namespace, Name, OldKeyID, NewKeyID, Result, Reason string
		}
		UndoFile string
	}
	Must(t, json.Unmarshal([]byte(dis.First.Stdout), &rep))
	newKID, err := checks.KeyID(&key.PublicKey)
	Must(t, err)
	lost := 0
	var reported []string
	for _, s := range rep.Secrets {
		if s.Namespace != ns {
			continue
		}
		reported = append(reported, s.Name)
		if s.Result != "re-signed" || s.NewKeyID != newKID || s.OldKeyID != oldKIDs[s.Name] {
			t.Errorf("resign-tokens under a kill: %s: %s, key %q -> %q (%s); want re-signed, %q -> %q", s.Name, s.Result, s.OldKeyID, s.NewKeyID, s.Reason, oldKIDs[s.Name], newKID)
		}
		if s.Reason == resignReason {
			lost++
		}
	}
	slices.Sort(reported)
	if !slices.Equal(reported, names) {
		t.Errorf("resign-tokens reported %v of %s, want %v", reported, ns, names)
	}
	if lost == 0 {
		t.Errorf("the kill cut no clear's answer, so no resent clear was exercised:\n%s", dis.First.Stdout)
	}
	// The undo file lists every Secret whose token the pass cleared.
	files := undoFiles(t, undoDir, "resign-tokens")
	if len(files) != 1 || files[0].path != rep.UndoFile {
		t.Fatalf("undo files %+v, want one: %s", files, rep.UndoFile)
	}
	var recorded []string
	for _, c := range files[0].changes {
		if c.Namespace == ns {
			recorded = append(recorded, c.Name)
		}
	}
	slices.Sort(recorded)
	if !slices.Equal(recorded, names) {
		t.Errorf("resign-tokens' undo file lists %v of %s, want every Secret it cleared %v", recorded, ns, names)
	}
	// And from outside the plugin: every Secret holds a token of the new key.
	kids, err := tokenKIDs(ctx, client, ns)
	Must(t, err)
	for _, name := range names {
		if kids[name] != newKID {
			t.Errorf("%s/%s after resign-tokens: kid %q, want %s", ns, name, kids[name], newKID)
		}
	}
}

// tokenKIDs lists the legacy token Secrets of ns, in one request: the kid
// of each one's token by name ("" where it has none yet).
func tokenKIDs(ctx context.Context, client kubernetes.Interface, ns string) (map[string]string, error) {
	l, err := client.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{FieldSelector: "type=" + string(corev1.SecretTypeServiceAccountToken)})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, s := range l.Items {
		out[s.Name] = ""
		if tok := s.Data[corev1.ServiceAccountTokenKey]; len(tok) > 0 {
			if out[s.Name], err = checks.TokenKeyID(string(tok)); err != nil {
				return nil, fmt.Errorf("%s/%s: %w", ns, s.Name, err)
			}
		}
	}
	return out, nil
}
