package cli

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// everyFlag adds --every to check and apply: the DaemonSet's image holds
// unloop alone (no shell, no timer), so the container repeats the command
// itself until it is stopped.
func everyFlag(root *cobra.Command) {
	for _, name := range []string{"check", "apply"} {
		c, _, err := root.Find([]string{name})
		if err != nil || c == root {
			continue
		}
		c.Flags().Duration("every", 0, "run again every `DURATION` (5m) until stopped, printing each run's exit status on stderr (for a container)")
		c.Example += "\n  unloop " + name + " --every 5m --root /host --output json   # the DaemonSet's container"
		runE := c.RunE
		c.RunE = func(cmd *cobra.Command, args []string) error {
			every, _ := cmd.Flags().GetDuration("every")
			if every <= 0 {
				return runE(cmd, args)
			}
			return repeat(cmd, every, func() error { return runE(cmd, args) })
		}
	}
}

// repeat runs run every interval until the command's context ends (SIGTERM
// when the pod stops). A failed run is reported and the next one still
// comes: one unreadable file must not stop the checks of a node; the
// status is the last run's.
func repeat(cmd *cobra.Command, every time.Duration, run func() error) error {
	ctx := cmd.Context()
	for {
		err := run()
		code := exitOK
		var ee *exitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.code
		default:
			code = exitFailed
			fmt.Fprintf(cmd.ErrOrStderr(), "unloop: %v\n", err)
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "unloop %s: exit %d; next run in %v\n", cmd.Name(), code, every)
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			if code == exitOK {
				return nil
			}
			return &exitError{code: code}
		case <-t.C:
		}
	}
}
