package plugin

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// The rotation record: one ConfigMap, kube-system/carotate-state, that says
// which rotation is under way (its id, the public old and new CA), who
// started it and when, and the passes done so far. Every command can read it
// so that a second admin, or the same admin after a crash, resumes without
// flags. It never holds a private key: start refuses any input with one.
//
// How other commands use it (see also the report of issue 7):
//
//	rec, err := loadRotation(ctx, client)      // nil, nil when none is recorded
//	if rec != nil && rec.active() { oldCAs, newCAs := rec.oldCerts(), rec.newCerts() }
//	err = appendPass(ctx, client, rotationPass{Kind: "bundle", Result: "ok", UndoFile: f})
//	// errors.Is(err, errNoActiveRotation) means "nothing recorded": ignore it.
const (
	rotationConfigMap = "carotate-state"
	rotationNamespace = metav1.NamespaceSystem

	// ConfigMap keys. The certificates are separate keys so that an admin
	// can write one to a file with kubectl get -o jsonpath.
	rotationKeyRecord        = "rotation.json"
	rotationKeyOldCA         = "old-ca.crt"
	rotationKeyNewCA         = "new-ca.crt"
	rotationKeyBundle        = "ca-bundle.crt"
	rotationKeyOldFrontProxy = "old-front-proxy-ca.crt"
	rotationKeyNewFrontProxy = "new-front-proxy-ca.crt"

	rotationActive   = "active"
	rotationFinished = "finished"
	rotationAborted  = "aborted"

	// A pass log longer than this is trimmed from the front: a rotation has
	// a few dozen passes, and the ConfigMap must stay far below 1 MiB.
	rotationMaxPasses = 500
)

// errNoActiveRotation is returned by appendPass when there is nothing to
// log into: no record, or one that is finished or aborted.
var errNoActiveRotation = errors.New("no active rotation is recorded in " + rotationNamespace + "/" + rotationConfigMap)

// rotationPass is one entry of the pass log.
type rotationPass struct {
	// Kind is the command: bundle, restart-workloads, update-cluster-info,
	// verify, unbundle, undo.
	Kind string `json:"kind"`
	// Phase is bundle, serve or finish when the command knows it.
	Phase string    `json:"phase,omitempty"`
	At    time.Time `json:"at"`
	By    string    `json:"by,omitempty"`
	// Value is the restart pass's annotation value.
	Value string `json:"value,omitempty"`
	// Started is when the pass began writing: a restart pass that started
	// before the change it follows has to roll again.
	Started time.Time `json:"started,omitzero"`
	// Scope is set when the pass covered part of the cluster only (-n,
	// selectors, some kinds): it does not complete its phase.
	Scope string `json:"scope,omitempty"`
	// Result is ok, failed, partial or dry-run.
	Result   string `json:"result"`
	Detail   string `json:"detail,omitempty"`
	UndoFile string `json:"undoFile,omitempty"`
}

// rotationRecord is the content of the ConfigMap. The PEMs are kept in
// their own keys, not in rotation.json.
type rotationRecord struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	StartedBy string    `json:"startedBy"`
	StartedAt time.Time `json:"startedAt"`
	EndedBy   string    `json:"endedBy,omitempty"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	// OldCASource says where the old CA came from: the --old-ca file, or
	// the CA the API server's serving chain verifies against.
	OldCASource string `json:"oldCASource"`
	// OldCAFile and NewCAFile are the paths given to start, as hints for
	// the commands status prints; they may not exist on another machine.
	OldCAFile string         `json:"oldCAFile,omitempty"`
	NewCAFile string         `json:"newCAFile,omitempty"`
	Passes    []rotationPass `json:"passes"`

	OldCAPEM         []byte `json:"-"`
	NewCAPEM         []byte `json:"-"`
	OldFrontProxyPEM []byte `json:"-"`
	NewFrontProxyPEM []byte `json:"-"`

	resourceVersion string
	oldCAs, newCAs  []*x509.Certificate
	oldFP, newFP    []*x509.Certificate
}

func (r *rotationRecord) active() bool { return r != nil && r.State == rotationActive }

func (r *rotationRecord) oldCerts() []*x509.Certificate { return r.oldCAs }
func (r *rotationRecord) newCerts() []*x509.Certificate { return r.newCAs }

// bundlePEM is the bundle the rotation uses: new CA first, then old.
func (r *rotationRecord) bundlePEM() []byte { return checks.BuildBundle(r.newCAs, r.oldCAs) }

// frontProxy tells whether the rotation replaces the front-proxy CA too.
func (r *rotationRecord) frontProxy() bool { return len(r.newFP) > 0 }

// restartValue is the restart-workloads pass value of a phase.
func (r *rotationRecord) restartValue(phase string) string { return checks.RestartValue(r.ID, phase) }

// unbundled tells whether an unbundle pass over every namespace finished:
// from then on the in-cluster commands take the new CA alone.
func (r *rotationRecord) unbundled() bool {
	p := r.lastPass("unbundle")
	return p != nil && p.Result == "ok" && p.Scope == ""
}

// lastPass returns the latest pass of a kind, nil when there is none.
func (r *rotationRecord) lastPass(kind string) *rotationPass {
	for i := len(r.Passes) - 1; i >= 0; i-- {
		if r.Passes[i].Kind == kind {
			return &r.Passes[i]
		}
	}
	return nil
}

// loadRotation reads the record; nil, nil when none exists.
func loadRotation(ctx context.Context, client kubernetes.Interface) (*rotationRecord, error) {
	var cm *corev1.ConfigMap
	err := WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(rotationNamespace).Get(ctx, rotationConfigMap, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the rotation record %s/%s: %w", rotationNamespace, rotationConfigMap, err)
	}
	return rotationFromConfigMap(cm)
}

// rotationFromConfigMap parses the record and refuses one that holds key
// material or damaged certificates rather than pass it on.
func rotationFromConfigMap(cm *corev1.ConfigMap) (*rotationRecord, error) {
	where := rotationNamespace + "/" + rotationConfigMap
	rec := &rotationRecord{}
	if err := json.Unmarshal([]byte(cm.Data[rotationKeyRecord]), rec); err != nil {
		return nil, fmt.Errorf("the rotation record %s is damaged (%s: %v); fix or delete it", where, rotationKeyRecord, err)
	}
	rec.resourceVersion = cm.ResourceVersion
	parse := func(key string, required bool) ([]byte, []*x509.Certificate, error) {
		v, ok := cm.Data[key]
		if !ok || v == "" {
			if required {
				return nil, nil, fmt.Errorf("the rotation record %s has no %s; fix or delete it", where, key)
			}
			return nil, nil, nil
		}
		if checks.ContainsPrivateKey([]byte(v)) {
			return nil, nil, fmt.Errorf("the rotation record %s holds private-key material in %s: delete that key from the ConfigMap", where, key)
		}
		certs, err := checks.ParseCertificates(where+" "+key, []byte(v))
		if err != nil {
			return nil, nil, fmt.Errorf("the rotation record is damaged: %w", err)
		}
		return []byte(v), certs, nil
	}
	var err error
	if rec.OldCAPEM, rec.oldCAs, err = parse(rotationKeyOldCA, true); err != nil {
		return nil, err
	}
	if rec.NewCAPEM, rec.newCAs, err = parse(rotationKeyNewCA, true); err != nil {
		return nil, err
	}
	if rec.OldFrontProxyPEM, rec.oldFP, err = parse(rotationKeyOldFrontProxy, false); err != nil {
		return nil, err
	}
	if rec.NewFrontProxyPEM, rec.newFP, err = parse(rotationKeyNewFrontProxy, false); err != nil {
		return nil, err
	}
	if rec.ID == "" || rec.State == "" {
		return nil, fmt.Errorf("the rotation record %s lacks an id or state; fix or delete it", where)
	}
	return rec, nil
}

// configMap renders the record.
func (r *rotationRecord) configMap() (*corev1.ConfigMap, error) {
	if len(r.Passes) > rotationMaxPasses {
		r.Passes = r.Passes[len(r.Passes)-rotationMaxPasses:]
	}
	if r.Passes == nil {
		r.Passes = []rotationPass{}
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	data := map[string]string{
		rotationKeyRecord: string(js) + "\n",
		rotationKeyOldCA:  string(r.OldCAPEM),
		rotationKeyNewCA:  string(r.NewCAPEM),
		rotationKeyBundle: string(r.bundlePEM()),
	}
	if len(r.NewFrontProxyPEM) > 0 {
		data[rotationKeyNewFrontProxy] = string(r.NewFrontProxyPEM)
		data[rotationKeyOldFrontProxy] = string(r.OldFrontProxyPEM)
	}
	for k, v := range data {
		// The last line of defence: nothing that looks like a key leaves
		// this process, whatever the code above did.
		if checks.ContainsPrivateKey([]byte(v)) {
			return nil, fmt.Errorf("refusing to write the rotation record: %s would hold private-key material", k)
		}
	}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: rotationConfigMap, Namespace: rotationNamespace, ResourceVersion: r.resourceVersion,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-carotate"},
			Annotations: map[string]string{
				"carotate.io/description": "The CA rotation under way: public certificates and the log of passes. See kubectl carotate status.",
			},
		},
		Data: data,
	}, nil
}

// updateRotation applies change to the current record and writes it back
// with the resourceVersion read, re-reading on a conflict: two admins
// logging passes at once both get their entry in. change returns an error
// to abort without writing.
func updateRotation(ctx context.Context, client kubernetes.Interface, dry DryRun, change func(*rotationRecord) error) (*rotationRecord, error) {
	for attempt := 0; ; attempt++ {
		rec, err := loadRotation(ctx, client)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, errNoActiveRotation
		}
		if err := change(rec); err != nil {
			return nil, err
		}
		cm, err := rec.configMap()
		if err != nil {
			return nil, err
		}
		if !dry.Writes() {
			return rec, nil
		}
		var out *corev1.ConfigMap
		err = WithRetry(ctx, func() (err error) {
			out, err = client.CoreV1().ConfigMaps(rotationNamespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: fieldManager, DryRun: dry.Options()})
			return err
		})
		if apierrors.IsConflict(err) && attempt < rotationConflictAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing the rotation record %s/%s: %w", rotationNamespace, rotationConfigMap, err)
		}
		rec.resourceVersion = out.ResourceVersion
		return rec, nil
	}
}

const rotationConflictAttempts = 10

// appendPass logs a pass in the active rotation. It returns
// errNoActiveRotation when there is none, which callers running without a
// record ignore. At and By are filled in when empty.
func appendPass(ctx context.Context, client kubernetes.Interface, pass rotationPass) error {
	if pass.At.IsZero() {
		pass.At = time.Now().UTC()
	}
	if pass.By == "" {
		pass.By = rotationWhoAmI(ctx, client, nil)
	}
	_, err := updateRotation(ctx, client, DryRunNone, func(rec *rotationRecord) error {
		if !rec.active() {
			return errNoActiveRotation
		}
		rec.Passes = append(rec.Passes, pass)
		return nil
	})
	return err
}

// rotationNewID is a rotation id: the UTC date and 6 random hex digits,
// short enough for annotation values and file names, sortable by day.
func rotationNewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102") + "-" + hex.EncodeToString(b)
}

// rotationWhoAmI names the user the API server sees (SelfSubjectReview,
// authentication.k8s.io/v1), else the kubeconfig user of the current
// context, else "unknown".
func rotationWhoAmI(ctx context.Context, client kubernetes.Interface, loader clientcmd.ClientConfig) string {
	if client != nil {
		var res *authenticationv1.SelfSubjectReview
		err := WithRetry(ctx, func() (err error) {
			res, err = client.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
			return err
		})
		if err == nil && res.Status.UserInfo.Username != "" {
			return res.Status.UserInfo.Username
		}
	}
	if loader != nil {
		if raw, err := loader.RawConfig(); err == nil {
			if ctxt, ok := raw.Contexts[raw.CurrentContext]; ok && ctxt.AuthInfo != "" {
				return ctxt.AuthInfo + " (kubeconfig user)"
			}
		}
	}
	if u := os.Getenv("USER"); u != "" {
		return u + " (local user)"
	}
	return "unknown"
}
