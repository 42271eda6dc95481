package cmdutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
	"sigs.k8s.io/yaml"
)

// Output formats accepted by -o on reporting commands.
const (
	OutputTable = ""
	OutputJSON  = "json"
	OutputYAML  = "yaml"
)

// ValidateOutput accepts the -o formats of a reporting command.
func ValidateOutput(format string) error {
	switch format {
	case OutputTable, "table", OutputJSON, OutputYAML:
		return nil
	}
	return fmt.Errorf("unsupported output format %q: use one of table, json, yaml", format)
}

// PrintStructured writes a report in the machine-readable format asked for.
// Our reports are plain structs rather than API objects, so cli-runtime's
// printers (which need runtime.Object) do not apply.
func PrintStructured(w io.Writer, format string, v any) error {
	switch format {
	case OutputJSON:
		b, err := json.MarshalIndent(v, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case OutputYAML:
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("unsupported output format %q", format)
}

// WriteTable prints rows the way kubectl get does: upper-case headers, no
// borders, columns padded with spaces, cells left-aligned and never wrapped.
func WriteTable(w io.Writer, header []string, rows [][]string) error {
	var buf bytes.Buffer
	t := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{
			Borders: tw.BorderNone,
			Symbols: tw.NewSymbols(tw.StyleNone),
			Settings: tw.Settings{
				Separators: tw.Separators{BetweenRows: tw.Off, BetweenColumns: tw.Off},
				Lines:      tw.Lines{ShowHeaderLine: tw.Off},
			},
		})),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithHeaderAutoFormat(tw.On),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithTrimSpace(tw.Off),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "   ", Overwrite: true}),
	)
	t.Header(header)
	if err := t.Bulk(rows); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	// The padding of the last column is noise in a terminal and in diffs.
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line == "" {
			continue
		}
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// TableStream writes a table in WriteTable's layout one row at a time, for
// tables with a row per namespace across a cluster: WriteTable's renderer
// holds every row as strings and allocates about 1.4 KB per cell to lay
// them out (300 MB for 30,000 rows of 7), where text/tabwriter, what kubectl
// get prints with, keeps the cell's bytes and 24 more until Flush. Widths
// are counted in bytes, so the layout is WriteTable's for cells of
// printable ASCII without tabs (namespaces, kinds, names, numbers, our
// reasons); any other table goes through WriteTable.
type TableStream struct {
	tw  *tabwriter.Writer
	out *trimRight
	err error
}

// NewTableStream starts a table with its header, upper-cased as WriteTable
// does.
func NewTableStream(w io.Writer, header []string) *TableStream {
	out := &trimRight{w: w}
	t := &TableStream{out: out, tw: tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)}
	cells := make([]string, len(header))
	for i, h := range header {
		cells[i] = tw.Title(h)
	}
	t.Row(cells...)
	return t
}

// Row adds one row.
func (t *TableStream) Row(cells ...string) {
	for i, c := range cells {
		if t.err != nil {
			return
		}
		if i > 0 {
			_, t.err = io.WriteString(t.tw, "\t")
		}
		if t.err == nil {
			_, t.err = io.WriteString(t.tw, c)
		}
	}
	if t.err == nil {
		_, t.err = io.WriteString(t.tw, "\n")
	}
}

// Flush lays the table out and writes it.
func (t *TableStream) Flush() error {
	if t.err != nil {
		return t.err
	}
	if err := t.tw.Flush(); err != nil {
		return err
	}
	return t.out.err
}

// trimRight drops the spaces at the end of each line, as WriteTable does
// (tabwriter pads a row's last cell when it is empty).
type trimRight struct {
	w      io.Writer
	spaces int
	err    error
}

func (t *trimRight) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 && t.err == nil {
		i := 0
		for i < len(p) && p[i] != ' ' && p[i] != '\n' {
			i++
		}
		if i > 0 {
			if t.spaces > 0 {
				_, t.err = io.WriteString(t.w, strings.Repeat(" ", t.spaces))
				t.spaces = 0
			}
			if t.err == nil {
				_, t.err = t.w.Write(p[:i])
			}
			p = p[i:]
			continue
		}
		if p[0] == ' ' {
			t.spaces++
		} else {
			t.spaces = 0
			_, t.err = io.WriteString(t.w, "\n")
		}
		p = p[1:]
	}
	if t.err != nil {
		return 0, t.err
	}
	return n, nil
}

// Plural is "1 pod", "2 pods".
func Plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Or is s, or fallback when s is empty.
func Or(s, fallback string) string {
	if s == "" {
		return fallback
	}
	return s
}

// Sample names the first few of names, and how many more there are.
func Sample(names []string) string {
	if len(names) <= sampleNames {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:sampleNames], ", ") + fmt.Sprintf(" and %d more", len(names)-sampleNames)
}

// sampleNames is how many names Sample lists.
const sampleNames = 3
