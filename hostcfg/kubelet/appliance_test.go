package kubelet

import "testing"

// At boot, before MicroShift or Talos has written kubelet's config: their
// own rules decide, and a node that is neither is left alone.
func TestBootRulesMicroShiftTalos(t *testing.T) {
	msUnit := "-- usr/lib/systemd/system/microshift.service --\n[Service]\nExecStart=microshift run\n"
	tests := []struct {
		name, tree, distro, want, source string
	}{
		{"MicroShift, resolved's uplink file exists", msUnit + "-- run/systemd/resolve/resolv.conf --\nnameserver 10.0.0.2\n",
			DistroMicroShift, "/run/systemd/resolve/resolv.conf", "distro"},
		{"MicroShift, no resolved", msUnit + "-- etc/resolv.conf --\nnameserver 10.0.0.2\n",
			DistroMicroShift, "/etc/resolv.conf", "distro"},
		{"MicroShift's config written without resolvConf", msUnit +
			"-- var/lib/microshift/resources/kubelet/config/config.yaml --\nkind: KubeletConfiguration\n",
			DistroMicroShift, "/etc/resolv.conf", "default"},
		{"Talos before machined wrote kubelet.yaml", "-- etc/os-release --\nNAME=\"Talos\"\nID=talos\n",
			DistroTalos, "/system/resolved/resolv.conf", "distro"},
		{"another os-release is not Talos", "-- etc/os-release --\nID=flatcar\n-- etc/kubernetes/kubelet.yaml --\nresolvConf: /x\n",
			DistroKubelet, "/etc/resolv.conf", "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Discover(kubeletTree(t, tt.tree), nil)
			if err != nil {
				t.Fatal(err)
			}
			if k.Distro != tt.distro || k.ResolvConf != tt.want || k.ResolvConfSource != tt.source {
				t.Errorf("distro %q pod file %q (%s); want %q %q (%s)", k.Distro, k.ResolvConf, k.ResolvConfSource, tt.distro, tt.want, tt.source)
			}
			if tt.distro != DistroKubelet && (k.Fix.Hand == nil || k.Why == "") {
				t.Errorf("fix by hand %v, why %q: want both", k.Fix.Hand != nil, k.Why)
			}
		})
	}
}
