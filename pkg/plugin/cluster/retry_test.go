package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestTransientAndMayHaveApplied(t *testing.T) {
	cm := schema.GroupResource{Resource: "configmaps"}
	refused := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	for _, tc := range []struct {
		name               string
		err                error
		transient, applied bool
	}{
		{"nil", nil, false, false},
		// client-go rest.Request.transformResponse, when the connection
		// dies after the request went out.
		{"body cut off", fmt.Errorf("unexpected error when reading response body. Please retry. Original error: %w", io.ErrUnexpectedEOF), true, true},
		{"http2 stream reset", errors.New("stream error when reading response body, may be caused by closed connection. Please retry. Original error: stream error: stream ID 3; INTERNAL_ERROR"), true, true},
		{"connection refused", refused, true, true},
		{"timeout status", apierrors.NewTimeoutError("slow", 1), true, true},
		{"internal error", apierrors.NewInternalError(errors.New("etcd")), true, true},
		{"conflict", apierrors.NewConflict(cm, "x", errors.New("stale")), false, false},
		{"forbidden", apierrors.NewForbidden(cm, "x", errors.New("rbac")), false, false},
		{"not found", apierrors.NewNotFound(cm, "x"), false, false},
		{"invalid", apierrors.NewBadRequest("bad"), false, false},
		{"canceled", context.Canceled, false, true},
		{"unknown", errors.New("x509: something odd"), false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsTransient(tc.err); got != tc.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.transient)
			}
			if got := MayHaveApplied(tc.err); got != tc.applied {
				t.Errorf("MayHaveApplied(%v) = %v, want %v", tc.err, got, tc.applied)
			}
		})
	}
}

// WithRetryWrite tells a write whose earlier attempt lost its answer (the
// conflict after it may be the write's own effect) from one refused at once.
func TestWithRetryWrite(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Resource: "configmaps"}, "x", nil)
	for _, tc := range []struct {
		name    string
		answers []error
		want    bool
	}{
		{"refused at once", []error{conflict}, false},
		{"answer lost, then refused", []error{io.ErrUnexpectedEOF, conflict}, true},
		{"written", []error{nil}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			mayHave, err := WithRetryWrite(context.Background(), func() error {
				calls++
				return tc.answers[calls-1]
			})
			if mayHave != tc.want || !errors.Is(err, tc.answers[len(tc.answers)-1]) || calls != len(tc.answers) {
				t.Errorf("mayHaveApplied %v, err %v after %d calls; want %v, %v after %d", mayHave, err, calls, tc.want, tc.answers[len(tc.answers)-1], len(tc.answers))
			}
		})
	}
}
