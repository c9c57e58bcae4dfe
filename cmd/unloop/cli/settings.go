package cli

import (
	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/settings"
)

// The settings each command takes.
var (
	logSettings   = []string{"log-format", "verbose", "quiet"}
	checkSettings = append([]string{"root", "config", "output", "node-local-dns", "local-ip", "dns-upstreams", "dns-server-namespace", "dns-server-label", "dns-server-name-prefix", "corefile", "runtime-endpoint", "kubeconfig", "offline"}, logSettings...)
	// plan takes apply's settings: one list of arguments serves both (the
	// Ansible role's unloop_args), and the plan is what apply would do.
	applySettings    = append([]string{"root", "config", "output", "strategy", "upstream", "node-local-dns", "local-ip", "dns-upstreams", "dns-server-namespace", "dns-server-label", "dns-server-name-prefix", "corefile", "runtime-endpoint", "kubeconfig", "offline", "no-restart", "no-recreate-pods", "no-verify", "keep-runs"}, logSettings...)
	planSettings     = applySettings
	rollbackSettings = append([]string{"root", "config", "output", "kubeconfig", "offline", "no-restart"}, logSettings...)
	runsSettings     = append([]string{"root", "config", "output"}, logSettings...)
)

// cmdFlags are a command's settings and the command they were added to,
// which start and onNode run with.
type cmdFlags struct {
	cmd      *cobra.Command
	settings *settings.Flags
}

// addSettings gives cmd the flags of the named settings (settings.Add).
func addSettings(cmd *cobra.Command, names ...string) *cmdFlags {
	return &cmdFlags{cmd: cmd, settings: settings.Add(cmd, names...)}
}
