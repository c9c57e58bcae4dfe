package cli

import (
	"github.com/spf13/cobra"
)

// conventions gives the root command what users expect of a CLI: --version
// (with commit and build date), examples, and generated docs (cmd/unloop-man)
// without a "generated on" line that would change every build.
func conventions(root *cobra.Command) {
	root.Version = versionString()
	root.SetVersionTemplate("{{.Version}}\n")
	root.DisableAutoGenTag = true
	monitorFlags(root)
	everyFlag(root)

	// cobra adds `completion` at Execute; made now so it gets examples too.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		switch c.Name() {
		case "version":
			c.Example = "  unloop version\n  unloop --version"
		case "completion":
			c.Example = `  source <(unloop completion bash)
  unloop completion bash > /etc/bash_completion.d/unloop
  unloop completion zsh > "${fpath[1]}/_unloop"
  unloop completion fish > ~/.config/fish/completions/unloop.fish`
			for _, sh := range c.Commands() {
				sh.Example = "  unloop completion " + sh.Name()
			}
		}
	}
	root.Example = `  unloop check                          # is this node looping? (exit 2 if so)
  unloop plan                           # what apply would change, as diffs
  unloop apply                          # fix it at the source; safe to run at every boot
  unloop rollback                       # undo the last apply
  unloop check --output prometheus --textfile /var/lib/node_exporter/textfile/unloop.prom
  unloop completion bash > /etc/bash_completion.d/unloop`
}
