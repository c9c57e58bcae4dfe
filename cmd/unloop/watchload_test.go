package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// maxWatchLoadRSS is what `unloop watch` may hold, in MiB, whatever the
// clients of its --listen do (issue 22: the DaemonSet's listener is on the
// node's address, any pod can reach it).
const maxWatchLoadRSS = 48

// The loads a pod can put on watch's listener (issue 22).
const (
	idleClients   = 4000    // keep-alive clients that sent one request and stay
	slowSenders   = 64      // clients that never finish their header line
	slowHeaderLen = 1 << 20 // ... of 1 MB
)

// watchProcess runs `unloop watch` on an empty root, serving on a free
// loopback port, until the test ends; it returns its PID and address once
// its first check is done (/healthz answers ok).
func watchProcess(t testing.TB, bin string) (pid int, addr string) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "watch", "--offline", "--root", t.TempDir(), "--config", cfg, "--interval", "10m", "--listen", addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	waitListening(t, addr)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if probe(addr, "/healthz") == nil {
			return cmd.Process.Pid, addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch's /healthz is not ok 10 s after it started: %v", probe(addr, "/healthz"))
		}
	}
}

// probe GETs path as kubelet's probe does (a connection of its own, closed
// after) and wants 200 within a second, the probe's default timeout.
func probe(addr, path string) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return nil
}

// holdIdleClients opens n connections that each send one keep-alive request
// and then stay open and silent, as an HTTP/1.1 client between requests
// does. Those watch closes are left closed. They are closed at the test's end.
func holdIdleClients(t testing.TB, addr string, n int) {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: unloop\r\n\r\n"); err != nil {
			continue
		}
		if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
}

// holdSlowSenders opens n connections that each start a header line of
// size bytes and never finish it; they write until watch stops reading or
// closes, and are closed at the test's end.
func holdSlowSenders(t testing.TB, addr string, n, size int) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	line := "GET /metrics HTTP/1.1\r\nHost: unloop\r\nX-Slow: " + strings.Repeat("a", size)
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
			_, _ = io.WriteString(c, line)
		}()
	}
	wg.Wait()
}

// watchUnderLoad starts watch, puts load on it, and returns its peak RSS
// in MiB and what its probes answered under that load.
func watchUnderLoad(t testing.TB, bin string, load func(t testing.TB, addr string)) (peakMB float64, probes error) {
	t.Helper()
	pid, addr := watchProcess(t, bin)
	load(t, addr)
	for _, p := range []string{"/healthz", "/metrics"} {
		if err := probe(addr, p); err != nil {
			probes = fmt.Errorf("%s under load: %w", p, err)
		}
	}
	return procPeakRSS(t, pid), probes
}

var watchLoads = []struct {
	name string
	load func(t testing.TB, addr string)
}{
	{fmt.Sprintf("%d idle keep-alive clients", idleClients), func(t testing.TB, addr string) { holdIdleClients(t, addr, idleClients) }},
	{fmt.Sprintf("%d slow header senders", slowSenders), func(t testing.TB, addr string) { holdSlowSenders(t, addr, slowSenders, slowHeaderLen) }},
}

// TestWatchListenerBounded: no client of watch's --listen can make it hold
// more than maxWatchLoadRSS MiB, and kubelet's probes still get /healthz
// and /metrics within a second under that load (a plain cap on connections
// would refuse them once idle clients hold it all).
func TestWatchListenerBounded(t *testing.T) {
	bin := goBuild(t, ".")
	for _, l := range watchLoads {
		t.Run(l.name, func(t *testing.T) {
			peak, probes := watchUnderLoad(t, bin, l.load)
			t.Logf("peak RSS %.1f MiB", peak)
			if peak > maxWatchLoadRSS {
				t.Errorf("watch held %.1f MiB under %s, more than %d", peak, l.name, maxWatchLoadRSS)
			}
			if probes != nil {
				t.Error(probes)
			}
		})
	}
}
