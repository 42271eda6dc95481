package plugin

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/carotate/kubectl-carotate/pkg/plugin/cmdutil"
)

// registerCompletions adds value completion to the root's kubectl flags:
// namespaces from the cluster for -n, and the kubeconfig's contexts,
// clusters and users. Registering twice is harmless.
func registerCompletions(cmd *cobra.Command, c *cmdutil.Env) {
	add := func(flag string, fn cobra.CompletionFunc) {
		if cmd.Flag(flag) == nil {
			return
		}
		if _, done := cmd.GetFlagCompletionFunc(flag); done {
			return
		}
		_ = cmd.RegisterFlagCompletionFunc(flag, fn)
	}
	add("namespace", cmdutil.CompleteNamespaces(c.Factory))
	add("context", completeKubeconfig(c.Factory, func(names kubeconfigNames) []string { return names.contexts }))
	add("cluster", completeKubeconfig(c.Factory, func(names kubeconfigNames) []string { return names.clusters }))
	add("user", completeKubeconfig(c.Factory, func(names kubeconfigNames) []string { return names.users }))
}

type kubeconfigNames struct{ contexts, clusters, users []string }

// completeKubeconfig offers names from the kubeconfig files in effect; it
// needs no cluster.
func completeKubeconfig(f cmdutil.Factory, pick func(kubeconfigNames) []string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		raw, err := f.RawKubeConfigLoader().RawConfig()
		if err != nil {
			cobra.CompDebugln("kubeconfig: "+err.Error(), false)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var n kubeconfigNames
		for name := range raw.Contexts {
			n.contexts = append(n.contexts, name)
		}
		for name := range raw.Clusters {
			n.clusters = append(n.clusters, name)
		}
		for name := range raw.AuthInfos {
			n.users = append(n.users, name)
		}
		var out []cobra.Completion
		for _, name := range pick(n) {
			if strings.HasPrefix(name, toComplete) {
				out = append(out, name)
			}
		}
		sort.Strings(out)
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// newCmdCompletion replaces cobra's default "completion" command (which
// cobra skips when one exists) so that its help explains the two ways a
// plugin is completed: through kubectl, and as the bare binary.
func newCmdCompletion(c *cmdutil.Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion",
		Short: "Set up shell completion for kubectl carotate",
		Long: `Set up shell completion for kubectl carotate.

"kubectl carotate <TAB>" is completed by kubectl itself (kubectl 1.26 or
newer, with kubectl's own completion loaded, e.g. source <(kubectl completion
bash)) when the script kubectl_complete-carotate is on your PATH. The release
archives ship it; after "kubectl krew install carotate", copy it next to the
plugin:

    cp "${KREW_ROOT:-$HOME/.krew}"/store/carotate/*/kubectl_complete-carotate \
       "${KREW_ROOT:-$HOME/.krew}/bin/"

kubectl then asks kubectl carotate what can follow: subcommands, flags, and
values such as the cluster's namespaces for -n.

The subcommands below print a completion script for the binary called
directly as kubectl-carotate, for bash, zsh, fish or powershell.`,
		Example: `  # Complete "kubectl carotate <TAB>" in bash (kubectl >= 1.26)
  source <(kubectl completion bash)
  cp "${KREW_ROOT:-$HOME/.krew}"/store/carotate/*/kubectl_complete-carotate "${KREW_ROOT:-$HOME/.krew}/bin/"

  # Complete "kubectl-carotate <TAB>" in the current bash session
  source <(kubectl carotate completion bash)

  # ... in zsh, for every new session
  kubectl carotate completion zsh > "${fpath[1]}/_kubectl-carotate"`,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}

	shells := []struct {
		name, load string
		gen        func(root *cobra.Command, descriptions bool) error
	}{
		{"bash", `source <(kubectl carotate completion bash)

It needs the bash-completion package. For every new session:

    kubectl carotate completion bash > /etc/bash_completion.d/kubectl-carotate`,
			func(root *cobra.Command, d bool) error { return root.GenBashCompletionV2(c.Out, d) }},
		{"zsh", `source <(kubectl carotate completion zsh)

For every new session (with "autoload -U compinit; compinit" in ~/.zshrc):

    kubectl carotate completion zsh > "${fpath[1]}/_kubectl-carotate"`,
			func(root *cobra.Command, d bool) error {
				if d {
					return root.GenZshCompletion(c.Out)
				}
				return root.GenZshCompletionNoDesc(c.Out)
			}},
		{"fish", `kubectl carotate completion fish | source

For every new session:

    kubectl carotate completion fish > ~/.config/fish/completions/kubectl-carotate.fish`,
			func(root *cobra.Command, d bool) error { return root.GenFishCompletion(c.Out, d) }},
		{"powershell", `kubectl carotate completion powershell | Out-String | Invoke-Expression

For every new session, add that line to your PowerShell profile.`,
			func(root *cobra.Command, d bool) error {
				if d {
					return root.GenPowerShellCompletionWithDesc(c.Out)
				}
				return root.GenPowerShellCompletion(c.Out)
			}},
	}
	for _, sh := range shells {
		var noDesc bool
		sub := &cobra.Command{
			Use:   sh.name,
			Short: fmt.Sprintf("Print the %s completion script for kubectl-carotate", sh.name),
			Long: fmt.Sprintf(`Print the %s completion script for the kubectl-carotate binary called directly.
For "kubectl carotate <TAB>" see kubectl carotate completion --help.

To load it in the current session:

    %s`, sh.name, sh.load),
			Example:               "  kubectl carotate completion " + sh.name,
			Args:                  cobra.NoArgs,
			DisableFlagsInUseLine: true,
			ValidArgsFunction:     cobra.NoFileCompletions,
			RunE:                  func(cmd *cobra.Command, _ []string) error { return sh.gen(cmd.Root(), !noDesc) },
		}
		sub.Flags().BoolVar(&noDesc, "no-descriptions", noDesc, "Leave out completion descriptions")
		cmd.AddCommand(sub)
	}
	return cmd
}
