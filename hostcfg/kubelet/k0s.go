package kubelet

import (
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// k0s writes kubelet's config itself at every start of its worker, from the
// worker profile in k0s.yaml: a change there is the only one that lasts.
// Modelled on k0sproject/k0s commit dff90cee9a6e (v1.37 pre-release):
// pkg/component/worker/kubelet.go and pkg/install/systemd_linux.go.
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
			k.Why = fmt.Sprintf("resolvConf in %s line %d, which k0s writes at each start: a worker profile's in k0s.yaml, else its own choice", p, kc.rcKey.Line)
		}
		break
	}
	if k.ResolvConf == "" {
		// Nothing written yet (the worker has not started): k0s's own
		// choice, which it writes into the config when no profile sets one.
		if err := k0sDefault(r, k); err != nil {
			return k, err
		}
	}
	k.Fix = Fix{Path: k0sConfig, Hand: k0sHand(unit)}
	return k, nil
}

// k0sStub is the nameserver line k0s reads: the first field after
// "nameserver" and blanks, the rest of the line ignored.
var k0sStub = regexp.MustCompile(`^nameserver\s+(\S+)`)

// k0sDefault mirrors determineKubeletResolvConfPath: /etc/resolv.conf, unless
// 127.0.0.53 is its only nameserver address, then resolved's uplink file.
func k0sDefault(r *hostcfg.Root, k *Setup) error {
	k.ResolvConfSource = "distro"
	data, ok, err := r.ReadFileIfExists(DefaultResolvConf)
	if err != nil {
		return fmt.Errorf("reading %s as k0s does: %w", DefaultResolvConf, err)
	}
	if ok && k0sOnlyStub(data) {
		k.ResolvConf = resolvconf.ResolvedUplinkFile
		k.Why = fmt.Sprintf("k0s's own choice: %s names only 127.0.0.53, so it writes %s into kubelet's config", DefaultResolvConf, resolvconf.ResolvedUplinkFile)
		return nil
	}
	k.ResolvConf = DefaultResolvConf
	k.Why = fmt.Sprintf("k0s's own choice: %s does not name 127.0.0.53 alone, so it writes that file into kubelet's config", DefaultResolvConf)
	return nil
}

// k0sOnlyStub is k0s's hasSystemdResolvedNameserver: lines whose first field
// is not an address are skipped; 127.0.0.53 must be the one address.
func k0sOnlyStub(data []byte) bool {
	seen := false
	for _, line := range strings.Split(string(data), "\n") {
		m := k0sStub.FindStringSubmatch(strings.TrimSuffix(line, "\r"))
		if m == nil {
			continue
		}
		ip := net.ParseIP(m[1])
		if ip == nil {
			continue
		}
		if seen || !ip.Equal(net.IPv4(127, 0, 0, 53)) {
			return false
		}
		seen = true
	}
	return seen
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
