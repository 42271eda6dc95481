package localcluster

// Stand-ins for the node commands the printed steps call: crictl,
// systemctl and scp. They are the "cluster" binary under another name (a
// symlink in <Dir>/bin, first on the nodes' PATH) and act on the node they
// run in: its kubelet service and runtime (through /run/carotate) and the
// other nodes' directories. Each says so in its --help.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"
)

// StandIns are the command names RunStandIn answers to.
var StandIns = []string{"crictl", "systemctl", "scp"}

// RunStandIn runs stand-in name with args and returns its exit code.
func RunStandIn(name string, args []string, stdout, stderr io.Writer) int {
	switch name {
	case "crictl":
		return crictl(args, stdout, stderr)
	case "systemctl":
		return systemctl(args, stdout, stderr)
	case "scp":
		return scp(args, stdout, stderr)
	}
	fmt.Fprintf(stderr, "%s: not a stand-in of the harness\n", name)
	return 1
}

func ago(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d seconds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d minutes ago", int(d.Minutes()))
	default:
		return fmt.Sprintf("%d hours ago", int(d.Hours()))
	}
}

const crictlHelp = `crictl: the kubectl-carotate harness's stand-in for crictl on a kubeadm node
of the local cluster. There is no CRI runtime here: the static pods run as
processes of the harness's static-pod runner (the node's kubelet stand-in),
and this command lists and stops them.

Usage:
  crictl ps [-a] [--name REGEX] [--state STATE] [--pod ID] [-q] [--no-trunc]
  crictl pods [--name REGEX] [--namespace REGEX] [--state ready|notready] [-q] [--no-trunc]
  crictl stopp POD-ID...    stop pod sandboxes; the kubelet starts the pods again
  crictl logs [--tail N] CONTAINER-ID
  crictl inspect [-o json|go-template --template TEMPLATE] CONTAINER-ID
      the container's status as crictl prints it (status.id, status.state,
      status.createdAt, status.startedAt, status.finishedAt, status.exitCode,
      info.pid), e.g. --template '{{.status.startedAt}}'
`

func crictl(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" || args[0] == "help" {
		fmt.Fprint(stdout, crictlHelp)
		return 0
	}
	fs := flag.NewFlagSet("crictl "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, crictlHelp) }
	all := fs.Bool("a", false, "show all containers")
	fs.BoolVar(all, "all", false, "show all containers")
	nameRe := fs.String("name", "", "filter by name (regular expression)")
	nsRe := fs.String("namespace", "", "filter pods by namespace (regular expression)")
	state := fs.String("state", "", "filter by state")
	pod := fs.String("pod", "", "filter containers by pod id")
	quiet := fs.Bool("q", false, "only ids")
	fs.BoolVar(quiet, "quiet", false, "only ids")
	noTrunc := fs.Bool("no-trunc", false, "full ids")
	tail := fs.Int("tail", -1, "lines of the end of the log")
	output := fs.String("o", "json", "output format of inspect: json or go-template")
	fs.StringVar(output, "output", "json", "output format of inspect: json or go-template")
	tmpl := fs.String("template", "", "the go-template of -o go-template")
	if err := fs.Parse(args[1:]); err != nil {
		return 1
	}
	id := func(s string) string {
		if *noTrunc || *quiet || len(s) < 13 {
			return s
		}
		return s[:13]
	}
	match := func(re, s string) bool {
		if re == "" {
			return true
		}
		ok, err := regexp.MatchString(re, s)
		return err == nil && ok
	}
	tw := tabwriter.NewWriter(stdout, 0, 8, 3, ' ', 0)
	defer tw.Flush()
	switch args[0] {
	case "ps":
		var cs []containerInfo
		if err := nodeCall("GET", "/containers", &cs); err != nil {
			fmt.Fprintln(stderr, "crictl:", err)
			return 1
		}
		if !*quiet {
			fmt.Fprintln(tw, "CONTAINER\tIMAGE\tCREATED\tSTATE\tNAME\tATTEMPT\tPOD ID\tPOD")
		}
		for i := len(cs) - 1; i >= 0; i-- {
			c := cs[i]
			st := strings.TrimPrefix(c.State, "CONTAINER_")
			switch {
			case *state != "" && !strings.EqualFold(*state, st):
				continue
			case *state == "" && !*all && c.State != containerRunning:
				continue
			case !match(*nameRe, c.Name), *pod != "" && !strings.HasPrefix(c.PodID, *pod):
				continue
			}
			if *quiet {
				fmt.Fprintln(tw, c.ID)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", id(c.ID), c.Image, ago(c.Created),
				strings.ToUpper(st[:1])+strings.ToLower(st[1:]), c.Name, c.Attempt, id(c.PodID), c.PodName)
		}
	case "pods":
		var ps []sandboxInfo
		if err := nodeCall("GET", "/sandboxes", &ps); err != nil {
			fmt.Fprintln(stderr, "crictl:", err)
			return 1
		}
		if !*quiet {
			fmt.Fprintln(tw, "POD ID\tCREATED\tSTATE\tNAME\tNAMESPACE\tATTEMPT\tRUNTIME")
		}
		for i := len(ps) - 1; i >= 0; i-- {
			p := ps[i]
			st := "Ready"
			if p.State == sandboxNotReady {
				st = "NotReady"
			}
			if (*state != "" && !strings.EqualFold(*state, st)) || !match(*nameRe, p.Name) || !match(*nsRe, p.Namespace) {
				continue
			}
			if *quiet {
				fmt.Fprintln(tw, p.ID)
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t0\t(default)\n", id(p.ID), ago(p.Created), st, p.Name, p.Namespace)
		}
	case "stopp":
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "crictl stopp: ID cannot be empty")
			return 1
		}
		for _, sid := range fs.Args() {
			if err := nodeCall("POST", "/sandboxes/"+sid+"/stop", nil); err != nil {
				fmt.Fprintf(stderr, "crictl: stopping the pod sandbox %q: %v\n", sid, err)
				return 1
			}
			fmt.Fprintf(tw, "Stopped sandbox %s\n", sid)
		}
	case "logs", "inspect":
		if fs.NArg() != 1 {
			fmt.Fprintf(stderr, "crictl %s: one container ID\n", args[0])
			return 1
		}
		var cs []containerInfo
		if err := nodeCall("GET", "/containers", &cs); err != nil {
			fmt.Fprintln(stderr, "crictl:", err)
			return 1
		}
		i := slices.IndexFunc(cs, func(c containerInfo) bool { return strings.HasPrefix(c.ID, fs.Arg(0)) })
		if i < 0 {
			fmt.Fprintf(stderr, "crictl: container %q not found\n", fs.Arg(0))
			return 1
		}
		if args[0] == "inspect" {
			return inspectContainer(cs[i], *output, *tmpl, stdout, stderr)
		}
		b, err := os.ReadFile(cs[i].LogPath)
		if err != nil {
			fmt.Fprintln(stderr, "crictl:", err)
			return 1
		}
		lines := strings.SplitAfter(string(b), "\n")
		if *tail >= 0 && len(lines) > *tail+1 {
			lines = lines[len(lines)-*tail-1:]
		}
		fmt.Fprint(stdout, strings.Join(lines, ""))
		return 0
	default:
		fmt.Fprintf(stderr, "crictl: the harness's stand-in has no command %q\n%s", args[0], crictlHelp)
		return 1
	}
	return 0
}

// inspectContainer prints a container as "crictl inspect" does: JSON, or
// a go-template over that JSON.
func inspectContainer(c containerInfo, output, tmpl string, stdout, stderr io.Writer) int {
	ts := func(t time.Time) string {
		if t.IsZero() {
			return "1970-01-01T00:00:00Z"
		}
		return t.UTC().Format(time.RFC3339Nano)
	}
	doc := map[string]any{
		"status": map[string]any{
			"id": c.ID, "metadata": map[string]any{"name": c.Name, "attempt": c.Attempt}, "state": c.State,
			"createdAt": ts(c.Created), "startedAt": ts(c.Started), "finishedAt": ts(c.Finished), "exitCode": c.ExitCode,
			"image": map[string]any{"image": c.Image}, "logPath": c.LogPath,
		},
		"info": map[string]any{"pid": c.Pid, "sandboxID": c.PodID},
	}
	switch output {
	case "json":
		b, _ := json.MarshalIndent(doc, "", "  ")
		fmt.Fprintf(stdout, "%s\n", b)
	case "go-template":
		// Through JSON, as crictl does, so the template sees what -o json shows.
		b, _ := json.Marshal(doc)
		var v any
		_ = json.Unmarshal(b, &v)
		t, err := template.New("inspect").Parse(tmpl)
		if err == nil {
			err = t.Execute(stdout, v)
		}
		if err != nil {
			fmt.Fprintln(stderr, "crictl inspect:", err)
			return 1
		}
		fmt.Fprintln(stdout)
	default:
		fmt.Fprintf(stderr, "crictl inspect: the harness's stand-in prints json or go-template, not %q\n", output)
		return 1
	}
	return 0
}

const systemctlHelp = `systemctl: the kubectl-carotate harness's stand-in for systemctl on a node of
the local cluster. The only unit is kubelet.service: on the kubeadm
control-plane node the harness's kubelet stand-in (static pods, node, lease,
mirror pods), on a KWOK worker the KWOK process that plays that node's
kubelet. Like a kubelet, both read kubelet.conf and config.yaml when they
start, so "systemctl restart kubelet" is how a changed file takes effect.
Stopping the kubelet leaves the static pods running, as with a real runtime.

Usage:
  systemctl start|stop|restart|status|is-active|is-enabled|enable kubelet
  systemctl show [--property=NAME[,NAME...]] [--value] kubelet
      ActiveState, SubState, MainPID, ActiveEnterTimestamp
  systemctl daemon-reload
`

func systemctl(args []string, stdout, stderr io.Writer) int {
	var verb string
	var units, props []string
	valueOnly := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--help" || a == "-h":
			fmt.Fprint(stdout, systemctlHelp)
			return 0
		case a == "--value":
			valueOnly = true
		case a == "-p" || a == "--property":
			if i+1 < len(args) {
				i++
				props = append(props, strings.Split(args[i], ",")...)
			}
		case strings.HasPrefix(a, "--property="):
			props = append(props, strings.Split(strings.TrimPrefix(a, "--property="), ",")...)
		case strings.HasPrefix(a, "-"):
			// --no-pager, --quiet and the like change nothing here.
		case verb == "":
			verb = a
		default:
			units = append(units, strings.TrimSuffix(a, ".service"))
		}
	}
	switch verb {
	case "daemon-reload":
		return 0
	case "":
		fmt.Fprint(stderr, systemctlHelp)
		return 1
	}
	if len(units) == 0 {
		fmt.Fprintf(stderr, "Too few arguments.\n")
		return 1
	}
	code := 0
	for _, u := range units {
		if u != "kubelet" {
			switch verb {
			case "status", "is-active", "is-enabled":
				fmt.Fprintf(stderr, "Unit %s.service could not be found.\n", u)
				code = 4
			default:
				fmt.Fprintf(stderr, "Failed to %s %s.service: Unit %s.service not found.\n", verb, u, u)
				code = 5
			}
			continue
		}
		var st serviceStatus
		switch verb {
		case "start", "stop", "restart":
			if err := nodeCall("POST", "/kubelet/"+verb, &st); err != nil {
				fmt.Fprintf(stderr, "Failed to %s kubelet.service: %v\n", verb, err)
				return 1
			}
		case "enable", "is-enabled":
			fmt.Fprintln(stdout, "enabled")
		case "show":
			if err := nodeCall("GET", "/kubelet", &st); err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			showUnit(st, props, valueOnly, stdout)
		case "status", "is-active":
			if err := nodeCall("GET", "/kubelet", &st); err != nil {
				fmt.Fprintln(stderr, err)
				return 1
			}
			state := "inactive"
			if st.Active {
				state = "active"
			} else {
				code = 3
			}
			if verb == "is-active" {
				fmt.Fprintln(stdout, state)
				continue
			}
			sub := "dead"
			if st.Active {
				sub = "running"
			}
			fmt.Fprintf(stdout, "● kubelet.service - kubelet: The Kubernetes Node Agent (kubectl-carotate harness stand-in)\n")
			fmt.Fprintf(stdout, "     Loaded: loaded (/lib/systemd/system/kubelet.service; enabled; preset: enabled)\n")
			fmt.Fprintf(stdout, "     Active: %s (%s) since %s\n", state, sub, st.Since.Format("Mon 2006-01-02 15:04:05 MST"))
			if st.Active && st.MainPID != 0 {
				fmt.Fprintf(stdout, "   Main PID: %d\n", st.MainPID)
			}
			if st.Note != "" {
				fmt.Fprintf(stdout, "       Note: %s\n", st.Note)
			}
		default:
			fmt.Fprintf(stderr, "systemctl: the harness's stand-in has no command %q\n", verb)
			return 1
		}
	}
	return code
}

// showUnit prints the properties of the kubelet unit as "systemctl show"
// does (NAME=VALUE, or the values alone with --value).
func showUnit(st serviceStatus, props []string, valueOnly bool, stdout io.Writer) {
	active, sub, pid, since := "inactive", "dead", 0, ""
	if st.Active {
		active, sub, pid = "active", "running", st.MainPID
		since = st.Since.Format("Mon 2006-01-02 15:04:05 MST")
	}
	values := map[string]string{"ActiveState": active, "SubState": sub, "MainPID": strconv.Itoa(pid), "ActiveEnterTimestamp": since}
	if len(props) == 0 {
		props = []string{"ActiveState", "SubState", "MainPID", "ActiveEnterTimestamp"}
	}
	for _, p := range props {
		v, ok := values[p]
		switch {
		case !ok && valueOnly:
			fmt.Fprintln(stdout)
		case !ok:
			fmt.Fprintf(stdout, "%s=\n", p)
		case valueOnly:
			fmt.Fprintln(stdout, v)
		default:
			fmt.Fprintf(stdout, "%s=%s\n", p, v)
		}
	}
}

const scpHelp = `scp: the kubectl-carotate harness's stand-in for scp between the nodes of the
local cluster. All nodes share one machine, so HOST:PATH is a copy from (or
to) the file system as node HOST sees it: its /etc/kubernetes,
/var/lib/kubelet, /var/lib/carotate, /var/backups, ... are its own
directories under the cluster's state directory. There is no ssh.

Usage:
  scp [-p] [-q] [-r] SOURCE... TARGET     (SOURCE and TARGET: PATH or NODE:PATH)
`

func scp(args []string, stdout, stderr io.Writer) int {
	var paths []string
	preserve, recursive := false, false
	for _, a := range args {
		switch {
		case a == "--help" || a == "-h":
			fmt.Fprint(stdout, scpHelp)
			return 0
		case a == "-p":
			preserve = true
		case a == "-r":
			recursive = true
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// -q, -o ... change nothing here.
		default:
			paths = append(paths, a)
		}
	}
	if len(paths) < 2 {
		fmt.Fprint(stderr, scpHelp)
		return 1
	}
	b, err := os.ReadFile(filepath.Join(runDir, "node.json"))
	if err != nil {
		fmt.Fprintln(stderr, "scp: not inside a node of the harness:", err)
		return 1
	}
	var self nodeInfo
	if err := json.Unmarshal(b, &self); err != nil {
		fmt.Fprintln(stderr, "scp:", err)
		return 1
	}
	resolve := func(p string) (string, error) {
		host, path, ok := strings.Cut(p, ":")
		if !ok || strings.Contains(host, "/") {
			return p, nil
		}
		if i := strings.LastIndex(host, "@"); i >= 0 {
			host = host[i+1:]
		}
		if host == self.Name || host == "localhost" {
			return path, nil
		}
		for _, n := range self.Nodes {
			if n.Name == host || n.IP == host {
				if !filepath.IsAbs(path) {
					path = filepath.Join("/root", path)
				}
				return nodeHostPath(n.Root, path), nil
			}
		}
		return "", fmt.Errorf("ssh: Could not resolve hostname %s: no node of that name in this cluster", host)
	}
	dst, err := resolve(paths[len(paths)-1])
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 255
	}
	for _, src := range paths[:len(paths)-1] {
		from, err := resolve(src)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 255
		}
		if err := copyPath(from, dst, preserve, recursive); err != nil {
			fmt.Fprintf(stderr, "scp: %v\n", err)
			return 1
		}
	}
	return 0
}

func copyPath(src, dst string, preserve, recursive bool) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	if d, err := os.Stat(dst); err == nil && d.IsDir() {
		dst = filepath.Join(dst, filepath.Base(src))
	}
	if fi.IsDir() {
		if !recursive {
			return fmt.Errorf("%s: not a regular file", src)
		}
		if err := os.MkdirAll(dst, fi.Mode().Perm()); err != nil {
			return err
		}
		entries, err := os.ReadDir(src)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := copyPath(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name()), preserve, true); err != nil {
				return err
			}
		}
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, fi.Mode().Perm()); err != nil {
		return err
	}
	if preserve {
		return os.Chtimes(dst, fi.ModTime(), fi.ModTime())
	}
	return nil
}
