package kubelet

import (
	"fmt"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/osrelease"
)

// Talos has no systemd: machined runs kubelet as a container from its
// KubeletSpec, with --config=/etc/kubernetes/kubelet.yaml, and forces that
// config's resolvConf to constants.PodResolvConfPath,
// /system/resolved/resolv.conf (SystemResolvedPath + "/resolv.conf"), which
// network.EtcFileController writes from the node's upstream servers (or the
// host DNS address when forwardKubeDNSToHost is on), never the host's
// 127.0.0.53 stub. Modelled on siderolabs/talos v1.12.0:
// internal/app/machined/pkg/controllers/k8s/kubelet_spec.go
// (args "config", and NewKubeletConfiguration's
// `config.ResolverConfig = pointer.To(constants.PodResolvConfPath)`),
// internal/app/machined/pkg/system/services/kubelet.go (the container binds
// /etc/kubernetes and the pod file at their own paths),
// pkg/machinery/constants/constants.go and
// internal/app/machined/pkg/controllers/network/etcfile.go. The node is
// told by os-release's ID=talos, which Talos ships.
var (
	talosKubeletConfig = "/etc/kubernetes/kubelet.yaml"
	talosPodResolvConf = "/system/resolved/resolv.conf"
)

// TalosService is the Talos service that runs kubelet (`talosctl service
// kubelet restart`): not a systemd unit.
const TalosService = "kubelet"

func discoverTalos(r *hostcfg.Root) (*Setup, error) {
	data, ok, err := r.ReadFileIfExists(osrelease.Path)
	if err != nil {
		return nil, fmt.Errorf("reading %s to tell Talos: %w", osrelease.Path, err)
	}
	if !ok || osrelease.Parse(data).ID != "talos" {
		return nil, nil
	}
	k := &Setup{Distro: DistroTalos, Unit: TalosService, Healthz: DefaultHealthz}
	defer k.finish()
	k.ConfigFiles = []string{osrelease.Path}
	k.Fix = Fix{Hand: talosHand}
	found, err := k.readDistroConfig(r, talosKubeletConfig)
	if err != nil {
		return k, err
	}
	if found && k.ResolvConfSource == "config" {
		k.Why = fmt.Sprintf("resolvConf in %s line %d, which Talos writes from its kubelet spec", talosKubeletConfig, k.ResolvConfAt.Line)
		return k, nil
	}
	// Not written yet (machined has not started kubelet): Talos's own value,
	// which it forces whatever the machine config says.
	k.ResolvConf, k.ResolvConfSource = talosPodResolvConf, "distro"
	k.Why = fmt.Sprintf("Talos's own choice: its kubelet spec forces resolvConf to %s", talosPodResolvConf)
	return k, nil
}

// talosHand is the edit a person makes: Talos writes the pod file itself,
// from the machine config's nameservers.
func talosHand(target string) string {
	return fmt.Sprintf("Talos forces kubelet's resolvConf to %s and writes that file itself: "+
		"set clean servers in the machine config (machine.network.nameservers), or turn on "+
		"machine.features.hostDNS.forwardKubeDNSToHost, and apply it with talosctl (unloop's target was %s)",
		talosPodResolvConf, target)
}

// readDistroConfig reads a KubeletConfiguration a distribution writes at a
// path of its own, as readConfig reads --config's; found is false when the
// file is not there.
func (k *Setup) readDistroConfig(r *hostcfg.Root, p string) (bool, error) {
	data, ok, err := r.ReadFileIfExists(p)
	if err != nil {
		k.ConfigPath = p
		return false, fmt.Errorf("reading kubelet config: %w", err)
	}
	if !ok {
		return false, nil
	}
	k.ConfigPath, k.ConfigExists = p, true
	kc, err := parseKubeletConfig(p, data)
	if err != nil {
		return true, err
	}
	k.Misspelled = kc.misspelled()
	k.Healthz = kc.healthz()
	k.takeClusterDNS(kc)
	if k.RuntimeEndpoint == "" {
		k.RuntimeEndpoint = kc.runtimeEndpoint()
	}
	if v, ok := kc.resolvConf(); ok {
		k.ResolvConf, k.ResolvConfSource = v, "config"
		if kc.rcKey != nil {
			k.ResolvConfAt = Where{File: p, Line: kc.rcKey.Line}
		} else {
			k.ResolvConfAt = Where{File: p, Line: kc.mergedVal.Line}
		}
	}
	return true, nil
}
