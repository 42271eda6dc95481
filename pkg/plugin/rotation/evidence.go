package rotation

import "github.com/carotate/kubectl-carotate/pkg/checks"

// Facts is the rotation as the step judge takes it (checks.RotationFacts):
// its CAs and files, and from the record, the restart passes logged and
// whether the last verify pass passed.
func (r *CAs) Facts() checks.RotationFacts {
	f := checks.RotationFacts{ID: r.ID, Old: r.Old, New: r.New, OldFP: r.OldFP, NewFP: r.NewFP, OldFile: r.OldFile, NewFile: r.NewFile}
	if rec := r.Record; rec != nil {
		f.Passes = rec.PassRuns()
		if p := rec.LastPass("verify"); p != nil && p.Result == "ok" {
			f.Verified = &checks.LoggedPass{At: p.At, By: p.By}
		}
	}
	return f
}
