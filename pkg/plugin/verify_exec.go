package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// verify --exec reads the mounted ca.crt through pods/exec with client-go's
// remotecommand, as kubectl exec does: WebSocket first, SPDY for older API
// servers, the kubeconfig's credentials applied as everywhere else.

const (
	verifyExecTimeout   = 15 * time.Second
	verifyExecMaxStdout = 1 << 20 // a CA bundle is a few KiB; more is not a ca.crt
	verifyExecMaxStderr = 16 << 10
)

var errExecOutputTooLarge = errors.New("the file is larger than 1 MiB: not a CA bundle")

// verifyLimitedBuffer keeps at most max bytes; overflow reports whether more came.
type verifyLimitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *verifyLimitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// verifyExecCat runs "cat file" in a container and returns its stdout.
func verifyExecCat(ctx context.Context, cfg *rest.Config, ns, pod, container, file string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, verifyExecTimeout)
	defer cancel()
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	req := client.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: container, Command: []string{"cat", file}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", req.URL().String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	if err != nil {
		return nil, err
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return nil, err
	}
	stdout := &verifyLimitedBuffer{max: verifyExecMaxStdout}
	stderr := &verifyLimitedBuffer{max: verifyExecMaxStderr}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: stdout, Stderr: stderr})
	if stdout.overflow {
		return nil, errExecOutputTooLarge
	}
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	return stdout.Bytes(), nil
}
