// Command unloop finds and fixes DNS forwarding loops on Kubernetes nodes.
package main

import (
	"context"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/unloop/unloop/cmd/unloop/cli"
)

// Set with -ldflags "-X main.version=... -X main.commit=... -X main.date=...".
var (
	version = "dev"
	commit  = ""
	date    = ""
)

// memoryLimit is the Go heap's soft limit: the GC works harder as the heap
// nears it instead of letting it double, so a run stays well within the
// 64 MB peak it promises on the largest input it accepts (the DaemonSets'
// limit is 128 MiB: watch runs check in-process). GOMEMLIMIT in the
// environment overrides it.
const memoryLimit = 20 << 20

func main() {
	// Output to a closed pipe (| head, a dropped SSH session) must not kill
	// an apply halfway: ignored, SIGPIPE turns into EPIPE from write, which
	// the commands carry on past.
	signal.Ignore(syscall.SIGPIPE)
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	// Go's runtime exits 2 when it dies (out of memory, a panic, SIGQUIT),
	// and 2 is check's "loops found": a crash ends by SIGABRT instead, with
	// its stacks on stderr (and a core where the node keeps them).
	debug.SetTraceback("crash")
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cli.SetVersion(version, commit, date)
	code := cli.Run(ctx, os.Args[1:], cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
