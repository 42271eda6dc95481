package cmdutil

import (
	"context"
	"fmt"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
)

// AccessCheck is one right a command needs, asked with a
// SelfSubjectAccessReview before the first write.
type AccessCheck struct {
	Verb, Group, Resource, Subresource, Namespace string
}

func (a AccessCheck) String() string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	if a.Subresource != "" {
		res += "/" + a.Subresource
	}
	where := "in all namespaces"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace
	}
	return a.Verb + " " + res + " " + where
}

// Preflight asks the API server whether the current user may do each check,
// and fails listing every missing right, so that a command with too little
// RBAC stops before it writes anything rather than halfway through. The
// reviews go out together (one round trip, not one per check: on a remote
// API server each costs its latency); what they answer is reported in the
// order of checks, so the messages do not depend on which answer came first.
func Preflight(ctx context.Context, client kubernetes.Interface, checks []AccessCheck) error {
	type answer struct {
		allowed bool
		err     error
	}
	answers := make([]answer, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Verb: c.Verb, Group: c.Group, Resource: c.Resource, Subresource: c.Subresource, Namespace: c.Namespace,
				},
			}}
			var res *authorizationv1.SelfSubjectAccessReview
			err := cluster.WithRetry(ctx, func() (err error) {
				res, err = client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
				return err
			})
			answers[i] = answer{allowed: err == nil && res.Status.Allowed, err: err}
		})
	}
	wg.Wait()
	var missing []string
	for i, c := range checks {
		if err := answers[i].err; err != nil {
			return fmt.Errorf("checking RBAC (%s): %w", c, err)
		}
		if !answers[i].allowed {
			missing = append(missing, c.String())
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing RBAC permissions, nothing was changed:\n  - %s", strings.Join(missing, "\n  - "))
	}
	return nil
}
