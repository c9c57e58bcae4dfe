package cli

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// TestConnCapMakesRoom: at the cap, a new connection closes the one idle
// longest, else the oldest that has not sent a request, never one serving a
// request; with all serving, it waits its turn up to twice the cap.
func TestConnCapMakesRoom(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	pipe := func() net.Conn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a
	}
	cc := newConnCap(3)
	set := func(c net.Conn, s http.ConnState, at time.Time) { cc.conns[c] = connSince{s, at} }
	active, silent, idleOld, idleNew := pipe(), pipe(), pipe(), pipe()
	set(active, http.StateActive, t0)
	set(silent, http.StateNew, t0)
	set(idleOld, http.StateIdle, t0.Add(time.Second))
	// At the cap: the one idle longest goes, though the silent one is older.
	probe := pipe()
	if !cc.admit(probe, t0.Add(time.Hour)) {
		t.Fatal("refused at the cap")
	}
	if _, ok := cc.conns[idleOld]; ok {
		t.Error("the idle connection is still counted")
	}
	// No idle one: the oldest that has sent no request goes.
	set(probe, http.StateNew, t0.Add(time.Hour))
	if !cc.admit(idleNew, t0.Add(2*time.Hour)) {
		t.Fatal("refused at the cap")
	}
	if _, ok := cc.conns[silent]; ok {
		t.Error("the silent connection is still counted")
	}
	if _, ok := cc.conns[probe]; !ok {
		t.Error("closed the newer connection rather than the older silent one")
	}
	if _, ok := cc.conns[active]; !ok {
		t.Error("closed a connection serving a request")
	}
	// Every connection serves a request: over the cap, up to twice it.
	for c := range cc.conns {
		cc.conns[c] = connSince{http.StateActive, t0}
	}
	for cc.open() < 6 {
		c := pipe()
		if !cc.admit(c, t0) {
			t.Fatalf("refused at %d connections, under twice the cap", cc.open())
		}
		cc.conns[c] = connSince{http.StateActive, t0}
	}
	if cc.admit(pipe(), t0) {
		t.Errorf("admitted a connection at twice the cap, all serving")
	}
}
