package kubelet

import (
	"fmt"
	"path"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// MicroShift runs kubelet inside its own process (microshift.service) and
// writes kubelet's config itself at every start, to
// /var/lib/microshift/resources/kubelet/config/config.yaml: resolvConf is
// /run/systemd/resolve/resolv.conf when os.Stat of that file succeeds
// (resolved's uplink file, against CoreDNS's loop), else left out
// (kubelet's default, /etc/resolv.conf). Modelled on openshift/microshift
// release 4.22.7-202607240848.p0 (the same rule as microshift-4.12.10),
// pkg/node/kubelet.go (writeConfig, generateConfig, configure's
// loadConfigFile of that path), assets/core/kubelet.yaml and pkg/config
// (DataDir /var/lib/microshift, DefaultSystemdResolvedFile). Early commits
// (03f8c3e25d1f) took any stat error but "not exist" for the file being there.
var (
	microshiftUnit          = "microshift.service"
	microshiftConfig        = "/etc/microshift/config.yaml"
	microshiftKubeletConfig = "/var/lib/microshift/resources/kubelet/config/config.yaml"
)

func discoverMicroShift(r *hostcfg.Root) (*Setup, error) {
	files, err := findUnit(r, microshiftUnit)
	if err != nil {
		return nil, err
	}
	unit := len(files) > 0 && path.Base(files[0]) == microshiftUnit
	if !unit && !r.Exists(microshiftKubeletConfig) && !r.Exists(microshiftConfig) {
		return nil, nil
	}
	k := &Setup{Distro: DistroMicroShift, Unit: microshiftUnit, Healthz: DefaultHealthz}
	defer k.finish()
	if r.Exists(microshiftConfig) {
		k.ConfigFiles = []string{microshiftConfig}
	}
	k.Fix = Fix{Hand: microshiftHand}
	found, err := k.readDistroConfig(r, microshiftKubeletConfig)
	if err != nil {
		return k, err
	}
	switch {
	case found && k.ResolvConfSource == "config":
		k.Why = fmt.Sprintf("resolvConf in %s line %d, which MicroShift writes at each start", microshiftKubeletConfig, k.ResolvConfAt.Line)
	case found:
		// MicroShift left resolvConf out: resolved's uplink file was not
		// there at its last start; kubelet's default applies.
		k.Why = fmt.Sprintf("%s sets no resolvConf (MicroShift found no %s at its last start): kubelet's default", microshiftKubeletConfig, resolvconf.ResolvedUplinkFile)
	default:
		// Not written yet (MicroShift has not started): its own rule.
		return k, microshiftDefault(r, k)
	}
	return k, nil
}

// microshiftDefault mirrors generateConfig's test: resolved's uplink file
// when stat succeeds.
func microshiftDefault(r *hostcfg.Root, k *Setup) error {
	k.ResolvConfSource = "distro"
	if _, err := r.Stat(resolvconf.ResolvedUplinkFile); err != nil {
		k.ResolvConf = DefaultResolvConf
		k.Why = fmt.Sprintf("MicroShift's own choice: no %s, so it leaves resolvConf out and kubelet uses %s", resolvconf.ResolvedUplinkFile, DefaultResolvConf)
		return nil
	}
	k.ResolvConf = resolvconf.ResolvedUplinkFile
	k.Why = fmt.Sprintf("MicroShift's own choice: %s exists, so it writes it into kubelet's config", resolvconf.ResolvedUplinkFile)
	return nil
}

// microshiftHand is the edit a person makes: MicroShift rewrites kubelet's
// config at each start, so an edit there does not last.
func microshiftHand(target string) string {
	return fmt.Sprintf("MicroShift rewrites %s at each start: make %s hold clean servers "+
		"(MicroShift points kubelet at it whenever it exists), then restart %s (unloop's target was %s)",
		microshiftKubeletConfig, resolvconf.ResolvedUplinkFile, microshiftUnit, target)
}
