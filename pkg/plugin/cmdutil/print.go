package cmdutil

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

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
		tablewriter.WithPadding(tw.Padding{Left: "", Right: strings.Repeat(" ", tablePadding), Overwrite: true}),
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

// WriteRows writes n rows in WriteTable's layout without holding them, for
// tables with a row per namespace across a cluster: row(i, cells) fills
// the cells of row i (one per header), and is called twice for each row,
// once to measure the columns and once to print, so it must fill the same
// cells both times. WriteTable's renderer holds every row as strings and
// allocates about 1.4 KB per cell to lay them out (300 MB for 30,000 rows
// of 7), and text/tabwriter, what kubectl get prints with, keeps every
// cell's bytes and 24 more until Flush (6 MB for those rows); this keeps
// one row. Widths are counted in bytes, so the layout is WriteTable's for
// cells of printable ASCII without tabs (namespaces, kinds, names,
// numbers, our reasons); any other table goes through WriteTable.
func WriteRows(w io.Writer, header []string, n int, row func(i int, cells []string)) error {
	titles := make([]string, len(header))
	widths := make([]int, len(header))
	for c, h := range header {
		titles[c] = tw.Title(h)
		widths[c] = len(titles[c])
	}
	cells := make([]string, len(header))
	for i := range n {
		row(i, cells)
		for c, cell := range cells {
			widths[c] = max(widths[c], len(cell))
		}
	}
	bw := bufio.NewWriter(w)
	var line []byte
	writeLine := func(cells []string) error {
		line = line[:0]
		for c, cell := range cells {
			line = append(line, cell...)
			if c < len(cells)-1 {
				for range widths[c] + tablePadding - len(cell) {
					line = append(line, ' ')
				}
			}
		}
		// The padding of the last columns, when their cells are empty, is
		// noise in a terminal and in diffs (WriteTable drops it too).
		line = append(bytes.TrimRight(line, " "), '\n')
		_, err := bw.Write(line)
		return err
	}
	if err := writeLine(titles); err != nil {
		return err
	}
	for i := range n {
		row(i, cells)
		if err := writeLine(cells); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// tablePadding is the space between WriteTable's columns.
const tablePadding = 3

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
