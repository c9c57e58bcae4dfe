package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/unloop/unloop/remediate/node"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/journal"
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

` + exitHelp("plan") + `
With --quiet nothing is printed but the reason for an exit 1.`,
		Example: `  unloop plan
  unloop plan --strategy kubelet --detailed-exitcode
  unloop plan -o json | jq '.changes[] | {kind, path, action}'
  unloop plan -q --detailed-exitcode; echo $?`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, planSettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env node.Env) error {
			pl, err := remediate.MakePlan(ctx, env, ss.Opts)
			if pl != nil {
				if rerr := render.Plan(ss.out, ss.Output, pl, err); rerr != nil {
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
			case pl.Blocked():
				fmt.Fprintf(ss.err, "unloop: %v\n", remediate.ErrUnfixed)
				return &exitError{code: exitFailed}
			case detailed && (pl.Changed || recreates(pl)):
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
checked again. If any step fails, every change of the run is rolled back. SIGHUP (a
dropped SSH session) is ignored until the run is done; SIGTERM cuts it short into a
rollback. A second apply changes nothing ("changed": false): it is safe at every boot.

After a verified fix, the DNS-server pods whose sandbox still holds a looping copy of the
pod file are recreated through the container runtime (CRI, kubelet's own endpoint or
--runtime-endpoint), replicas of one Deployment one at a time and other pods at
once, waiting up to 60 s for each new sandbox. Not when
kubelet is not running (the boot unit runs before it), offline, or with --no-recreate-pods.

` + exitHelp("apply") + `
With --quiet nothing is printed but the error of a failed or refused apply.`,
		Example: `  unloop apply
  unloop apply --strategy dhclient
  unloop apply -o json   # for Ansible: changed_when: (r.stdout | from_json).changed
  unloop apply -q        # at boot: only errors in the journal`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, applySettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env node.Env) error {
			res, err := applyNode(ctx, env, ss.Config)
			if res != nil {
				// The run is over: output that can't be written (a closed
				// pipe) is said, but the exit status is the run's.
				if rerr := render.Apply(ss.out, ss.Output, res, err); rerr != nil {
					ss.log.Warn("could not print the result", "err", rerr)
				}
			}
			if err != nil {
				return err
			}
			o, next := res.Outcome()
			if o == remediate.OutcomeDone {
				return nil
			}
			fmt.Fprintf(ss.err, "unloop: %s\n", next)
			return &exitError{code: outcomeExit[o]}
		})
	}
	return cmd
}

func newRollbackCommand(s Streams) *cobra.Command {
	var run string
	var force bool
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Restore the files of the last (or the named) apply",
		Long: `rollback puts back, byte for byte (content, mode, owner, extended attributes, link
targets), every file the run changed, and restarts the units that run restarted.

A path is restored only while it still holds what the run left there or its original
content. A path that changed since (an admin's edit, a DHCP renew) is refused: its newer
content is kept, the diff --force would apply is shown, and the run is marked conflict.
--force restores such paths too. A block unloop spliced into someone else's file is
taken out by its markers, keeping the rest, while it holds what unloop wrote (its
markers carry a hash of it); once edited it is the owner's, and refused like any edit.
A ConfigMap's Corefile the run changed through the Kubernetes API (--kubeconfig) is
restored the same way, only while the ConfigMap is still at the version unloop wrote.
A run rolled back already is refused. SIGHUP (a dropped SSH session) is ignored until
the rollback is done. 'unloop runs' lists the runs.

` + exitHelp("rollback") + `
With --quiet nothing is printed but the error.`,
		Example: `  unloop rollback
  unloop rollback --run 20261125T203500Z-1a2b
  unloop rollback --force   # also over paths changed since the run`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, rollbackSettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env node.Env) error {
			if ss.Opts.Offline && env.BusNote != "" {
				ss.log.Warn("offline: " + env.BusNote + "; nothing is restarted")
			}
			res, err := remediate.Rollback(ctx, env, ss.Opts, run, force)
			if res == nil || errors.Is(err, remediate.ErrRolledBack) {
				if errors.Is(err, journal.ErrNoRun) {
					return fmt.Errorf("nothing to roll back: %w", err)
				}
				return err
			}
			restarted := restoredAny(res.Paths) && !ss.Opts.Offline && !ss.Opts.NoRestart && len(res.Run.Units) > 0
			if rerr := render.Rollback(ss.out, ss.Output, res, restarted); rerr != nil {
				ss.log.Warn("could not print the result", "err", rerr)
			}
			return err
		})
	}
	cmd.Flags().StringVar(&run, "run", "", "the run to roll back (default: the newest)")
	cmd.Flags().BoolVar(&force, "force", false, "restore paths that changed since the run too, losing their newer content")
	return cmd
}

func restoredAny(paths []journal.PathResult) bool {
	for _, p := range paths {
		if p.Result == journal.PathRestored || p.Result == journal.PathBlockRemoved {
			return true
		}
	}
	return false
}

// recreates says whether the plan recreates pods through the runtime.
func recreates(pl *remediate.Plan) bool {
	for _, c := range pl.Changes {
		if c.Kind == remediate.KindPods && c.Skipped == "" {
			return true
		}
	}
	return false
}
