// Package shelltest checks, for tests, that a line we print for an admin to
// paste is a command a shell runs as printed: it parses with a real shell
// parser (mvdan.cc/sh/v3/syntax), and every kubectl carotate call in it
// names a subcommand and flags that exist, with values the flags take.
package shelltest

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation"
	"mvdan.cc/sh/v3/syntax"

	"github.com/carotate/kubectl-carotate/pkg/checks"
)

// TB is what Check reports to: a *testing.T, or a collector.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
}

// Problems collects what Check finds, for a test of the checker itself.
type Problems []string

func (p *Problems) Helper() {}
func (p *Problems) Errorf(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

// shellWord is a word's value as the shell would see it; dynamic is set
// when part of it comes from a command substitution or a variable.
func shellWord(w *syntax.Word) (value string, dynamic bool) {
	var b strings.Builder
	var parts func([]syntax.WordPart)
	parts = func(ps []syntax.WordPart) {
		for _, p := range ps {
			switch p := p.(type) {
			case *syntax.Lit:
				b.WriteString(p.Value)
			case *syntax.SglQuoted:
				b.WriteString(p.Value)
			case *syntax.DblQuoted:
				parts(p.Parts)
			default:
				dynamic = true
				b.WriteString("$DYNAMIC")
			}
		}
	}
	parts(w.Parts)
	return b.String(), dynamic
}

// fileFlags take a path: what verify once printed there was a description
// ("rotation X's bundle (new+old)"), which no shell can run.
var fileFlags = map[string]bool{"ca": true, "old-ca": true, "new-ca": true, "keep": true, "out": true, "certificate-authority": true, "kubeconfig": true}

func checkPath(t TB, line, flag, v string) {
	t.Helper()
	if v == "" || strings.ContainsAny(v, " \t\n'\"()") {
		t.Errorf("%q: --%s %q is not a file path", line, flag, v)
	}
}

// Check parses line as bash and checks every call in it: kubectl carotate
// calls against cmds (the subcommand and its flags exist, each value is
// what the flag takes) when cmds holds the subcommand, and by flag name
// alone otherwise; other kubectl calls against the flags we print for
// them. Lines that are empty pass.
func Check(t TB, line string, cmds ...*cobra.Command) {
	t.Helper()
	if line == "" {
		return
	}
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(line), "")
	if err != nil {
		t.Errorf("%q does not parse as a shell command: %v", line, err)
		return
	}
	calls := 0
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		calls++
		var args []string
		for _, w := range call.Args {
			v, _ := shellWord(w)
			args = append(args, v)
		}
		if args[0] != "kubectl" {
			return true
		}
		if len(args) > 1 && args[1] == "carotate" {
			checkCarotateCall(t, line, args[2:], cmds)
		} else {
			checkKubectlCall(t, line, args[1:])
		}
		return true
	})
	if calls == 0 {
		t.Errorf("%q holds no command", line)
	}
}

func checkCarotateCall(t TB, line string, args []string, cmds []*cobra.Command) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%q: kubectl carotate without a subcommand", line)
		return
	}
	var sub *cobra.Command
	for _, c := range cmds {
		if c.Name() == args[0] || c.HasAlias(args[0]) {
			sub = c
		}
	}
	if sub == nil {
		if !knownSubcommands[args[0]] {
			t.Errorf("%q: no subcommand %q", line, args[0])
			return
		}
		checkFlagsByName(t, line, args[1:])
		return
	}
	if err := sub.ParseFlags(args[1:]); err != nil {
		t.Errorf("%q: %v", line, err)
		return
	}
	if sub.Args != nil {
		if err := sub.Args(sub, sub.Flags().Args()); err != nil {
			t.Errorf("%q: %v", line, err)
		}
	}
	sub.Flags().Visit(func(fl *pflag.Flag) { checkValue(t, line, fl.Name, fl.Value.String()) })
}

// knownSubcommands are kubectl carotate's commands (a test of the root
// command checks this list against the real tree).
var knownSubcommands = map[string]bool{}

// KnownSubcommands is the list of subcommands Check accepts without their
// command: kept equal to the root's by a test there.
func KnownSubcommands() []string {
	var out []string
	for k := range knownSubcommands {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func init() {
	for _, s := range []string{"status", "plan", "start", "instructions", "bundle", "restart-workloads", "resign-tokens", "update-cluster-info",
		"verify", "unbundle", "inspect", "undo", "finish", "abort", "version", "completion"} {
		knownSubcommands[s] = true
	}
}

// checkFlagsByName checks --flag value and --flag=value pairs of a
// subcommand Check was not given, by the flag's name alone.
func checkFlagsByName(t TB, line string, args []string) {
	t.Helper()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, value, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name == "n" {
			name = "namespace"
		}
		if !inline {
			if !valueFlags[name] {
				continue
			}
			if i+1 >= len(args) {
				t.Errorf("%q: --%s lacks its value", line, name)
				continue
			}
			i++
			value = args[i]
		}
		checkValue(t, line, name, value)
	}
}

// valueFlags are the flags of ours that take a value.
var valueFlags = map[string]bool{"ca": true, "old-ca": true, "new-ca": true, "keep": true, "out": true, "kubeconfig": true,
	"value": true, "namespace": true, "kinds": true, "step": true, "phase": true, "expect": true, "only": true, "node": true, "output": true, "o": true}

// checkValue checks one flag's value by the flag's name.
func checkValue(t TB, line, name, v string) {
	t.Helper()
	switch {
	case fileFlags[name]:
		checkPath(t, line, name, v)
	case name == "value":
		if v == "" || len(v) > 253 || !utf8.ValidString(v) || strings.ContainsAny(v, " \t\n'\"") {
			t.Errorf("%q: --value %q is not a pass value", line, v)
		}
	case name == "namespace":
		if errs := validation.IsDNS1123Label(v); len(errs) > 0 {
			t.Errorf("%q: -n %q: %v", line, v, errs)
		}
	case name == "kinds":
		for _, k := range strings.Split(strings.Trim(v, "[]"), ",") {
			if k != "deployments" && k != "daemonsets" && k != "statefulsets" {
				t.Errorf("%q: --kinds %q", line, v)
			}
		}
	case name == "step":
		if _, ok := checks.LookupStep(v); !ok {
			t.Errorf("%q: no step %q", line, v)
		}
	case name == "phase":
		if v != checks.PhaseBundle && v != checks.PhaseServe && v != checks.PhaseFinish {
			t.Errorf("%q: no phase %q", line, v)
		}
	case name == "expect":
		if v != string(checks.ExpectBundle) && v != string(checks.ExpectNew) {
			t.Errorf("%q: --expect %q", line, v)
		}
	}
}

// kubectlFlags are the flags of the kubectl calls we print, and whether
// they take a value.
var kubectlFlags = map[string]bool{
	"-n": true, "--namespace": true, "-c": true, "--container": true, "-o": true, "-f": true, "-p": true,
	"--type": true, "--certificate-authority": true, "--force": false, "--embed-certs": false,
	"--insecure-skip-tls-verify": true,
}

func checkKubectlCall(t TB, line string, args []string) {
	t.Helper()
	positional := 0
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			positional++
			continue
		}
		name, value, inline := strings.Cut(a, "=")
		takes, known := kubectlFlags[name]
		if !known {
			if strings.HasPrefix(name, "--since") {
				if _, err := time.ParseDuration(value); err != nil {
					t.Errorf("%q: --since=%q: %v", line, value, err)
				}
				continue
			}
			t.Errorf("%q: kubectl flag %s is not one we print", line, name)
			continue
		}
		if takes && !inline {
			if i+1 >= len(args) {
				t.Errorf("%q: %s lacks its value", line, name)
				continue
			}
			i++
			value = args[i]
		}
		if takes && value == "" {
			t.Errorf("%q: %s has an empty value", line, name)
		}
		if name == "--certificate-authority" {
			checkPath(t, line, "certificate-authority", value)
		}
	}
	if positional == 0 {
		t.Errorf("%q: kubectl without a subcommand", line)
	}
}
