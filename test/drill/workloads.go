package drill

import (
	"context"
	"fmt"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Workloads names what the drill runs in the cluster before the rotation.
type Workloads struct {
	// Namespaces of the drill's workloads.
	Namespaces []string
	// Special cases a restart pass cannot roll by itself.
	Paused, OnDelete, Zero, BarePod, CronJob struct{ Namespace, Name string }
	// Webhook is the ValidatingWebhookConfiguration trusting the old CA.
	Webhook string
	// TokenSecret is the legacy ServiceAccount token Secret.
	TokenSecret struct{ Namespace, Name string }
}

const (
	nsApps  = "drill-apps"
	nsInfra = "drill-infra"
	nsEdge  = "drill-edge"
)

func podTemplate(app string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		// KWOK runs it; no image is pulled.
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}},
	}
}

func selector(app string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}}
}

func deployment(name string, replicas int32, paused bool) *appsv1.Deployment {
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Paused: paused, Selector: selector(name), Template: podTemplate(name)}}
}

func statefulSet(name string, replicas int32, onDelete bool) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{Replicas: ptr.To(replicas), ServiceName: name, Selector: selector(name), Template: podTemplate(name)}}
	if onDelete {
		s.Spec.UpdateStrategy.Type = appsv1.OnDeleteStatefulSetStrategyType
	}
	return s
}

func daemonSet(name string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{Selector: selector(name), Template: podTemplate(name)}}
}

// BarePod is the drill's pod without a controller, for re-creation.
func BarePod(ns string) *corev1.Pod {
	t := podTemplate("bare")
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: ns, Labels: t.Labels}, Spec: t.Spec}
}

// CreateWorkloads creates the drill's workload set, a legacy token Secret
// and a webhook whose caBundle is oldCA, and waits until they run.
func CreateWorkloads(ctx context.Context, client kubernetes.Interface, oldCA []byte) (*Workloads, error) {
	w := &Workloads{Namespaces: []string{nsApps, nsInfra, nsEdge}}
	for _, ns := range w.Namespaces {
		if _, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
		// The default ServiceAccount appears a moment after the namespace.
		if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			_, err := client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
			return err == nil, nil
		}); err != nil {
			return nil, fmt.Errorf("no default ServiceAccount in %s: %w", ns, err)
		}
	}
	// web counts a new pod available only after 2 s, as a server that
	// warms up: its rollout takes a few seconds whatever the machine's
	// speed (at least 4 s for its two pods), which the chaos variant relies
	// on (KillDuringRollout).
	web := deployment("web", 2, false)
	web.Spec.MinReadySeconds = 2
	_, e1 := client.AppsV1().Deployments(nsApps).Create(ctx, web, metav1.CreateOptions{})
	_, e2 := client.AppsV1().Deployments(nsApps).Create(ctx, deployment("api", 1, false), metav1.CreateOptions{})
	_, e3 := client.AppsV1().StatefulSets(nsApps).Create(ctx, statefulSet("db", 2, false), metav1.CreateOptions{})
	_, e4 := client.AppsV1().DaemonSets(nsInfra).Create(ctx, daemonSet("agent"), metav1.CreateOptions{})
	_, e5 := client.AppsV1().Deployments(nsInfra).Create(ctx, deployment("operator", 1, false), metav1.CreateOptions{})
	_, e6 := client.AppsV1().StatefulSets(nsInfra).Create(ctx, statefulSet("queue", 1, false), metav1.CreateOptions{})
	_, e7 := client.AppsV1().Deployments(nsEdge).Create(ctx, deployment("frozen", 1, false), metav1.CreateOptions{})
	_, e8 := client.AppsV1().StatefulSets(nsEdge).Create(ctx, statefulSet("ondelete", 2, true), metav1.CreateOptions{})
	_, e9 := client.AppsV1().Deployments(nsEdge).Create(ctx, deployment("zero", 0, false), metav1.CreateOptions{})
	_, e10 := client.CoreV1().Pods(nsEdge).Create(ctx, BarePod(nsEdge), metav1.CreateOptions{})
	cron := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "report"}, Spec: batchv1.CronJobSpec{
		Schedule: "0 3 * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: func() corev1.PodTemplateSpec {
			t := podTemplate("report")
			t.Spec.RestartPolicy = corev1.RestartPolicyNever
			return t
		}()}},
	}}
	_, e11 := client.BatchV1().CronJobs(nsEdge).Create(ctx, cron, metav1.CreateOptions{})
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "legacy-token", Annotations: map[string]string{corev1.ServiceAccountNameKey: "default"}},
		Type: corev1.SecretTypeServiceAccountToken}
	_, e12 := client.CoreV1().Secrets(nsApps).Create(ctx, secret, metav1.CreateOptions{})
	w.Webhook = "drill-policy"
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: w.Webhook},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "policy.drill.example.com",
			ClientConfig: admissionregistrationv1.WebhookClientConfig{
				Service:  &admissionregistrationv1.ServiceReference{Namespace: nsInfra, Name: "policy", Path: ptr.To("/validate")},
				CABundle: oldCA,
			},
			// A group nothing serves: the API server never calls it, so the
			// missing backend breaks nothing.
			Rules: []admissionregistrationv1.RuleWithOperations{{Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{APIGroups: []string{"drill.example.com"}, APIVersions: []string{"v1"}, Resources: []string{"widgets"}}}},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
		}}}
	_, e13 := client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{})
	for _, err := range []error{e1, e2, e3, e4, e5, e6, e7, e8, e9, e10, e11, e12, e13} {
		if err != nil {
			return nil, err
		}
	}
	w.Paused.Namespace, w.Paused.Name = nsEdge, "frozen"
	w.OnDelete.Namespace, w.OnDelete.Name = nsEdge, "ondelete"
	w.Zero.Namespace, w.Zero.Name = nsEdge, "zero"
	w.BarePod.Namespace, w.BarePod.Name = nsEdge, "bare"
	w.CronJob.Namespace, w.CronJob.Name = nsEdge, "report"
	w.TokenSecret.Namespace, w.TokenSecret.Name = nsApps, "legacy-token"
	if err := WaitRolledOut(ctx, client, w.Namespaces); err != nil {
		return nil, err
	}
	// Pause after the first rollout, as an admin pausing a Deployment would.
	if err := setPaused(ctx, client, nsEdge, "frozen", true); err != nil {
		return nil, err
	}
	return w, nil
}

func setPaused(ctx context.Context, client kubernetes.Interface, ns, name string, paused bool) error {
	_, err := client.AppsV1().Deployments(ns).Patch(ctx, name, "application/merge-patch+json",
		[]byte(fmt.Sprintf(`{"spec":{"paused":%t}}`, paused)), metav1.PatchOptions{})
	return err
}

// WaitRolledOut waits until every Deployment, DaemonSet and StatefulSet in
// the namespaces has its current template ready, and every pod runs.
func WaitRolledOut(ctx context.Context, client kubernetes.Interface, namespaces []string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, ns := range namespaces {
			deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for _, d := range deps.Items {
				want := ptr.Deref(d.Spec.Replicas, 1)
				if d.Spec.Paused {
					continue
				}
				if d.Status.ObservedGeneration < d.Generation || d.Status.UpdatedReplicas != want || d.Status.ReadyReplicas != want || d.Status.Replicas != want {
					last = "deployment " + ns + "/" + d.Name
					return false, nil
				}
			}
			dss, err := client.AppsV1().DaemonSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for _, d := range dss.Items {
				if d.Status.ObservedGeneration < d.Generation || d.Status.DesiredNumberScheduled == 0 || d.Status.UpdatedNumberScheduled != d.Status.DesiredNumberScheduled || d.Status.NumberReady != d.Status.DesiredNumberScheduled {
					last = "daemonset " + ns + "/" + d.Name
					return false, nil
				}
			}
			stss, err := client.AppsV1().StatefulSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for _, s := range stss.Items {
				want := ptr.Deref(s.Spec.Replicas, 1)
				if s.Status.ObservedGeneration < s.Generation || s.Status.ReadyReplicas != want {
					last = "statefulset " + ns + "/" + s.Name
					return false, nil
				}
				if s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType && s.Status.UpdatedReplicas != want {
					last = "statefulset " + ns + "/" + s.Name
					return false, nil
				}
			}
			pods, err := client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, nil
			}
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodRunning && p.Status.Phase != corev1.PodSucceeded {
					last = "pod " + ns + "/" + p.Name
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("workloads did not roll out (waiting for %s): %w", last, err)
	}
	return nil
}

// RecreateBarePod deletes the drill's bare pod and creates it again, as the
// restart report tells the admin to: nothing else would restart it.
func RecreateBarePod(ctx context.Context, client kubernetes.Interface, ns string) error {
	return RecreatePod(ctx, client, BarePod(ns))
}

// RecreatePod deletes the pod of pod's name and creates pod in its place,
// as `kubectl replace --force` does, and waits until the new one runs.
// KWOK deletes a pod by name, without a UID precondition, when it sees a
// deletion timestamp: it may act on the old pod's deletion after a pod of
// the same name exists again (seen under load), so the new pod counts as
// re-created only once it runs, and is created again if it vanished.
func RecreatePod(ctx context.Context, client kubernetes.Interface, pod *corev1.Pod) error {
	pods := client.CoreV1().Pods(pod.Namespace)
	zero := int64(0)
	if err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	var uid types.UID
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			created, err := pods.Create(ctx, pod.DeepCopy(), metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return false, nil
			}
			if err != nil {
				return false, err
			}
			uid = created.UID
			return false, nil
		case err != nil:
			return false, nil // the apiserver may be restarting (chaos)
		case p.UID != uid || p.DeletionTimestamp != nil:
			return false, nil // the old pod, still terminating
		}
		return p.Status.Phase == corev1.PodRunning, nil
	})
}
