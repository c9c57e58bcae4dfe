// Package systemd talks to the node's systemd and systemd-resolved over the
// system bus (DBUS_SYSTEM_BUS_ADDRESS when set).
package systemd

import (
	"context"
	"errors"
	"net/netip"
)

// Server is a DNS server as systemd-resolved reports it.
type Server struct {
	Ifindex int // 0: global
	Addr    netip.Addr
	Port    uint16 // 0: default
	Name    string // SNI name, usually ""
}

// ResolvedState is systemd-resolved's live state.
type ResolvedState struct {
	ResolvConfMode   string // stub, uplink, static, foreign, missing
	DNSStubListener  string // yes, no, udp, tcp
	DNS              []Server
	CurrentDNSServer *Server
	FallbackDNS      []Server
}

// Client is one connection to the system bus, used for both systemd and resolved.
type Client struct{}

// Dial connects to the system bus within ctx.
func Dial(ctx context.Context) (*Client, error) {
	return nil, errors.New("not implemented")
}

// Close closes the connections.
func (c *Client) Close() {}

// Resolved reads systemd-resolved's state. An error wrapping ErrNotRunning when
// resolved is not on the bus.
func (c *Client) Resolved(ctx context.Context) (*ResolvedState, error) {
	return nil, errors.New("not implemented")
}

// ErrNotRunning says a service is not on the bus.
var ErrNotRunning = errors.New("not running")

// UnitActive reports whether unit is active.
func (c *Client) UnitActive(ctx context.Context, unit string) (bool, error) {
	return false, errors.New("not implemented")
}

// UnitFiles returns the unit's fragment and drop-in paths as systemd loaded them
// (nil when the unit is not loaded).
func (c *Client) UnitFiles(ctx context.Context, unit string) ([]string, error) {
	return nil, errors.New("not implemented")
}

// RestartUnit restarts unit and waits for the job's result; anything but "done"
// is an error naming the unit and the result.
func (c *Client) RestartUnit(ctx context.Context, unit string) error {
	return errors.New("not implemented")
}
