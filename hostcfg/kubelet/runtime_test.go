package kubelet

import "testing"

// TestRuntimeEndpoint: the CRI socket unloop asks about pods is kubelet's
// own: the flag beats a drop-in, which beats the config, which beats the
// distribution's default.
func TestRuntimeEndpoint(t *testing.T) {
	unit := func(flag string) string {
		return "-- etc/systemd/system/kubelet.service --\n[Service]\nExecStart=/usr/bin/kubelet --config=/var/lib/kubelet/config.yaml --config-dir=/etc/kubernetes/kubelet.conf.d " + flag + "\n"
	}
	config := "-- var/lib/kubelet/config.yaml --\nkind: KubeletConfiguration\n"
	crio := "containerRuntimeEndpoint: unix:///run/crio/crio.sock\n"
	dropIn := "-- etc/kubernetes/kubelet.conf.d/10-runtime.conf --\ncontainerRuntimeEndpoint: unix:///run/dropin.sock\n"
	for _, tc := range []struct{ name, tree, want string }{
		{"default", unit("") + config, "unix:///run/containerd/containerd.sock"},
		{"config", unit("") + config + crio, "unix:///run/crio/crio.sock"},
		{"drop-in over config", unit("") + config + crio + dropIn, "unix:///run/dropin.sock"},
		{"flag over drop-in", unit("--container-runtime-endpoint=unix:///run/flag.sock") + config + crio + dropIn, "unix:///run/flag.sock"},
		{"k3s", "-- etc/systemd/system/k3s.service --\n[Service]\nExecStart=/usr/local/bin/k3s server\n", "unix:///run/k3s/containerd/containerd.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := Discover(kubeletTree(t, tc.tree), nil)
			if err != nil {
				t.Fatal(err)
			}
			if k.RuntimeEndpoint != tc.want {
				t.Errorf("RuntimeEndpoint = %q, want %q", k.RuntimeEndpoint, tc.want)
			}
		})
	}
}
