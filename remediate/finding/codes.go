package finding

// CodeInfo is what unloop says of a finding code, wherever it says it: the
// analysis takes the severity from here, and the metrics, the man page,
// completion and the README's table (checked by a test) say the same.
type CodeInfo struct {
	Code     Code
	Severity Severity
	// Meaning is one line for people: the README's table and the man page.
	Meaning string
	// Loop: a finding of this code is a part of a forwarding loop, grouped
	// with the other parts of the same loop.
	Loop bool
}

// Codes is every finding code, in the order the README lists them. The codes
// are stable: scripts and alerts depend on them.
var Codes = []CodeInfo{
	{CodeResolvedStub, SevError, "the pod file names 127.0.0.53 or 127.0.0.54", true},
	{CodeLoopback, SevError, "the pod file names another loopback address", true},
	{CodeNodeLocalDNS, SevError, "the pod file names a node cache address", true},
	{CodeClusterDNS, SevError, "the pod file names kubelet's `clusterDNS` address, the cluster DNS Service: CoreDNS forwards to itself through it", true},
	{CodeLocalAddress, SevWarning, "the pod file names another address of this node", false},
	{CodeCorefileForwardLoop, SevError, "a Corefile forwards to an address it listens on, directly or through the file it forwards to", true},
	{CodeKubeletMissing, SevError, "kubelet's resolv.conf path does not exist (e.g. the typo `/run/systemd/resolv/resolv.conf`; the real file is `/run/systemd/resolve/resolv.conf`)", false},
	{CodeKubeletMisspelled, SevError, "the kubelet config has `resolvconf`, `ResolverConfig` or another near miss of `resolvConf`, which kubelet ignores silently", false},
	{CodeDhclientInjects, SevError, "dhclient.conf prepends/supersedes/appends a looping address", true},
	{CodeResolvedUpstreamLoop, SevError, "systemd-resolved's own upstreams hold a looping address while the pod file is resolved's file", true},
	{CodeNetworkManagerInjects, SevError, "a NetworkManager drop-in or connection puts a looping address in the file, or its `dns=dnsmasq` puts its own dnsmasq there (127.0.1.1 on Ubuntu, 127.0.0.1 upstream)", true},
	{CodeNetworkdInjects, SevError, "a systemd-networkd `.network` file's `DNS=` hands systemd-resolved a looping address, which it writes into its uplink file", true},
	{CodeNetplanInjects, SevError, "a netplan YAML file's `nameservers: addresses:` (or a DHCP lease it does not turn off with `use-dns: false`) puts a looping address in the file netplan renders for networkd or NetworkManager, which hand it on to the pod file", true},
	{CodeResolvconfInjects, SevError, "Debian's resolvconf writes a looping address into its file from `resolv.conf.d/head`, `base` or `tail`, or from an interface record (dnsmasq's `lo.dnsmasq`: 127.0.0.1); or openresolv does, from `/etc/resolvconf.conf`'s `name_servers` and kin or an interface record", true},
	{CodeNameserverNone, SevError, "the pod file names no nameserver: CoreDNS's forward finds no upstream and exits", false},
	{CodePodResolvStale, SevError, "a running DNS-server pod's copy of the pod file names a looping address: recreate the pod", false},
	{CodeNoUpstream, SevError, "once looping addresses are removed, no upstream is left and none can be found", false},
	{CodeNameserverLimit, SevWarning, "more than 3 nameservers: kubelet hands pods the first 3 lines, glibc uses the first 3 valid ones; a looping address further down is named here, not a loop", false},
	{CodeNameserverInvalid, SevWarning, "a nameserver value is not an IP address (`192.0.2.2:5353`, a name): glibc skips the line, kubelet copies it to pods, CoreDNS adds port 53 to it; the other lines are judged", false},
	{CodeZoneIndex, SevWarning, "an IPv6 link-local nameserver with a zone that pods can't use", false},
	{CodeSearchLimit, SevWarning, "more than 32 search domains or 2048 characters, or a domain over 253 characters", false},
	{CodeUnreadable, SevError, "an input exists but can't be read or parsed", false},
	{CodeDNSPodUnreadable, SevWarning, "a DNS server pod's input exists but can't be read or parsed: the node's own fix goes on, this one is left to you", false},
	{CodeNotANode, SevError, "the root does not look like a node: no kubelet (no unit, flags, config or known layout), no Corefile and no os-release, or it is a pod's own root (kubelet's /etc/hosts): nothing can be decided", false},
}

// Info returns the registry's entry for c; ok is false for a code unloop
// does not know.
func (c Code) Info() (CodeInfo, bool) {
	for _, i := range Codes {
		if i.Code == c {
			return i, true
		}
	}
	return CodeInfo{}, false
}

// Severity is c's severity; an unknown code is an error.
func (c Code) Severity() Severity {
	if i, ok := c.Info(); ok {
		return i.Severity
	}
	return SevError
}
