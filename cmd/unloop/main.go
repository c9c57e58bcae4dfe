// Command unloop finds and fixes DNS forwarding loops on Kubernetes nodes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	// Output to a closed pipe (| head, a dropped SSH session) must not kill
	// an apply halfway: ignored, SIGPIPE turns into EPIPE from write, which
	// the commands carry on past.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, os.Args[1:], Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
