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
