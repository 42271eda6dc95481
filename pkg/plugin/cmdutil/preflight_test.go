package cmdutil

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/carotate/kubectl-carotate/pkg/plugin/internal/overlap"
)

var restartChecks = []AccessCheck{
	{Verb: "list", Group: "apps", Resource: "deployments"},
	{Verb: "patch", Group: "apps", Resource: "deployments"},
	{Verb: "list", Group: "apps", Resource: "daemonsets"},
	{Verb: "patch", Group: "apps", Resource: "daemonsets"},
	{Verb: "list", Group: "apps", Resource: "statefulsets"},
	{Verb: "patch", Group: "apps", Resource: "statefulsets"},
	{Verb: "list", Resource: "pods"},
}

// reviewServer answers SelfSubjectAccessReviews: answer returns an HTTP
// status to fail with (0 to answer) and whether the right is allowed. Each
// review is held until all of them have arrived. read, if not nil, is
// called with a review's resource once the client has read its answer.
func reviewServer(t *testing.T, n int, answer func(a *authorizationv1.ResourceAttributes) (code int, allowed bool), read func(resource string)) (kubernetes.Interface, *overlap.Counter) {
	t.Helper()
	answerer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review authorizationv1.SelfSubjectAccessReview
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") || json.NewDecoder(r.Body).Decode(&review) != nil {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path, http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Resource", review.Spec.ResourceAttributes.Resource)
		code, allowed := answer(review.Spec.ResourceAttributes)
		if code != 0 {
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(&metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
				Code: int32(code), Reason: metav1.StatusReasonForbidden, Message: "forbidden by the test"})
			return
		}
		review.Status.Allowed = allowed
		_ = json.NewEncoder(w).Encode(&review)
	})
	srv := httptest.NewServer(overlap.Hold(5*time.Second, answerer, overlap.NewGroup(n, func(*http.Request) bool { return true })))
	t.Cleanup(srv.Close)
	counter := &overlap.Counter{}
	wrap := counter.Wrap
	if read != nil {
		wrap = func(rt http.RoundTripper) http.RoundTripper { return &readSignal{next: counter.Wrap(rt), read: read} }
	}
	c, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL, QPS: -1, WrapTransport: wrap, ContentConfig: rest.ContentConfig{ContentType: "application/json"}})
	if err != nil {
		t.Fatal(err)
	}
	return c, counter
}

// readSignal calls read with a response's X-Resource once its body is closed.
type readSignal struct {
	next http.RoundTripper
	read func(resource string)
}

func (s *readSignal) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := s.next.RoundTrip(r)
	if err == nil {
		res.Body = &closeSignal{ReadCloser: res.Body, closed: func() { s.read(res.Header.Get("X-Resource")) }}
	}
	return res, err
}

type closeSignal struct {
	io.ReadCloser
	once   sync.Once
	closed func()
}

func (c *closeSignal) Close() error {
	err := c.ReadCloser.Close()
	c.once.Do(c.closed)
	return err
}

// The reviews go out together, and the missing rights are listed in the
// order of the checks, whichever answer came first.
func TestPreflightSendsReviewsTogether(t *testing.T) {
	client, counter := reviewServer(t, len(restartChecks), func(a *authorizationv1.ResourceAttributes) (int, bool) {
		return 0, a.Verb != "patch"
	}, nil)
	err := Preflight(context.Background(), client, restartChecks)
	want := "missing RBAC permissions, nothing was changed:\n  - patch deployments.apps in all namespaces\n" +
		"  - patch daemonsets.apps in all namespaces\n  - patch statefulsets.apps in all namespaces"
	if err == nil || err.Error() != want {
		t.Fatalf("Preflight = %v, want %q", err, want)
	}
	if got := counter.Peak(); got != int64(len(restartChecks)) {
		t.Errorf("at most %d reviews were in flight at once, want all %d", got, len(restartChecks))
	}
	if got := counter.Total(); got != int64(len(restartChecks)) {
		t.Errorf("%d requests, want %d", got, len(restartChecks))
	}
}

// A review that fails is reported as the first failing check in order,
// not as the first answer to arrive: here the later check's failure
// (pods) is answered, and read, before the earlier one's (daemonsets).
func TestPreflightReportsTheFirstFailedCheck(t *testing.T) {
	podsAnswered := make(chan struct{})
	client, _ := reviewServer(t, len(restartChecks), func(a *authorizationv1.ResourceAttributes) (int, bool) {
		switch a.Resource {
		case "daemonsets":
			select {
			case <-podsAnswered:
			case <-time.After(5 * time.Second):
			}
			return http.StatusForbidden, false
		case "pods":
			return http.StatusForbidden, false
		}
		return 0, true
	}, func(resource string) {
		if resource == "pods" {
			close(podsAnswered)
		}
	})
	err := Preflight(context.Background(), client, restartChecks)
	if err == nil || !strings.HasPrefix(err.Error(), "checking RBAC (list daemonsets.apps in all namespaces): ") {
		t.Fatalf("Preflight = %v, want the error of the first failed check (list daemonsets)", err)
	}
}

func TestPreflightAllowed(t *testing.T) {
	client, _ := reviewServer(t, len(restartChecks), func(*authorizationv1.ResourceAttributes) (int, bool) { return 0, true }, nil)
	if err := Preflight(context.Background(), client, restartChecks); err != nil {
		t.Fatal(err)
	}
}
