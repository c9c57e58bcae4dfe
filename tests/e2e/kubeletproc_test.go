package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/unloop/unloop/tests/node"
	"github.com/unloop/unloop/tests/testbed"
)

// TestCheckFindsKubeletByProcess: the real kubelet started by no unit file
// unloop reads (a transient unit of systemd-run) with a config path no
// layout knows, /opt/site/kubelet.yaml, which hands pods resolved's clean
// uplink file. The node's kubelet.service (not running) names the missing
// /var/lib/kubelet/config.yaml, so its files alone say the host's stub: a
// false loop. Online check finds kubelet through its process and reports
// the right pod file, also when kubelet runs with a --root-dir of its own.
func TestCheckFindsKubeletByProcess(t *testing.T) {
	n := testbed.Boot(t, binDir, testbed.KubeletOptions(t, node.Options{Release: "bookworm"}))
	must(t, n.WriteFile("/etc/systemd/resolved.conf.d/test.conf", []byte("[Resolve]\nDNS=192.0.2.53\n"), 0o644))
	startUnit(t, n, "restart", "systemd-resolved.service")
	testbed.WaitFor(t, 10*time.Second, "resolved's uplink file names 192.0.2.53", func() bool {
		d, _ := n.ReadFile("/run/systemd/resolve/resolv.conf")
		return strings.Contains(string(d), "192.0.2.53")
	})
	const uplink = "/run/systemd/resolve/resolv.conf"
	must(t, n.WriteFile("/opt/site/kubelet.yaml", []byte(testbed.KubeletConfigFor(n, "resolvConf: "+uplink+"\n")), 0o644))
	testbed.PreparePodCgroups(t, n)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"config", []string{"--config=/opt/site/kubelet.yaml"}},
		{"root-dir", []string{"--config=/opt/site/kubelet.yaml", "--root-dir=/opt/site/kubelet"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A unit of its own each: a stopped transient unit may stay loaded.
			unit := "site-kubelet-" + tc.name + ".service"
			args := append([]string{"systemd-run", "--unit=" + unit, testbed.KubeBin + "/kubelet"}, tc.args...)
			started := time.Now()
			if out, err := n.Exec(t.Context(), args...); err != nil {
				t.Fatalf("systemd-run: %v\n%s", err, out)
			}
			t.Cleanup(func() {
				// Not t.Context(): it is done before cleanups run.
				if out, err := n.Exec(context.Background(), "systemctl", "stop", unit); err != nil {
					t.Errorf("stopping %s: %v\n%s", unit, err, out)
				}
				testbed.WaitFor(t, time.Minute, "kubelet stopped", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "" })
			})
			testbed.WaitFor(t, time.Minute, "kubelet's /healthz ok", func() bool { return testbed.KubeletHealthz(t, n, 10248) == "ok" })
			if rc := testbed.KubeletResolvConf(t, n); rc != uplink {
				t.Fatalf("kubelet runs with resolvConf %q", rc)
			}
			out, code := testbed.Unloop(t, n, "check", "--output", "json")
			r := decode(t, out)
			var k struct {
				Kubelet struct {
					Present    bool   `json:"present"`
					Config     string `json:"config"`
					ResolvConf string `json:"resolv_conf"`
					Unit       string `json:"unit"`
					PID        int    `json:"pid"`
				} `json:"kubelet"`
				Notes []string `json:"notes"`
			}
			must(t, json.Unmarshal([]byte(out), &k))
			if code != 0 || r.Status != "ok" || r.ResolvConf.Path != uplink {
				t.Fatalf("exit %d, status %s, pod file %s, findings %v, want ok on %s:\n%s", code, r.Status, r.ResolvConf.Path, r.codes(), uplink, out)
			}
			// Offline, the files alone decide, as before: kubelet.service's
			// missing config, so the host's stub, a loop kubelet does not
			// have. The process is what tells them apart.
			off, offCode := testbed.Unloop(t, n, "check", "--offline", "--output", "json")
			if ro := decode(t, off); offCode != 2 || ro.ResolvConf.Path != "/etc/resolv.conf" || !ro.has("nameserver-resolved-stub", "127.0.0.53") {
				t.Errorf("offline: exit %d, pod file %s, findings %v; want the files' stub", offCode, ro.ResolvConf.Path, ro.codes())
			}
			if !k.Kubelet.Present || k.Kubelet.Config != "/opt/site/kubelet.yaml" || k.Kubelet.ResolvConf != uplink || k.Kubelet.Unit != unit || k.Kubelet.PID == 0 {
				t.Errorf("kubelet reported as %+v", k.Kubelet)
			}
			if !strings.Contains(strings.Join(k.Notes, "\n"), "kubelet runs from "+unit) {
				t.Errorf("no note that kubelet.service's files are not what runs: %q", k.Notes)
			}
			if tc.name != "config" {
				return
			}
			// The config edited to the stub and kubelet not restarted: it
			// still runs on the uplink file, the next start takes the stub.
			// unloop takes a file written within a second of kubelet's start
			// (by /proc/stat's btime, whole seconds) for no later change: the
			// edit comes 2 s after the start at least, as an admin's would.
			if d := 2*time.Second + 100*time.Millisecond - time.Since(started); d > 0 {
				time.Sleep(d)
			}
			config := testbed.KubeletConfigFor(n, "resolvConf: /etc/resolv.conf\n")
			must(t, n.WriteFile("/opt/site/kubelet.yaml", []byte(config), 0o644))
			t.Cleanup(func() {
				must(t, n.WriteFile("/opt/site/kubelet.yaml", []byte(testbed.KubeletConfigFor(n, "resolvConf: "+uplink+"\n")), 0o644))
			})
			out, code = testbed.Unloop(t, n, "check", "--output", "json")
			must(t, json.Unmarshal([]byte(out), &k))
			notes := strings.Join(k.Notes, "\n")
			if code != 2 || !strings.Contains(notes, "/opt/site/kubelet.yaml changed after kubelet (pid ") || !strings.Contains(notes, "next restart") {
				t.Errorf("config changed since kubelet started: exit %d, notes %q", code, k.Notes)
			}
			if rc := testbed.KubeletResolvConf(t, n); rc != uplink {
				t.Errorf("kubelet now runs with resolvConf %q", rc)
			}
		})
	}
}
