package undo

import (
	"context"
	"io"
	"strings"
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

// A restore whose answer is lost is sent again and meets its own
// resourceVersion precondition. undo reads the object back and calls it
// restored, and records it in its own undo file, only where the object
// holds the restored value and kubectl-carotate wrote it last: the
// controller-manager puts the same old CA back under its own name, and a
// conflict that came with an answer says nothing was written; such an
// object, holding its value from before the command, has nothing to undo.
// (On the real cluster: test/e2e/chaos, TestChaosRootCAWrites.) The fake clientset
// stands in for the API server's answers only; the logic is undo's.
func TestRestoreAfterALostAnswer(t *testing.T) {
	const (
		oldCA  = "OLD CA"
		bundle = "NEW CA + OLD CA"
	)
	for _, tc := range []struct {
		name string
		// lost: the first patch lands, its answer does not come.
		lost bool
		// writer is who last wrote ca.crt when undo reads it back.
		writer     string
		value      string
		wantResult string
		wantReason string
		wantUndo   int
	}{
		{"our write landed, its answer lost", true, cmdutil.FieldManager, oldCA, "restored", "an answer was lost", 1},
		{"the controller-manager put the old CA back", true, "kube-controller-manager", oldCA, "skipped", "nothing to undo: it holds its value from before the command again (last written by kube-controller-manager)", 0},
		{"someone wrote another value", true, "someone", "OTHER", "skipped", "changed since", 0},
		{"a conflict with an answer", false, cmdutil.FieldManager, oldCA, "skipped", "nothing to undo: it holds its value from before the command again (last written by kubectl-carotate)", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "kube-root-ca.crt", ResourceVersion: "10"},
				Data: map[string]string{"ca.crt": bundle}}
			client := fake.NewClientset(cm)
			// write puts tc's value in ca.crt as tc's writer (the tracker
			// keeps managedFields as the API server does).
			write := func() {
				w := cm.DeepCopy()
				w.ResourceVersion, w.Data["ca.crt"] = "11", tc.value
				if err := client.Tracker().Update(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, w, "ns", metav1.UpdateOptions{FieldManager: tc.writer}); err != nil {
					t.Error(err)
				}
			}
			patches := 0
			client.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
				patches++
				if patches == 1 && tc.lost {
					// The write lands, the connection dies before the answer.
					write()
					return true, nil, io.ErrUnexpectedEOF
				}
				return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "kube-root-ca.crt", nil)
			})
			if !tc.lost {
				write() // someone else's write before ours
			}
			dir := t.TempDir()
			var own *undofile.Writer
			u := &restorer{client: client, dryRun: cmdutil.DryRunNone, errOut: io.Discard, rootCASet: []byte(bundle),
				newUndo: func() (*undofile.Writer, error) {
					w, err := undofile.Create(dir, undofile.Header{Command: "undo", CreatedAt: time.Unix(0, 0)})
					own = w
					return w, err
				}}
			obj := &object{Kind: "ConfigMap", Namespace: "ns", Name: "kube-root-ca.crt", ResourceVersion: "10", keys: []string{"ca.crt"},
				firsts: []undofile.Change{{Kind: "ConfigMap", Namespace: "ns", Name: "kube-root-ca.crt", Key: "ca.crt", Previous: oldCA, ResourceVersion: "10"}}}
			r := u.restore(context.Background(), obj)
			if r.Result != tc.wantResult || !strings.Contains(r.Reason, tc.wantReason) {
				t.Errorf("result %q (%s), want %q (%s)", r.Result, r.Reason, tc.wantResult, tc.wantReason)
			}
			recorded := 0
			if own != nil {
				recorded = own.Changes()
				if err := own.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if recorded != tc.wantUndo {
				t.Errorf("undo's own undo file records %d changes, want %d", recorded, tc.wantUndo)
			}
			if tc.wantUndo == 1 && own != nil {
				_, changes, err := undofile.Read(own.Path)
				if err != nil || len(changes) != 1 || changes[0].Previous != bundle || changes[0].ResourceVersion != "11" {
					t.Errorf("undo's own record: %+v (%v), want the bundle it replaced, at resourceVersion 11", changes, err)
				}
			}
		})
	}
}

// An object the command created is deleted by undo; when that delete's
// answer is lost, the delete sent again finds it gone: deleted, as undo
// meant, not "deleted while undo ran".
func TestDeleteAfterALostAnswer(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "made", ResourceVersion: "10"}, Data: map[string]string{"ca.crt": "X"}}
	client := fake.NewClientset(cm)
	deletes := 0
	client.PrependReactor("delete", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
		deletes++
		if deletes == 1 {
			if err := client.Tracker().Delete(schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}, "ns", "made"); err != nil {
				t.Fatal(err)
			}
			return true, nil, io.ErrUnexpectedEOF
		}
		return false, nil, nil // the tracker answers: not found
	})
	u := &restorer{client: client, dryRun: cmdutil.DryRunNone, errOut: io.Discard}
	obj := &object{Kind: "ConfigMap", Namespace: "ns", Name: "made", Created: true, ResourceVersion: "10", keys: []string{"ca.crt"},
		firsts: []undofile.Change{{Kind: "ConfigMap", Namespace: "ns", Name: "made", Key: "ca.crt", Created: true, ResourceVersion: "10"}}}
	r := u.restore(context.Background(), obj)
	if r.Result != "deleted" || !strings.Contains(r.Reason, "answer was lost") || deletes != 2 {
		t.Errorf("result %q (%s) after %d deletes, want deleted after an answer lost, in 2", r.Result, r.Reason, deletes)
	}
}
