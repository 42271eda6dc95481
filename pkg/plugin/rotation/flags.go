package rotation

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// CAFlags are --old-ca and --new-ca: the CAs to work from when no rotation
// is recorded (see Resolve).
type CAFlags struct {
	OldCA, NewCA string
}

// AddFlags binds --old-ca and --new-ca.
func (f *CAFlags) AddFlags(cmd *cobra.Command) {
	cmdutil.AddFileFlag(cmd, &f.OldCA, "old-ca", "PEM file of the old CA, when no rotation is recorded")
	cmdutil.AddFileFlag(cmd, &f.NewCA, "new-ca", "PEM file of the new CA, when no rotation is recorded")
}

// Validate checks that the two go together; it reads no file.
func (f *CAFlags) Validate() error {
	if (f.OldCA == "") != (f.NewCA == "") {
		return errors.New("--old-ca and --new-ca go together")
	}
	return nil
}
