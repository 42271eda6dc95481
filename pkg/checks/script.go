package checks

import (
	"crypto/sha256"
	"crypto/x509"
	_ "embed"
	"encoding/hex"
	"fmt"
	"path"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// The node steps as a bash script (instructions -o script): the same steps
// as the text, each wrapped in the check that tells whether it took. A step
// runs only when its check fails, and its check must pass after it, so a
// script stops at the first step that did not take, saying which file, and
// a re-run resumes there without doing anything twice. Waits poll with a
// timeout. The script is built as a shell syntax tree (mvdan.cc/sh/v3), so
// every path, message and certificate fingerprint in it is quoted by the
// printer; the steps' own commands are parsed into that tree as they are.

//go:embed scripthelpers.sh
var scriptHelpers string

// Script timeouts, in seconds, that the environment may override.
const (
	scriptTimeout     = 300  // CAROTATE_TIMEOUT: one component's restart, one copy
	scriptNodeTimeout = 3600 // CAROTATE_NODE_TIMEOUT: another node's script, run by a human
)

// ScriptOptions say whose steps a script runs.
type ScriptOptions struct {
	// Node is the node the script runs on; its steps run.
	Node string
	// Workstation adds the workstation steps (the plugin's in-cluster
	// commands), run with the kubeconfig of whoever runs the script. Such a
	// script also waits, at their turn, for the other nodes' steps, which
	// their own scripts (Node, no Workstation) do and record.
	Workstation bool
	// Selection is the instructions flags that chose the steps
	// ("--phase", "serve"), for the commands that print other nodes'
	// scripts.
	Selection []string
	// Notes are the instructions' notes, printed as comments.
	Notes []string
}

// RenderScript renders steps (every node's, in order: FilterSteps without a
// node) as the bash script of o.Node.
func RenderScript(d ClusterDescription, steps []Step, o ScriptOptions) (string, error) {
	g := &scriptGen{d: d, o: o, fps: map[string][]string{}}
	return g.render(steps)
}

type scriptGen struct {
	d   ClusterDescription
	o   ScriptOptions
	fps map[string][]string // content -> fingerprints
	b   strings.Builder
	// needs are the commands the script calls, checked before any step.
	needs map[string]bool
	// keys are the operator's key variables the steps read.
	keys map[string]string // variable -> content of the CA it belongs to
}

// stepGroup is the steps of one upstream step on one node, in a row.
type stepGroup struct {
	step, node string
	steps      []Step
	// ordinal counts the groups of this step on this node, from 1: a node
	// records the ordinal of the group it finished.
	ordinal int
}

func groupSteps(steps []Step) []*stepGroup {
	var out []*stepGroup
	count := map[string]int{}
	for _, s := range steps {
		if n := len(out); n > 0 && out[n-1].step == s.Step && out[n-1].node == s.Node {
			out[n-1].steps = append(out[n-1].steps, s)
			continue
		}
		count[s.Step+"\x00"+s.Node]++
		out = append(out, &stepGroup{step: s.Step, node: s.Node, steps: []Step{s}, ordinal: count[s.Step+"\x00"+s.Node]})
	}
	return out
}

func (g *scriptGen) render(steps []Step) (string, error) {
	groups := groupSteps(steps)
	var others []string
	seen := map[string]bool{}
	mine, workstation := false, false
	for _, gr := range groups {
		switch {
		case gr.node == g.o.Node:
			mine = true
		case gr.node == "":
			workstation = true
		case !seen[gr.node]:
			seen[gr.node] = true
			others = append(others, gr.node)
		}
	}
	if seen[defaultsNodeWildcard] || g.o.Node == defaultsNodeWildcard {
		return "", fmt.Errorf("the control-plane nodes are not known (no mirror pod, no node labelled control-plane): a script runs on one node, so the steps are printed as text only")
	}
	g.needs = map[string]bool{}
	g.keys = map[string]string{}

	var body strings.Builder
	g.b = strings.Builder{}
	for _, gr := range groups {
		if err := g.group(gr, others, workstation); err != nil {
			return "", err
		}
	}
	body.WriteString(g.b.String())
	g.b = strings.Builder{}

	g.header(mine, workstation, others)
	if err := g.prelude(mine, workstation, others); err != nil {
		return "", err
	}
	g.b.WriteString(body.String())
	g.say("\n", "done: "+g.selectionWords()+" on "+g.o.Node+g.workstationWords(workstation))
	out := g.b.String()
	if _, err := syntax.NewParser().Parse(strings.NewReader(out), "script"); err != nil {
		return "", fmt.Errorf("the rendered script does not parse: %w", err)
	}
	return out, nil
}

func (g *scriptGen) selectionWords() string {
	if len(g.o.Selection) == 0 {
		return "every step"
	}
	return strings.TrimPrefix(strings.Join(g.o.Selection, " "), "--")
}

func (g *scriptGen) workstationWords(workstation bool) string {
	if g.o.Workstation && workstation {
		return " and the workstation"
	}
	return ""
}

// nodeScriptCommand prints the script of another node.
func (g *scriptGen) nodeScriptCommand(node string, selection []string) string {
	args := append([]string{"kubectl", "carotate", "instructions", "-o", "script"}, selection...)
	return shellJoin(append(args, "--node", node))
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = quote(a)
	}
	return strings.Join(out, " ")
}

// quote is a word for bash, quoted as the printer would.
func quote(s string) string {
	q, err := syntax.Quote(s, syntax.LangBash)
	if err != nil { // only for NUL bytes, which no path or message holds
		return shq(strings.ReplaceAll(s, "\x00", ""))
	}
	return q
}

// comment writes text as comment lines, wrapped; a line's leading blanks
// indent its continuation lines too.
func (g *scriptGen) comment(text string) {
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "" {
			g.b.WriteString("#\n")
			continue
		}
		indent := line[:len(line)-len(strings.TrimLeft(line, " "))]
		for _, w := range wrap(line, 76-len(indent)) {
			g.b.WriteString("# " + indent + w + "\n")
		}
	}
}

func (g *scriptGen) header(mine, workstation bool, others []string) {
	g.b.WriteString("#!/usr/bin/env bash\n")
	title := strings.Join(append([]string{"kubectl carotate instructions -o script"}, g.o.Selection...), " ")
	lines := []string{fmt.Sprintf("%s (rotation %s): the steps of node %s%s.", title, g.d.RotationID, g.o.Node, g.workstationWords(workstation))}
	if mine {
		lines = append(lines, "Run it as root on "+g.o.Node+".")
	}
	if g.o.Workstation && workstation {
		lines = append(lines, "The workstation steps (kubectl carotate commands) run here too, with your kubeconfig.")
	}
	lines = append(lines, "",
		"Each step runs only if its check shows it is not done, and its check must pass after it: the script stops at the first step that did not take, saying why, and a re-run resumes there without doing anything twice. Waits poll every 2 s and give up after CAROTATE_TIMEOUT seconds (default "+strconv.Itoa(scriptTimeout)+"). CAROTATE_SHOW=1 prints each command before it runs.")
	if len(others) > 0 {
		if g.o.Workstation {
			lines = append(lines, "", "Other nodes have steps here. This script waits for each at its turn (CAROTATE_NODE_TIMEOUT seconds, default "+
				strconv.Itoa(scriptNodeTimeout)+") until that node's own script records it done on its Node object. Print them with:")
		} else {
			lines = append(lines, "", "Other nodes have steps here, done by their own scripts; the script with the workstation steps (without --node) waits for each at its turn. Print them with:")
		}
		for _, n := range others {
			lines = append(lines, "  "+g.nodeScriptCommand(n, g.o.Selection))
		}
	}
	if len(g.o.Notes) > 0 {
		lines = append(lines, "")
		lines = append(lines, g.o.Notes...)
	}
	g.comment(strings.Join(lines, "\n"))
	g.b.WriteString("set -euo pipefail\nset -o errtrace\n\n")
	g.b.WriteString(scriptHelpers)
	if g.d.Target == TargetSAKey {
		g.b.WriteString(saScriptHelpers)
	}
	g.b.WriteString("\n")
}

// prelude checks, before any step, what the steps need: the node, the
// commands, the operator's keys, the workstation's CA files.
func (g *scriptGen) prelude(mine, workstation bool, others []string) error {
	g.comment("The rotation, and what every step needs before the first one runs.")
	g.stmt(assign("carotate_rotation", g.d.RotationID))
	g.stmt(defaultVar("CAROTATE_TIMEOUT", strconv.Itoa(scriptTimeout)))
	if len(others) > 0 && g.o.Workstation {
		g.stmt(defaultVar("CAROTATE_NODE_TIMEOUT", strconv.Itoa(scriptNodeTimeout)))
	}
	vars := make([]string, 0, len(g.keys))
	for v := range g.keys {
		vars = append(vars, v)
	}
	sort.Strings(vars)
	for _, v := range vars {
		g.stmt(defaultVar(v, "./"+keyFileOf(v)))
	}
	if mine {
		g.stmt(call("carotate_on_node", g.o.Node))
	}
	needs := make([]string, 0, len(g.needs))
	for c := range g.needs {
		needs = append(needs, c)
	}
	sort.Strings(needs)
	if len(needs) > 0 {
		g.stmt(call(append([]string{"carotate_need"}, needs...)...))
	}
	for _, v := range vars {
		spki, err := g.spki(g.keys[v])
		if err != nil {
			return err
		}
		g.stmt(&syntax.Stmt{Cmd: &syntax.CallExpr{Args: []*syntax.Word{word("carotate_key_given"), word(v), varWord(v), word(spki), word("the " + contentWords(g.keys[v]))}}})
	}
	if g.o.Workstation && workstation {
		files := []struct{ file, content string }{{g.d.Files.OldCA, ContentOldCA}, {g.d.Files.NewCA, ContentNewCA}, {g.d.Files.Bundle, ContentBundle}}
		for _, f := range files {
			if f.file == "" {
				continue
			}
			fps, err := g.fingerprints(f.content)
			if err != nil {
				return err
			}
			s := call(append([]string{"carotate_ca_file", f.file}, fps...)...)
			s.Redirs = []*syntax.Redirect{heredocRedirect(g.d.Contents[f.content])}
			g.stmt(s)
		}
	}
	if len(others) > 0 {
		for _, n := range others {
			g.say("", "steps of node "+n+" are in its own script: "+g.nodeScriptCommand(n, g.o.Selection))
		}
	}
	g.b.WriteString("\n")
	return nil
}

// group renders one step group: this node's steps, the workstation's, or
// the wait for another node's.
func (g *scriptGen) group(gr *stepGroup, others []string, workstation bool) error {
	where := "on " + gr.node
	if gr.node == "" {
		where = "from the workstation"
	}
	title := gr.step
	if u, ok := LookupTargetStep(g.d.Target, gr.step); ok {
		title += " " + where + ": " + u.Title
	}
	g.b.WriteString("\n" + strings.Repeat("#", 78) + "\n")
	g.comment("Step " + title)
	switch {
	case gr.node == "" && !g.o.Workstation:
		g.comment("Workstation steps: not in this script (print it without --node to run them).")
		return nil
	case gr.node != "" && gr.node != g.o.Node:
		if !g.o.Workstation {
			g.comment("Node " + gr.node + "'s steps: its own script does them.")
			return nil
		}
		g.needs["kubectl"] = true
		g.comment("Done by node " + gr.node + "'s own script, which records it on its Node object; wait for it.")
		g.stmt(call("carotate_step", gr.step, where, "waiting for node "+gr.node+"'s script"))
		what := "node " + gr.node + " to record step " + gr.step + " done (run there: " + g.nodeScriptCommand(gr.node, []string{"--step", gr.step}) + ")"
		g.stmt(callVars("carotate_wait", "$CAROTATE_NODE_TIMEOUT", what, "carotate_node_did", gr.node, gr.step, strconv.Itoa(gr.ordinal)))
		return nil
	}
	for i, s := range gr.steps {
		if err := g.step(gr, i, s, where); err != nil {
			return fmt.Errorf("step %s %s (%s): %w", s.Step, where, s.Description, err)
		}
	}
	// Another node's script with the workstation steps waits for this.
	if gr.node != "" && !g.o.Workstation && (len(others) > 0 || workstation) {
		g.needs["kubectl"] = true
		g.comment("Record on this node's Node object that its part of step " + gr.step + " is done: the script with the workstation steps waits for it.")
		g.stmt(call("carotate_mark", gr.node, gr.step, strconv.Itoa(gr.ordinal)))
	}
	return nil
}

func (g *scriptGen) say(prefix, msg string) {
	g.b.WriteString(prefix)
	g.stmt(call("carotate_say", msg))
}

// step renders one step: its comments, its check before and after, the
// command in between.
func (g *scriptGen) step(gr *stepGroup, i int, s Step, where string) error {
	g.b.WriteString("\n")
	if s.Action == ActionSkip {
		g.comment("nothing to do: " + s.Note)
		g.stmt(call("carotate_say", "step "+s.Step+" "+where+": nothing to do: "+s.Note))
		return nil
	}
	g.comment(s.Description)
	if s.Condition != "" {
		g.comment(s.Condition + ":")
	}
	if s.Note != "" {
		g.comment("  " + s.Note)
	}
	cmd, err := g.command(s)
	if err != nil {
		return err
	}
	announce := call("carotate_step", s.Step, where, s.Description)
	var body []*syntax.Stmt
	switch {
	case s.Action == ActionRestart:
		body, err = g.restart(gr, i, s, cmd)
		if err != nil {
			return err
		}
	default:
		check, err := g.check(s)
		if err != nil {
			return err
		}
		if check == nil {
			// In-cluster commands and actions without a file to look at:
			// the command's exit status is the check (the plugin's
			// commands exit non-zero when they did not complete, and a
			// re-run finishes without repeating).
			body = cmd
			break
		}
		done := call("carotate_already", s.Description)
		after := &syntax.Stmt{Cmd: &syntax.BinaryCmd{Op: syntax.OrStmt, X: check, Y: call("carotate_did_not_take")}}
		body = []*syntax.Stmt{{Cmd: &syntax.IfClause{
			Cond: []*syntax.Stmt{negate(check)},
			Then: append(cmd, after),
			Else: &syntax.IfClause{Then: []*syntax.Stmt{done}},
		}}}
	}
	if s.Condition == "" {
		g.stmt(announce)
		g.directives(cmd)
		for _, st := range body {
			g.stmt(st)
		}
		return nil
	}
	if s.When == "" {
		return fmt.Errorf("it applies only %q, which a script cannot test (the step has no \"when\"); print it as text", s.Condition)
	}
	when, err := parseCondition(s.When)
	if err != nil {
		return fmt.Errorf("its when %q: %w", s.When, err)
	}
	skipped := call("carotate_say", "step "+s.Step+" "+where+": skipped, it applies "+s.Condition)
	g.directives(cmd)
	g.stmt(&syntax.Stmt{Cmd: &syntax.IfClause{Cond: when, Then: append([]*syntax.Stmt{announce}, body...), Else: &syntax.IfClause{Then: []*syntax.Stmt{skipped}}}})
	return nil
}

// command parses a step's command; a key the operator brings is read from
// its variable ($NEW_CA_KEY) instead of the file name the text prints.
func (g *scriptGen) command(s Step) ([]*syntax.Stmt, error) {
	stmts, err := parse(s.Command)
	if err != nil {
		return nil, err
	}
	if ca, ok := keyContents[s.Content]; ok && s.From != "" {
		v := keyVariable(s.From)
		found := false
		syntax.Walk(&syntax.File{Stmts: stmts}, func(n syntax.Node) bool {
			if w, ok := n.(*syntax.Word); ok && w.Lit() == s.From {
				*w = *varWord(v)
				found = true
			}
			return true
		})
		if !found {
			return nil, fmt.Errorf("its command does not name the key file %s", s.From)
		}
		g.keys[v] = ca
	}
	for _, c := range commandsOf(stmts) {
		if c == "kubectl" || c == "openssl" || c == "crictl" || c == "systemctl" || c == "scp" || c == "curl" {
			g.needs[c] = true
		}
	}
	return stmts, nil
}

// keyContents are the key contents an operator brings, and the CA each
// belongs to.
var keyContents = map[string]string{ContentNewCAKey: ContentNewCA, ContentNewFrontProxyCAKey: ContentNewFrontProxyCA,
	ContentNewSAKey: ContentNewSAPublicKey, ContentNewEtcdCAKey: ContentNewEtcdCA}

// keyVariable names the variable of an operator's key file: new-ca.key is
// $NEW_CA_KEY.
func keyVariable(file string) string {
	return strings.ToUpper(strings.NewReplacer("-", "_", ".", "_").Replace(path.Base(file)))
}

// keyFileOf is the default file of a key variable.
func keyFileOf(v string) string {
	base := strings.ToLower(strings.TrimSuffix(v, "_KEY"))
	return strings.ReplaceAll(base, "_", "-") + ".key"
}

// check is the test that a step took, or nil when only its command's exit
// status can tell.
func (g *scriptGen) check(s Step) (*syntax.Stmt, error) {
	g.needs["openssl"] = true
	switch s.Action {
	case ActionBackup:
		return call("carotate_backed_up", s.Target, s.File), nil
	case ActionWriteFile:
		if ca, ok := keyContents[s.Content]; ok {
			spki, err := g.spki(ca)
			if err != nil {
				return nil, err
			}
			return call("carotate_key_file", s.File, spki, "the "+contentWords(s.Content)), nil
		}
		if s.Content == ContentNewSAPublicKey || s.Content == ContentSAPublicKeys {
			// Public keys, not certificates: the file holds exactly what
			// the step writes.
			text := g.d.Contents[s.Content]
			if !strings.HasSuffix(text, "\n") {
				text += "\n"
			}
			sum := sha256.Sum256([]byte(text))
			return call("carotate_content", s.File, hex.EncodeToString(sum[:])), nil
		}
		fps, err := g.fingerprints(s.Content)
		if err != nil {
			return nil, err
		}
		return call(append([]string{"carotate_certs", s.File}, fps...)...), nil
	case ActionCopyFile:
		if remote(s.From) {
			return nil, nil
		}
		return call("carotate_same", s.From, s.File), nil
	case ActionIssueCert:
		return call("carotate_issued", s.File, s.CA, s.Key), nil
	case ActionSetFlag:
		return call("carotate_flag", s.Manifest, s.Flag, s.File), nil
	case ActionSetKubeconfigCA:
		fps, err := g.fingerprints(s.Content)
		if err != nil {
			return nil, err
		}
		g.needs["kubectl"] = true
		return call(append([]string{"carotate_kubeconfig_ca", s.Kubeconfig}, fps...)...), nil
	case ActionReissueKubeconfig:
		g.needs["kubectl"] = true
		return call("carotate_client_cert_from", s.Kubeconfig, s.CA), nil
	case ActionSetKubeletConfig:
		return call("carotate_config_field", s.Config, s.Field, s.File), nil
	case ActionRemoveFile:
		return call("carotate_absent", s.File), nil
	}
	return nil, nil
}

// remote tells a "node:path" source from a path.
func remote(from string) bool {
	host, _, ok := strings.Cut(from, ":")
	return ok && !strings.Contains(host, "/")
}

// restart waits for a component the step's earlier edits restart (a
// static pod whose manifest changed), or restarts it: either way until it
// runs again, started after those edits, and answers.
func (g *scriptGen) restart(gr *stepGroup, i int, s Step, cmd []*syntax.Stmt) ([]*syntax.Stmt, error) {
	files := editedFiles(gr.steps[:i])
	var check *syntax.Stmt
	var what string
	if s.Restart == ComponentKubelet {
		g.needs["systemctl"], g.needs["kubectl"] = true, true
		check = call(append([]string{"carotate_kubelet", s.Node, KubeadmKubeletConf}, files...)...)
		what = "the kubelet on " + s.Node + " to run again and renew its node's Lease"
	} else {
		g.needs["crictl"], g.needs["curl"] = true, true
		url := g.healthURL(s.Node, s.Restart)
		check = call(append([]string{"carotate_static_pod", s.Restart, url}, files...)...)
		what = s.Restart + " to run again and answer " + url
	}
	wait := &syntax.Stmt{Cmd: &syntax.CallExpr{Args: append([]*syntax.Word{word("carotate_wait"), varWord("CAROTATE_TIMEOUT"), word(what)},
		check.Cmd.(*syntax.CallExpr).Args...)}}
	out := []*syntax.Stmt{{Cmd: &syntax.IfClause{
		Cond: []*syntax.Stmt{negate(check)},
		Then: append(cmd, wait),
		Else: &syntax.IfClause{Then: []*syntax.Stmt{call("carotate_already", s.Restart+" runs, started after the changes above")}},
	}}}
	// Before the workstation steps that read it: the controller-manager
	// publishes its --root-ca-file as every namespace's kube-root-ca.crt
	// within moments of starting; unbundle refuses until it has.
	if s.Restart == ComponentControllerManager && g.o.Workstation {
		for _, e := range gr.steps[:i] {
			if e.Action == ActionSetFlag && e.Component == ComponentControllerManager && e.Flag == "--root-ca-file" && e.Content != "" {
				fps, err := g.fingerprints(e.Content)
				if err != nil {
					return nil, err
				}
				args := append([]string{"carotate_wait", "$CAROTATE_TIMEOUT", "kube-controller-manager to publish its --root-ca-file (" + contentWords(e.Content) + ") in kube-system/kube-root-ca.crt", "carotate_published"}, fps...)
				out = append(out, callVars(args...))
			}
		}
	}
	return out, nil
}

// editedFiles are the files steps change, for the restart after them.
func editedFiles(steps []Step) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range steps {
		switch s.Action {
		case ActionBackup, ActionSkip, ActionInCluster, ActionRestart, ActionRemoveFile:
			continue
		}
		for _, f := range []string{s.File, s.Manifest, s.Kubeconfig, s.Config} {
			if strings.HasPrefix(f, "/") && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
	}
	return out
}

// Components' secure ports, as kubeadm leaves them.
var defaultSecurePorts = map[string]string{
	ComponentAPIServer: "6443", ComponentControllerManager: "10257", ComponentScheduler: "10259", ComponentCloudController: "10258",
}

// healthURL is where a control-plane component answers whether it is
// healthy (ComponentHealthURL).
func (g *scriptGen) healthURL(node, component string) string {
	return ComponentHealthURL(g.d.ControlPlane, node, component)
}

// ComponentHealthURL is where a control-plane component of node answers
// whether it is healthy, from its flags: its secure port on its bind
// address (/readyz for kube-apiserver), or etcd's metrics URL (/health).
func ComponentHealthURL(cp []ControlPlaneHost, node, component string) string {
	host, port, p := "127.0.0.1", defaultSecurePorts[component], "/healthz"
	if component == ComponentAPIServer {
		p = "/readyz"
	}
	for _, h := range cp {
		if h.Node != node {
			continue
		}
		cl := h.Components[component]
		if component == ComponentEtcd {
			// kubeadm's liveness probe: plain http on 127.0.0.1:2381.
			if m, _, _ := strings.Cut(cl.Value("listen-metrics-urls"), ","); m != "" {
				return strings.TrimSuffix(m, "/") + "/health"
			}
			return "http://127.0.0.1:2381/health"
		}
		if v := cl.Value("secure-port"); v != "" {
			port = v
		}
		if v := cl.Value("bind-address"); v != "" && v != "0.0.0.0" && v != "::" {
			host = v
		}
	}
	if component == ComponentEtcd {
		return "http://127.0.0.1:2381/health"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "https://" + host + ":" + port + p
}

// fingerprints are the SHA-256 fingerprints of a content's certificates.
func (g *scriptGen) fingerprints(content string) ([]string, error) {
	if fps, ok := g.fps[content]; ok {
		return fps, nil
	}
	certs, err := ParseCertificates("contents["+content+"]", []byte(g.d.Contents[content]))
	if err != nil {
		return nil, err
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("contents[%s] holds no certificate", content)
	}
	var fps []string
	for _, c := range certs {
		fps = append(fps, Fingerprint(c))
	}
	g.fps[content] = fps
	return fps, nil
}

// spki is the SHA-256 of the public key of a content's first certificate:
// what the matching private key's public half hashes to.
func (g *scriptGen) spki(content string) (string, error) {
	if content == ContentNewSAPublicKey {
		keys, err := ParsePublicKeys("contents["+content+"]", []byte(g.d.Contents[content]))
		if err != nil {
			return "", err
		}
		der, err := x509.MarshalPKIXPublicKey(keys[0])
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256(der)
		return hex.EncodeToString(sum[:]), nil
	}
	certs, err := ParseCertificates("contents["+content+"]", []byte(g.d.Contents[content]))
	if err != nil {
		return "", err
	}
	if len(certs) == 0 {
		return "", fmt.Errorf("contents[%s] holds no certificate", content)
	}
	sum := sha256.Sum256(certs[0].RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:]), nil
}

// Syntax tree helpers.

func (g *scriptGen) stmt(s *syntax.Stmt) {
	p := syntax.NewPrinter(syntax.Indent(2))
	if err := p.Print(&g.b, s); err != nil {
		// A tree built here always prints; a failure is a bug worth seeing.
		panic(err)
	}
	g.b.WriteString("\n")
}

// parse parses a step's shell text into statements.
func parse(src string) ([]*syntax.Stmt, error) {
	f, err := syntax.NewParser().Parse(strings.NewReader(src), "")
	if err != nil {
		return nil, err
	}
	return f.Stmts, nil
}

// parseCondition parses a test into statements without positions, so the
// printer keeps it on the line of the "if" built here around it.
func parseCondition(src string) ([]*syntax.Stmt, error) {
	stmts, err := parse(src)
	if err != nil {
		return nil, err
	}
	syntax.Walk(&syntax.File{Stmts: stmts}, func(n syntax.Node) bool {
		if n != nil {
			clearPositions(reflect.ValueOf(n))
		}
		return true
	})
	return stmts, nil
}

var posType = reflect.TypeOf(syntax.Pos{})

// clearPositions zeroes the positions a node holds itself (its children
// are visited on their own), also in its slices of plain structs
// (comments, array elements).
func clearPositions(v reflect.Value) {
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case f.Type() == posType && f.CanSet():
			f.Set(reflect.Zero(posType))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < f.Len(); j++ {
				clearPositions(f.Index(j).Addr())
			}
		}
	}
}

// word is s as one shell word, quoted where it needs it (as
// syntax.Quote decides): in single quotes, or in double quotes when it
// holds a single quote.
func word(s string) *syntax.Word {
	var part syntax.WordPart
	switch {
	case s != "" && quote(s) == s:
		part = &syntax.Lit{Value: s}
	case !strings.Contains(s, "'"):
		part = &syntax.SglQuoted{Value: s}
	default:
		esc := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(s)
		part = &syntax.DblQuoted{Parts: []syntax.WordPart{&syntax.Lit{Value: esc}}}
	}
	return &syntax.Word{Parts: []syntax.WordPart{part}}
}

// varWord is "$name".
func varWord(name string) *syntax.Word {
	return &syntax.Word{Parts: []syntax.WordPart{&syntax.DblQuoted{Parts: []syntax.WordPart{&syntax.ParamExp{Param: &syntax.Lit{Value: name}}}}}}
}

func call(args ...string) *syntax.Stmt {
	c := &syntax.CallExpr{}
	for _, a := range args {
		c.Args = append(c.Args, word(a))
	}
	return &syntax.Stmt{Cmd: c}
}

// callVars is call where an argument "$NAME" is that variable.
func callVars(args ...string) *syntax.Stmt {
	c := &syntax.CallExpr{}
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "$"); ok && v != "" && strings.Trim(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_") == "" {
			c.Args = append(c.Args, varWord(v))
			continue
		}
		c.Args = append(c.Args, word(a))
	}
	return &syntax.Stmt{Cmd: c}
}

func negate(s *syntax.Stmt) *syntax.Stmt {
	c := *s
	c.Negated = true
	return &c
}

func assign(name, value string) *syntax.Stmt {
	return &syntax.Stmt{Cmd: &syntax.CallExpr{Assigns: []*syntax.Assign{{Name: &syntax.Lit{Value: name}, Value: word(value)}}}}
}

// defaultVar is ': "${NAME:=value}"'.
func defaultVar(name, value string) *syntax.Stmt {
	exp := &syntax.ParamExp{Param: &syntax.Lit{Value: name}, Exp: &syntax.Expansion{Op: syntax.AssignUnsetOrNull, Word: word(value)}}
	return &syntax.Stmt{Cmd: &syntax.CallExpr{Args: []*syntax.Word{
		{Parts: []syntax.WordPart{&syntax.Lit{Value: ":"}}},
		{Parts: []syntax.WordPart{&syntax.DblQuoted{Parts: []syntax.WordPart{exp}}}},
	}}}
}

// heredocRedirect feeds text to a command as a quoted here-document.
func heredocRedirect(text string) *syntax.Redirect {
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	return &syntax.Redirect{Op: syntax.Hdoc,
		Word: &syntax.Word{Parts: []syntax.WordPart{&syntax.SglQuoted{Value: "EOF"}}},
		Hdoc: &syntax.Word{Parts: []syntax.WordPart{&syntax.Lit{Value: text}}}}
}

// commandsOf are the names of the simple commands in stmts.
func commandsOf(stmts []*syntax.Stmt) []string {
	var out []string
	syntax.Walk(&syntax.File{Stmts: stmts}, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			if l := c.Args[0].Lit(); l != "" {
				out = append(out, l)
			}
		}
		return true
	})
	return out
}

// directives disables, for the statement that follows, the ShellCheck
// checks a step's command trips on purpose: SC2046 where a command
// substitution stands unquoted in a word, to give one word per line
// (crictl stopp $(crictl pods -q)) or a word of hex digits.
func (g *scriptGen) directives(stmts []*syntax.Stmt) {
	var out []string
	syntax.Walk(&syntax.File{Stmts: stmts}, func(n syntax.Node) bool {
		c, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		for _, w := range c.Args {
			for _, p := range w.Parts {
				if _, ok := p.(*syntax.CmdSubst); ok && len(out) == 0 {
					out = append(out, "SC2046 # the command substitution is meant to split into one word per line (ids) or is one word (hex digits)")
				}
			}
		}
		return true
	})
	for _, d := range out {
		g.b.WriteString("# shellcheck disable=" + d + "\n")
	}
}
