package kubelet

import (
	"strings"
	"testing"
)

// TestOwnFileWins: unloop's file in a drop-in folder is named so that the
// reader merges it after every site file that would override it, and the
// node read again with that file written hands pods the target. When no
// name is merged late enough, the fix refuses and names the site's file.
func TestOwnFileWins(t *testing.T) {
	const target = "/run/systemd/resolve/resolv.conf"
	kubeletWith := func(config string) string {
		return "-- etc/systemd/system/kubelet.service --\n[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --config-dir=/etc/kubernetes/kubelet.conf.d\n" +
			"-- var/lib/kubelet/config.yaml --\nkind: KubeletConfiguration\nresolvConf: " + config + "\n"
	}
	kubeletUnit := kubeletWith(target)
	dropIn := func(name, body string) string {
		return "-- etc/kubernetes/kubelet.conf.d/" + name + " --\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n" + body
	}
	const stub = "resolvConf: /etc/resolv.conf\n"
	k3sUnit := "-- etc/systemd/system/k3s.service --\n[Service]\nExecStart=/usr/local/bin/k3s server\n" +
		"-- etc/rancher/k3s/config.yaml --\nnode-name: n1\nkubelet-arg:\n  - max-pods=200\n" +
		"-- etc/rancher/k3s/config.yaml.d/50-dns.yaml --\nresolv-conf: /etc/resolv.conf\n"
	k3sFile := func(name, body string) string { return "-- etc/rancher/k3s/config.yaml.d/" + name + " --\n" + body }
	const kd, k3d = "/etc/kubernetes/kubelet.conf.d/", "/etc/rancher/k3s/config.yaml.d/"
	for _, tc := range []struct {
		name, tree string
		fix        string // the file unloop writes; "" when it refuses
		refuse     string // the site's file:line the refusal names
	}{
		{"kubelet: a numbered drop-in before it", kubeletUnit + dropIn("20-site.conf", stub), kd + "99-unloop-resolvconf.conf", ""},
		{"kubelet: a drop-in named with a letter", kubeletUnit + dropIn("custom.conf", stub), kd + "zz-unloop-resolvconf.conf", ""},
		{"kubelet: a drop-in in a sub-folder", kubeletUnit + dropIn("site/10-dns.conf", stub), kd + "zz-unloop-resolvconf.conf", ""},
		{"kubelet: a later drop-in that does not set resolvConf", kubeletUnit + dropIn("20-site.conf", stub) + dropIn("custom.conf", "maxPods: 50\n"), kd + "99-unloop-resolvconf.conf", ""},
		{"kubelet: resolvConf: null later gives back the config's value", kubeletWith("/etc/resolv.conf") + dropIn("custom.conf", "resolvConf: null\n"), kd + "zz-unloop-resolvconf.conf", ""},
		{"kubelet: a drop-in read after every name", kubeletUnit + dropIn("zzz.conf", stub), "", kd + "zzz.conf:3"},
		{"k3s: custom.yaml replaces kubelet-arg", k3sUnit + k3sFile("custom.yaml", "kubelet-arg:\n  - max-pods=150\n"), k3d + "zz-unloop-resolvconf.yaml", ""},
		{"k3s: custom.yaml adds to kubelet-arg", k3sUnit + k3sFile("custom.yaml", "kubelet-arg+:\n  - max-pods=150\n"), k3d + "99-unloop-resolvconf.yaml", ""},
		{"k3s: a later resolv-conf= kubelet-arg", k3sUnit + k3sFile("custom.yaml", "kubelet-arg+:\n  - resolv-conf=/etc/resolv.conf\n"), k3d + "zz-unloop-resolvconf.yaml", ""},
		{"k3s: a later empty kubelet-arg list", k3sUnit + k3sFile("custom.yaml", "kubelet-arg: []\n"), k3d + "zz-unloop-resolvconf.yaml", ""},
		{"k3s: a file read after every name replaces the list", k3sUnit + k3sFile("zzz.yaml", "kubelet-arg:\n  - max-pods=150\n"), "", k3d + "zzz.yaml:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := kubeletTree(t, tc.tree)
			k, err := Discover(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if k.ResolvConf != "/etc/resolv.conf" {
				t.Fatalf("the site's files hand pods %q, want /etc/resolv.conf", k.ResolvConf)
			}
			if tc.fix == "" {
				if k.Fix.Refuse == "" || !strings.Contains(k.Fix.Refuse, tc.refuse[:strings.LastIndex(tc.refuse, ":")]) ||
					!strings.Contains(k.Fix.Refuse, "line "+tc.refuse[strings.LastIndex(tc.refuse, ":")+1:]) {
					t.Fatalf("refusal %q, want one naming %s", k.Fix.Refuse, tc.refuse)
				}
				return
			}
			if k.Fix.Path != tc.fix || k.Fix.Refuse != "" {
				t.Fatalf("unloop's file %s (refusal %q), want %s", k.Fix.Path, k.Fix.Refuse, tc.fix)
			}
			if at := k.Fix.Merged(target); at.File != tc.fix {
				t.Errorf("the merge with unloop's file ends on %s, want it", at.File)
			}
			data, err := k.Fix.Edit(nil, target)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.WriteFile(k.Fix.Path, data, 0o644, 0, 0); err != nil {
				t.Fatal(err)
			}
			after, err := Discover(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if after.ResolvConf != target {
				t.Errorf("with %s written the node hands pods %q, want %s", k.Fix.Path, after.ResolvConf, target)
			}
		})
	}
}
