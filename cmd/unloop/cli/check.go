package cli

import (
	"context"
	"io"
	"time"

	"github.com/unloop/unloop/remediate/node"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/remediate"
)

func newCheckCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Find DNS forwarding loops and explain them",
		Long: `check reads the node and reports every DNS forwarding loop: which file kubelet hands to pods,
which line names the DNS server itself, who wrote it, and which strategies fix it.

` + exitHelp("check") + `
With --quiet nothing is printed but unloop's own failures; the exit status still tells.`,
		Example: `  unloop check
  unloop check --output json | jq -r '.findings[].code'
  unloop check --root /host --offline
  unloop check -q || echo "this node loops"`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, checkSettings...)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		return flags.onNode(s, func(ctx context.Context, ss *session, env node.Env) error {
			rep, _, err := remediate.Check(ctx, env, ss.Opts)
			if err != nil {
				return err
			}
			if err := textfileFor(cmd, rep); err != nil {
				return err
			}
			if err := renderCheck(ss.out, ss.Output, rep); err != nil {
				return err
			}
			quietErrors(ss, rep.Findings)
			return checkExit(rep)
		})
	}
	return cmd
}

func checkExit(rep *node.Report) error {
	switch {
	case rep.HasUnreadable():
		return &exitError{code: exitFailed}
	case rep.Status == "error":
		return &exitError{code: exitFindings}
	}
	return nil
}

// renderCheck shows check's report: as metrics or an NPD verdict (monitor.go),
// else as render shows it.
func renderCheck(w io.Writer, format string, rep *node.Report) error {
	switch format {
	case "prometheus":
		return writeMetrics(w, rep, time.Now())
	case "npd":
		return renderNPD(w, rep)
	}
	return render.Check(w, format, rep)
}
