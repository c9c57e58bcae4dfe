package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// TestCheckOnline runs check on real bookworm and trixie nodes with the real
// kubelet: it tells the stub from uplink mode as systemd-resolved itself
// reports it over D-Bus, and finds a looping upstream set live with
// resolvectl while kubelet runs on resolved's uplink file.
func TestCheckOnline(t *testing.T) {
	for _, release := range testbed.Releases {
		t.Run(release, func(t *testing.T) {
			t.Parallel()
			n := testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{Release: release}))
			config := testbed.KubeletConfigFor(n, "")
			testbed.StartKubelet(t, n, config)

			// The rootfs's /etc/resolv.conf is the stub link: pods would get 127.0.0.53.
			out, code := testbed.Unloop(t, n, "check", "--output", "json")
			r := decode(t, out)
			if code != 2 || !r.Online || !r.has("nameserver-resolved-stub", "127.0.0.53") {
				t.Fatalf("stub: exit %d, online %v, findings %v", code, r.Online, r.codes())
			}
			if r.ResolvConf.Generator != "systemd-resolved-stub" || !strings.Contains(r.ResolvConf.Evidence, "ResolvConfMode") {
				t.Errorf("stub: generator %q (%s), want systemd-resolved-stub from resolved's ResolvConfMode", r.ResolvConf.Generator, r.ResolvConf.Evidence)
			}

			// Uplink mode, with a real upstream configured: healthy, and resolved
			// says uplink (it rewrites its files asynchronously: wait for them).
			must(t, n.WriteFile("/etc/systemd/resolved.conf.d/test.conf", []byte("[Resolve]\nDNS=192.0.2.53\n"), 0o644))
			startUnit(t, n, "restart", "systemd-resolved.service")
			must(t, n.Symlink("../run/systemd/resolve/resolv.conf", "/etc/resolv.conf"))
			testbed.WaitFor(t, 10*time.Second, "resolved's uplink file names 192.0.2.53", func() bool {
				d, _ := n.ReadFile("/run/systemd/resolve/resolv.conf")
				return strings.Contains(string(d), "192.0.2.53")
			})
			// resolved looks at the link when asked; wait until it sees the new one.
			testbed.WaitFor(t, 10*time.Second, "resolved says uplink", func() bool {
				out, _ := n.Exec(t.Context(), "busctl", "get-property", "org.freedesktop.resolve1", "/org/freedesktop/resolve1", "org.freedesktop.resolve1.Manager", "ResolvConfMode")
				return strings.Contains(out, "uplink")
			})
			out, code = testbed.Unloop(t, n, "check", "--output", "json")
			r = decode(t, out)
			if code != 0 || r.Status != "ok" {
				t.Fatalf("uplink: exit %d, status %s, findings %v", code, r.Status, r.codes())
			}
			if r.ResolvConf.Generator != "systemd-resolved-uplink" || !strings.Contains(r.ResolvConf.Evidence, "ResolvConfMode") {
				t.Errorf("uplink: generator %q (%s), want systemd-resolved-uplink from resolved (%+v)", r.ResolvConf.Generator, r.ResolvConf.Evidence, r.Resolved)
			}

			// A looping upstream set live on a link: no file says it, resolved does.
			n.Run("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
			n.Run("ip", "link", "set", "veth0", "up")
			n.Run("ip", "link", "set", "veth1", "up")
			n.Run("resolvectl", "dns", "veth0", "169.254.25.10")
			must(t, n.WriteFile("/var/lib/kubelet/config.yaml", []byte(config+"resolvConf: /run/systemd/resolve/resolv.conf\n"), 0o644))
			startUnit(t, n, "restart", "kubelet.service")
			testbed.WaitFor(t, time.Minute, "kubelet on resolved's uplink file", func() bool {
				return testbed.KubeletHealthz(t, n, 10248) == "ok" && testbed.KubeletResolvConf(t, n) == "/run/systemd/resolve/resolv.conf"
			})
			testbed.WaitFor(t, 10*time.Second, "resolved's uplink file names 169.254.25.10", func() bool {
				d, _ := n.ReadFile("/run/systemd/resolve/resolv.conf")
				return strings.Contains(string(d), "169.254.25.10")
			})
			out, code = testbed.Unloop(t, n, "check", "--output", "json")
			r = decode(t, out)
			if code != 2 || !r.has("resolved-upstream-loop", "169.254.25.10") || !r.has("nameserver-node-local-dns", "169.254.25.10") {
				t.Fatalf("live DNS: exit %d, findings %v", code, r.codes())
			}
			for _, f := range r.Findings {
				if f.Code == "resolved-upstream-loop" && !strings.Contains(f.Message, "D-Bus") {
					t.Errorf("the live loop is not said to come from resolved's live state: %s", f.Message)
				}
			}

			// The same node, offline: no bus, and it says so.
			out, _ = testbed.Unloop(t, n, "check", "--offline")
			if !strings.Contains(out, "files only") {
				t.Errorf("offline check does not say it read files only:\n%s", out)
			}
		})
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
