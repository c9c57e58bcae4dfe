package kubelet

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"path"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/yamltext"
	"github.com/unloop/unloop/hostcfg/unitfile"
)

// k3s and RKE2 run kubelet inside `k3s server|agent` and `rke2 server|agent`.
// What follows models k3s v1.30–v1.33 (pkg/configfilearg/parser.go,
// pkg/agent/config/config.go, pkg/util/args.go); RKE2 embeds the same agent
// code with its own names.
type rancher struct {
	distro  string
	units   []string // the units that may run it, server first
	env     string   // the prefix of its environment variables: K3S, RKE2
	config  string   // the default config file
	dataDir string   // the default --data-dir
}

var rancherDistros = []rancher{
	{DistroK3s, []string{"k3s.service", "k3s-agent.service"}, "K3S", "/etc/rancher/k3s/config.yaml", "/var/lib/rancher/k3s"},
	{DistroRKE2, []string{"rke2-server.service", "rke2-agent.service"}, "RKE2", "/etc/rancher/rke2/config.yaml", "/var/lib/rancher/rke2"},
}

// RancherDropIn is the usual name of unloop's file in config.yaml.d: it
// sorts after the numbered files installers put there. placeRancher names it
// zz-unloop-resolvconf.yaml when a site's file read later would override it.
const RancherDropIn = "99-unloop-resolvconf.yaml"

// k3sCandidates are the files k3s looks at when nothing names one, in order.
var k3sCandidates = []string{"/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"}

// K3sFallbackServer is what k3s writes into its own resolv.conf when neither
// candidate qualifies.
const K3sFallbackServer = "8.8.8.8"

// rancherSetting is one value of k3s's command line, wherever it was written.
type rancherSetting struct {
	value string
	flag  *Flag // in the unit or an environment file; nil from config.yaml
	at    Where
	env   string // the environment variable that gave it, if one did
}

// rancherArgs is what k3s's command line says, once config files, the unit
// and the environment are put together.
type rancherArgs struct {
	resolvConf  *rancherSetting
	kubeletArgs []rancherSetting // config.yaml's first, then the unit's
	// argsReplaced is the last "kubelet-arg:" (no "+") of the config files:
	// it dropped the kubelet args of the files before it.
	argsReplaced Where
	nodeName     *rancherSetting
	// nodeIP and clusterDNS are k3s's --node-ip and --cluster-dns, string
	// slices: the command line adds to config.yaml's values.
	nodeIP, clusterDNS []rancherSetting
	dataDir            string
	configFile         string
}

// discoverRancher finds k3s or RKE2; nil when neither is on the node.
func discoverRancher(r *hostcfg.Root) (*Setup, error) {
	for _, d := range rancherDistros {
		for _, unit := range d.units {
			files, err := findUnit(r, unit)
			if err != nil {
				return nil, err
			}
			if len(files) == 0 || path.Base(files[0]) != unit {
				continue
			}
			return d.discover(r, unit, files, nil)
		}
	}
	for _, d := range rancherDistros {
		if r.Exists(d.config) || r.Exists(d.config+".d") {
			// No unit we can read (OpenRC, a unit elsewhere): its files still say it.
			return d.discover(r, d.units[0], nil, nil)
		}
	}
	return nil, nil
}

// runningRancher is k3s or RKE2 found by its process p, read through pr:
// its files, with p's command line for the unit's, which may have changed
// since it started or be no unit's at all (a script, a container).
func runningRancher(pr *hostcfg.Root, p *Process) (*Setup, error) {
	for _, d := range rancherDistros {
		if d.distro != p.Distro {
			continue
		}
		unit := p.Unit
		if !slices.Contains(d.units, unit) {
			unit = d.units[0]
			if p.Argv[1] == "agent" {
				unit = d.units[1]
			}
		}
		files, err := findUnit(pr, unit)
		if err != nil {
			return nil, err
		}
		if len(files) > 0 && path.Base(files[0]) != unit {
			files = nil
		}
		return d.discover(pr, unit, files, p)
	}
	return nil, nil
}

// discover reads d's files; proc, when not nil, is the running process,
// whose command line stands for the unit's ExecStart.
func (d rancher) discover(r *hostcfg.Root, unit string, unitFiles []string, proc *Process) (*Setup, error) {
	k := &Setup{Distro: d.distro, Unit: unit}
	defer k.finish()
	var files unitfile.Files
	u, err := k.readUnits(r, &files, unitFiles)
	if err != nil {
		return k, err
	}
	// k3s's and RKE2's units name their environment files with %N, the
	// unit's name without ".service".
	for i, f := range u.envFile {
		u.envFile[i] = strings.ReplaceAll(f, "%N", strings.TrimSuffix(unit, ".service"))
	}
	environ, err := k.unitEnviron(r, &files, u)
	if err != nil {
		return k, err
	}
	a := rancherArgs{dataDir: d.dataDir, configFile: d.config}
	if v, ok := environ[d.env+"_CONFIG_FILE"]; ok && v.String() != "" {
		a.configFile = v.String()
	}
	// The environment is urfave/cli's EnvVar: it counts only when no flag, in
	// config.yaml or on the command line, sets the value.
	if v, ok := environ[d.env+"_RESOLV_CONF"]; ok {
		a.resolvConf = &rancherSetting{value: v.String(), flag: newKubeletFlag("resolv-conf", v, v, &files), env: d.env + "_RESOLV_CONF"}
		a.resolvConf.at = Where{File: a.resolvConf.flag.File, Line: a.resolvConf.flag.Line}
	}
	if v, ok := environ[d.env+"_NODE_NAME"]; ok {
		a.nodeName = &rancherSetting{value: v.String()}
	}
	var cli []unitfile.Text
	if proc != nil {
		cli = argvText(proc, &files, 2)
	} else if len(u.cmds) > 0 {
		c := u.cmds[len(u.cmds)-1]
		cli = c.Args
		if !c.NoEnv {
			cli = unitfile.ExpandArgv(c.Args, environ)
		}
	}
	if f := rancherFlag(cli, "config", "c"); f != nil {
		a.configFile = f.String()
	}
	// configfilearg puts config.yaml's flags before the command line's, so
	// the command line wins a single value and adds to a list.
	pre := a
	read, err := a.readConfig(r, k)
	if err != nil {
		return k, err
	}
	a.readCLI(cli, &files)

	if a.nodeName != nil {
		k.NodeName = a.nodeName.value
	}
	k.Fix = placeRancher(pre, conffile.Clean(a.configFile)+".d", read, cli, &files)
	a.takeDNS(k)
	if a.choose(k) {
		return k, nil
	}
	return k, d.autodetect(r, k, a)
}

// choose settles the pod file from the settings found, in k3s's precedence;
// false when none names one.
func (a *rancherArgs) choose(k *Setup) bool {
	// k3s puts its resolv-conf among kubelet's flags, and --kubelet-arg
	// entries override those by name, the last one winning (pkg/util/args.go).
	for i := len(a.kubeletArgs) - 1; i >= 0; i-- {
		ka := a.kubeletArgs[i]
		val, ok := kubeletArgResolvConf(ka.value)
		if !ok {
			continue
		}
		k.ResolvConf = val
		if ka.flag != nil {
			// On the unit's command line it beats any config.yaml.d file:
			// it is changed where it is written.
			k.ResolvConfSource, k.ResolvConfFlag = "flag", ka.flag
			k.Fix = Fix{}
		} else {
			k.ResolvConfSource, k.ResolvConfAt = "config", ka.at
		}
		k.Why = fmt.Sprintf("--kubelet-arg=%s in %s", ka.value, ka.at)
		return true
	}
	s := a.resolvConf
	if s == nil || s.value == "" {
		return false
	}
	k.ResolvConf = s.value
	if s.flag != nil {
		k.ResolvConfSource, k.ResolvConfFlag = "flag", s.flag
	} else {
		k.ResolvConfSource, k.ResolvConfAt = "config", s.at
	}
	name := "resolv-conf"
	if s.env != "" {
		name = s.env
	}
	k.Why = fmt.Sprintf("%s in %s", name, s.at)
	return true
}

// autodetect mirrors locateOrGenerateResolvConf: the first candidate in which
// every nameserver line parses as a global unicast address, and there is at
// least one; else a file k3s writes with 8.8.8.8. Its test lets through a
// private address of the node itself, and a zone index makes a line fail.
func (d rancher) autodetect(r *hostcfg.Root, k *Setup, a rancherArgs) error {
	k.ResolvConfSource = "distro"
	for _, c := range k3sCandidates {
		data, ok, err := r.ReadFileIfExists(c)
		if err != nil {
			return fmt.Errorf("reading %s as %s does: %w", c, d.distro, err)
		}
		if ok && k3sValidResolvConf(data) {
			k.ResolvConf = c
			k.Why = fmt.Sprintf("%s's own choice: the first of %s whose nameservers are all global unicast addresses", d.distro, strings.Join(k3sCandidates, " and "))
			return nil
		}
	}
	k.ResolvConf = path.Join(conffile.Clean(a.dataDir), "agent/etc/resolv.conf")
	k.Why = fmt.Sprintf("%s's own fallback: neither %s names only global unicast servers, so it writes nameserver %s here", d.distro, strings.Join(k3sCandidates, " nor "), K3sFallbackServer)
	k.Fallback = K3sFallbackServer
	return nil
}

var k3sNameserver = regexp.MustCompile(`^nameserver\s+([^\s]*)`)

// k3sValidResolvConf is k3s's isValidResolvConf, line for line.
func k3sValidResolvConf(data []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(data))
	found := false
	for sc.Scan() {
		m := k3sNameserver.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ip := net.ParseIP(m[1])
		if ip == nil || !ip.IsGlobalUnicast() {
			return false
		}
		found = true
	}
	return sc.Err() == nil && found
}

// rancherFlag is the last value of --name (or -short) on a command line.
func rancherFlag(args []unitfile.Text, name, short string) unitfile.Text {
	var out unitfile.Text
	rancherFlags(args, func(n string, _, v unitfile.Text) {
		if n == name || (short != "" && n == short) {
			out = v
		}
	})
	return out
}

// rancherFlags calls fn for each --name=value and --name value of k3s's
// command line (urfave/cli: "-" or "--", a value after "=" or as the next word).
func rancherFlags(args []unitfile.Text, fn func(name string, word, val unitfile.Text)) {
	takes := map[string]bool{"resolv-conf": true, "kubelet-arg": true, "node-name": true, "config": true, "c": true, "data-dir": true, "d": true,
		"node-ip": true, "i": true, "cluster-dns": true}
	for i := 0; i < len(args); i++ {
		w := args[i]
		s := w.String()
		if s == "--" {
			return
		}
		if !strings.HasPrefix(s, "-") {
			continue
		}
		lead := 1
		if strings.HasPrefix(s, "--") {
			lead = 2
		}
		name, _, hasVal := strings.Cut(s[lead:], "=")
		if !takes[name] {
			continue
		}
		if hasVal {
			fn(name, w, w[lead+len(name)+1:])
			continue
		}
		if i+1 < len(args) {
			i++
			fn(name, args[i], args[i])
		}
	}
}

// readCLI takes the unit's command line over what config.yaml said.
func (a *rancherArgs) readCLI(args []unitfile.Text, files *unitfile.Files) {
	rancherFlags(args, func(name string, w, v unitfile.Text) {
		f := newKubeletFlag(name, w, v, files)
		s := rancherSetting{value: v.String(), flag: f, at: Where{File: f.File, Line: f.Line}}
		switch name {
		case "resolv-conf":
			a.resolvConf = &s
		case "node-name":
			a.nodeName = &s
		case "data-dir", "d":
			a.dataDir = s.value
		case "node-ip", "i":
			a.nodeIP = append(a.nodeIP, s)
		case "cluster-dns":
			a.clusterDNS = append(a.clusterDNS, s)
		case "kubelet-arg":
			// The flag to edit is the part after "resolv-conf=".
			if k, _, ok := strings.Cut(strings.TrimPrefix(s.value, "--"), "="); ok {
				skip := len(k) + 1 + len(s.value) - len(strings.TrimPrefix(s.value, "--"))
				s.flag = newKubeletFlag("kubelet-arg="+k, w, v[skip:], files)
			}
			a.kubeletArgs = append(a.kubeletArgs, s)
		}
	})
}

// configFile is one of k3s's config files, read.
type configFile struct {
	path string
	data []byte
}

// readConfig reads config.yaml and then config.yaml.d/*.yaml and *.yml (any
// case, by name), as configfilearg does: a later file replaces a key, or adds
// to it when the key ends in "+". It returns the files read, in that order.
func (a *rancherArgs) readConfig(r *hostcfg.Root, k *Setup) ([]configFile, error) {
	base := conffile.Clean(a.configFile)
	paths := []string{base}
	ents, err := r.ReadDir(base + ".d")
	if err != nil {
		return nil, fmt.Errorf("listing %s.d: %w", base, err)
	}
	for _, e := range ents {
		n := strings.ToLower(e.Name())
		if !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
			paths = append(paths, path.Join(base+".d", e.Name()))
		}
	}
	var read []configFile
	for _, p := range paths {
		data, ok, err := r.ReadFileIfExists(p)
		if err != nil {
			return nil, fmt.Errorf("reading %s config: %w", k.Distro, err)
		}
		if !ok {
			continue
		}
		k.ConfigFiles = append(k.ConfigFiles, p)
		if err := a.readConfigFile(p, data); err != nil {
			return nil, err
		}
		read = append(read, configFile{p, data})
	}
	return read, nil
}

// placeRancher names unloop's config.yaml.d file so that k3s's merge ends on
// its kubelet-arg. k3s (v1.30–v1.34, pkg/configfilearg/parser.go: dotDFiles,
// readConfigFile) reads config.yaml, then config.yaml.d's files in os.ReadDir's
// order (sorted by name, byte by byte); "kubelet-arg+:" adds to the list the
// earlier files built, "kubelet-arg:" replaces it, and of the kubelet args the
// last resolv-conf= wins. So a later file with "kubelet-arg:" drops unloop's
// arg whatever unloop writes, and a later resolv-conf= beats it: unloop's file
// must sort after both. pre is what k3s knows before its config files; the
// unit's command line comes after them.
func placeRancher(pre rancherArgs, dotd string, files []configFile, cli []unitfile.Text, unit *unitfile.Files) Fix {
	decides := func(name, target string) Where {
		own := configFile{path.Join(dotd, name), RancherDropInFile(target)}
		var order []configFile
		placed := false
		for _, f := range files {
			if f.path == own.path {
				continue
			}
			if !placed && path.Dir(f.path) == dotd && path.Base(f.path) > name {
				order, placed = append(order, own), true
			}
			order = append(order, f)
		}
		if !placed {
			order = append(order, own)
		}
		a := pre
		a.kubeletArgs = slices.Clone(pre.kubeletArgs)
		for _, f := range order {
			if err := a.readConfigFile(f.path, f.data); err != nil {
				return Where{} // read before, and unloop's own parses: never reached
			}
		}
		a.readCLI(cli, unit)
		for i := len(a.kubeletArgs) - 1; i >= 0; i-- {
			if _, ok := kubeletArgResolvConf(a.kubeletArgs[i].value); ok {
				return a.kubeletArgs[i].at
			}
		}
		return a.argsReplaced
	}
	fix := placeOwn(dotd, ".yaml", "k3s's config.yaml.d", `write "kubelet-arg+:" (it adds to the list) without resolv-conf=, or rename it to sort before `+RancherDropIn, decides)
	fix.Edit = rancherDropInEdit
	return fix
}

// kubeletArgResolvConf is the value of a --kubelet-arg that sets resolv-conf.
func kubeletArgResolvConf(arg string) (string, bool) { return kubeletArgOf(arg, "resolv-conf") }

// kubeletArgOf is the value of a --kubelet-arg that sets kubelet's flag name.
func kubeletArgOf(arg, name string) (string, bool) {
	n, val, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
	return val, strings.ReplaceAll(n, "_", "-") == name
}

// k3sClusterDNS is k3s's cluster DNS when --cluster-dns is not set: the .10
// of its default service CIDR, 10.43.0.0/16, or fd00:43::/112 when the
// first node IP is IPv6 (pkg/cli/server/server.go, GetDefaultAddresses and
// GetIndexedIP(svcCIDR, 10), k3s v1.33; RKE2 embeds it). An agent gets the
// server's, which is this unless the server sets its own.
func k3sClusterDNS(nodeIPs []netip.Addr) netip.Addr {
	if len(nodeIPs) > 0 && !nodeIPs[0].Unmap().Is4() {
		return netip.MustParseAddr("fd00:43::a")
	}
	return netip.MustParseAddr("10.43.0.10")
}

// SetNodeIP is the node's own address where k3s or RKE2 chose it
// (NodeIPFromNode): kubelet's --node-ip, and the family of k3s's default
// service CIDR.
func (k *Setup) SetNodeIP(a netip.Addr) {
	k.NodeIPs = []netip.Addr{a}
	if k.clusterDNSDefault {
		k.ClusterDNS = []netip.Addr{k3sClusterDNS(k.NodeIPs)}
	}
}

// takeDNS sets kubelet's --node-ip and --cluster-dns as k3s passes them
// (pkg/daemons/agent/agent_linux.go, k3s v1.33: both always, a --kubelet-arg
// of the same name overriding, the last one winning): else k3s's own
// --node-ip and --cluster-dns, config.yaml's first, then the command line's
// (pkg/configfilearg/parser.go: the command line "will override, or if a
// slice append to, the config file values"); else the node's own address
// (NodeIPFromNode) and k3sClusterDNS.
func (a *rancherArgs) takeDNS(k *Setup) {
	own := func(ss []rancherSetting) (ips []netip.Addr) {
		for _, s := range ss {
			ips = append(ips, parseIPList(s.value)...)
		}
		return ips
	}
	pick := func(name string, ss []rancherSetting) ([]netip.Addr, Where, bool) {
		for i := len(a.kubeletArgs) - 1; i >= 0; i-- {
			if v, ok := kubeletArgOf(a.kubeletArgs[i].value, name); ok {
				return parseIPList(v), a.kubeletArgs[i].at, true
			}
		}
		if len(ss) == 0 {
			return nil, Where{}, false
		}
		return own(ss), ss[len(ss)-1].at, true
	}
	var set bool
	k.NodeIPs, _, set = pick("node-ip", a.nodeIP)
	k.NodeIPFromNode = !set
	if k.ClusterDNS, k.ClusterDNSAt, set = pick("cluster-dns", a.clusterDNS); !set {
		// From k3s's own node IPs, not a --kubelet-arg's.
		k.ClusterDNS, k.clusterDNSDefault = []netip.Addr{k3sClusterDNS(own(a.nodeIP))}, true
		k.ClusterDNSAt = Where{File: k.Distro + "'s default service CIDR"}
	}
}

func (a *rancherArgs) readConfigFile(p string, data []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return yamltext.Error(p, err)
	}
	if yamltext.EmptyDoc(&doc) {
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return hostcfg.Errorf(p, top.Line, "not a k3s config: the document is %s, not a mapping of keys", yamltext.KindWords(top))
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := yamltext.Deref(top.Content[i]), yamltext.Deref(top.Content[i+1])
		name, add := strings.CutSuffix(key.Value, "+")
		var vals []rancherSetting
		switch val.Kind {
		case yaml.ScalarNode:
			vals = []rancherSetting{{value: val.Value, at: Where{File: p, Line: val.Line}}}
		case yaml.SequenceNode:
			for _, c := range val.Content {
				c = yamltext.Deref(c)
				vals = append(vals, rancherSetting{value: c.Value, at: Where{File: p, Line: c.Line}})
			}
		}
		if name == "kubelet-arg" && !add {
			// Even an empty list replaces what earlier files said.
			a.kubeletArgs, a.argsReplaced = nil, Where{File: p, Line: key.Line}
		}
		if !add && (name == "node-ip" || name == "i") {
			a.nodeIP = nil
		} else if !add && name == "cluster-dns" {
			a.clusterDNS = nil
		}
		if len(vals) == 0 {
			continue
		}
		last := vals[len(vals)-1]
		switch name {
		case "resolv-conf":
			a.resolvConf = &last
		case "node-name":
			a.nodeName = &last
		case "data-dir", "d":
			a.dataDir = last.value
		case "node-ip", "i":
			a.nodeIP = append(a.nodeIP, vals...)
		case "cluster-dns":
			a.clusterDNS = append(a.clusterDNS, vals...)
		case "kubelet-arg":
			a.kubeletArgs = append(a.kubeletArgs, vals...)
		}
	}
	return nil
}

// RancherDropInFile is unloop's config.yaml.d file: kubelet-arg+ adds to the
// kubelet args of the other files instead of replacing them, and a kubelet
// arg beats k3s's own resolv-conf.
func RancherDropInFile(target string) []byte {
	var b strings.Builder
	b.WriteString("# Written by `unloop apply`: the resolv.conf kubelet hands to pods, without\n")
	b.WriteString("# DNS forwarding loops. `unloop rollback` removes it.\n")
	b.WriteString("kubelet-arg+:\n")
	b.WriteString("  - " + yamltext.ScalarText("resolv-conf="+target, 0) + "\n")
	return []byte(b.String())
}

func rancherDropInEdit(_ []byte, target string) ([]byte, error) {
	return RancherDropInFile(target), nil
}
