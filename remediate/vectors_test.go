package remediate

import (
	"context"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"
)

// The peers' own vectors on node trees (data only; the test code is
// unloop's): each vector becomes a node, and check must see what that
// reader sees and judge it as that reader would.

// kubeadmKubelet is a kubelet whose pod file is /etc/resolv.conf.
var kubeadmKubelet = map[string]string{
	"/etc/systemd/system/kubelet.service": "[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml\n",
	"/var/lib/kubelet/config.yaml":        "kind: KubeletConfiguration\nresolvConf: /etc/resolv.conf\n",
}

func checkFiles(t *testing.T, files map[string]string, opts node.Options) *node.Report {
	t.Helper()
	root, err := hostcfg.NewRoot(hostcfgtest.Files(t, files))
	if err != nil {
		t.Fatal(err)
	}
	opts.Offline = true
	rep, _, err := Check(context.Background(), node.Env{Root: root}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func withFiles(base map[string]string, more map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func findingsOf(rep *node.Report, code finding.Code) []node.Finding {
	var out []node.Finding
	for _, f := range rep.Findings {
		if f.Code == code {
			out = append(out, f)
		}
	}
	return out
}

var upstream = []netip.Addr{netip.MustParseAddr("192.0.2.99")}

// From kubernetes/kubernetes pkg/kubelet/network/dns/dns_test.go,
// TestFormDNSNameserversFitsLimits (commit 04791b4906602ffda5ccf9bc4c84d3329f1d7080):
// kubelet hands pods the first 3. A looping address reaches pods only
// among them: a loop there, a warning that names the limit below.
func TestVectorsKubeletNameserverLimit(t *testing.T) {
	vectors := []struct {
		nameservers []string
		applied     []string
		event       bool
	}{
		{[]string{"127.0.0.1"}, []string{"127.0.0.1"}, false},
		{[]string{"127.0.0.1", "10.0.0.10", "8.8.8.8"}, []string{"127.0.0.1", "10.0.0.10", "8.8.8.8"}, false},
		{[]string{"127.0.0.1", "10.0.0.10", "8.8.8.8", "1.2.3.4"}, []string{"127.0.0.1", "10.0.0.10", "8.8.8.8"}, true},
		// unloop's own, the case: the loopback address is the 4th.
		{[]string{"10.0.0.10", "8.8.8.8", "1.2.3.4", "127.0.0.1"}, []string{"10.0.0.10", "8.8.8.8", "1.2.3.4"}, true},
	}
	for _, v := range vectors {
		t.Run(strings.Join(v.nameservers, ","), func(t *testing.T) {
			file := "nameserver " + strings.Join(v.nameservers, "\nnameserver ") + "\n"
			rep := checkFiles(t, withFiles(kubeadmKubelet, map[string]string{"/etc/resolv.conf": file}), node.Options{Upstreams: upstream})
			var loops []string
			for _, f := range findingsOf(rep, finding.CodeLoopback) {
				loops = append(loops, f.Address)
			}
			var want []string
			for _, a := range v.applied {
				if netip.MustParseAddr(a).IsLoopback() {
					want = append(want, a)
				}
			}
			if !slices.Equal(loops, want) {
				t.Errorf("loops at %q, want %q (what pods get: %q)", loops, want, v.applied)
			}
			if got := len(findingsOf(rep, finding.CodeNameserverLimit)) > 0; got != v.event {
				t.Errorf("nameserver-limit %v, kubelet's event %v", got, v.event)
			}
		})
	}
}

// From the same file, TestFormDNSSearchFitsLimits: the search line, as the
// pod file holds it; kubelet v1.34 trims it (an event) beyond 32 domains,
// 2048 characters, or drops a domain over 253 characters. The legacy limits
// (6 domains, 256 characters) are gone since ExpandedDNSConfig went GA
// (1.28): those vectors are judged by v1.34's rule.
func TestVectorsKubeletSearchLimit(t *testing.T) {
	a2048 := []string{strings.Repeat("A", 128)}
	for range 15 {
		a2048 = append(a2048, strings.Repeat("A", 127))
	}
	n32 := []string{"testNS.svc.TEST", "svc.TEST", "TEST"}
	for i := 4; i <= 32; i++ {
		n32 = append(n32, itoa(i))
	}
	vectors := []struct {
		desc   string
		search []string
		event  bool // under v1.34
	}{
		{"valid: 3 search paths", []string{"testNS.svc.TEST", "svc.TEST", "TEST"}, false},
		{"valid: 5 search paths", []string{"testNS.svc.TEST", "svc.TEST", "TEST", "AAA", "BBB"}, false},
		{"invalid: longer than 256 characters in search path list", []string{"testNS.svc.TEST", "svc.TEST", "TEST", "AAA", strings.Repeat("B", 256), "BBB"}, true},
		{"valid ExpandedDNSConfig: 2048 characters in search path list", a2048, false},
		{"invalid ExpandedDNSConfig: 2050 characters in search path list", append(slices.Clone(a2048), "B"), true},
		{"invalid ExpandedDNSConfig: 256 characters search path", []string{"testNS.svc.TEST", "svc.TEST", "TEST", "AAA", strings.Repeat("B", 256), "BBB"}, true},
		{"invalid: 7 search paths (legacy; fine since 1.28)", []string{"testNS.svc.TEST", "svc.TEST", "TEST", "AAA", "BBB", "CCC", "DDD"}, false},
		{"valid ExpandedDNSConfig: 32 search paths", n32, false},
		{"invalid ExpandedDNSConfig: 33 search paths", append(slices.Clone(n32), "33"), true},
	}
	for _, v := range vectors {
		t.Run(v.desc, func(t *testing.T) {
			file := "nameserver 192.0.2.1\nsearch " + strings.Join(v.search, " ") + "\n"
			rep := checkFiles(t, withFiles(kubeadmKubelet, map[string]string{"/etc/resolv.conf": file}), node.Options{})
			if got := len(findingsOf(rep, finding.CodeSearchLimit)) > 0; got != v.event {
				t.Errorf("search-limit %v, kubelet trims %v", got, v.event)
			}
		})
	}
}

// From the same file, testGetPodDNS with ResolverConfig "": a pod with
// dnsPolicy Default (pods[3]) and one with ClusterFirst on the host network
// without clusterDNS (pods[1], which falls back to Default) both get
// nameserver 127.0.0.1 and search ".", with no node IPs: a loop for CoreDNS.
func TestVectorsKubeletEmptyResolvConf(t *testing.T) {
	for _, config := range []string{
		"kind: KubeletConfiguration\nresolvConf: \"\"\n",                               // pods[3], dnsPolicy Default
		"kind: KubeletConfiguration\nresolvConf: \"\"\nclusterDomain: kubernetes.io\n", // pods[1], the fallback to Default
	} {
		rep := checkFiles(t, withFiles(kubeadmKubelet, map[string]string{
			"/var/lib/kubelet/config.yaml": config, "/etc/resolv.conf": "nameserver 192.0.2.1\n"}), node.Options{})
		fs := findingsOf(rep, finding.CodeLoopback)
		if len(fs) != 1 || fs[0].Address != "127.0.0.1" || fs[0].File != "/var/lib/kubelet/config.yaml" || fs[0].Line != 2 {
			t.Errorf("findings %+v, want nameserver-loopback 127.0.0.1 at /var/lib/kubelet/config.yaml:2", rep.Findings)
		}
	}
}

// From k3s-io/k3s pkg/agent/config/config_internal_test.go,
// Test_isValidResolvConf (commit 043b1eac5d50861d2f4044d7c543c095f3b19838):
// k3s hands pods /etc/resolv.conf when it is valid, else resolved's
// uplink file. A file k3s skips is no error to unloop either.
func TestVectorsK3sValidResolvConf(t *testing.T) {
	vectors := []struct {
		name, content string
		valid         bool
	}{
		{"Valid ResolvConf", "nameserver 8.8.8.8\nnameserver 2001:4860:4860::8888\n", true},
		{"Invalid ResolvConf", "nameserver 999.999.999.999\nnameserver not.an.ip\n", false},
		{"Wrong Nameserver", "search example.com\n", false},
		{"One valid nameserver", "test test.com\nnameserver 8.8.8.8", true},
		{"Non GlobalUnicast", "nameserver ::1\nnameserver 169.254.0.1\nnameserver fe80::1\n", false},
		{"Empty File", "", false},
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			rep := checkFiles(t, map[string]string{
				"/etc/systemd/system/k3s.service":  "[Service]\nType=notify\nExecStart=/usr/local/bin/k3s server\n",
				"/etc/resolv.conf":                 v.content,
				"/run/systemd/resolve/resolv.conf": "nameserver 10.0.0.2\n",
			}, node.Options{})
			want := "/run/systemd/resolve/resolv.conf"
			if v.valid {
				want = "/etc/resolv.conf"
			}
			if rep.ResolvConf.Path != want {
				t.Errorf("pod file %s, k3s picks %s", rep.ResolvConf.Path, want)
			}
			if len(findingsOf(rep, finding.CodeUnreadable)) > 0 || rep.Status == "error" {
				t.Errorf("status %s, findings %+v: a file k3s skips is no error", rep.Status, rep.Findings)
			}
		})
	}
}

// From coredns/coredns plugin/forward/setup_test.go, TestSetupResolvconf
// (v1.14.7): a CoreDNS on the host forwards to the file (and an address).
func TestVectorsCoreDNSResolvconf(t *testing.T) {
	vectors := []struct {
		name, file, forward string
		servers             []string
		fails               bool // "no valid upstream addresses found"
	}{
		{"two servers", "nameserver 10.10.255.252\nnameserver 10.10.255.253", "/etc/resolv.conf", []string{"10.10.255.252", "10.10.255.253"}, false},
		{"null file", "", "/etc/resolv.conf", nil, true},
		// CoreDNS drops the zone and asks the address; unloop sees the
		// address too, and warns of the zone, which a pod can't use.
		{"IPv6 with a zone", "nameserver 0388:d254:7aec:6892:9f7f:e93b:5806:1b0f%en0", "/etc/resolv.conf", []string{"388:d254:7aec:6892:9f7f:e93b:5806:1b0f%en0"}, false},
		{"comments only, and an address", "# nameserver 1.1.1.1\n# nameserver 1.0.0.1", "/etc/resolv.conf 127.0.0.1", nil, false},
	}
	for _, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			rep := checkFiles(t, map[string]string{
				"/etc/resolv.conf":      v.file,
				"/etc/coredns/Corefile": ".:53 {\n    forward . " + v.forward + "\n}\n",
			}, node.Options{Upstreams: upstream})
			if !slices.Equal(rep.ResolvConf.Nameservers, v.servers) && len(v.servers)+len(rep.ResolvConf.Nameservers) > 0 {
				t.Errorf("servers %q, CoreDNS %q", rep.ResolvConf.Nameservers, v.servers)
			}
			if got := len(findingsOf(rep, finding.CodeNameserverNone)) > 0; got != v.fails {
				t.Errorf("nameserver-none %v, CoreDNS fails %v: %+v", got, v.fails, rep.Findings)
			}
		})
	}
}
