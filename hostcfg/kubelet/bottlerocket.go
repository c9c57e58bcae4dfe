package kubelet

import (
	"fmt"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/osrelease"
)

// Bottlerocket renders kubelet's command line and config from its settings
// at every boot, into /etc (a tmpfs): the drop-in
// /etc/systemd/system/kubelet.service.d/exec-start.conf (until then the
// packaged kubelet.service runs /usr/bin/false) and
// /etc/kubernetes/kubelet/config, whose template fixes
// `resolvConf: "/run/netdog/resolv.conf"`, the file netdog writes from the
// DHCP lease and settings.dns. Modelled on bottlerocket-os/bottlerocket,
// packages/kubernetes-1.24 (kubernetes 1.24.16): kubelet.service (commit
// c47f0f4cc727), kubelet-exec-start-conf (99cb487cca07), kubelet-config
// (241b187054d7); sources/api/netdog (NETDOG_RESOLV_CONF). Once rendered,
// kubelet's own unit path reads it; an edit there does not outlive a boot,
// so the fix is by hand, in the settings.
var (
	bottlerocketExecStart  = "/etc/systemd/system/kubelet.service.d/exec-start.conf"
	bottlerocketResolvConf = "/run/netdog/resolv.conf"
)

// isBottlerocket says whether os-release names Bottlerocket.
func isBottlerocket(r *hostcfg.Root) (bool, error) {
	data, ok, err := r.ReadFileIfExists(osrelease.Path)
	if err != nil {
		return false, fmt.Errorf("reading %s to tell Bottlerocket: %w", osrelease.Path, err)
	}
	return ok && osrelease.Parse(data).ID == "bottlerocket", nil
}

// bottlerocketPending is Bottlerocket's kubelet before its settings are
// rendered (kubelet not started yet): the template's pod file. nil when the
// node is not Bottlerocket or the drop-in is there (kubelet's unit path
// reads it).
func bottlerocketPending(r *hostcfg.Root) (*Setup, error) {
	if ok, err := isBottlerocket(r); !ok || err != nil || r.Exists(bottlerocketExecStart) {
		return nil, err
	}
	k := &Setup{Healthz: DefaultHealthz, Present: true}
	defer k.finish()
	k.ConfigFiles = []string{osrelease.Path}
	k.ResolvConf, k.ResolvConfSource = bottlerocketResolvConf, "distro"
	k.Why = fmt.Sprintf("Bottlerocket's own choice: its settings have not rendered %s yet, and its kubelet config template fixes resolvConf to %s", bottlerocketExecStart, bottlerocketResolvConf)
	k.Fix = Fix{Hand: bottlerocketHand}
	return k, nil
}

// bottlerocketFix makes the fix on a rendered Bottlerocket node one by hand:
// /etc is rendered again at every boot.
func bottlerocketFix(r *hostcfg.Root, k *Setup) error {
	ok, err := isBottlerocket(r)
	if ok {
		k.Fix = Fix{Hand: bottlerocketHand}
	}
	return err
}

// bottlerocketHand is the edit a person makes, in the settings that last.
func bottlerocketHand(target string) string {
	return fmt.Sprintf("Bottlerocket renders kubelet's config at every boot with resolvConf %s, which netdog writes: "+
		"set clean servers with `apiclient set dns.name-servers=...` (settings.dns) and netdog rewrites it (unloop's target was %s)",
		bottlerocketResolvConf, target)
}
