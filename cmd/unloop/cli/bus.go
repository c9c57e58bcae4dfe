package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	pathrs "github.com/cyphar/filepath-securejoin/pathrs-lite"

	"github.com/unloop/unloop/systemd"
)

// rootBusSocket is the system bus's socket, as a node path.
const rootBusSocket = "/run/dbus/system_bus_socket"

// busDialTimeout is how long a command waits for the node's bus to answer
// before it reads files only.
const busDialTimeout = 2 * time.Second

// foreignRootError says that the root is not this machine and has no bus of
// its own: unloop then runs offline.
type foreignRootError struct{ Err error }

func (e *foreignRootError) Error() string { return e.Err.Error() }

// nodeBus dials the node's system bus (DESIGN.md §4). With the root at this
// machine's / (the default) that is the system bus as the environment names
// it. Any other root may be an image or another machine's disk: this
// machine's bus would restart this machine's kubelet while the files are
// written elsewhere. There an explicit DBUS_SYSTEM_BUS_ADDRESS wins (the
// DaemonSet names the host's), else the root's own socket; without either,
// a *foreignRootError. A bus that is the node's also says the interfaces
// this machine shows are the node's (hostNetwork, as in the DaemonSet).
func nodeBus(ctx context.Context, dir string) (*systemd.Client, error) {
	if isThisMachine(dir) || os.Getenv("DBUS_SYSTEM_BUS_ADDRESS") != "" {
		return systemd.Dial(ctx)
	}
	sock, err := pathrs.OpenInRoot(dir, rootBusSocket)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &foreignRootError{fmt.Errorf("has no %s (and DBUS_SYSTEM_BUS_ADDRESS is not set)", rootBusSocket)}
	}
	if err != nil {
		return nil, &foreignRootError{fmt.Errorf("its %s cannot be opened: %w", rootBusSocket, err)}
	}
	fi, err := sock.Stat()
	if err == nil && fi.Mode().Type() != fs.ModeSocket {
		err = errors.New("not a socket")
	}
	if err != nil {
		sock.Close()
		return nil, &foreignRootError{fmt.Errorf("its %s: %w", rootBusSocket, err)}
	}
	// Connect through the handle opened inside the root, not a path that a
	// link swapped in could send to this machine's bus.
	bus, err := systemd.DialAddress(ctx, fmt.Sprintf("unix:path=/proc/self/fd/%d", sock.Fd()))
	if ctx.Err() == nil {
		// A dial given up on at the deadline may still be connecting
		// through the handle: left open then, for this short-lived process.
		sock.Close()
	}
	if err != nil {
		return nil, &foreignRootError{fmt.Errorf("its %s does not answer: %w", rootBusSocket, err)}
	}
	return bus, nil
}

// isThisMachine says whether dir is this machine's / (also through a bind
// mount or a link): then the host's bus and interfaces are the node's.
func isThisMachine(dir string) bool {
	a, err := os.Stat(dir)
	if err != nil {
		return false
	}
	b, err := os.Stat("/")
	return err == nil && os.SameFile(a, b)
}
