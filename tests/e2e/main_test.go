// Package e2e runs unloop on real booted nodes: systemd as PID 1, dbus,
// systemd-resolved, dhclient and CoreDNS from the node's own root filesystem.
package e2e

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/unloop/unloop/tests/testbed"
)

// binDir holds the unloop binary built for this run; nodes get it read-only at /opt/unloop.
var binDir string

func TestMain(m *testing.M) {
	// unloop-crash: the crashtest build, whose UNLOOP_TERM_AT sends SIGTERM
	// at a named step of an apply (watch_test.go).
	binDir = testbed.Build("e2e", testbed.Binary{Name: "unloop"},
		testbed.Binary{Name: "unloop-crash", Flags: []string{"-tags", "crashtest"}})
	os.Exit(testbed.Run(m, binDir))
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
	Findings []finding `json:"findings"`
	Changed  bool      `json:"changed"`
	Run      string    `json:"run"`
	Verified bool      `json:"verified"`
	Error    string    `json:"error"`
	// apply's pods recreated through CRI, and those still holding the old file.
	PodsRecreated []string `json:"pods_recreated"`
	PodsStale     []string `json:"pods_stale"`
	Changes       []struct {
		Kind    string   `json:"kind"`
		Path    string   `json:"path"`
		Unit    string   `json:"unit"`
		Action  string   `json:"action"`
		Skipped *skipped `json:"skipped"`
	} `json:"changes"`
}

// skipped is why a change is skipped (JSON version 2): a code and words.
type skipped struct {
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// String is the words, "" for a change that is not skipped.
func (s *skipped) String() string {
	if s == nil {
		return ""
	}
	return s.Message
}

// finding is one of check's findings.
type finding struct {
	Code    string `json:"code"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Address string `json:"address"`
	Message string `json:"message"`
	Pod     string `json:"pod"`
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
