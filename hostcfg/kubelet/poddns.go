package kubelet

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/unloop/unloop/hostcfg/internal/yamltext"
	"go.yaml.in/yaml/v3"
)

// MaxNameservers is how many nameservers kubelet hands a pod: the first 3 of
// its resolv.conf's nameserver lines, valid or not (MaxDNSNameservers in
// pkg/apis/core/validation, applied by formDNSNameserversFitsLimits in
// pkg/kubelet/network/dns/dns.go, kubernetes v1.34). A line further down
// never reaches a pod.
const MaxNameservers = 3

// EmptyResolvConfServers is what a pod with dnsPolicy: Default gets when
// kubelet's resolvConf is "" (or --resolv-conf=): 127.0.0.1 for each IPv4
// --node-ip, ::1 for each IPv6 one, 127.0.0.1 when --node-ip is unset, and
// search ".". Mirrors GetPodDNS's podDNSHost case in
// pkg/kubelet/network/dns/dns.go (kubernetes v1.34): "use the nameserver on
// the local machine", which inside a CoreDNS pod is CoreDNS itself.
func EmptyResolvConfServers(nodeIPs []netip.Addr) []netip.Addr {
	var out []netip.Addr
	for _, ip := range nodeIPs {
		if ip.Unmap().Is4() {
			out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
		} else {
			out = append(out, netip.IPv6Loopback())
		}
	}
	if len(out) == 0 {
		out = append(out, netip.AddrFrom4([4]byte{127, 0, 0, 1}))
	}
	return out
}

// parseIPList reads kubelet's comma-separated --node-ip and --cluster-dns
// values; a word that is no address is left out (kubelet refuses to start
// on it, and then hands no pod anything).
func parseIPList(s string) []netip.Addr {
	var out []netip.Addr
	for _, w := range strings.Split(s, ",") {
		if a, err := netip.ParseAddr(strings.TrimSpace(w)); err == nil {
			out = append(out, a)
		}
	}
	return out
}

// clusterDNSAddrs is the config's clusterDNS list (a YAML sequence of
// addresses); words that are no address are left out.
func (kc *kubeletConfig) clusterDNSAddrs() []netip.Addr {
	v := kc.clusterDNS
	if v == nil || v.Kind != yaml.SequenceNode {
		return nil
	}
	var out []netip.Addr
	for _, e := range v.Content {
		if e = yamltext.Deref(e); e.Kind == yaml.ScalarNode {
			if a, err := netip.ParseAddr(e.Value); err == nil {
				out = append(out, a)
			}
		}
	}
	return out
}

// readDNSFlags takes --node-ip and --cluster-dns from kubelet's flags.
func (k *Setup) readDNSFlags(flags map[string]*Flag) {
	if f := flags["node-ip"]; f != nil {
		k.NodeIPs = parseIPList(f.Value)
	}
	if f := flags["cluster-dns"]; f != nil {
		k.ClusterDNS, k.ClusterDNSAt, k.clusterDNSFlag = parseIPList(f.Value), Where{File: f.File, Line: f.Line}, true
	}
}

// takeClusterDNS takes the config file's clusterDNS unless the flag set it.
func (k *Setup) takeClusterDNS(kc *kubeletConfig) {
	if k.clusterDNSFlag || kc.clusterDNS == nil {
		return
	}
	k.ClusterDNS, k.ClusterDNSAt = kc.clusterDNSAddrs(), Where{File: kc.path, Line: kc.clusterDNS.Line}
}

// ResolvConfSet says where kubelet's pod file is set and how it is written
// there: the flag (`--resolv-conf=VALUE`) or the config file
// (`resolvConf: VALUE`); a zero Where for the default.
func (k *Setup) ResolvConfSet() (Where, string) {
	switch {
	case k.ResolvConfSource == "flag" && k.ResolvConfFlag != nil:
		return Where{File: k.ResolvConfFlag.File, Line: k.ResolvConfFlag.Line}, "--" + k.ResolvConfFlag.Name + "=" + k.ResolvConfFlag.Value
	case k.ResolvConfSource == "config":
		return k.ResolvConfAt, fmt.Sprintf("resolvConf: %q", k.ResolvConf)
	}
	return Where{}, ""
}
