package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/remediate"
)

func newPlanCommand(s Streams) *cobra.Command {
	var detailed bool
	cmd := &cobra.Command{
		Use:   "plan",
		Short: "Show what apply would change, as diffs",
		Long: `plan checks the node and shows, without changing anything, exactly what apply would do:
every file as a unified diff, links, units to restart, pods to recreate, and the upstreams
it would use (each asked a real DNS question unless --offline). It takes apply's flags, so
one set of arguments serves both.

Exit status: 0 success; with --detailed-exitcode 0 nothing to do, 2 changes to make;
1 failure, or errors that no chosen strategy fixes (apply would refuse). With --quiet
nothing is printed but the reason for an exit 1.`,
		Example: `  unloop plan
  unloop plan --strategy kubelet --detailed-exitcode
  unloop plan -o json | jq '.changes[] | {kind, path, action}'
  unloop plan -q --detailed-exitcode; echo $?`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, planSettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env remediate.Env) error {
			pl, err := remediate.MakePlan(ctx, env, ss.Opts)
			if pl != nil {
				if rerr := renderPlan(ss.out, ss.Output, pl, err); rerr != nil {
					return rerr
				}
			}
			if err != nil {
				return err
			}
			switch {
			case pl.Report.HasUnreadable():
				quietErrors(ss, pl.Report.Findings)
				return &exitError{code: exitFailed}
			case len(pl.Unfixed) > 0:
				fmt.Fprintf(ss.err, "unloop: %v\n", remediate.ErrUnfixed)
				return &exitError{code: exitFailed}
			case detailed && pl.Changed:
				return &exitError{code: exitFindings}
			}
			return nil
		})
	}
	cmd.Flags().BoolVar(&detailed, "detailed-exitcode", false, "exit 0 when there is nothing to do, 2 when there are changes, 1 on failure")
	return cmd
}

func newApplyCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apply",
		Short: "Fix the loops at their source: the same plan, carried out",
		Long: `apply computes the same plan as 'unloop plan' and carries it out under a lock
(/run/unloop.lock): the originals are journaled under /var/lib/unloop/runs/ID, files are
replaced atomically keeping mode and owner, units are restarted over D-Bus, and the node is
checked again. If any step fails, every change of the run is rolled back.
A second apply changes nothing ("changed": false): it is safe at every boot.

Exit status: 0 done (changed or not), 1 failed (and rolled back) or refused. With
--quiet nothing is printed but the error of a failed or refused apply.`,
		Example: `  unloop apply
  unloop apply --strategy dhclient
  unloop apply -o json   # for Ansible: changed_when: (r.stdout | from_json).changed
  unloop apply -q        # at boot: only errors in the journal`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, applySettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env remediate.Env) error {
			res, err := remediate.Apply(ctx, env, ss.Opts)
			if res != nil {
				if rerr := renderApply(ss.out, ss.Output, res, err); rerr != nil {
					return rerr
				}
			}
			return err
		})
	}
	return cmd
}

func newRollbackCommand(s Streams) *cobra.Command {
	var run string
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Restore the files of the last (or the named) apply",
		Long: `rollback puts back, byte for byte (content, mode, owner, link targets), every file the
run changed, and restarts the units that run restarted. Rolling back twice is harmless.
'unloop runs' lists the runs.

Exit status: 0 rolled back, 1 failed or nothing to roll back. With --quiet nothing is
printed but the error.`,
		Example: `  unloop rollback
  unloop rollback --run 20261125T203500Z-1a2b`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, rollbackSettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env remediate.Env) error {
			j, err := remediate.Rollback(ctx, env, ss.Opts, run)
			if err != nil {
				if errors.Is(err, remediate.ErrNoRun) {
					return fmt.Errorf("nothing to roll back: %w", err)
				}
				return err
			}
			if ss.Output == "json" {
				return writeJSON(ss.out, remediate.NewRollbackDocument(j))
			}
			fmt.Fprintf(ss.out, "rolled back run %s: %d paths restored", j.ID, len(j.Snapshots))
			if len(j.Units) > 0 && !ss.Opts.Offline && !ss.Opts.NoRestart {
				fmt.Fprintf(ss.out, ", restarted %v", j.Units)
			}
			fmt.Fprintln(ss.out)
			return nil
		})
	}
	cmd.Flags().StringVar(&run, "run", "", "the run to roll back (default: the newest)")
	return cmd
}
