package cmdutil

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CompletionTimeout bounds the cluster calls made while the admin waits on
// <TAB>: an apiserver that is restarting mid-rotation must cost a short
// pause, never a hung shell. A variable so tests can shorten it.
var CompletionTimeout = 3 * time.Second

// CompleteFixed offers a fixed set of values for a flag, e.g.
//
//	_ = cmd.RegisterFlagCompletionFunc("dry-run", CompleteFixed("none", "client", "server"))
//	_ = cmd.RegisterFlagCompletionFunc("output", CompleteFixed("table", OutputJSON, OutputYAML))
//
// A value may carry a description after a tab ("server\tsend dryRun=All").
func CompleteFixed(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, v := range values {
			if strings.HasPrefix(v, toComplete) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteList offers values for a comma-separated flag such as
// --kinds=deployments,statefulsets: it completes the last element, keeps
// what was typed before it and leaves out values already chosen.
//
//	_ = cmd.RegisterFlagCompletionFunc("kinds", CompleteList("deployments", "daemonsets", "statefulsets"))
func CompleteList(values ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		typed, last := "", toComplete
		if i := strings.LastIndex(toComplete, ","); i >= 0 {
			typed, last = toComplete[:i+1], toComplete[i+1:]
		}
		chosen := map[string]bool{}
		for _, v := range strings.Split(typed, ",") {
			chosen[v] = true
		}
		var out []cobra.Completion
		for _, v := range values {
			if !chosen[v] && strings.HasPrefix(v, last) {
				out = append(out, typed+v)
			}
		}
		// No space after the value, so another ",kind" can follow.
		return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
	}
}

// CompleteNamespaces lists the cluster's namespaces, honouring --kubeconfig
// and --context typed earlier on the line. Any failure (no kubeconfig, no
// RBAC, apiserver down) completes nothing rather than printing an error
// into the admin's prompt; COBRA_COMPLETION debug logging shows why.
func CompleteNamespaces(f Factory) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return completeNamespaces(f, cmd, toComplete)
	}
}

func completeNamespaces(f Factory, cmd *cobra.Command, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	cs, err := f.Clientset()
	if err != nil {
		cobra.CompDebugln("namespaces: "+err.Error(), false)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, CompletionTimeout)
	defer cancel()

	var names []cobra.Completion
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := cs.CoreV1().Namespaces().List(ctx, opts)
		if err != nil {
			cobra.CompDebugln("namespaces: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		for _, ns := range list.Items {
			if strings.HasPrefix(ns.Name, toComplete) {
				names = append(names, ns.Name)
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}
