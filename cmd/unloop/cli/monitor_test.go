package cli

import (
	"bytes"
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// nodeTree makes a root with the given files (node paths).
func nodeTree(t *testing.T, files map[string]string) string { return hostcfgtest.Files(t, files) }

// run runs unloop offline on root with the machine's own config kept out.
func run(t *testing.T, root string, args ...string) (string, string, int) {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "unloop.yaml")
	if err := os.WriteFile(cfg, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	args = append(args, "--root", root, "--offline", "--config", cfg)
	code := Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// The nodes the monitoring tests look at (shared with the other module's
// monitoring tests).
var (
	cleanNode  = hostcfgtest.CleanNode
	loopNode   = hostcfgtest.LoopNode
	warnNode   = hostcfgtest.WarnNode
	unreadNode = hostcfgtest.UnreadableNode
	manyLoops  = hostcfgtest.ManyLoopsNode
)

// TestNPD: --output npd speaks node-problem-detector's custom plugin
// protocol: exit 0 OK, 1 problem, 3 unknown; one line of at most 80
// characters that still says how many loops there are.
func TestNPD(t *testing.T) {
	for _, c := range []struct {
		name string
		node map[string]string
		exit int
		want []string
	}{
		{"clean", cleanNode, 0, []string{"no DNS forwarding loop"}},
		{"warning is OK", warnNode, 0, []string{"no DNS loop; 1 warning: nameserver-limit"}},
		{"loop", loopNode, 1, []string{"DNS loop: nameserver-node-local-dns 169.254.25.10 in /etc/resolv.conf:1"}},
		{"many loops, long path", manyLoops, 1, []string{"DNS loop: nameserver-resolved-stub 127.0.0.53", "...", "more)"}},
		{"unreadable", unreadNode, 3, []string{"unloop could not read /etc/resolv.conf"}},
		{"unloop fails", cleanNode, 3, []string{"unloop failed: ", "not an IP address"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"check", "--output", "npd"}
			if c.name == "unloop fails" {
				args = append(args, "--local-ip", "not-an-ip")
			}
			out, stderr, code := run(t, nodeTree(t, c.node), args...)
			if code != c.exit {
				t.Errorf("exit %d, want %d (%s)", code, c.exit, stderr)
			}
			if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
				t.Errorf("want one line, got %q", out)
			}
			msg := strings.TrimSuffix(out, "\n")
			if n := utf8.RuneCountInString(msg); n > npdMaxMessage {
				t.Errorf("message of %d characters > %d: %q", n, npdMaxMessage, msg)
			}
			for _, w := range c.want {
				if !strings.Contains(msg, w) {
					t.Errorf("message %q lacks %q", msg, w)
				}
			}
		})
	}
}

// FuzzNPDMessage: whatever a finding holds (a file name can be anything),
// the plugin's message fits NPD's limit and keeps the count of the rest.
func FuzzNPDMessage(f *testing.F) {
	f.Add("/etc/resolv.conf", "169.254.25.10", 3, 2)
	f.Add(strings.Repeat("/very-long", 20), "fe80::1%eth0", 1, 40)
	f.Add("ünïcödé/файл", "", 0, 1)
	f.Add("/etc/a\nno DNS forwarding loop\xff", "", 0, 0)
	f.Fuzz(func(t *testing.T, file, addr string, line, n int) {
		if n < 0 || n > 1000 {
			return
		}
		rep := &node.Report{Status: "error"}
		for i := 0; i <= n; i++ {
			rep.Findings = append(rep.Findings, node.Finding{Code: finding.CodeLoopback, Severity: finding.SevError, File: file, Line: line, Address: addr})
		}
		msg, code := npdResult(rep)
		if code != npdProblem {
			t.Fatalf("exit %d for loops", code)
		}
		if utf8.RuneCountInString(msg) > npdMaxMessage {
			t.Fatalf("message of %d characters: %q", utf8.RuneCountInString(msg), msg)
		}
		if strings.ContainsAny(msg, "\n\r\v\f\u0085\u2028\u2029") || !utf8.ValidString(msg) {
			t.Fatalf("not one line of UTF-8: %q", msg)
		}
		if n > 0 && !strings.HasSuffix(msg, "more)") {
			t.Fatalf("the count of the rest was cut: %q", msg)
		}
	})
}

// TestMetricsOutputsAreCheckOnly: plan, apply and rollback asked for
// prometheus or npd fail before touching the node, rather than print text
// where a collector expects metrics.
func TestMetricsOutputsAreCheckOnly(t *testing.T) {
	for _, cmd := range []string{"plan", "apply", "rollback"} {
		for _, output := range []string{"prometheus", "npd"} {
			t.Run(cmd+" "+output, func(t *testing.T) {
				root := nodeTree(t, loopNode)
				before := hostcfgtest.State(t, root, nil)
				args := []string{cmd, "--output", output}
				if cmd != "rollback" {
					args = append(args, "--upstream", "192.0.2.53")
				}
				out, stderr, code := run(t, root, args...)
				if code != exitFailed || out != "" {
					t.Errorf("exit %d, stdout %q: want 1 and nothing", code, out)
				}
				if want := `output "` + output + `" is for check only: ` + cmd + ` takes text or json`; !strings.Contains(stderr, want) {
					t.Errorf("stderr %q lacks %q", stderr, want)
				}
				if after := hostcfgtest.State(t, root, nil); !maps.Equal(before, after) {
					t.Errorf("the node changed:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
	}
}

// FuzzMetricsText: whatever a label value holds (a version with quotes,
// backslashes, line feeds), client_golang's text format parses and gives
// the value back. (The codes are the registry's: no other code reaches a
// label.) Prometheus's own parser reads the built binary's metrics, weird
// versions included, in tests/metrics.
func FuzzMetricsText(f *testing.F) {
	f.Add("v1.2.3")
	f.Add(`a"b\c` + "\nd")
	f.Add(`\n\"` + "ü")
	f.Fuzz(func(t *testing.T, v string) {
		if !utf8.ValidString(v) {
			return // Prometheus's label values are UTF-8
		}
		defer func(old string) { version = old }(version)
		version = v
		rep := &node.Report{Status: "error", Findings: []node.Finding{{Code: finding.CodeLoopback, Severity: finding.SevError}}}
		var b bytes.Buffer
		if err := writeMetrics(&b, rep, time.Unix(1700000000, 5e8)); err != nil {
			t.Fatal(err)
		}
		mfs := parseSamples(t, b.String())
		if got := value(t, mfs, "unloop_build_info", map[string]string{"version": v}); got != 1 {
			t.Errorf("version %q: build_info %v", v, got)
		}
		if got := value(t, mfs, "unloop_findings", map[string]string{"code": string(finding.CodeLoopback)}); got != 1 {
			t.Errorf("nameserver-loopback counted %v", got)
		}
		if got := value(t, mfs, "unloop_last_check_timestamp_seconds", nil); got != 1700000000.5 {
			t.Errorf("timestamp %v", got)
		}
	})
}

// TestTextfileNeverFollowsALink: node_exporter's textfile folder is often
// owned by another user, who can link unloop.prom to any file of root's (in
// the DaemonSet a relative link reaches /host/etc). check replaces the link
// with its metrics and leaves the file it named byte for byte, whether the
// link is absolute or relative.
func TestTextfileNeverFollowsALink(t *testing.T) {
	root := nodeTree(t, loopNode)
	for _, relative := range []bool{false, true} {
		dir := t.TempDir()
		victim := filepath.Join(t.TempDir(), "shadow")
		if err := os.WriteFile(victim, []byte("root:*:20000::::::\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		target := victim
		if relative {
			var err error
			if target, err = filepath.Rel(dir, victim); err != nil {
				t.Fatal(err)
			}
		}
		prom := filepath.Join(dir, "unloop.prom")
		if err := os.Symlink(target, prom); err != nil {
			t.Fatal(err)
		}
		if _, stderr, code := run(t, root, "check", "--textfile", prom); code != 2 {
			t.Fatalf("check --textfile: exit %d, want 2\n%s", code, stderr)
		}
		if b, err := os.ReadFile(victim); err != nil || string(b) != "root:*:20000::::::\n" {
			t.Errorf("link to %s: the file it named is now %q (%v)", target, b, err)
		}
		if fi, err := os.Stat(victim); err != nil || fi.Mode().Perm() != 0o640 {
			t.Errorf("link to %s: the file it named changed mode: %v", target, fi.Mode())
		}
		fi, err := os.Lstat(prom)
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("link to %s: unloop.prom is not the metrics file: %v", target, err)
		}
	}
}

// TestNPDOneLine: whatever a file's name holds, --output npd prints one
// line: a kubelet drop-in named with a line break and a byte that is not
// UTF-8, unreadable, once forged a second line "no DNS forwarding loop".
func TestNPDOneLine(t *testing.T) {
	forged := "10-a\nno DNS forwarding loop\xff.conf"
	root := nodeTree(t, map[string]string{
		"/etc/resolv.conf":                     "nameserver 192.0.2.53\n",
		"/etc/systemd/system/kubelet.service":  "[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --config-dir=/etc/kubernetes/kubelet.conf.d\n",
		"/var/lib/kubelet/config.yaml":         "kind: KubeletConfiguration\n",
		"/etc/kubernetes/kubelet.conf.d/.keep": "",
	})
	// A link to itself: a loop, which no read gets through.
	if err := os.Symlink(forged, filepath.Join(root, "etc/kubernetes/kubelet.conf.d", forged)); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "--output", "npd"}, {"check", "--quiet"}} {
		out, stderr, code := run(t, root, args...)
		t.Logf("%v: exit %d, stdout %q, stderr %q", args, code, out, stderr)
		text := out
		if args[1] == "--quiet" {
			text = stderr
		}
		if strings.Count(text, "\n") != 1 || !strings.HasSuffix(text, "\n") || !utf8.ValidString(text) {
			t.Errorf("%v: want one line of UTF-8, got %q", args, text)
		}
		want := `10-a\nno DNS forwarding loop\xff.conf`
		if args[1] == "--output" {
			want = `10-a\nno DNS forwarding` // cut at NPD's 80 characters
		}
		if !strings.Contains(text, want) {
			t.Errorf("%v: %q does not name the file, escaped", args, text)
		}
	}
}
