package plugin

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"sigs.k8s.io/yaml"
)

// Output formats accepted by -o on reporting commands.
const (
	outputTable = ""
	outputJSON  = "json"
	outputYAML  = "yaml"
)

func validateOutput(format string) error {
	switch format {
	case outputTable, "table", outputJSON, outputYAML:
		return nil
	}
	return fmt.Errorf("unsupported output format %q: use one of table, json, yaml", format)
}

// printStructured writes a report in the machine-readable format asked for.
// Our reports are plain structs rather than API objects, so cli-runtime's
// printers (which need runtime.Object) do not apply.
func printStructured(w io.Writer, format string, v any) error {
	switch format {
	case outputJSON:
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case outputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unsupported output format %q", format)
}

// addOutputFlag binds -o/--output (table, json, yaml) with its completion.
func addOutputFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVarP(p, "output", "o", *p, "Output format: table (default), json or yaml")
	_ = cmd.RegisterFlagCompletionFunc("output", completeFixed("table", outputJSON, outputYAML))
}
