package verify

import "github.com/spf13/cobra"

// SetCommandTree gives the tests of this package the root's subcommands.
func SetCommandTree(tree func() []*cobra.Command) { commandTree = tree }
