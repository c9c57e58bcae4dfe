package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/unloop/unloop/cmd/unloop/settings"
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
	root.SetFlagErrorFunc(flagError)

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

// flagError names the way out of a flag error, as kubectl does: the nearest
// flag of the command (cobra suggests only subcommands), else the commands
// that take the flag, and where the command's flags are listed.
func flagError(c *cobra.Command, err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "unknown flag: --"); ok {
		var names []string
		c.Flags().VisitAll(func(f *pflag.Flag) { names = append(names, f.Name) })
		var takers []string
		for _, o := range c.Root().Commands() {
			if o != c && o.Flags().Lookup(name) != nil {
				takers = append(takers, o.Name())
			}
		}
		switch n := settings.Nearest(name, names); {
		case n != "":
			msg += "\ndid you mean --" + n + "?"
		case len(takers) > 0:
			slices.Sort(takers)
			msg += fmt.Sprintf("\n--%s is a flag of %s, not of %s", name, orJoin(takers), c.Name())
		}
	}
	return fmt.Errorf("%s\nSee '%s --help'.", msg, c.CommandPath())
}

// orJoin is "a", "a or b", "a, b or c".
func orJoin(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}
