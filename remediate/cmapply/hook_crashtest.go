//go:build crashtest

package cmapply

import (
	"os"
	"os/exec"
)

// With -tags crashtest, UNLOOP_RUN_AT=NAME runs the shell command UNLOOP_RUN
// at the point NAME and waits for it: another writer at that very moment
// (kubectl editing a ConfigMap between the plan's read and apply's update).
func hook(name string) {
	if at := os.Getenv("UNLOOP_RUN_AT"); at == "" || at != name {
		return
	}
	cmd := exec.Command("sh", "-c", os.Getenv("UNLOOP_RUN"))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	_ = cmd.Run()
}
