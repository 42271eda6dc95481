// Package rotation is the rotation record in the cluster
// (kube-system/carotate-state): which rotation is under way, its public
// CAs, who started it, the log of passes done; and the one resolver of
// which CAs a command works from (the record, or the CA files given).
package rotation

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cluster"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// The rotation record: one ConfigMap, kube-system/carotate-state, that says
// which rotation is under way (its id, the public old and new CA), who
// started it and when, and the passes done so far. Every command can read it
// so that a second admin, or the same admin after a crash, resumes without
// flags. It never holds a private key: start refuses any input with one.
//
// How other commands use it:
//
//	rec, err := rotation.Load(ctx, client)      // nil, nil when none is recorded
//	if rec.Active() { oldCAs, newCAs := rec.OldCAs, rec.NewCAs }
//	rotation.LogPass(ctx, client, errOut, dry, rotation.Pass{Kind: "bundle", Result: "ok", UndoFile: f})
const (
	ConfigMapName = "carotate-state"
	Namespace     = metav1.NamespaceSystem

	// ConfigMap keys. The certificates are separate keys so that an admin
	// can write one to a file with kubectl get -o jsonpath.
	KeyRecord        = "rotation.json"
	KeyOldCA         = "old-ca.crt"
	KeyNewCA         = "new-ca.crt"
	KeyBundle        = "ca-bundle.crt"
	KeyOldFrontProxy = "old-front-proxy-ca.crt"
	KeyNewFrontProxy = "new-front-proxy-ca.crt"
	// The sa-key target's record keeps public keys, never the private one.
	KeyOldSAPublic = "old-sa.pub"
	KeyNewSAPublic = "new-sa.pub"

	StateActive   = "active"
	StateFinished = "finished"
	StateAborted  = "aborted"

	// A pass log longer than this is trimmed from the front: a rotation has
	// a few dozen passes, and the ConfigMap must stay far below 1 MiB.
	maxPasses = 500
)

// ErrNoActive is returned by AppendPass when there is nothing to
// log into: no record, or one that is finished or aborted.
var ErrNoActive = errors.New("no active rotation is recorded in " + Namespace + "/" + ConfigMapName)

// Pass is one entry of the pass log.
type Pass struct {
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

// Lifecycle is who started and ended the rotation and when, and where
// its old CA came from: the part of the record that View prints as it is.
type Lifecycle struct {
	ID        string    `json:"id"`
	State     string    `json:"state"`
	StartedBy string    `json:"startedBy"`
	StartedAt time.Time `json:"startedAt"`
	EndedBy   string    `json:"endedBy,omitempty"`
	EndedAt   time.Time `json:"endedAt,omitzero"`
	// OldCASource says where the old CA came from: the --old-ca file, or
	// the CA the API server's serving chain verifies against.
	OldCASource string `json:"oldCASource"`
}

// Started is the lifecycle of a rotation started now, to the second.
func Started(id string, now time.Time) Lifecycle {
	return Lifecycle{ID: id, State: StateActive, StartedAt: now.UTC().Truncate(time.Second)}
}

// Record is the content of the ConfigMap. The PEMs are kept in
// their own keys, not in rotation.json.
type Record struct {
	Lifecycle
	// Target is "" for cluster-ca (its record predates targets) or the
	// target the record is of (front-proxy-ca, sa-key). A front-proxy-ca
	// record keeps its front-proxy CAs as OldCAs and NewCAs.
	Target string `json:"target,omitempty"`
	// OldCAFile and NewCAFile are the paths given to start, as hints for
	// the commands status prints; they may not exist on another machine.
	OldCAFile string `json:"oldCAFile,omitempty"`
	NewCAFile string `json:"newCAFile,omitempty"`
	Passes    []Pass `json:"passes"`

	OldCAPEM         []byte `json:"-"`
	NewCAPEM         []byte `json:"-"`
	OldFrontProxyPEM []byte `json:"-"`
	NewFrontProxyPEM []byte `json:"-"`
	// The sa-key target's public keys, as PEM and parsed.
	OldSAPEM, NewSAPEM   []byte             `json:"-"`
	OldSAKeys, NewSAKeys []crypto.PublicKey `json:"-"`

	// ResourceVersion is the record's version when read: Update and start
	// write conditionally on it.
	ResourceVersion string `json:"-"`
	// OldCAs, NewCAs and the front-proxy CAs are the parsed PEMs.
	OldCAs, NewCAs []*x509.Certificate `json:"-"`
	OldFP, NewFP   []*x509.Certificate `json:"-"`
}

func (r *Record) Active() bool { return r != nil && r.State == StateActive }

// BundlePEM is the bundle the rotation uses: new CA first, then old.
func (r *Record) BundlePEM() []byte { return checks.BuildBundle(r.NewCAs, r.OldCAs) }

// FrontProxy tells whether the rotation replaces the front-proxy CA too.
func (r *Record) FrontProxy() bool { return len(r.NewFP) > 0 }

// RestartValue is the restart-workloads pass value of a phase.
func (r *Record) RestartValue(phase string) string { return checks.RestartValue(r.ID, phase) }

// Unbundled tells whether an unbundle pass over every namespace finished:
// from then on the in-cluster commands take the new CA alone.
func (r *Record) Unbundled() bool {
	p := r.LastPass("unbundle")
	return p != nil && p.Result == "ok" && p.Scope == ""
}

// LastPass returns the latest pass of a kind, nil when there is none.
func (r *Record) LastPass(kind string) *Pass {
	for i := len(r.Passes) - 1; i >= 0; i-- {
		if r.Passes[i].Kind == kind {
			return &r.Passes[i]
		}
	}
	return nil
}

// Load reads the cluster-ca record; nil, nil when none exists.
func Load(ctx context.Context, client kubernetes.Interface) (*Record, error) {
	return LoadTarget(ctx, client, "")
}

// LoadTarget reads a target's record; nil, nil when none exists.
func LoadTarget(ctx context.Context, client kubernetes.Interface, target string) (*Record, error) {
	name := NameOf(target)
	var cm *corev1.ConfigMap
	err := cluster.WithRetry(ctx, func() (err error) {
		cm, err = client.CoreV1().ConfigMaps(Namespace).Get(ctx, name, metav1.GetOptions{})
		return err
	})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the rotation record %s/%s: %w", Namespace, name, err)
	}
	rec, err := FromConfigMap(cm)
	if err == nil && rec.Target != targetOf(target) {
		return nil, fmt.Errorf("the rotation record %s/%s says it is of target %q, not %q; fix or delete it", Namespace, name, rec.Target, target)
	}
	return rec, err
}

// NameOf is the name of a target's record: cluster-ca's keeps the name it
// had before targets (carotate-state), each other is carotate-state-<target>.
func NameOf(target string) string {
	if t := targetOf(target); t != "" {
		return ConfigMapName + "-" + t
	}
	return ConfigMapName
}

// targetOf is the Target field of a target's record: "" for cluster-ca.
func targetOf(target string) string {
	if target == checks.TargetClusterCA {
		return ""
	}
	return target
}

// FromConfigMap parses the record and refuses one that holds key
// material or damaged certificates rather than pass it on.
func FromConfigMap(cm *corev1.ConfigMap) (*Record, error) {
	where := Namespace + "/" + cm.Name
	rec := &Record{}
	if err := json.Unmarshal([]byte(cm.Data[KeyRecord]), rec); err != nil {
		return nil, fmt.Errorf("the rotation record %s is damaged (%s: %v); fix or delete it", where, KeyRecord, err)
	}
	rec.ResourceVersion = cm.ResourceVersion
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
	if rec.Target == checks.TargetSAKey {
		keys := func(key string) ([]byte, []crypto.PublicKey, error) {
			v := cm.Data[key]
			if v == "" {
				return nil, nil, fmt.Errorf("the rotation record %s has no %s; fix or delete it", where, key)
			}
			k, err := checks.ParsePublicKeys(where+" "+key, []byte(v))
			if err != nil {
				return nil, nil, fmt.Errorf("the rotation record is damaged: %w", err)
			}
			return []byte(v), k, nil
		}
		if rec.OldSAPEM, rec.OldSAKeys, err = keys(KeyOldSAPublic); err != nil {
			return nil, err
		}
		if rec.NewSAPEM, rec.NewSAKeys, err = keys(KeyNewSAPublic); err != nil {
			return nil, err
		}
		if rec.ID == "" || rec.State == "" {
			return nil, fmt.Errorf("the rotation record %s lacks an id or state; fix or delete it", where)
		}
		return rec, nil
	}
	if rec.OldCAPEM, rec.OldCAs, err = parse(KeyOldCA, true); err != nil {
		return nil, err
	}
	if rec.NewCAPEM, rec.NewCAs, err = parse(KeyNewCA, true); err != nil {
		return nil, err
	}
	if rec.OldFrontProxyPEM, rec.OldFP, err = parse(KeyOldFrontProxy, false); err != nil {
		return nil, err
	}
	if rec.NewFrontProxyPEM, rec.NewFP, err = parse(KeyNewFrontProxy, false); err != nil {
		return nil, err
	}
	if rec.ID == "" || rec.State == "" {
		return nil, fmt.Errorf("the rotation record %s lacks an id or state; fix or delete it", where)
	}
	return rec, nil
}

// ConfigMap renders the record.
func (r *Record) ConfigMap() (*corev1.ConfigMap, error) {
	if len(r.Passes) > maxPasses {
		r.Passes = r.Passes[len(r.Passes)-maxPasses:]
	}
	if r.Passes == nil {
		r.Passes = []Pass{}
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	data := map[string]string{
		KeyRecord: string(js) + "\n",
		KeyOldCA:  string(r.OldCAPEM),
		KeyNewCA:  string(r.NewCAPEM),
		KeyBundle: string(r.BundlePEM()),
	}
	description := "The CA rotation under way: public certificates and the log of passes. See kubectl carotate status."
	if r.Target == checks.TargetFrontProxyCA {
		description = "The front-proxy CA rotation under way: its old and new front-proxy CAs (old-ca.crt, new-ca.crt) and the log of passes. See kubectl carotate status --target front-proxy-ca."
	}
	if r.Target == checks.TargetEtcdCA {
		description = "The etcd CA rotation under way: its old and new etcd CAs (old-ca.crt, new-ca.crt) and the log of passes. See kubectl carotate status --target etcd-ca."
	}
	if r.Target == checks.TargetSAKey {
		data = map[string]string{KeyRecord: string(js) + "\n", KeyOldSAPublic: string(r.OldSAPEM), KeyNewSAPublic: string(r.NewSAPEM)}
		description = "The ServiceAccount signing key rotation under way: public keys and the log of passes. See kubectl carotate status --target sa-key."
	}
	if len(r.NewFrontProxyPEM) > 0 {
		data[KeyNewFrontProxy] = string(r.NewFrontProxyPEM)
		data[KeyOldFrontProxy] = string(r.OldFrontProxyPEM)
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
			Name: NameOf(r.Target), Namespace: Namespace, ResourceVersion: r.ResourceVersion,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-carotate"},
			Annotations: map[string]string{
				"carotate.io/description": description,
			},
		},
		Data: data,
	}, nil
}

// Update applies change to the current record and writes it back
// with the resourceVersion read, re-reading on a conflict: two admins
// logging passes at once both get their entry in. change returns an error
// to abort without writing.
func Update(ctx context.Context, client kubernetes.Interface, dry cmdutil.DryRun, change func(*Record) error) (*Record, error) {
	return UpdateTarget(ctx, client, "", dry, change)
}

// UpdateTarget is Update of a target's record.
func UpdateTarget(ctx context.Context, client kubernetes.Interface, target string, dry cmdutil.DryRun, change func(*Record) error) (*Record, error) {
	for attempt := 0; ; attempt++ {
		rec, err := LoadTarget(ctx, client, target)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			return nil, ErrNoActive
		}
		if err := change(rec); err != nil {
			return nil, err
		}
		cm, err := rec.ConfigMap()
		if err != nil {
			return nil, err
		}
		if !dry.Writes() {
			return rec, nil
		}
		var out *corev1.ConfigMap
		mayHaveWritten, err := cluster.WithRetryWrite(ctx, func() (err error) {
			out, err = client.CoreV1().ConfigMaps(Namespace).Update(ctx, cm, metav1.UpdateOptions{FieldManager: cmdutil.FieldManager, DryRun: dry.Options()})
			return err
		})
		if apierrors.IsConflict(err) && mayHaveWritten {
			// Not applied a second time (a pass logged twice, or "ended
			// by you meanwhile") when the record holds this write.
			if rv, ok := Holds(ctx, client, cm); ok {
				rec.ResourceVersion = rv
				return rec, nil
			}
		}
		if apierrors.IsConflict(err) && attempt < conflictAttempts {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("writing the rotation record %s/%s: %w", Namespace, NameOf(target), err)
		}
		rec.ResourceVersion = out.ResourceVersion
		return rec, nil
	}
}

// Holds tells whether the record's ConfigMap holds exactly cm's data now,
// and its resourceVersion. A write of the record whose answer was lost is
// sent again and meets its own precondition (a conflict; for a create,
// AlreadyExists): the record holding what was written says the first one
// landed. Each write holds the rotation's random id and a time (a logged
// pass's to the nanosecond): another admin's write that is byte for byte
// the same says what this one meant to, at the same moment.
func Holds(ctx context.Context, client kubernetes.Interface, cm *corev1.ConfigMap) (string, bool) {
	var now *corev1.ConfigMap
	err := cluster.WithRetry(ctx, func() (err error) {
		now, err = client.CoreV1().ConfigMaps(cm.Namespace).Get(ctx, cm.Name, metav1.GetOptions{})
		return err
	})
	if err != nil || !maps.Equal(now.Data, cm.Data) {
		return "", false
	}
	return now.ResourceVersion, true
}

const conflictAttempts = 10

// AppendPass logs a pass in the active rotation. It returns
// ErrNoActive when there is none, which callers running without a
// record ignore. At and By are filled in when empty.
func AppendPass(ctx context.Context, client kubernetes.Interface, pass Pass) error {
	return AppendTargetPass(ctx, client, "", pass)
}

// AppendTargetPass is AppendPass into a target's record.
func AppendTargetPass(ctx context.Context, client kubernetes.Interface, target string, pass Pass) error {
	if pass.At.IsZero() {
		pass.At = time.Now().UTC()
	}
	if pass.By == "" {
		pass.By = WhoAmI(ctx, client, nil)
	}
	_, err := UpdateTarget(ctx, client, target, cmdutil.DryRunNone, func(rec *Record) error {
		if !rec.Active() {
			return ErrNoActive
		}
		rec.Passes = append(rec.Passes, pass)
		return nil
	})
	return err
}

// NewID is a rotation id: the UTC date and 6 random hex digits,
// short enough for annotation values and file names, sortable by day.
func NewID(now time.Time) string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return now.UTC().Format("20060102") + "-" + hex.EncodeToString(b)
}

// WhoAmI names the user the API server sees (SelfSubjectReview,
// authentication.k8s.io/v1), else the kubeconfig user of the current
// context, else "unknown".
func WhoAmI(ctx context.Context, client kubernetes.Interface, loader clientcmd.ClientConfig) string {
	if client != nil {
		var res *authenticationv1.SelfSubjectReview
		err := cluster.WithRetry(ctx, func() (err error) {
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
