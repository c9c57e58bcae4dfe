// Package e2e runs unloop on real booted nodes: systemd as PID 1, dbus,
// systemd-resolved, dhclient and CoreDNS from the node's own root filesystem.
package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
)

// binDir holds the unloop binary built for this run; nodes get it read-only at /opt/unloop.
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "unloop-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	build := exec.Command("go", "build", "-o", filepath.Join(dir, "unloop"), "github.com/unloop/unloop/cmd/unloop")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building unloop: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// boot boots a node with the unloop binary at /opt/unloop/unloop.
func boot(t *testing.T, opts node.Options) *node.Node {
	t.Helper()
	if opts.Binds == nil {
		opts.Binds = map[string]string{}
	}
	opts.Binds[binDir] = "/opt/unloop"
	return node.Boot(t, opts)
}

// unloop runs unloop inside the node and returns its stdout and exit status.
func unloop(t *testing.T, n *node.Node, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := n.Exec(ctx, append([]string{"/opt/unloop/unloop"}, args...)...)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &ee):
		t.Logf("unloop %s: exit %d: %v", strings.Join(args, " "), ee.ExitCode(), err)
		return out, ee.ExitCode()
	}
	t.Fatalf("unloop %s: %v", strings.Join(args, " "), err)
	return "", 0
}

// report is the part of check's JSON the tests read.
type report struct {
	Status     string `json:"status"`
	Online     bool   `json:"online"`
	ResolvConf struct {
		Path        string   `json:"path"`
		Link        string   `json:"link"`
		Generator   string   `json:"generator"`
		Evidence    string   `json:"evidence"`
		Nameservers []string `json:"nameservers"`
	} `json:"resolv_conf"`
	Resolved *struct {
		ResolvConfMode  string   `json:"resolv_conf_mode"`
		DNSStubListener string   `json:"dns_stub_listener"`
		DNS             []string `json:"dns"`
	} `json:"resolved"`
	Findings []struct {
		Code    string `json:"code"`
		File    string `json:"file"`
		Line    int    `json:"line"`
		Address string `json:"address"`
		Message string `json:"message"`
	} `json:"findings"`
	Changed  bool   `json:"changed"`
	Run      string `json:"run"`
	Verified bool   `json:"verified"`
	Error    string `json:"error"`
	Changes  []struct {
		Kind    string `json:"kind"`
		Path    string `json:"path"`
		Unit    string `json:"unit"`
		Action  string `json:"action"`
		Skipped string `json:"skipped"`
	} `json:"changes"`
}

func decode(t *testing.T, out string) report {
	t.Helper()
	var r report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("decoding unloop's JSON: %v\n%s", err, out)
	}
	return r
}

func (r report) codes() []string {
	var out []string
	for _, f := range r.Findings {
		out = append(out, f.Code)
	}
	return out
}

func (r report) has(code, addr string) bool {
	for _, f := range r.Findings {
		if f.Code == code && (addr == "" || f.Address == addr) {
			return true
		}
	}
	return false
}
