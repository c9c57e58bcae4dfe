// Package systemd talks to the node's systemd and systemd-resolved over the
// system bus (DBUS_SYSTEM_BUS_ADDRESS when set).
package systemd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"syscall"

	sd "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Server is a DNS server as systemd-resolved reports it.
type Server struct {
	Ifindex int // 0: global
	Addr    netip.Addr
	Port    uint16 // 0: default
	Name    string // SNI name, usually ""
}

// String is the server as resolvectl prints it: 192.0.2.1, [2001:db8::1]:853,
// with %ifindex for a link's server and #name for a name.
func (s Server) String() string {
	a := s.Addr.String()
	if s.Port != 0 {
		a = netip.AddrPortFrom(s.Addr, s.Port).String()
	}
	if s.Ifindex != 0 {
		a = fmt.Sprintf("%s%%%d", a, s.Ifindex)
	}
	if s.Name != "" {
		a += "#" + s.Name
	}
	return a
}

// ResolvedState is systemd-resolved's live state.
type ResolvedState struct {
	ResolvConfMode   string // stub, uplink, static, foreign, missing
	DNSStubListener  string // yes, no, udp, tcp
	DNS              []Server
	CurrentDNSServer *Server
}

// Client is one connection to the system bus, used for both systemd and resolved.
type Client struct {
	bus *dbus.Conn // resolved and the bus itself
	sd  *sd.Conn   // systemd's manager (two connections of its own: calls, job signals)
}

// ErrNotRunning says a service is not on the bus.
var ErrNotRunning = errors.New("not running")

const (
	resolvedName  = "org.freedesktop.resolve1"
	resolvedPath  = dbus.ObjectPath("/org/freedesktop/resolve1")
	resolvedIface = "org.freedesktop.resolve1.Manager"
)

// Dial connects to the system bus within ctx. Only the connecting is bound to
// ctx: the Client stays usable after ctx ends, until Close. A bus that isn't
// there (no socket, nobody listening) is an error wrapping ErrNotRunning.
func Dial(ctx context.Context) (*Client, error) { return DialAddress(ctx, "") }

// DialAddress is Dial to the bus at a D-Bus address (unix:path=...); "" is
// the system bus (DBUS_SYSTEM_BUS_ADDRESS when set).
func DialAddress(ctx context.Context, address string) (*Client, error) {
	type result struct {
		c   *Client
		err error
	}
	ch := make(chan result, 1)
	// godbus and go-systemd tie a connection's whole life to the context they
	// are given, and their handshakes take none: dial with a context that
	// never ends, and stop waiting (not dialling) when ctx does.
	go func() {
		c, err := dial(context.WithoutCancel(ctx), address)
		ch <- result{c, err}
	}()
	select {
	case r := <-ch:
		return r.c, r.err
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.c != nil {
				r.c.Close()
			}
		}()
		return nil, fmt.Errorf("connecting to the system bus: %w", ctx.Err())
	}
}

// dial opens the connections at once: each is a socket, an authentication
// and a Hello call, and go-systemd makes two in a row (calls, and signals for
// job results); in sequence their round trips add up on every online run.
func dial(ctx context.Context, address string) (*Client, error) {
	var (
		bus    *dbus.Conn
		busErr error
		wg     sync.WaitGroup
		m      *sd.Conn
		err    error
	)
	connect := func() (*dbus.Conn, error) {
		if address == "" {
			return dbus.ConnectSystemBus(dbus.WithContext(ctx))
		}
		return dbus.Connect(address, dbus.WithContext(ctx))
	}
	wg.Go(func() { bus, busErr = connect() })
	if address == "" {
		m, err = sd.NewSystemConnectionContext(ctx)
	} else {
		m, err = sd.NewConnection(connect)
	}
	wg.Wait()
	if err == nil {
		err = busErr
	}
	if err != nil {
		if bus != nil {
			bus.Close()
		}
		if m != nil {
			m.Close()
		}
		return nil, busError(err)
	}
	return &Client{bus: bus, sd: m}, nil
}

func busError(err error) error {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("connecting to the system bus: %w: %w", ErrNotRunning, err)
	}
	return fmt.Errorf("connecting to the system bus: %w", err)
}

// Close closes the connections.
func (c *Client) Close() {
	if c == nil {
		return
	}
	if c.sd != nil {
		c.sd.Close()
	}
	if c.bus != nil {
		c.bus.Close()
	}
}

// Resolved reads systemd-resolved's state. An error wrapping ErrNotRunning when
// resolved is not on the bus.
func (c *Client) Resolved(ctx context.Context) (*ResolvedState, error) {
	// Reading a property of a bus-activatable service that isn't running
	// would start it: ask who owns the name first, and never auto-start.
	var has bool
	if err := c.bus.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, resolvedName).Store(&has); err != nil {
		return nil, fmt.Errorf("asking the bus for %s: %w", resolvedName, err)
	}
	if !has {
		return nil, fmt.Errorf("systemd-resolved (%s): %w", resolvedName, ErrNotRunning)
	}
	var props map[string]dbus.Variant
	err := c.bus.Object(resolvedName, resolvedPath).
		CallWithContext(ctx, "org.freedesktop.DBus.Properties.GetAll", dbus.FlagNoAutoStart, resolvedIface).
		Store(&props)
	if err != nil {
		var de dbus.Error
		if errors.As(err, &de) && (de.Name == "org.freedesktop.DBus.Error.ServiceUnknown" || de.Name == "org.freedesktop.DBus.Error.NameHasNoOwner") {
			return nil, fmt.Errorf("systemd-resolved (%s): %w", resolvedName, ErrNotRunning)
		}
		return nil, fmt.Errorf("reading systemd-resolved's properties: %w", err)
	}
	return parseResolved(props)
}

// parseResolved turns resolved's Manager properties into a ResolvedState,
// preferring the *Ex properties (systemd 246 and later: they add the port and
// the name) to the older ones.
func parseResolved(props map[string]dbus.Variant) (*ResolvedState, error) {
	st := &ResolvedState{}
	var err error
	if st.ResolvConfMode, err = stringProp(props, "ResolvConfMode"); err != nil {
		return nil, err
	}
	if st.DNSStubListener, err = stringProp(props, "DNSStubListener"); err != nil {
		return nil, err
	}
	if st.DNS, err = serversProp(props, "DNS"); err != nil {
		return nil, err
	}
	if st.CurrentDNSServer, err = serverProp(props, "CurrentDNSServer"); err != nil {
		return nil, err
	}
	return st, nil
}

// stringProp is a string property; a missing one is "" (older resolved has no
// ResolvConfMode).
func stringProp(props map[string]dbus.Variant, name string) (string, error) {
	v, ok := props[name]
	if !ok {
		return "", nil
	}
	s, ok := v.Value().(string)
	if !ok {
		return "", fmt.Errorf("resolved property %s: want a string, got %s", name, v.Signature())
	}
	return s, nil
}

// wireServer is one of resolved's (iiay) or (iiayqs) structs.
type wireServer struct {
	Ifindex int32
	Family  int32
	Addr    []byte
	Port    uint16
	Name    string
}

func (w wireServer) server(prop string) (Server, error) {
	a, ok := netip.AddrFromSlice(w.Addr)
	if !ok || (w.Family == syscall.AF_INET) != a.Is4() || (w.Family != syscall.AF_INET && w.Family != syscall.AF_INET6) {
		return Server{}, fmt.Errorf("resolved property %s: bad address %v of family %d", prop, w.Addr, w.Family)
	}
	return Server{Ifindex: int(w.Ifindex), Addr: a, Port: w.Port, Name: w.Name}, nil
}

// wireServers reads the list (or, single, the one struct) property nameEx or,
// when resolved is older, name.
func wireServers(props map[string]dbus.Variant, name string, single bool) (ws []wireServer, n string, err error) {
	n, ex := name+"Ex", true
	v, ok := props[n]
	if !ok {
		n, ex = name, false
		if v, ok = props[n]; !ok {
			return nil, n, nil
		}
	}
	bad := func(what string) error {
		return fmt.Errorf("resolved property %s: %s (%s)", n, what, v.Signature())
	}
	// godbus gives a struct as []any, and an array of them as [][]any.
	var structs [][]any
	switch val := v.Value().(type) {
	case []any:
		if !single {
			return nil, n, bad("not a list of structs")
		}
		structs = [][]any{val}
	case [][]any:
		if single {
			return nil, n, bad("not a struct")
		}
		structs = val
	default:
		return nil, n, bad("not a struct or a list of structs")
	}
	for _, f := range structs {
		if (ex && len(f) != 5) || (!ex && len(f) != 3) {
			return nil, n, bad(fmt.Sprintf("%d fields", len(f)))
		}
		var w wireServer
		if w.Ifindex, ok = f[0].(int32); !ok {
			return nil, n, bad("ifindex not an int32")
		}
		if w.Family, ok = f[1].(int32); !ok {
			return nil, n, bad("family not an int32")
		}
		if w.Addr, ok = f[2].([]byte); !ok {
			return nil, n, bad("address not bytes")
		}
		if ex {
			if w.Port, ok = f[3].(uint16); !ok {
				return nil, n, bad("port not a uint16")
			}
			if w.Name, ok = f[4].(string); !ok {
				return nil, n, bad("name not a string")
			}
		}
		ws = append(ws, w)
	}
	return ws, n, nil
}

func serversProp(props map[string]dbus.Variant, name string) ([]Server, error) {
	ws, prop, err := wireServers(props, name, false)
	if err != nil {
		return nil, err
	}
	var out []Server
	for _, w := range ws {
		s, err := w.server(prop)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// serverProp is CurrentDNSServer: nil when resolved has none (it reports
// family 0 and no address then).
func serverProp(props map[string]dbus.Variant, name string) (*Server, error) {
	ws, prop, err := wireServers(props, name, true)
	if err != nil || len(ws) == 0 || (ws[0].Family == 0 && len(ws[0].Addr) == 0) {
		return nil, err
	}
	s, err := ws[0].server(prop)
	if err != nil {
		return nil, err
	}
	return &s, nil
}

// UnitActive reports whether unit is active (or reloading, which is active
// too, as systemctl is-active says). A unit that doesn't exist is not active.
func (c *Client) UnitActive(ctx context.Context, unit string) (bool, error) {
	p, err := c.sd.GetUnitPropertyContext(ctx, unit, "ActiveState")
	if err != nil {
		return false, fmt.Errorf("reading the state of %s: %w", unit, err)
	}
	s, ok := p.Value.Value().(string)
	if !ok {
		return false, fmt.Errorf("reading the state of %s: ActiveState is %s, not a string", unit, p.Value.Signature())
	}
	return s == "active" || s == "reloading" || s == "refreshing", nil
}

// UnitFiles returns the unit's fragment and drop-in paths as systemd loaded them
// (nil when the unit is not loaded).
func (c *Client) UnitFiles(ctx context.Context, unit string) ([]string, error) {
	props, err := c.sd.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return nil, fmt.Errorf("reading the files of %s: %w", unit, err)
	}
	// Asking for a unit's properties loads it: "not-found" (or "masked",
	// whose fragment is /dev/null) means no files are in force.
	if state, _ := props["LoadState"].(string); state != "loaded" {
		return nil, nil
	}
	var files []string
	if f, _ := props["FragmentPath"].(string); f != "" {
		files = append(files, f)
	}
	dropIns, _ := props["DropInPaths"].([]string)
	return append(files, dropIns...), nil
}

// JobError is a job of systemd's that ended with another result than "done".
type JobError struct {
	Unit   string
	Job    string // "restart"
	Result string // canceled, timeout, failed, dependency, skipped
}

func (e *JobError) Error() string {
	return fmt.Sprintf("%s of %s: job result %q", e.Job, e.Unit, e.Result)
}

// Reload makes systemd read its unit files and drop-ins again (systemctl
// daemon-reload): a unit restarted after its drop-in changed runs the old
// command line otherwise.
func (c *Client) Reload(ctx context.Context) error {
	if err := c.sd.ReloadContext(ctx); err != nil {
		return fmt.Errorf("reloading systemd's unit files: %w", err)
	}
	return nil
}

// RestartUnit restarts unit and waits for the job's result; anything but "done"
// is an error naming the unit and the result. "done" means systemd considers
// the unit started; a service may take its bus name a moment later.
func (c *Client) RestartUnit(ctx context.Context, unit string) error {
	// go-systemd sends the result from its signal loop: a buffer keeps that
	// loop going when ctx ends first and nobody receives.
	ch := make(chan string, 1)
	// ignore-dependencies: unloop.service runs Before=kubelet.service, and a
	// kubelet restart queued in "replace" mode while unloop.service is still
	// starting waits for it to finish: for unloop itself, forever. The units
	// restarted here are running, so what they depend on is already up.
	if _, err := c.sd.RestartUnitContext(ctx, unit, "ignore-dependencies", ch); err != nil {
		return fmt.Errorf("restarting %s: %w", unit, err)
	}
	select {
	case res := <-ch:
		if res != "done" {
			return &JobError{Unit: unit, Job: "restart", Result: res}
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("restarting %s: waiting for the job: %w", unit, ctx.Err())
	}
}

// ResetFailed is systemctl reset-failed for unit: its failed state and its
// start-limit counter are cleared. A unit that hit its start limit refuses
// every start, manual ones too, until the interval has passed.
func (c *Client) ResetFailed(ctx context.Context, unit string) error {
	if err := c.sd.ResetFailedUnitContext(ctx, unit); err != nil {
		return fmt.Errorf("resetting the failed state of %s: %w", unit, busError(err))
	}
	return nil
}

// ReloadNetworkd calls systemd-networkd's org.freedesktop.network1.Manager.Reload
// (what networkctl reload does): networkd reads its .network files and
// drop-ins again and reconfigures the links whose network changed, without
// taking them down. Over the bus rather than systemctl reload: trixie's
// networkd unit (v257) has no ExecReload=, bookworm's (v252) runs networkctl.
// The reply comes once networkd has re-read its files.
func (c *Client) ReloadNetworkd(ctx context.Context) error {
	err := c.bus.Object("org.freedesktop.network1", "/org/freedesktop/network1").
		CallWithContext(ctx, "org.freedesktop.network1.Manager.Reload", dbus.FlagNoAutoStart).Err
	if err != nil {
		return fmt.Errorf("reloading systemd-networkd: %w", busError(err))
	}
	return nil
}

const (
	nmName     = "org.freedesktop.NetworkManager"
	nmPath     = dbus.ObjectPath("/org/freedesktop/NetworkManager")
	nmIface    = "org.freedesktop.NetworkManager"
	nmSettings = dbus.ObjectPath("/org/freedesktop/NetworkManager/Settings")

	// NMManagerReloadFlags (libnm-core-public/nm-dbus-interface.h, 1.22 and
	// later): CONF re-reads NetworkManager.conf and conf.d, DNS_RC writes
	// resolv.conf (or hands resolved the servers) again. DNS_RC alone does
	// not re-read conf.d, so a changed [global-dns-domain-*] needs both.
	nmReloadConf  = 0x1
	nmReloadDNSRC = 0x2
)

// ReloadNetworkManager has NetworkManager take a changed configuration
// without taking an interface down: conf (a NetworkManager.conf or conf.d
// file changed) calls Manager.Reload(CONF|DNS_RC); connections (profile files
// changed) are loaded again with Settings.LoadConnections, and each device
// where one of them is active gets Device.Reapply of its new settings (an
// empty connection argument: the profile as loaded), which NetworkManager
// applies in place. NetworkManager 1.42 (bookworm) and later.
func (c *Client) ReloadNetworkManager(ctx context.Context, conf bool, connections []string) error {
	nm := c.bus.Object(nmName, nmPath)
	if conf {
		if err := nm.CallWithContext(ctx, nmIface+".Reload", dbus.FlagNoAutoStart, uint32(nmReloadConf|nmReloadDNSRC)).Err; err != nil {
			return fmt.Errorf("reloading NetworkManager's configuration: %w", busError(err))
		}
	}
	if len(connections) == 0 {
		return nil
	}
	var ok bool
	var failures []string
	if err := c.bus.Object(nmName, nmSettings).CallWithContext(ctx, nmIface+".Settings.LoadConnections", dbus.FlagNoAutoStart, connections).Store(&ok, &failures); err != nil {
		return fmt.Errorf("loading NetworkManager connections %v: %w", connections, busError(err))
	}
	if len(failures) > 0 {
		return fmt.Errorf("NetworkManager could not load %v", failures)
	}
	return c.reapply(ctx, connections)
}

// reapply calls Device.Reapply on each device whose active connection's
// profile is one of files.
func (c *Client) reapply(ctx context.Context, files []string) error {
	v, err := c.bus.Object(nmName, nmPath).GetProperty(nmIface + ".ActiveConnections")
	if err != nil {
		return fmt.Errorf("listing NetworkManager's active connections: %w", busError(err))
	}
	actives, _ := v.Value().([]dbus.ObjectPath)
	for _, ac := range actives {
		a := c.bus.Object(nmName, ac)
		cv, err := a.GetProperty(nmIface + ".Connection.Active.Connection")
		if err != nil {
			continue // deactivated meanwhile
		}
		profile, _ := cv.Value().(dbus.ObjectPath)
		fv, err := c.bus.Object(nmName, profile).GetProperty(nmIface + ".Settings.Connection.Filename")
		if err != nil {
			continue
		}
		if f, _ := fv.Value().(string); !slices.Contains(files, f) {
			continue
		}
		dv, err := a.GetProperty(nmIface + ".Connection.Active.Devices")
		if err != nil {
			return fmt.Errorf("the devices of NetworkManager's active connection %s: %w", ac, busError(err))
		}
		devs, _ := dv.Value().([]dbus.ObjectPath)
		for _, d := range devs {
			err := c.bus.Object(nmName, d).CallWithContext(ctx, nmIface+".Device.Reapply", dbus.FlagNoAutoStart,
				map[string]map[string]dbus.Variant{}, uint64(0), uint32(0)).Err
			if err != nil {
				return fmt.Errorf("reapplying NetworkManager's connection on %s: %w", d, busError(err))
			}
		}
	}
	return nil
}
