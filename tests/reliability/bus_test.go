package reliability

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/testbed"
)

// Deadlines of unloop's bus work, as the code sets them: dialling the bus
// (cmd/unloop/cli busDialTimeout), reading resolved (remediate busTimeout), a
// restart (remediate restartTimeout). A command may take these and a little
// more, never longer.
const (
	dialDeadline    = 2 * time.Second
	readDeadline    = 3 * time.Second
	restartDeadline = 60 * time.Second
	slack           = 2 * time.Second // process start, files, nsenter
)

// TestBusGoesAway runs check and apply on a real node whose bus is not what
// unloop expects: systemd-resolved stopped, dbus stopped, resolved hung
// (SIGSTOP), dbus-daemon hung, and a bus that answers slowly (a proxy that
// delays every message). check degrades to what it can read and says so;
// apply fixes what it can without the bus (restarts listed as skipped, as
// with --offline) or refuses and writes nothing; nothing waits past its
// deadline. Every duration is logged.
func TestBusGoesAway(t *testing.T) {
	for _, release := range []string{"bookworm", "trixie"} {
		t.Run(release, func(t *testing.T) {
			b := newBed(t, release)
			orig := b.nodeState()
			restore := func() {
				t.Helper()
				b.Node.Run("systemctl", "start", "dbus.socket", "dbus.service")
				b.Node.Run("systemctl", "restart", "systemd-resolved.service", "kubelet.service")
				if r := b.unloop(time.Minute, "unloop", nil, "rollback"); r.Code != 0 && !strings.Contains(r.Stderr, "nothing to roll back") {
					t.Fatalf("rollback: %s", r)
				}
				if d := diffStates(b.nodeState(), orig); d != "" {
					t.Fatalf("the node is not as it was:\n%s", d)
				}
				b.Node.Run("systemctl", "restart", "systemd-resolved.service", "kubelet.service")
				testbed.WaitFor(b.t, 20*time.Second, "resolved back", func() bool {
					d, _ := b.Node.ReadFile("/run/systemd/resolve/resolv.conf")
					return strings.Contains(string(d), b.Upstream)
				})
			}
			timed := func(name string, bound time.Duration, env []string, args ...string) (result, report) {
				t.Helper()
				r := b.unloop(bound+30*time.Second, "unloop", env, append(args, "--output", "json")...)
				t.Logf("%s: %s exit %d in %v", name, strings.Join(args, " "), r.Code, r.Dur.Round(time.Millisecond))
				if r.Dur > bound {
					t.Errorf("%s: %s took %v, past its deadline %v", name, strings.Join(args, " "), r.Dur, bound)
				}
				if strings.TrimSpace(r.Stdout) == "" {
					return r, report{} // a failure before any plan prints no JSON
				}
				return r, decode(t, r)
			}

			t.Run("healthy", func(t *testing.T) {
				r, rep := timed("healthy", readDeadline, nil, "check")
				if r.Code != 2 || !rep.Online || !rep.has("nameserver-resolved-stub") {
					t.Fatalf("check: %s", r)
				}
			})

			t.Run("resolved-stopped", func(t *testing.T) {
				defer restore()
				b.Node.Run("systemctl", "stop", "systemd-resolved.service")
				r, rep := timed("resolved stopped", readDeadline+slack, nil, "check")
				if r.Code != 2 || !rep.Online || !rep.note("systemd-resolved is not running") {
					t.Fatalf("check with resolved stopped: want exit 2, online, a note: %s", r)
				}
				// The stub strategy needs resolved: it refuses, writing nothing.
				r, _ = timed("resolved stopped", readDeadline+slack, nil, "apply", "--strategy", "stub")
				if r.Code != 1 || !strings.Contains(r.Stderr, "systemd-resolved is not running") {
					t.Fatalf("apply --strategy stub with resolved stopped: want a refusal: %s", r)
				}
				if d := diffStates(b.nodeState(), orig); d != "" {
					t.Fatalf("apply refused but wrote:\n%s", d)
				}
				// kubelet's doesn't: it falls back to a file of unloop's own.
				r, rep = timed("resolved stopped", readDeadline+restartDeadline, nil, "apply", "--strategy", "kubelet")
				if r.Code != 0 || !rep.Verified {
					t.Fatalf("apply --strategy kubelet with resolved stopped: %s", r)
				}
				if _, ok := b.nodeState()["/etc/unloop/resolv.conf"]; !ok {
					t.Fatalf("apply did not use its own file with resolved stopped: %v", b.nodeState())
				}
				if ok, desc := b.kubeletConsistent(); !ok {
					t.Fatalf("kubelet was not restarted:\n%s", desc)
				}
			})

			t.Run("dbus-stopped", func(t *testing.T) {
				defer restore()
				b.Node.Run("systemctl", "stop", "dbus.socket", "dbus.service")
				r, rep := timed("dbus stopped", dialDeadline+slack, nil, "check")
				if r.Code != 2 || rep.Online || !rep.note("no system bus") {
					t.Fatalf("check with dbus stopped: want exit 2, files only, a note: %s", r)
				}
				// Files are fixed; the restart can't be done and says so.
				r, rep = timed("dbus stopped", dialDeadline+slack, nil, "apply", "--strategy", "kubelet")
				if r.Code != 4 || !skipped(rep, "kubelet.service", "no system bus") { // fixed in the files, not in effect
					t.Fatalf("apply with dbus stopped: want the change made and the restart skipped (exit 4): %s", r)
				}
			})

			t.Run("resolved-hung", func(t *testing.T) {
				defer restore()
				defer b.signal("systemd-resolved.service", "CONT")
				b.signal("systemd-resolved.service", "STOP")
				r, rep := timed("resolved hung", readDeadline+slack, nil, "check")
				if r.Code != 2 || !rep.note("reading systemd-resolved over D-Bus") {
					t.Fatalf("check with resolved stopped by SIGSTOP: want exit 2 and a note: %s", r)
				}
				r, rep = timed("resolved hung", readDeadline+restartDeadline+slack, nil, "apply", "--strategy", "kubelet")
				if r.Code != 0 || !rep.Verified {
					t.Fatalf("apply --strategy kubelet with resolved hung: %s", r)
				}
			})

			t.Run("dbus-hung", func(t *testing.T) {
				defer restore()
				defer b.signal("dbus.service", "CONT")
				b.signal("dbus.service", "STOP")
				r, rep := timed("dbus hung", dialDeadline+slack, nil, "check")
				if r.Code != 2 || rep.Online || !rep.note("no system bus") {
					t.Fatalf("check with dbus-daemon stopped by SIGSTOP: want exit 2, files only, a note: %s", r)
				}
				r, rep = timed("dbus hung", dialDeadline+slack, nil, "apply", "--strategy", "kubelet")
				if r.Code != 4 || !skipped(rep, "kubelet.service", "no system bus") { // fixed in the files, not in effect
					t.Fatalf("apply with dbus-daemon hung: %s", r)
				}
			})

			for _, delay := range []time.Duration{20 * time.Millisecond, 100 * time.Millisecond, time.Second} {
				t.Run("slow-bus-"+delay.String(), func(t *testing.T) {
					defer restore()
					p := startBusProxy(t, b, "/run/slowbus.sock", delay, nil)
					env := []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/slowbus.sock"}
					r, rep := timed("slow bus "+delay.String(), dialDeadline+readDeadline+slack, env, "check")
					if r.Code != 2 {
						t.Fatalf("check on a slow bus: %s", r)
					}
					t.Logf("slow bus %v: online %v, notes %q, %d messages through the proxy", delay, rep.Online, rep.Notes, p.messages.Load())
					if !rep.Online && !rep.note("no system bus") {
						t.Fatalf("check on a slow bus went offline without saying why: %s", r)
					}
					// Some 20 round trips (two connections' handshakes) must
					// fit in the 2 s dial deadline: 20 ms each do, 100 ms
					// don't, and check falls back to the files, saying so.
					if delay <= 20*time.Millisecond && !rep.Online {
						t.Fatalf("check gave up on a bus %v slow: %s", delay, r)
					}
				})
			}
		})
	}
}

// TestBusFreezesMidApply: the bus stops answering just as apply asks systemd
// to restart kubelet (a proxy swallows the call and everything after it).
// apply must give up at its restart deadline, roll the files back (its
// restart of the rollback hangs too, and has its own deadline), and exit 1:
// never hang. It takes two restart deadlines; it is measured and logged.
func TestBusFreezesMidApply(t *testing.T) {
	if testing.Short() {
		t.Skip("takes two restart deadlines (2 minutes)")
	}
	t.Parallel()
	b := newBed(t, "bookworm")
	orig := b.nodeState()
	p := startBusProxy(t, b, "/run/freezebus.sock", 0, []byte("RestartUnit"))
	r := b.unloop(3*restartDeadline, "unloop", []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=/run/freezebus.sock"},
		"apply", "--strategy", "kubelet", "--output", "json")
	t.Logf("apply with the bus frozen at RestartUnit: exit %d in %v (restart deadline %v)", r.Code, r.Dur.Round(time.Millisecond), restartDeadline)
	if !p.frozen.Load() {
		t.Fatalf("the proxy never saw RestartUnit: %s", r)
	}
	if r.Code != 1 || !strings.Contains(r.Stderr, "restarting kubelet.service") {
		t.Fatalf("apply with a frozen bus: want exit 1 naming the restart: %s", r)
	}
	if r.Dur > 2*restartDeadline+readDeadline+slack {
		t.Fatalf("apply took %v: past two restart deadlines", r.Dur)
	}
	if d := diffStates(b.nodeState(), orig); d != "" {
		t.Fatalf("the files were not rolled back:\n%s", d)
	}
	if ok, desc := b.kubeletConsistent(); !ok {
		t.Fatalf("kubelet runs another config than the one on disk:\n%s", desc)
	}
}

// signal sends SIGsig to a unit's main process (systemctl kill can't under
// nspawn on this kernel: "Failed to send signal to auxiliary processes").
func (b *bed) signal(unit, sig string) {
	b.t.Helper()
	b.Node.Run("sh", "-c", "kill -"+sig+" $(systemctl show -p MainPID --value "+unit+")")
}

func skipped(rep report, unit, why string) bool {
	for _, c := range rep.Changes {
		if c.Kind == "unit" && c.Unit == unit && c.Skipped != nil && strings.Contains(c.Skipped.Message, why) {
			return true
		}
	}
	return false
}

// busProxy stands between unloop and the node's system bus: it delays every
// chunk either way by delay, and when freezeOn is seen going to the bus it
// forwards nothing more, either way, on any connection (a hung bus).
type busProxy struct {
	delay    time.Duration
	freezeOn []byte
	frozen   atomic.Bool
	messages atomic.Int64
}

// startBusProxy listens at the node path sock and forwards to the node's bus.
func startBusProxy(t *testing.T, b *bed, sock string, delay time.Duration, freezeOn []byte) *busProxy {
	t.Helper()
	p := &busProxy{delay: delay, freezeOn: freezeOn}
	dir, err := b.Node.Path(filepath.Dir(sock))
	must(t, err)
	listen := filepath.Join(dir, filepath.Base(sock))
	_ = os.Remove(listen)
	ln, err := net.Listen("unix", listen)
	must(t, err)
	bus := b.Node.Root() + "/run/dbus/system_bus_socket"
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("unix", bus)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, c, u)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); p.pipe(u, c, true) }()
			go func() { defer wg.Done(); p.pipe(c, u, false) }()
		}
	}()
	return p
}

// pipe copies from src to dst, chunk by chunk, delayed, until frozen.
func (p *busProxy) pipe(dst, src net.Conn, toBus bool) {
	defer dst.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if toBus && p.freezeOn != nil && bytes.Contains(buf[:n], p.freezeOn) {
				p.frozen.Store(true)
			}
			if p.frozen.Load() {
				// Swallow everything; keep the connection open, as a hung
				// daemon does, until the other side gives up.
				_, _ = io.Copy(io.Discard, src)
				return
			}
			p.messages.Add(1)
			time.Sleep(p.delay)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or closed at cleanup
		}
	}
}
