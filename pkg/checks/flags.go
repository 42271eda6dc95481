package checks

import (
	"path"
	"strings"
)

// The control-plane components' file paths are read from their command
// lines, as a static pod's mirror pod shows them (container command followed
// by args). kubeadm writes "--flag=value", one per list item; other
// installers write "--flag value", repeat list flags, or wrap the binary in
// "sh -c". The parser follows pflag's rules, which every Kubernetes binary
// uses, so it reads what the component itself reads.

// Flag is one flag occurrence on a command line.
type Flag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommandLine is a parsed component command line.
type CommandLine struct {
	// Binary is the program name without its directory ("kube-apiserver").
	Binary string `json:"binary"`
	// Flags in the order given, repeats included.
	Flags []Flag `json:"flags"`
	// Args are the positional arguments.
	Args []string `json:"args,omitempty"`
}

// KubeBoolFlags are the boolean flags of kube-apiserver,
// kube-controller-manager, kube-scheduler and cloud-controller-manager that
// may appear bare. pflag never lets a boolean flag take the next argument as
// its value ("--profiling false" is the flag, then a positional "false"), so
// without the list a bare boolean followed by a positional argument would
// swallow it as its value.
var KubeBoolFlags = map[string]bool{
	"allow-privileged": true, "anonymous-auth": true, "enable-aggregator-routing": true,
	"enable-bootstrap-token-auth": true, "enable-garbage-collector": true, "enable-priority-and-fairness": true,
	"leader-elect": true, "profiling": true, "contention-profiling": true,
	"use-service-account-credentials": true, "enable-logs-handler": true, "enable-hostpath-provisioner": true,
	"allocate-node-cidrs": true, "configure-cloud-routes": true, "enable-dynamic-provisioning": true,
	"enable-taint-manager": true, "service-account-lookup": true, "logtostderr": true, "alsologtostderr": true,
	"skip-headers": true, "skip-log-headers": true, "one-output": true, "add-dir-header": true, "help": true,
	"permit-port-sharing": true, "permit-address-sharing": true, "kubelet-https": true,
	"enable-contention-profiling": true, "encryption-provider-config-automatic-reload": true,
}

// shells whose "-c SCRIPT" form is unwrapped to find the real command line.
var shells = map[string]bool{"sh": true, "bash": true, "ash": true, "dash": true}

// ParseCommandLine parses a container's command followed by its args.
// boolFlags tells which flag names never take a separate value (nil means
// KubeBoolFlags). A wrapping "sh -c 'exec kube-apiserver ...'" is unwrapped.
func ParseCommandLine(argv []string, boolFlags map[string]bool) CommandLine {
	if boolFlags == nil {
		boolFlags = KubeBoolFlags
	}
	argv = unwrapShell(argv)
	var cl CommandLine
	if len(argv) > 0 && !strings.HasPrefix(argv[0], "-") {
		cl.Binary = path.Base(argv[0])
		argv = argv[1:]
	}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			cl.Args = append(cl.Args, argv[i+1:]...)
			return cl
		case a == "-" || !strings.HasPrefix(a, "-"):
			cl.Args = append(cl.Args, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		if n, v, ok := strings.Cut(name, "="); ok {
			cl.Flags = append(cl.Flags, Flag{Name: n, Value: v})
			continue
		}
		// "--flag value": the next argument is the value unless the flag is
		// boolean or the next argument is itself a flag.
		if !boolFlags[name] && i+1 < len(argv) && !strings.HasPrefix(argv[i+1], "-") {
			cl.Flags = append(cl.Flags, Flag{Name: name, Value: argv[i+1]})
			i++
			continue
		}
		cl.Flags = append(cl.Flags, Flag{Name: name, Value: "true"})
	}
	return cl
}

// Get returns the value of a flag, the last occurrence winning as in pflag
// for single-valued flags.
func (c CommandLine) Get(name string) (string, bool) {
	val, found := "", false
	for _, f := range c.Flags {
		if f.Name == name {
			val, found = f.Value, true
		}
	}
	return val, found
}

// Value is Get without the presence flag.
func (c CommandLine) Value(name string) string {
	v, _ := c.Get(name)
	return v
}

// Values returns every value of a list flag: repeats are appended and each
// occurrence is split on commas, as pflag's StringSlice does.
func (c CommandLine) Values(name string) []string {
	var out []string
	for _, f := range c.Flags {
		if f.Name != name {
			continue
		}
		for _, v := range strings.Split(f.Value, ",") {
			if v = strings.TrimSpace(v); v != "" {
				out = append(out, v)
			}
		}
	}
	return out
}

// unwrapShell turns ["sh", "-c", "exec kube-apiserver --a=b"] into
// ["kube-apiserver", "--a=b"]. Anything it cannot split is returned as is.
func unwrapShell(argv []string) []string {
	if len(argv) < 3 || !shells[path.Base(argv[0])] || argv[1] != "-c" {
		return argv
	}
	words, ok := shellWords(argv[2])
	if !ok || len(words) == 0 {
		return argv
	}
	if words[0] == "exec" {
		words = words[1:]
	}
	return words
}

// shellWords splits a script into words by POSIX quoting rules, stopping at
// the first command separator: enough for the one-command scripts that wrap
// a control-plane binary. ok is false for unbalanced quotes.
func shellWords(s string) (words []string, ok bool) {
	var cur strings.Builder
	inWord := false
	flush := func() {
		if inWord {
			words = append(words, cur.String())
			cur.Reset()
			inWord = false
		}
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, false
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, false
			}
			inWord = true
		case ch == '\\' && i+1 < len(s):
			if s[i+1] != '\n' {
				cur.WriteByte(s[i+1])
				inWord = true
			}
			i++
		case ch == ';' || ch == '&' || ch == '|' || ch == '\n':
			flush()
			return words, true
		case ch == ' ' || ch == '\t':
			flush()
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	flush()
	return words, true
}
