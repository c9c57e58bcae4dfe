package cli

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// The bounds of watch's HTTP server (/metrics, /healthz). It listens on the
// node's address in the DaemonSet, where any pod can reach it: without them
// 4,000 idle keep-alive clients, or 64 never-finished 1 MB header lines,
// took its RSS from 11 to 87 MiB (issue 22).
const (
	// maxConns bounds the open connections. Its readers are kubelet's
	// probes (a connection each, closed after one request) and a scraper or
	// two; each connection costs some 20 KiB (buffers, a goroutine).
	maxConns = 32
	// maxHeaderBytes is far over what a probe or Prometheus sends (some
	// 300 bytes); net/http allows 4 KiB more than this before it answers 431.
	maxHeaderBytes = 4 << 10
	// readHeaderTimeout: a request's headers come in one packet or two.
	readHeaderTimeout = 5 * time.Second
	// readTimeout and writeTimeout bound a request in progress: /metrics is
	// a few KiB, gathered in milliseconds.
	readTimeout  = 10 * time.Second
	writeTimeout = 30 * time.Second
	// idleTimeout: Prometheus scrapes every 15 to 60 s and dials again when
	// its connection was closed; kubelet's probes never reuse one.
	idleTimeout = 30 * time.Second
)

// listenHelp says the bounds in watch's help, from the constants above.
var listenHelp = fmt.Sprintf(`Any client of --listen is bounded (%v and
%d KiB for its headers, %v idle); at %d connections a new one closes the one idle longest,
else the oldest silent one, so a probe is always served.`, readHeaderTimeout, maxHeaderBytes>>10, idleTimeout, maxConns)

// newServer is watch's HTTP server for h, with its bounds. Connections are
// counted by connCap: wrap the listener with its listen.
func newServer(h http.Handler, cc *connCap) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ConnState:         cc.track,
	}
}

// connCap bounds a listener's open connections. Refusing new ones at the cap
// would let a pod that holds the cap's worth of idle connections starve
// kubelet's liveness probe, and the node would restart unloop in a loop. So
// a connection over the cap makes room instead: the one idle longest (a
// keep-alive client between requests, which dials again when it needs to)
// goes first, else the oldest that has not sent a whole request yet (a slow
// or silent client; a probe sends its request at once). A connection serving
// a request is never closed; only when all are (twice the cap, which no fast
// handler reaches) is the new one refused.
type connCap struct {
	max   int
	mu    sync.Mutex
	conns map[net.Conn]connSince
}

type connSince struct {
	state http.ConnState
	since time.Time
}

func newConnCap(max int) *connCap {
	return &connCap{max: max, conns: map[net.Conn]connSince{}}
}

// listen is ln with the cap on the connections it accepts.
func (cc *connCap) listen(ln net.Listener) net.Listener { return capListener{ln, cc} }

type capListener struct {
	net.Listener
	cc *connCap
}

func (l capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.cc.admit(c, time.Now()) {
			return c, nil
		}
		c.Close()
	}
}

// admit counts c in, closing another connection first when at the cap; it
// says false when every other one is serving a request.
func (cc *connCap) admit(c net.Conn, now time.Time) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if len(cc.conns) >= cc.max {
		victim := cc.evictableLocked()
		if victim == nil && len(cc.conns) >= 2*cc.max {
			return false
		}
		if victim != nil {
			victim.Close() // net/http then reports it closed: track forgets it
			delete(cc.conns, victim)
		}
	}
	cc.conns[c] = connSince{http.StateNew, now}
	return true
}

// evictableLocked is the connection idle longest, else the oldest that has
// not sent a whole request, else nil.
func (cc *connCap) evictableLocked() net.Conn {
	var victim net.Conn
	var best connSince
	for c, s := range cc.conns {
		if s.state != http.StateIdle && s.state != http.StateNew {
			continue
		}
		better := victim == nil ||
			s.state == http.StateIdle && best.state != http.StateIdle ||
			s.state == best.state && s.since.Before(best.since)
		if better {
			victim, best = c, s
		}
	}
	return victim
}

// track is the server's ConnState hook: it keeps each connection's state
// and since when, and forgets a closed one.
func (cc *connCap) track(c net.Conn, s http.ConnState) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	switch s {
	case http.StateClosed, http.StateHijacked:
		delete(cc.conns, c)
	case http.StateNew:
		// admit has counted it already.
	default:
		if _, ok := cc.conns[c]; ok {
			cc.conns[c] = connSince{s, time.Now()}
		}
	}
}

// open is how many connections are counted.
func (cc *connCap) open() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.conns)
}
