// Package cli is unloop's commands (DESIGN.md §4), built with cobra: main()
// calls Run. Each command takes its settings from cmd/unloop/settings and
// shows its documents through cmd/unloop/render.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Streams are where a command reads and writes; tests pass buffers.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
}

// Exit codes (DESIGN.md §4); what each means to each command is in
// ExitCodes (exit.go).
const (
	exitOK       = 0
	exitFailed   = 1
	exitFindings = 2 // check: errors found; plan --detailed-exitcode: changes
	exitPodsLeft = 3 // apply: fixed, but some pods still hold the old file
	exitNotYet   = 4 // apply: fixed in the files, not in effect (a restart skipped)
	exitLeft     = 5 // apply: the node's loops fixed, DNS server pods' left to the user
)

// exitError carries an exit code other than 1 out of a command; its message,
// when not empty, has already been shown.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// Run runs unloop with args and returns the process exit code.
func Run(ctx context.Context, args []string, s Streams) int {
	cmd := NewRootCommand(s)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	var ee *exitError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	default:
		fmt.Fprintf(s.Err, "unloop: %v\n", err)
		return exitFailed
	}
}

// NewRootCommand is unloop and its commands, writing to s: Run executes it,
// and cmd/unloop-man, outside the binary, writes the man pages from it.
func NewRootCommand(s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "unloop",
		Short: "Find and fix DNS forwarding loops on Kubernetes nodes",
		Long: `unloop finds why CoreDNS or node-local-dns on this node would forward to itself
(plugin/loop: "Loop (169.254.25.10:51877 -> 169.254.25.10:53) detected"), who wrote the
file that loops, and fixes it at its source.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	// Each command has its own flags; the root has only --version, without
	// cobra's -v, which is --verbose on the commands.
	root.Flags().Bool("version", false, "print unloop's version, commit and build date")
	root.AddCommand(newCheckCommand(s), newPlanCommand(s), newApplyCommand(s), newRollbackCommand(s), newRunsCommand(s), newWatchCommand(s), newVersionCommand(s))
	conventions(root)
	return root
}
