package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// verify --exec reads the mounted ca.crt through pods/exec with client-go's
// remotecommand, as kubectl exec does: WebSocket first, SPDY for older API
// servers, the kubeconfig's credentials applied as everywhere else.

// execTask is one ca.crt to read inside a container (--exec).
type execTask struct {
	ns, pod, container, file, source string
}

const (
	execTimeout   = 15 * time.Second
	execMaxStdout = 1 << 20 // a CA bundle is a few KiB; more is not a ca.crt
	execMaxStderr = 16 << 10
)

var errExecOutputTooLarge = errors.New("the file is larger than 1 MiB: not a CA bundle")

// limitedBuffer keeps at most max bytes; overflow reports whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// execCat runs "cat file" in a container and returns its stdout. client
// only builds the request's URL; cfg makes the connection.
func execCat(ctx context.Context, cfg *rest.Config, client kubernetes.Interface, ns, pod, container, file string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
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
	stdout := &limitedBuffer{max: execMaxStdout}
	stderr := &limitedBuffer{max: execMaxStderr}
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

// execAll reads each mounted ca.crt inside its container and
// compares it with the rule. Failures (exec forbidden, no cat in the image,
// no such file) are notes, grouped by reason: the check is optional and a
// pod that cannot be exec'ed into is not wrong for it.
func (r *run) execAll(ctx context.Context, sec *section, pass *podPass) {
	o := r.o
	if pass.noFile > 0 {
		sec.notef("--exec: %d mount(s) use subPathExpr: the file path is only known inside the pod, not read", pass.noFile)
	}
	if len(pass.exec) == 0 {
		sec.notef("--exec: no running container mounts a ca.crt to read")
		return
	}
	type outcome struct {
		data []byte
		err  error
	}
	results := make([]outcome, len(pass.exec))
	for i := range results {
		results[i].err = context.Canceled // unless it runs
	}
	r.fanout(ctx, "exec: %d/%d containers read", len(pass.exec), func(i int) {
		t := pass.exec[i]
		data, err := o.ExecCat(ctx, t.ns, t.pod, t.container, t.file)
		results[i] = outcome{data: data, err: err}
	})

	var skips groups[string]
	ok := 0
	for i, res := range results {
		t := pass.exec[i]
		where := t.ns + "/" + t.pod + "/" + t.container
		if res.err != nil {
			skips.add(groupReason(execReason(res.err), t.ns, t.pod, t.container), where)
			continue
		}
		v := o.rule.Judge(where+":"+t.file, res.data)
		if v.OK {
			ok++
			continue
		}
		sec.add(item{Severity: checks.SeverityError, Kind: "Pod", Namespace: t.ns, Name: t.pod, Where: "container " + t.container + ": " + t.file,
			Holds: v.Holds, Verdict: "exec-" + v.Reason,
			Detail: "the mounted file " + v.Problem + " (its source is " + t.source + ")",
			Fix:    "restart the pod so the file is mounted afresh; a subPath mount must be replaced by a directory mount to ever update"})
	}
	sec.notef("--exec: read ca.crt in %d of %d container(s): %d hold the expected CA", len(pass.exec)-skips.n, len(pass.exec), ok)
	for _, it := range reasonRows(&skips, "exec", "skipped", "exec-skipped") {
		sec.add(it)
	}
}

// execReason is a short, groupable reason an exec failed.
func execReason(err error) string {
	switch {
	case apierrors.IsForbidden(err):
		return "pods/exec is forbidden for this user: the mounted files were not read"
	case apierrors.IsNotFound(err):
		return "the pod or container is gone"
	}
	msg := cluster.ShortError(err)
	// The API server wraps the kubelet's internal error in its own.
	for strings.HasPrefix(msg, "Internal error occurred: Internal error occurred: ") {
		msg = strings.TrimPrefix(msg, "Internal error occurred: ")
	}
	return "exec failed: " + msg
}
