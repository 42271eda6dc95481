package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// undoWorkers is how many objects are restored at once.
const undoWorkers = 8

// UndoOptions is "kubectl carotate undo".
type UndoOptions struct {
	*Common
	File       string
	Force      bool
	DryRunFlag string
	Output     string
	dryRun     DryRun
	now        func() time.Time
}

// NewCmdUndo is "kubectl carotate undo FILE".
func NewCmdUndo(c *Common) *cobra.Command {
	o := &UndoOptions{Common: c, DryRunFlag: string(DryRunNone), now: time.Now}
	cmd := &cobra.Command{
		Use:   "undo FILE",
		Short: "Restore what a command changed, from its undo file",
		Long: `Restore what a kubectl carotate command changed, from the undo file it wrote
(bundle, unbundle, update-cluster-info, restart-workloads, ...; the command
prints the file's path, by default under ~/.kube/carotate/).

Each ConfigMap and Secret is restored only if it has not changed since the
command wrote it (same resourceVersion); each workload only while its pod
template still carries the annotation value the pass set (a restored
annotation rolls the workload again). An object changed since, by a
controller or a person, is skipped and reported, never overwritten. Objects
the command created are deleted. Only the recorded keys are touched. The values replaced by the undo
go to a new undo file next to FILE, so an undo can itself be undone (a
deletion excepted).

Exit status: 0 when nothing failed (skipped objects are reported, not
errors); 1 on a bad file, missing RBAC, or a failed write.`,
		Example: `  kubectl carotate undo ~/.kube/carotate/no-rotation/bundle-20250601T120000.000Z.undo.jsonl

  # What would be restored, validated by the API server
  kubectl carotate undo --dry-run=server FILE`,
		Args: cobra.ExactArgs(1),
		RunE: runOptions(o, nil),
	}
	f := cmd.Flags()
	f.BoolVar(&o.Force, "force", o.Force, "Restore even though the undo file was written for another API server URL")
	addDryRunFlag(cmd, &o.DryRunFlag, "send no writes")
	addOutputFlag(cmd, &o.Output)
	noNamespace(cmd, "the undo file names the namespace of every object it restores")
	return cmd
}

// Complete takes FILE from the arguments.
func (o *UndoOptions) Complete(_ *cobra.Command, args []string) error {
	o.File = args[0]
	return nil
}

// Validate checks the flags.
func (o *UndoOptions) Validate() error {
	var err error
	if o.dryRun, err = ParseDryRun(o.DryRunFlag); err != nil {
		return err
	}
	return validateOutput(o.Output)
}

// undoObject is everything the undo file says about one object: the
// earliest recorded value of each key (what it was before the command) and
// the latest resourceVersion (what it was after the command's last write).
type undoObject struct {
	Kind, Namespace, Name string
	Created               bool
	ResourceVersion       string
	keys                  []string
	prev                  map[string]UndoChange
}

// undoGroup merges the changes of one undo file per object, in file order.
// Keys of one object are restored in one write: a command that wrote
// several keys at once recorded one resourceVersion for all of them, and
// restoring them one by one would make the second look "changed since".
func undoGroup(changes []UndoChange) []*undoObject {
	var order []*undoObject
	byKey := map[string]*undoObject{}
	for _, c := range changes {
		k := c.Kind + "/" + c.Namespace + "/" + c.Name
		o := byKey[k]
		if o == nil {
			o = &undoObject{Kind: c.Kind, Namespace: c.Namespace, Name: c.Name, prev: map[string]UndoChange{}}
			byKey[k] = o
			order = append(order, o)
		}
		o.ResourceVersion = c.ResourceVersion
		if c.Created {
			o.Created = true
		}
		if _, seen := o.prev[c.Key]; !seen {
			o.prev[c.Key] = c
			o.keys = append(o.keys, c.Key)
		}
	}
	return order
}

// undoResult is one object's line in the report.
type undoResult struct {
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace"`
	Name      string   `json:"name"`
	Keys      []string `json:"keys"`
	Result    string   `json:"result"` // restored, deleted, skipped, failed
	Reason    string   `json:"reason,omitempty"`
}

// undoReport is the summary (-o json|yaml).
type undoReport struct {
	UndoFile    string       `json:"undoFile"`
	Command     string       `json:"command"`
	DryRun      DryRun       `json:"dryRun"`
	NewUndoFile string       `json:"newUndoFile,omitempty"`
	Restored    int          `json:"restored"`
	Deleted     int          `json:"deleted"`
	Skipped     int          `json:"skipped"`
	Failed      int          `json:"failed"`
	Objects     []undoResult `json:"objects"`
}

// Run restores the file's objects.
func (o *UndoOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	header, changes, err := ReadUndoFile(o.File)
	if err != nil {
		return fmt.Errorf("%w (nothing was changed)", err)
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	if header.Server != "" && header.Server != cfg.Host && !o.Force {
		return fmt.Errorf("%s was written for the API server %s, but the current context uses %s; choose the right --context, or pass --force if it is the same cluster (nothing was changed)",
			o.File, header.Server, cfg.Host)
	}
	objects := undoGroup(changes)
	report := &undoReport{UndoFile: o.File, Command: header.Command, DryRun: o.dryRun, Objects: []undoResult{}}
	if len(objects) == 0 {
		fmt.Fprintf(o.ErrOut, "undo: %s records no change; nothing to do\n", o.File)
		return printUndoReport(o.Common.Out, o.Output, report)
	}
	for _, obj := range objects {
		if obj.Kind != "ConfigMap" && obj.Kind != "Secret" && !isUndoWorkloadKind(obj.Kind) {
			return fmt.Errorf("%s: unsupported kind %q for %s/%s (nothing was changed)", o.File, obj.Kind, obj.Namespace, obj.Name)
		}
	}
	client, err := o.Clientset()
	if err != nil {
		return err
	}
	if err := Preflight(ctx, client, undoAccessChecks(objects, o.dryRun, false)); err != nil {
		// A user may hold the rights per namespace only.
		if err2 := Preflight(ctx, client, undoAccessChecks(objects, o.dryRun, true)); err2 != nil {
			return err2
		}
	}

	u := &undoRun{client: client, dryRun: o.dryRun, errOut: o.ErrOut}
	if o.dryRun == DryRunNone {
		u.newUndo = func() (*UndoWriter, error) {
			return CreateUndoFile(filepath.Dir(o.File), UndoHeader{Command: "undo", RotationID: header.RotationID, Server: cfg.Host, CreatedAt: o.now()})
		}
	}
	report.Objects = u.run(ctx, objects)
	if u.undo != nil {
		report.NewUndoFile = u.undo.Path
		_ = u.undo.Close()
	}
	for _, r := range report.Objects {
		switch r.Result {
		case "restored":
			report.Restored++
		case "deleted":
			report.Deleted++
		case "skipped":
			report.Skipped++
		default:
			report.Failed++
		}
	}
	if err := printUndoReport(o.Common.Out, o.Output, report); err != nil {
		return err
	}
	if report.Skipped > 0 {
		fmt.Fprintf(o.ErrOut, "undo: %d objects changed since %s wrote them and were left as they are (see the REASON column)\n", report.Skipped, header.Command)
	}
	if report.NewUndoFile != "" {
		fmt.Fprintf(o.ErrOut, "undo: the replaced values are in %s\n", report.NewUndoFile)
	}
	if report.Failed > 0 {
		return fmt.Errorf("%d objects could not be restored (see the RESULT column)", report.Failed)
	}
	return nil
}

// undoAccessChecks lists the rights undo needs, cluster-wide or per
// namespace of the file.
func undoAccessChecks(objects []*undoObject, dry DryRun, perNamespace bool) []AccessCheck {
	type need struct{ verb, group, resource, ns string }
	seen := map[need]bool{}
	var out []AccessCheck
	var group string
	add := func(verb, resource, namespace string) {
		if !perNamespace {
			namespace = ""
		}
		n := need{verb, group, resource, namespace}
		if !seen[n] {
			seen[n] = true
			out = append(out, AccessCheck{Verb: verb, Group: group, Resource: resource, Namespace: namespace})
		}
	}
	for _, o := range objects {
		res := strings.ToLower(o.Kind) + "s"
		group = ""
		if isUndoWorkloadKind(o.Kind) {
			group = "apps"
		}
		add("get", res, o.Namespace)
		if !dry.Writes() {
			continue
		}
		if o.Created {
			add("delete", res, o.Namespace)
		} else {
			add("patch", res, o.Namespace)
		}
	}
	return out
}

type undoRun struct {
	client  kubernetes.Interface
	dryRun  DryRun
	errOut  io.Writer
	newUndo func() (*UndoWriter, error)

	mu       sync.Mutex
	undo     *UndoWriter
	undoFail error
}

func (u *undoRun) run(ctx context.Context, objects []*undoObject) []undoResult {
	results := make([]undoResult, len(objects))
	sem := make(chan struct{}, undoWorkers)
	var wg sync.WaitGroup
	for i, obj := range objects {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			results[i] = u.restore(ctx, obj)
		}()
	}
	wg.Wait()
	sort.SliceStable(results, func(i, j int) bool {
		a, b := results[i], results[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		return a.Name < b.Name
	})
	return results
}

// undoCurrent is what undo reads of an object before restoring it.
type undoCurrent struct {
	rv     string
	values map[string][]byte
}

func (u *undoRun) get(ctx context.Context, obj *undoObject) (undoCurrent, error) {
	var cur undoCurrent
	err := WithRetry(ctx, func() error {
		if obj.Kind == "Secret" {
			s, err := u.client.CoreV1().Secrets(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
			if err != nil {
				return err
			}
			cur = undoCurrent{rv: s.ResourceVersion, values: map[string][]byte{}}
			for _, k := range obj.keys {
				if v, ok := s.Data[k]; ok {
					cur.values[k] = v
				}
			}
			return nil
		}
		cm, err := u.client.CoreV1().ConfigMaps(obj.Namespace).Get(ctx, obj.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur = undoCurrent{rv: cm.ResourceVersion, values: map[string][]byte{}}
		for _, k := range obj.keys {
			if v, ok := cm.Data[k]; ok {
				cur.values[k] = []byte(v)
			}
		}
		return nil
	})
	return cur, err
}

func (u *undoRun) restore(ctx context.Context, obj *undoObject) undoResult {
	if isUndoWorkloadKind(obj.Kind) {
		return u.restoreWorkload(ctx, obj)
	}
	r := undoResult{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Keys: obj.keys}
	cur, err := u.get(ctx, obj)
	switch {
	case apierrors.IsNotFound(err) && obj.Created:
		r.Result, r.Reason = "skipped", "already deleted"
		return r
	case apierrors.IsNotFound(err):
		r.Result, r.Reason = "skipped", "no longer exists"
		return r
	case err != nil:
		r.Result, r.Reason = "failed", err.Error()
		return r
	case cur.rv != obj.ResourceVersion:
		r.Result, r.Reason = "skipped", fmt.Sprintf("changed since (resourceVersion %s, the undo file has %s)", cur.rv, obj.ResourceVersion)
		return r
	}
	suffix := u.dryRun.Suffix()
	if obj.Created {
		r.Result, r.Reason = "deleted", "created by the command"+suffix
		if !u.dryRun.Writes() {
			return r
		}
		rv := obj.ResourceVersion
		opts := metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}, DryRun: u.dryRun.Options()}
		err = WithRetry(ctx, func() error {
			if obj.Kind == "Secret" {
				return u.client.CoreV1().Secrets(obj.Namespace).Delete(ctx, obj.Name, opts)
			}
			return u.client.CoreV1().ConfigMaps(obj.Namespace).Delete(ctx, obj.Name, opts)
		})
		return undoWriteResult(r, err)
	}

	r.Result, r.Reason = "restored", suffix
	r.Reason = strings.TrimSpace(r.Reason)
	if !u.dryRun.Writes() {
		return r
	}
	data := map[string]any{}
	for _, k := range obj.keys {
		c := obj.prev[k]
		switch {
		case c.Absent || c.Created:
			data[k] = nil // a JSON merge patch null removes the key
		case obj.Kind == "Secret":
			data[k] = []byte(c.Previous) // base64 in JSON, as Secret data is
		default:
			data[k] = c.Previous
		}
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": obj.ResourceVersion}, "data": data})
	if err != nil {
		r.Result, r.Reason = "failed", err.Error()
		return r
	}
	var newRV string
	opts := metav1.PatchOptions{FieldManager: fieldManager, DryRun: u.dryRun.Options()}
	err = WithRetry(ctx, func() error {
		if obj.Kind == "Secret" {
			s, err := u.client.CoreV1().Secrets(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, opts)
			if err == nil {
				newRV = s.ResourceVersion
			}
			return err
		}
		cm, err := u.client.CoreV1().ConfigMaps(obj.Namespace).Patch(ctx, obj.Name, types.MergePatchType, body, opts)
		if err == nil {
			newRV = cm.ResourceVersion
		}
		return err
	})
	r = undoWriteResult(r, err)
	if err == nil && u.dryRun == DryRunNone {
		u.record(obj, cur, newRV)
	}
	return r
}

func undoWriteResult(r undoResult, err error) undoResult {
	switch {
	case err == nil:
	case apierrors.IsConflict(err):
		r.Result, r.Reason = "skipped", "changed while undo ran"
	case apierrors.IsNotFound(err):
		r.Result, r.Reason = "skipped", "deleted while undo ran"
	default:
		r.Result, r.Reason = "failed", err.Error()
	}
	return r
}

// record saves the values the undo replaced, so it can be undone in turn.
func (u *undoRun) record(obj *undoObject, cur undoCurrent, rv string) {
	changes := make([]UndoChange, 0, len(obj.keys))
	for _, k := range obj.keys {
		v, ok := cur.values[k]
		changes = append(changes, UndoChange{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Key: k,
			Previous: string(v), Absent: !ok, ResourceVersion: rv})
	}
	u.recordChanges(changes)
}

// recordChanges appends to this undo's own undo file, created on first use.
// A failure here does not stop the restore: the file being restored from
// still holds the other direction.
func (u *undoRun) recordChanges(changes []UndoChange) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.newUndo == nil || u.undoFail != nil {
		return
	}
	if u.undo == nil {
		w, err := u.newUndo()
		if err != nil {
			u.undoFail = err
			fmt.Fprintf(u.errOut, "warning: cannot create an undo file for this undo: %v\n", err)
			return
		}
		u.undo = w
	}
	for _, c := range changes {
		if err := u.undo.Record(c); err != nil {
			u.undoFail = err
			fmt.Fprintf(u.errOut, "warning: %v\n", err)
			return
		}
	}
}

func printUndoReport(w io.Writer, format string, r *undoReport) error {
	if format == outputJSON || format == outputYAML {
		return printStructured(w, format, r)
	}
	if len(r.Objects) > 0 {
		rows := make([][]string, 0, len(r.Objects))
		for _, o := range r.Objects {
			rows = append(rows, []string{o.Kind, o.Namespace, o.Name, strings.Join(o.Keys, ","), o.Result, o.Reason})
		}
		if err := writeTable(w, []string{"kind", "namespace", "name", "keys", "result", "reason"}, rows); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintf(w, "%d restored, %d deleted, %d skipped, %d failed%s\n", r.Restored, r.Deleted, r.Skipped, r.Failed, r.DryRun.Suffix())
	return err
}
