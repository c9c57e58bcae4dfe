package metrics

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestWatchMetricsText: watch's /metrics, once its first check is done, is
// Prometheus's text format to Prometheus's own parser: every family has a
// HELP text, the check's result and watch's own gauges are there.
func TestWatchMetricsText(t *testing.T) {
	root := nodeTree(t, loopNode)
	addr := freeAddr(t)
	var logs bytes.Buffer
	cmd := exec.Command(unloop(), "watch", "--root", root, "--offline", "--config", emptyConfig(t), "--listen", addr)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()

	var body string
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no check's metrics on http://%s/metrics in 20s: %q\nwatch's log:\n%s", addr, body, logs.String())
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if body = string(b); strings.Contains(body, "unloop_check_status") {
			break
		}
	}
	mfs := parseMetrics(t, body)
	for name, f := range mfs {
		if f.GetHelp() == "" {
			t.Errorf("%s has no HELP", name)
		}
	}
	if value(t, mfs, "unloop_check_status", map[string]string{"status": "error"}) != 1 {
		t.Error("the looping node's status is not error")
	}
	if value(t, mfs, "unloop_findings", map[string]string{"code": "nameserver-node-local-dns"}) != 1 {
		t.Error("the node-local-dns loop is not counted")
	}
	if value(t, mfs, "unloop_watch_up", nil) != 1 {
		t.Error("unloop_watch_up is not 1 while watching")
	}
	if value(t, mfs, "unloop_watch_checks_total", map[string]string{"trigger": "start"}) != 1 {
		t.Error("the first check is not counted as started by start")
	}
}
