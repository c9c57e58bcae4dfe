package kubelet

import (
	"fmt"
	"path"

	"github.com/unloop/unloop/hostcfg"
)

// k0s writes kubelet's config itself at every start of its worker, from the
// worker profile in k0s.yaml: a change there is the only one that lasts.
var (
	k0sConfig        = "/etc/k0s/k0s.yaml"
	k0sUnits         = []string{"k0sworker.service", "k0scontroller.service"}
	k0sKubeletConfig = []string{"/run/k0s/kubelet/config.yaml", "/var/lib/k0s/kubelet-config.yaml"}
)

// K0sProfile is the worker profile unloop asks for in k0s.yaml.
const K0sProfile = "unloop-resolvconf"

func discoverK0s(r *hostcfg.Root) (*Setup, error) {
	unit := ""
	for _, u := range k0sUnits {
		files, err := findUnit(r, u)
		if err != nil {
			return nil, err
		}
		if len(files) > 0 && path.Base(files[0]) == u {
			unit = u
			break
		}
	}
	if unit == "" && !r.Exists(k0sConfig) {
		return nil, nil
	}
	if unit == "" {
		unit = k0sUnits[0]
	}
	k := &Setup{Distro: DistroK0s, Unit: unit}
	defer k.finish()
	if r.Exists(k0sConfig) {
		k.ConfigFiles = []string{k0sConfig}
	}
	for _, p := range k0sKubeletConfig {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			return k, fmt.Errorf("reading k0s's kubelet config: %w", err)
		}
		if !ok {
			continue
		}
		k.ConfigPath, k.ConfigExists = p, true
		kc, err := parseKubeletConfig(p, data)
		if err != nil {
			return k, err
		}
		if v, ok := kc.resolvConf(); ok {
			k.ResolvConf, k.ResolvConfSource = v, "config"
			k.ResolvConfAt = Where{File: p, Line: kc.rcKey.Line}
			k.Why = fmt.Sprintf("resolvConf in %s line %d, which k0s writes from k0s.yaml's worker profile", p, kc.rcKey.Line)
		}
		break
	}
	k.Fix = Fix{Path: k0sConfig, Hand: k0sHand(unit)}
	return k, nil
}

// k0sHand is the edit a person makes: a worker profile that sets resolvConf,
// and the worker started with it.
func k0sHand(unit string) func(string) string {
	return func(target string) string {
		return fmt.Sprintf("k0s writes kubelet's config itself: add to %s\n"+
			"spec:\n  workerProfiles:\n    - name: %s\n      values:\n        resolvConf: %s\n"+
			"then start the worker with --profile=%s (k0s install worker --profile=%s, or the unit's ExecStart) and restart %s",
			k0sConfig, K0sProfile, target, K0sProfile, K0sProfile, unit)
	}
}
