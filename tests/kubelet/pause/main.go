// Command pause is the pod sandbox's process: it holds the pod's namespaces
// until it is told to stop. No registry is reachable here, so the test bed
// builds its own instead of pulling registry.k8s.io/pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
}
