package cli

import (
	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate/journal"
)

func newRunsCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs of apply journaled on the node, newest first",
		Long: `runs lists the runs of apply journaled under /var/lib/unloop/runs (under --root), newest
first: the first is the one 'unloop rollback' undoes. Each run has its ID, when it started,
its state (started: cut short, rolled back by the next apply; applied; rolled-back), its
strategies and the paths it changed. It reads the journal only.

` + exitHelp("runs") + `
With --quiet nothing is printed but that error.`,
		Example: `  unloop runs
  unloop runs -o json | jq -r '.runs[0].id'
  unloop rollback --run "$(unloop runs -o json | jq -r '.runs[1].id')"`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, runsSettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		ss, err := flags.start(s)
		if err != nil {
			return err
		}
		root, err := hostcfg.NewRoot(ss.Root)
		if err != nil {
			return err
		}
		js, err := journal.List(root)
		if err != nil {
			return err
		}
		return render.Runs(ss.out, ss.Output, js)
	}
	return cmd
}
