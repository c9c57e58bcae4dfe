// Package systemd_test runs unloop's systemd package against the real systemd and
// systemd-resolved of a booted node (tests/node), for each release the tests cache.
package systemd_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/systemd"
	"github.com/unloop/unloop/tests/node"
)

// These tests talk to the real systemd and systemd-resolved of a booted node
// (tests/node) over its own system bus, for each release the tests cache.

var releases = []struct {
	name    string
	unitDir string // where the release's packaged units are, as systemd names them
}{
	{"bookworm", "/lib/systemd/system"},
	{"trixie", "/usr/lib/systemd/system"},
}

// dialNode boots a node of release and returns a Client on its bus.
func dialNode(t *testing.T, release string) (*node.Node, *systemd.Client) {
	t.Helper()
	n := node.Boot(t, node.Options{Release: release})
	t.Setenv("DBUS_SYSTEM_BUS_ADDRESS", n.BusAddress())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := systemd.Dial(ctx)
	if err != nil {
		t.Fatalf("dialing %s: %v", n.BusAddress(), err)
	}
	t.Cleanup(c.Close)
	// resolved is "active" once it has told systemd so, which can be a moment
	// before it has its bus name.
	if _, err := waitResolved(ctx, c); err != nil {
		t.Fatal(err)
	}
	return n, c
}

// waitResolved is Resolved, retried while resolved is not on the bus, until
// ctx ends. After a restart of systemd-resolved the job is "done" before
// resolved has taken its bus name: a plain Resolved then says systemd.ErrNotRunning.
func waitResolved(ctx context.Context, c *systemd.Client) (*systemd.ResolvedState, error) {
	for {
		st, err := c.Resolved(ctx)
		if !errors.Is(err, systemd.ErrNotRunning) {
			return st, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for systemd-resolved: %w (%w)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func resolved(t *testing.T, c *systemd.Client) *systemd.ResolvedState {
	t.Helper()
	st, err := c.Resolved(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestResolvConfModeFollowsTheLink(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			n, c := dialNode(t, rel.name)
			if st := resolved(t, c); st.ResolvConfMode != "stub" || st.DNSStubListener != "yes" {
				t.Fatalf("fresh node: ResolvConfMode %q, DNSStubListener %q; want stub, yes", st.ResolvConfMode, st.DNSStubListener)
			}
			// Each step changes only /etc/resolv.conf; resolved reads it anew
			// at every property read.
			for _, step := range []struct {
				name, mode string
				set        func() error
			}{
				{"uplink", "uplink", func() error { return n.Symlink("../run/systemd/resolve/resolv.conf", "/etc/resolv.conf") }},
				{"static", "static", func() error { return n.Symlink("../usr/lib/systemd/resolv.conf", "/etc/resolv.conf") }},
				{"a file of its own", "foreign", func() error {
					if _, err := n.Exec(ctxT(t), "rm", "/etc/resolv.conf"); err != nil {
						return err
					}
					return n.WriteFile("/etc/resolv.conf", []byte("nameserver 169.254.25.10\n"), 0o644)
				}},
				{"missing", "missing", func() error { _, err := n.Exec(ctxT(t), "rm", "/etc/resolv.conf"); return err }},
				{"stub again", "stub", func() error { return n.Symlink("../run/systemd/resolve/stub-resolv.conf", "/etc/resolv.conf") }},
			} {
				if err := step.set(); err != nil {
					t.Fatalf("%s: %v", step.name, err)
				}
				if got := resolved(t, c).ResolvConfMode; got != step.mode {
					t.Errorf("%s: ResolvConfMode = %q, want %q", step.name, got, step.mode)
				}
			}
		})
	}
}

func TestResolvedLinkDNSSetLive(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			n, c := dialNode(t, rel.name)
			// resolved leaves lo alone (resolvectl dns lo fails), and the kernel
			// has no dummy links: a veth pair inside the node is a link it manages.
			n.Run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
			n.Run("ip", "link", "set", "v0", "up")
			n.Run("resolvectl", "dns", "v0", "169.254.25.10", "192.0.2.7")
			idx, err := strconv.Atoi(strings.TrimSpace(n.Run("cat", "/sys/class/net/v0/ifindex")))
			if err != nil {
				t.Fatal(err)
			}
			want := []systemd.Server{
				{Ifindex: idx, Addr: netip.MustParseAddr("169.254.25.10")},
				{Ifindex: idx, Addr: netip.MustParseAddr("192.0.2.7")},
			}
			if got := resolved(t, c).DNS; !slices.Equal(got, want) {
				t.Errorf("DNS = %v, want %v", got, want)
			}
		})
	}
}

func TestResolvedGlobalDNSFromDropIn(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			n, c := dialNode(t, rel.name)
			if st := resolved(t, c); len(st.DNS) != 0 || st.CurrentDNSServer != nil {
				t.Fatalf("fresh node has DNS %v, current %v", st.DNS, st.CurrentDNSServer)
			}
			conf := "[Resolve]\nDNS=169.254.25.10 [2001:db8::53]:5353\nFallbackDNS=192.0.2.53\n"
			if err := n.WriteFile("/etc/systemd/resolved.conf.d/50-unloop-test.conf", []byte(conf), 0o644); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if err := c.RestartUnit(ctxT(t), "systemd-resolved.service"); err != nil {
				t.Fatalf("RestartUnit: %v", err)
			}
			t.Logf("restart of systemd-resolved: %v", time.Since(start).Round(time.Millisecond))
			st, err := waitResolved(ctxT(t), c)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("restart to resolved on the bus: %v", time.Since(start).Round(time.Millisecond))
			wantDNS := []systemd.Server{
				{Addr: netip.MustParseAddr("169.254.25.10")},
				{Addr: netip.MustParseAddr("2001:db8::53"), Port: 5353},
			}
			if !slices.Equal(st.DNS, wantDNS) {
				t.Errorf("DNS = %v, want %v", st.DNS, wantDNS)
			}
			if st.CurrentDNSServer != nil {
				t.Errorf("CurrentDNSServer before any query = %v, want none", st.CurrentDNSServer)
			}
			// A query makes resolved pick a server (the first); in the node's
			// private network it then fails at once, which is fine here.
			start = time.Now()
			_, err = n.Exec(ctxT(t), "resolvectl", "query", "--cache=no", "unloop.test")
			t.Logf("query: %v after %v", err, time.Since(start).Round(time.Millisecond))
			if cur := resolved(t, c).CurrentDNSServer; cur == nil || *cur != wantDNS[0] {
				t.Errorf("CurrentDNSServer after a query = %v, want %v", cur, wantDNS[0])
			}
			if active, err := c.UnitActive(ctxT(t), "systemd-resolved.service"); err != nil || !active {
				t.Errorf("resolved after restart: active %v, %v", active, err)
			}
		})
	}
}

func TestResolvedStubListenerOff(t *testing.T) {
	n, c := dialNode(t, "bookworm")
	if err := n.WriteFile("/etc/systemd/resolved.conf.d/50-unloop-test.conf", []byte("[Resolve]\nDNSStubListener=no\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := c.RestartUnit(ctxT(t), "systemd-resolved.service"); err != nil {
		t.Fatal(err)
	}
	st, err := waitResolved(ctxT(t), c)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.DNSStubListener; got != "no" {
		t.Errorf("DNSStubListener = %q, want no", got)
	}
	if got := n.Run("ss", "-Hlnu"); strings.Contains(got, "127.0.0.53") {
		t.Errorf("the stub still listens:\n%s", got)
	}
}

func TestResolvedNotRunning(t *testing.T) {
	n, c := dialNode(t, "bookworm")
	n.Run("systemctl", "stop", "systemd-resolved.service")
	_, err := c.Resolved(ctxT(t))
	if !errors.Is(err, systemd.ErrNotRunning) {
		t.Fatalf("Resolved with resolved stopped = %v, want systemd.ErrNotRunning", err)
	}
	// Asking must not have started it again through bus activation.
	if active, err := c.UnitActive(ctxT(t), "systemd-resolved.service"); err != nil || active {
		t.Errorf("resolved after Resolved(): active %v, %v; want still stopped", active, err)
	}
}

func TestRestartFailingUnit(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			n, c := dialNode(t, rel.name)
			unit := "[Unit]\nDescription=fails on purpose\n[Service]\nType=oneshot\nExecStart=/bin/false\n"
			if err := n.WriteFile("/etc/systemd/system/unloop-fails.service", []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			n.Run("systemctl", "daemon-reload")
			err := c.RestartUnit(ctxT(t), "unloop-fails.service")
			var je *systemd.JobError
			if !errors.As(err, &je) || je.Unit != "unloop-fails.service" || je.Result != "failed" {
				t.Fatalf("RestartUnit = %v, want a JobError for unloop-fails.service, result failed", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "unloop-fails.service") || !strings.Contains(msg, "failed") {
				t.Errorf("error %q doesn't name the unit and the result", msg)
			}
			if err := c.RestartUnit(ctxT(t), "no-such-unit.service"); err == nil || !strings.Contains(err.Error(), "no-such-unit.service") {
				t.Errorf("restarting a missing unit: %v", err)
			}
		})
	}
}

// TestResetFailedLiftsStartLimit: a unit that used up its start limit is
// refused every restart (as a kubelet that crash-looped on a bad config under
// Restart=always is) until ResetFailed; the rollback counts on that.
func TestResetFailedLiftsStartLimit(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			n, c := dialNode(t, rel.name)
			unit := "[Unit]\nStartLimitIntervalSec=300\nStartLimitBurst=1\n[Service]\nExecStart=/bin/sleep infinity\n"
			if err := n.WriteFile("/etc/systemd/system/unloop-limited.service", []byte(unit), 0o644); err != nil {
				t.Fatal(err)
			}
			n.Run("systemctl", "daemon-reload")
			if err := c.RestartUnit(ctxT(t), "unloop-limited.service"); err != nil {
				t.Fatalf("the first start: %v", err)
			}
			var je *systemd.JobError
			if err := c.RestartUnit(ctxT(t), "unloop-limited.service"); !errors.As(err, &je) || je.Result != "failed" {
				t.Fatalf("a restart past the start limit: %v, want a failed job", err)
			}
			if err := c.ResetFailed(ctxT(t), "unloop-limited.service"); err != nil {
				t.Fatalf("ResetFailed: %v", err)
			}
			if err := c.RestartUnit(ctxT(t), "unloop-limited.service"); err != nil {
				t.Fatalf("a restart after ResetFailed: %v", err)
			}
			if active, err := c.UnitActive(ctxT(t), "unloop-limited.service"); err != nil || !active {
				t.Errorf("the unit after ResetFailed and a restart: active %v, %v", active, err)
			}
			if err := c.ResetFailed(ctxT(t), "no-such-unit.service"); err == nil || !strings.Contains(err.Error(), "no-such-unit.service") {
				t.Errorf("ResetFailed of a missing unit: %v", err)
			}
		})
	}
}

func TestRestartHonoursDeadline(t *testing.T) {
	n, c := dialNode(t, "bookworm")
	unit := "[Service]\nType=oneshot\nExecStart=/bin/sleep 60\n"
	if err := n.WriteFile("/etc/systemd/system/unloop-slow.service", []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Run("systemctl", "daemon-reload")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := c.RestartUnit(ctx, "unloop-slow.service")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "unloop-slow.service") {
		t.Errorf("RestartUnit = %v, want the deadline, naming the unit", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("RestartUnit returned after %v, past its 500ms deadline", d)
	}
	// The client is still usable after a call gave up.
	if active, err := c.UnitActive(ctxT(t), "dbus.service"); err != nil || !active {
		t.Errorf("UnitActive after a timed-out restart: %v %v", active, err)
	}
}

func TestUnitFiles(t *testing.T) {
	for _, rel := range releases {
		t.Run(rel.name, func(t *testing.T) {
			n, c := dialNode(t, rel.name)
			dropIn := "/etc/systemd/system/systemd-resolved.service.d/10-unloop-test.conf"
			if err := n.WriteFile(dropIn, []byte("[Service]\nEnvironment=UNLOOP=1\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			n.Run("systemctl", "daemon-reload")
			for _, tc := range []struct {
				unit string
				want []string
			}{
				{"systemd-resolved.service", []string{rel.unitDir + "/systemd-resolved.service", dropIn}},
				{"dbus.service", []string{rel.unitDir + "/dbus.service"}},
				{"no-such-unit.service", nil},
			} {
				got, err := c.UnitFiles(ctxT(t), tc.unit)
				if err != nil {
					t.Fatalf("UnitFiles(%s): %v", tc.unit, err)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("UnitFiles(%s) = %q, want %q", tc.unit, got, tc.want)
				}
			}
		})
	}
}

func TestUnitActive(t *testing.T) {
	n, c := dialNode(t, "bookworm")
	for _, tc := range []struct {
		unit string
		want bool
	}{
		{"dbus.service", true},
		{"systemd-resolved.service", true},
		{"no-such-unit.service", false},
	} {
		if got, err := c.UnitActive(ctxT(t), tc.unit); err != nil || got != tc.want {
			t.Errorf("UnitActive(%s) = %v, %v; want %v", tc.unit, got, err, tc.want)
		}
	}
	n.Run("systemctl", "stop", "systemd-resolved.service")
	if got, err := c.UnitActive(ctxT(t), "systemd-resolved.service"); err != nil || got {
		t.Errorf("UnitActive(resolved) after stop = %v, %v; want false", got, err)
	}
}
