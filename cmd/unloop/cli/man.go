package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/remediate"
)

// conventions gives the root command what users expect of a CLI: --version
// (with commit and build date), examples, and generated docs without a
// "generated on" line that would change every build.
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

// newManCommand writes unloop's man pages, one per command, from the cobra
// commands themselves: `make package` ships them. Hidden: it is a build step.
func newManCommand(s Streams) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write unloop's man pages (unloop.1, unloop-check.1, ...) into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			if err := writeManTree(cmd.Root(), args[0], manDate()); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			_, err := fmt.Fprintf(s.Err, "man pages written to %s\n", args[0])
			return err
		},
	}
}

// manDate is the build date (so the same build gives the same pages), else
// SOURCE_DATE_EPOCH (reproducible builds), else now.
func manDate() time.Time {
	if d, err := time.Parse(time.RFC3339, date); err == nil {
		return d
	}
	if e, err := strconv.ParseInt(os.Getenv("SOURCE_DATE_EPOCH"), 10, 64); err == nil {
		return time.Unix(e, 0).UTC()
	}
	return time.Now().UTC()
}

// manSections adds what a command's page says beyond its help: check's page
// lists the finding codes, from the registry the analysis uses; plan's and
// apply's the strategies, from the table plan and apply use.
func manSections(b *strings.Builder, c *cobra.Command) {
	switch c.Name() {
	case "plan", "apply":
		b.WriteString(".SH STRATEGIES\n.PP\nIn auto's order; --strategy gives your own.\n")
		for _, s := range remediate.Strategies {
			fmt.Fprintf(b, ".TP\n.B %s\n%s\n", roffArg(s.Name), roffLines(s.Help))
		}
		return
	case "check":
	default:
		return
	}
	b.WriteString(".SH FINDING CODES\n.PP\nStable: scripts and alerts depend on them. The fixes are the strategies that can fix a finding of the code, where the node allows them.\n")
	for _, i := range remediate.Codes {
		fmt.Fprintf(b, ".TP\n.B %s\n", roffArg(string(i.Code)))
		line := string(i.Severity) + ": " + strings.ReplaceAll(i.Meaning, "`", "")
		if len(i.Fixes) > 0 {
			line += " (fixes: " + strings.Join(i.Fixes, ", ") + ")"
		}
		b.WriteString(roffLines(line) + "\n")
	}
}
