package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/remediate"
)

func newPlanCommand(g *globalFlags, s Streams) *cobra.Command {
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change, as diffs",
		Long: `plan checks the node and shows, without changing anything, exactly what apply would do:
every file as a unified diff, links, units to restart, pods to recreate, and the upstreams
it would use (each asked a real DNS question unless --offline).

Exit status: 0 success; with --detailed-exitcode 0 nothing to do, 2 changes to make;
1 failure, or errors that no chosen strategy fixes (apply would refuse).`,
		Example: `  unloop plan
  unloop plan --strategy kubelet --detailed-exitcode
  unloop plan --output json | jq '.changes[] | {kind, path, action}'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, env, closeEnv, err := g.open(cmd, s)
			if err != nil {
				return err
			}
			defer closeEnv()
			pl, err := remediate.MakePlan(cmd.Context(), env, c.Opts)
			if pl != nil {
				if rerr := renderPlan(s.Out, c.Output, pl, err); rerr != nil {
					return rerr
				}
			}
			if err != nil {
				return err
			}
			switch {
			case pl.Report.HasUnreadable():
				return &exitError{code: exitFailed}
			case len(pl.Unfixed) > 0:
				fmt.Fprintf(s.Err, "unloop: %v\n", remediate.ErrUnfixed)
				return &exitError{code: exitFailed}
			case detailed && pl.Changed:
				return &exitError{code: exitFindings}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 when there is nothing to do, 2 when there are changes, 1 on failure")
	return cmd
}

func newApplyCommand(g *globalFlags, s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "apply",
		Short: "Fix the loops at their source: the same plan, carried out",
		Long: `apply computes the same plan as 'unloop plan' and carries it out under a lock
(/run/unloop.lock): the originals are journaled under /var/lib/unloop/runs/ID, files are
replaced atomically keeping mode and owner, units are restarted over D-Bus, and the node is
checked again. If any step fails, every change of the run is rolled back.
A second apply changes nothing ("changed": false): it is safe at every boot.

Exit status: 0 done (changed or not), 1 failed (and rolled back) or refused.`,
		Example: `  unloop apply
  unloop apply --strategy dhclient
  unloop apply --output json   # for Ansible: changed_when: (r.stdout | from_json).changed`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, env, closeEnv, err := g.open(cmd, s)
			if err != nil {
				return err
			}
			defer closeEnv()
			res, err := remediate.Apply(cmd.Context(), env, c.Opts)
			if res != nil {
				if rerr := renderApply(s.Out, c.Output, res, err); rerr != nil {
					return rerr
				}
			}
			return err
		},
	}
}

func newRollbackCommand(g *globalFlags, s Streams) *cobra.Command {
	var run string
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Restore the files of the last (or the named) apply",
		Long: `rollback puts back, byte for byte (content, mode, owner, link targets), every file the
run changed, and restarts the units that run restarted. Rolling back twice is harmless.`,
		Example: `  unloop rollback
  unloop rollback --run 20261125T203500Z-1a2b`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, env, closeEnv, err := g.open(cmd, s)
			if err != nil {
				return err
			}
			defer closeEnv()
			j, err := remediate.Rollback(cmd.Context(), env, c.Opts, run)
			if err != nil {
				if errors.Is(err, remediate.ErrNoRun) {
					return fmt.Errorf("nothing to roll back: %w", err)
				}
				return err
			}
			if c.Output == "json" {
				return writeJSON(s.Out, remediate.NewRollbackDocument(j))
			}
			fmt.Fprintf(s.Out, "rolled back run %s: %d paths restored", j.ID, len(j.Snapshots))
			if len(j.Units) > 0 && !c.Opts.Offline && !c.Opts.NoRestart {
				fmt.Fprintf(s.Out, ", restarted %v", j.Units)
			}
			fmt.Fprintln(s.Out)
			return nil
		},
	}
	cmd.Flags().StringVar(&run, "run", "", "the run to roll back (default: the newest)")
	return cmd
}
