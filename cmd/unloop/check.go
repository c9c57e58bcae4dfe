package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/systemd"
)

func newCheckCommand(g *globalFlags, s Streams) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Find DNS forwarding loops and explain them",
		Long: `check reads the node and reports every DNS forwarding loop: which file kubelet hands to pods,
which line names the DNS server itself, who wrote it, and which strategies fix it.

Exit status: 0 no errors (warnings allowed), 2 errors found, 1 unloop itself failed
(including an input it could not read or parse).`,
		Example: `  unloop check
  unloop check --output json | jq -r '.findings[].code'
  unloop check --root /host --offline`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, env, closeEnv, err := g.open(cmd, s)
			if err != nil {
				return err
			}
			defer closeEnv()
			rep, _, err := remediate.Check(cmd.Context(), env, c.Opts)
			if err != nil {
				return err
			}
			if err := textfileFor(cmd, rep); err != nil {
				return err
			}
			if err := renderCheck(s.Out, c.Output, rep); err != nil {
				return err
			}
			return checkExit(rep)
		},
	}
}

func checkExit(rep *remediate.Report) error {
	switch {
	case rep.HasUnreadable():
		return &exitError{code: exitFailed}
	case rep.Status == "error":
		return &exitError{code: exitFindings}
	}
	return nil
}

// open loads the configuration and opens the node: what every command that
// reads the node starts with.
func (g *globalFlags) open(cmd *cobra.Command, s Streams) (*config, remediate.Env, func(), error) {
	c, err := g.load(cmd.Name())
	if err != nil {
		return nil, remediate.Env{}, nil, err
	}
	log, err := newLogger(s.Err, c.LogFormat)
	if err != nil {
		return nil, remediate.Env{}, nil, err
	}
	for _, w := range c.Warnings {
		log.Warn(w)
	}
	env, closeEnv, err := openEnv(cmd.Context(), c, log)
	if err != nil {
		return nil, remediate.Env{}, nil, err
	}
	return c, env, closeEnv, nil
}

// openEnv opens the node: its root, and unless offline its bus and interfaces.
// No bus is not an error: check then says it read files only.
func openEnv(ctx context.Context, c *config, log *slog.Logger) (remediate.Env, func(), error) {
	root, err := hostcfg.NewRoot(c.Root)
	if err != nil {
		return remediate.Env{}, nil, err
	}
	env := remediate.Env{Root: root, Log: log}
	if c.Opts.Offline {
		return env, func() {}, nil
	}
	env.Interfaces = remediate.SystemInterfaces
	bctx, cancel := context.WithTimeout(ctx, busDialTimeout)
	defer cancel()
	bus, err := systemd.Dial(bctx)
	if err != nil {
		env.BusNote = fmt.Sprintf("no system bus (%v)", err)
		log.Debug("no system bus", "err", err)
		return env, func() {}, nil
	}
	env.Bus = bus
	return env, bus.Close, nil
}
