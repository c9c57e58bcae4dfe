package remediate

import (
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// holdHangup keeps SIGHUP from stopping a run until the returned func is
// called. A dropped SSH session sends SIGHUP to the processes of its
// terminal, and its default action ends the process wherever it is: between
// two renames of apply (the hook written, dhclient.conf and resolv.conf not)
// or of a rollback (a node half restored), with the run still journaled
// started or applied. Held, the run completes or rolls back, as the README
// promises; afterwards SIGHUP does what it did before (nohup's ignore
// included: signal.Stop restores the disposition the process started with).
// SIGTERM and SIGINT still cut a run short, through its context, into a
// rollback.
func holdHangup(log *slog.Logger) (release func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-ch:
				log.Warn("hangup (SIGHUP) ignored: the run goes on to its end")
			case <-done:
				return
			}
		}
	}()
	return func() {
		signal.Stop(ch)
		close(done)
	}
}
