package rotation

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/carotate/kubectl-carotate/pkg/checks"
	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// CAs are the CAs a command works from: the record's, or the
// --old-ca/--new-ca files'.
type CAs struct {
	ID string
	// Record is the rotation record when the CAs come from it.
	Record   *Record
	Old, New []*x509.Certificate
	// OldFP and NewFP are the front-proxy CAs, when the rotation replaces
	// that CA too.
	OldFP, NewFP []*x509.Certificate
	// OldFile and NewFile are the files printed commands read; Export* say
	// that this machine lacks them and the output says how to write them.
	OldFile, NewFile     string
	ExportOld, ExportNew bool
}

// Resolve is the rotation's CAs: from the files when oldFile is given, else
// from the record.
func Resolve(ctx context.Context, client kubernetes.Interface, oldFile, newFile string) (*CAs, error) {
	if oldFile != "" {
		oldCAs, err := cmdutil.ReadCertFile("--old-ca", oldFile)
		if err != nil {
			return nil, err
		}
		newCAs, err := cmdutil.ReadCertFile("--new-ca", newFile)
		if err != nil {
			return nil, err
		}
		if len(newCAs) == 0 {
			return nil, fmt.Errorf("--new-ca %s holds no certificate", newFile)
		}
		// Without a record the id must still be stable across runs: the
		// backup directories and pass values of the printed steps use it.
		id := "ca-" + checks.ShortFingerprint(checks.Fingerprint(newCAs[0]))[:8]
		return &CAs{ID: id, Old: oldCAs, New: newCAs, OldFile: oldFile, NewFile: newFile}, nil
	}
	rec, err := Load(ctx, client)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		return nil, errors.New("no rotation is recorded: run kubectl carotate start --new-ca FILE first, or pass --old-ca and --new-ca")
	}
	return FromRecord(rec), nil
}

// FromRecord is the CAs of a record, with the files this machine has.
func FromRecord(rec *Record) *CAs {
	r := &CAs{ID: rec.ID, Record: rec, Old: rec.OldCAs, New: rec.NewCAs, OldFP: rec.OldFP, NewFP: rec.NewFP}
	r.OldFile, r.ExportOld = LocalFile(rec.OldCAFile, rec.OldCAPEM, "old-ca.crt")
	r.NewFile, r.ExportNew = LocalFile(rec.NewCAFile, rec.NewCAPEM, "new-ca.crt")
	return r
}

// LocalFile is the file a printed command should read a CA
// from: the one given to start when this machine has it with the recorded
// content, else a plain name that the output says how to write.
func LocalFile(recorded string, pemData []byte, fallback string) (string, bool) {
	if recorded != "" {
		if data, err := os.ReadFile(recorded); err == nil {
			if certs, err := checks.ParseCertificates(recorded, data); err == nil {
				if want, err := checks.ParseCertificates("record", pemData); err == nil && checks.SameCertificates(certs, want) {
					return recorded, false
				}
			}
		}
	}
	return fallback, true
}

// ExportNote says how to write the CA files this machine lacks
// from the record, and the bundle, which bundle --out writes in step 3 on
// the machine that ran it.
func ExportNote(r *CAs, bundleFile string) string {
	get := ExportCommand
	var cmds []string
	if r.ExportOld {
		cmds = append(cmds, get(KeyOldCA, r.OldFile))
	}
	if r.ExportNew {
		cmds = append(cmds, get(KeyNewCA, r.NewFile))
	}
	cmds = append(cmds, get(KeyBundle, bundleFile))
	return "This machine lacks the CA files the commands read; write them from the rotation record first: " + strings.Join(cmds, " ; ")
}

// ExportCommand writes one key of the rotation record to file.
func ExportCommand(key, file string) string {
	return fmt.Sprintf("kubectl -n %s get configmap %s -o jsonpath='{.data.%s}' > %s", Namespace, ConfigMapName,
		strings.ReplaceAll(key, ".", `\.`), checks.ShellQuote(file))
}

// PassRuns are the restart passes of the log, for checks.NextPassValue.
func (r *Record) PassRuns() []checks.PassRun {
	var out []checks.PassRun
	for _, p := range r.Passes {
		if p.Kind != "restart-workloads" || p.Value == "" {
			continue
		}
		started := p.Started
		if started.IsZero() {
			started = p.At // records written before passes had a start time
		}
		out = append(out, checks.PassRun{Value: p.Value, Started: started})
	}
	return out
}

// View is the record as commands print it (-o json|yaml): the
// certificates described, not as PEM.
type View struct {
	Lifecycle
	OldCA           []checks.CertInfo `json:"oldCA,omitempty"`
	NewCA           []checks.CertInfo `json:"newCA,omitempty"`
	OldFrontProxyCA []checks.CertInfo `json:"oldFrontProxyCA,omitempty"`
	NewFrontProxyCA []checks.CertInfo `json:"newFrontProxyCA,omitempty"`
	Passes          []Pass            `json:"passes"`
	// Target ("" for cluster-ca; the front-proxy-ca target's CAs are
	// OldCA and NewCA), and the sa-key target's key ids (the kid of the tokens each
	// key signs).
	Target      string   `json:"target,omitempty"`
	OldSAKeyIDs []string `json:"oldKeyIDs,omitempty"`
	NewSAKeyIDs []string `json:"newKeyIDs,omitempty"`
}

func ViewOf(rec *Record) View {
	desc := func(certs []*x509.Certificate) []checks.CertInfo {
		out := []checks.CertInfo{}
		for _, c := range certs {
			out = append(out, checks.Describe(c))
		}
		return out
	}
	v := View{Lifecycle: rec.Lifecycle, OldCA: desc(rec.OldCAs), NewCA: desc(rec.NewCAs), Passes: rec.Passes}
	v.Target = rec.Target
	if rec.Target == checks.TargetSAKey {
		v.OldSAKeyIDs, v.NewSAKeyIDs = checks.KeyIDs(rec.OldSAKeys), checks.KeyIDs(rec.NewSAKeys)
	}
	if rec.FrontProxy() {
		v.OldFrontProxyCA, v.NewFrontProxyCA = desc(rec.OldFP), desc(rec.NewFP)
	}
	if v.Passes == nil {
		v.Passes = []Pass{}
	}
	return v
}

// CertLine is one CA on one line: subject, short fingerprint, expiry.
func CertLine(c checks.CertInfo) string {
	return fmt.Sprintf("%s (sha256 %s, until %s)", c.Subject, checks.ShortFingerprint(c.Fingerprint), c.NotAfter.UTC().Format("2006-01-02"))
}

// BundledAt is when the first whole-cluster bundle pass of the log ended
// well: from then on every kube-root-ca.crt and legacy token Secret held
// the bundle, so a pod that started later holds the new CA. Zero when no
// such pass is logged. unbundle judges pods by it: by step 12.1 the
// controller-manager has rewritten every kube-root-ca.crt with the new CA
// alone, so the objects no longer show when the bundle arrived.
func (r *Record) BundledAt() time.Time {
	var at time.Time
	for _, p := range r.Passes {
		if p.Kind == "bundle" && p.Result == "ok" && p.Scope == "" && !p.At.IsZero() && (at.IsZero() || p.At.Before(at)) {
			at = p.At
		}
	}
	return at
}
