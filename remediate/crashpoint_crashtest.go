//go:build crashtest

package remediate

import (
	"os"
	"syscall"

	"github.com/unloop/unloop/remediate/journal"
)

// With -tags crashtest, crashpoint obeys four variables of the environment:
//
//	UNLOOP_CRASH_AT=NAME     SIGKILL the process when it reaches the point NAME:
//	                         no deferred call runs, no lock is released by hand,
//	                         as after a power cut or the OOM killer.
//	UNLOOP_CRASH_TRACE=FILE  append the name of every point reached, one a line,
//	                         so a test can list the points of a run.
//	UNLOOP_TERM_AT=NAME      SIGTERM the process at the point NAME and carry on,
//	                         as systemd stopping the unit there would.
//	UNLOOP_HUP_AT=NAME       SIGHUP the process at the point NAME and carry on,
//	                         as a dropped SSH session there would.
//
// The journal's rollback reports its points here too ("restored PATH").
var (
	crashAt    = os.Getenv("UNLOOP_CRASH_AT")
	crashTrace = os.Getenv("UNLOOP_CRASH_TRACE")
	termAt     = os.Getenv("UNLOOP_TERM_AT")
	hupAt      = os.Getenv("UNLOOP_HUP_AT")
)

func init() { journal.Crashpoint = crashpoint }

func crashpoint(name string) {
	if crashTrace != "" {
		// The write is in the page cache before the kill: SIGKILL loses
		// nothing that reached the kernel.
		if f, err := os.OpenFile(crashTrace, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
			_, _ = f.WriteString(name + "\n")
			_ = f.Close()
		}
	}
	if termAt != "" && name == termAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGTERM)
	}
	if hupAt != "" && name == hupAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGHUP)
	}
	if crashAt != "" && name == crashAt {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way; never return into apply
	}
}
