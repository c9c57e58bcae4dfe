// Command etcd is the real etcd (go.etcd.io/etcd/server/v3 v3.6.4, the
// client version Kubernetes 1.34.4 uses) for the test bed's API server.
// Debian's etcd 3.4 is older than Kubernetes 1.34 supports, and etcd's own
// go.mod has replace lines, so `go install` refuses it: this module requires
// the server and its sibling modules at one version instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
