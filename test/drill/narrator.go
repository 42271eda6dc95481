package drill

import (
	"fmt"
	"io"
	"strings"
)

// Narrator is told what the drill does: a step with its reason from the
// upstream procedure, each command with its output, and notes.
type Narrator interface {
	Step(title, why string)
	Command(line string, r Result)
	Logf(format string, args ...any)
}

// WriterNarrator prints the narration for a human (make demo).
type WriterNarrator struct {
	W io.Writer
	// Bold wraps titles and command lines in terminal bold.
	Bold bool
}

func (n WriterNarrator) bold(s string) string {
	if !n.Bold {
		return s
	}
	return "\033[1m" + s + "\033[0m"
}

func (n WriterNarrator) Step(title, why string) {
	fmt.Fprintf(n.W, "\n%s\n", n.bold("# "+title))
	if why != "" {
		fmt.Fprintf(n.W, "#   why: %s\n", why)
	}
}

func (n WriterNarrator) Command(line string, r Result) {
	fmt.Fprintf(n.W, "%s\n", n.bold("$ kubectl "+line))
	if s := strings.TrimRight(r.Stdout, "\n"); s != "" {
		fmt.Fprintln(n.W, s)
	}
	if s := strings.TrimRight(r.Stderr, "\n"); s != "" {
		fmt.Fprintln(n.W, indent(s, "  stderr| "))
	}
	if r.Code != 0 {
		fmt.Fprintf(n.W, "  (exit %d)\n", r.Code)
	}
}

func (n WriterNarrator) Logf(format string, args ...any) {
	fmt.Fprintf(n.W, format+"\n", args...)
}

// LogfNarrator narrates through a Printf-like function (testing.T.Logf).
type LogfNarrator func(format string, args ...any)

func (l LogfNarrator) Step(title, why string) { l("=== %s (why: %s)", title, why) }
func (l LogfNarrator) Command(line string, r Result) {
	l("$ kubectl %s -> exit %d\nstdout:\n%s\nstderr:\n%s", line, r.Code, r.Stdout, r.Stderr)
}
func (l LogfNarrator) Logf(format string, args ...any) { l(format, args...) }

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
