package satokens

import (
	"context"
	"encoding/base64"
	"io"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
	"github.com/carotate/kubectl-carotate/pkg/plugin/undofile"
)

// jwt is a token whose header names kid (the signature is not read).
func jwt(kid string) []byte {
	return []byte(base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"RS256","kid":"`+kid+`"}`)) + ".e30.c2ln")
}

// A clear whose answer is lost is sent again and meets its own
// resourceVersion precondition. The Secret read back decides: cleared and
// not yet signed again is "cleared" (recorded, and waited for until the
// tokens controller signs it with the new key), not "re-signed" with no key
// (as before 2026-12-06, which skipped the wait that catches a
// controller-manager without the new key); signed with the new key is
// "re-signed". Either way the Secret is recorded in the undo file and the
// reason says the answer was lost. A token another writer cleared is
// said so and not recorded: the clear was not ours. The fake clientset
// only stands in for the API server's answers.
func TestClearAfterALostAnswer(t *testing.T) {
	for _, tc := range []struct {
		name string
		// lost: the first patch applies and its answer is lost (sent
		// again, it meets a conflict); otherwise another writer cleared
		// the token and the first patch meets a conflict.
		lost bool
		// after is the token the Secret holds when read back ("" none).
		after      string
		wantResult string
		wantNewKID string
		wantReason string
		wantUndo   int
	}{
		{"cleared by our write, not signed yet", true, "", "cleared", "", reasonClearedLostAnswer, 1},
		{"cleared by our write, signed again with the new key", true, "new", "re-signed", "new", reasonClearedLostAnswer, 1},
		{"cleared by another writer, not signed yet", false, "", "cleared", "", reasonClearedByOther, 0},
		{"cleared by another writer, signed again with the new key", false, "new", "re-signed", "new", reasonClearedByOther, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "tok", ResourceVersion: "10"}, Type: corev1.SecretTypeServiceAccountToken,
				Data: map[string][]byte{corev1.ServiceAccountTokenKey: jwt("old")}}
			client := fake.NewClientset(s)
			patches := 0
			client.PrependReactor("patch", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
				patches++
				if patches == 1 {
					landed := s.DeepCopy()
					landed.ResourceVersion = "11"
					delete(landed.Data, corev1.ServiceAccountTokenKey)
					if tc.after != "" {
						landed.Data[corev1.ServiceAccountTokenKey] = jwt(tc.after)
					}
					if err := client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "secrets"}, landed, "ns"); err != nil {
						t.Fatal(err)
					}
					if tc.lost {
						return true, nil, io.ErrUnexpectedEOF
					}
				}
				return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "secrets"}, "tok", nil)
			})
			undo, err := undofile.Create(t.TempDir(), undofile.Header{Command: "resign-tokens", CreatedAt: time.Unix(0, 0)})
			if err != nil {
				t.Fatal(err)
			}
			o := &Options{dryRun: cmdutil.DryRunNone}
			r := o.clear(context.Background(), client, s, []string{"new"}, undo)
			if r.Result != tc.wantResult || r.NewKID != tc.wantNewKID || r.Reason != tc.wantReason {
				t.Errorf("result %q, new kid %q, reason %q; want %q, %q, %q", r.Result, r.NewKID, r.Reason, tc.wantResult, tc.wantNewKID, tc.wantReason)
			}
			if got := undo.Changes(); got != tc.wantUndo {
				t.Errorf("the undo file records %d changes, want %d", got, tc.wantUndo)
			}
			if err := undo.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
