// Package settings is unloop's typed settings (DESIGN.md §4): each a flag,
// an UNLOOP_<NAME> variable and a key of the config file, with precedence
// flag > env > file > default, and one strict syntax wherever written. The
// commands say which settings they take (Add); Load gives the typed result.
package settings

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/hostcfg/cri"
	"github.com/unloop/unloop/remediate"
)

const (
	defaultConfigFile = "/etc/unloop/unloop.yaml"
	// maxConfigSize is far beyond any real unloop.yaml: the limit is there so
	// that UNLOOP_CONFIG=/dev/zero or a huge file cannot eat the memory.
	maxConfigSize = 64 << 10
)

// A setting is a flag that is also UNLOOP_<NAME> in the environment and a key
// of the config file. Each command takes some of them; the file is shared by
// every command, so a key is refused only when no command takes it.
type setting struct {
	name, short string
	def         any // string, []string, bool or int: the setting's kind
	usage       string
}

var settings = []setting{
	{"root", "", "/", "the node's filesystem tree to read and edit"},
	{"config", "", defaultConfigFile, "unloop's config file (read as given, not under --root)"},
	{"output", "o", "text", ""}, // usage: by command, in Add
	{"strategy", "", []string{"auto"}, "auto, or a comma list of " + strings.Join(remediate.StrategyNames(), ",") + " in order of preference"},
	{"upstream", "", []string(nil), "an upstream DNS server to use instead of discovering them (repeatable)"},
	{"node-local-dns", "", []string{"169.254.25.10", "169.254.20.10"}, "a node-local-dns address (repeatable)"},
	{"local-ip", "", []string(nil), "an address of this node beyond those its interfaces show (repeatable)"},
	{"dns-upstreams", "", []string(nil), "an address the site's DNS servers forward to instead of the pod file (repeatable; e.g. Kubespray's upstream_dns_servers)"},
	{"dns-server-namespace", "", remediate.DefaultDNSServerPods.Namespaces, "a namespace of the cluster's DNS server pods (repeatable): only their files and the node's own are read"},
	{"dns-server-label", "", defaultLabels(), "a label of DNS server pods, KEY=VALUE, or KEY for any value (repeatable)"},
	{"dns-server-name-prefix", "", remediate.DefaultDNSServerPods.NamePrefixes, "how a DNS server pod's name starts, for pods whose labels are not known (offline) (repeatable)"},
	{"corefile", "", []string(nil), "a Corefile to check and fix (repeatable; default /etc/coredns/Corefile when present)"},
	{"runtime-endpoint", "", "", "the container runtime's CRI socket, under --root (default: kubelet's containerRuntimeEndpoint); asked online only"},
	{"no-recreate-pods", "", false, "do not recreate the DNS-server pods that hold an old copy of the pod file"},
	{"offline", "", false, "read files only: no D-Bus, no interfaces, no DNS queries, no restarts"},
	{"no-restart", "", false, "do not restart or reload services"},
	{"no-verify", "", false, "do not check again after apply"},
	{"keep-runs", "", remediate.DefaultKeepRuns, "how many runs the journal keeps; a successful apply removes older ones"},
	{"log-format", "", "text", "log format on stderr: text or json"},
	{"verbose", "v", false, "debug logs on stderr"},
	{"quiet", "q", false, "print nothing but errors (beats --verbose); the exit status still tells"},
}

// Flags are one command's settings: only the flags it takes, so its help
// lists them alone, and only their UNLOOP_* variables and file keys are read.
type Flags struct {
	cmd   *cobra.Command
	names []string
}

// Add gives cmd the flags of the named settings, with completion of their
// values.
func Add(cmd *cobra.Command, names ...string) *Flags {
	f := cmd.Flags()
	for _, n := range names {
		st := settingNamed(n)
		usage := st.usage
		if n == "output" {
			usage = "output format: " + orList(outputsFor(cmd.Name()))
		}
		fl := f.VarPF(newFlagValue(st), n, st.short, usage)
		if st.kind() == kindBool {
			fl.NoOptDefVal = "true"
		}
		var values []string
		switch n {
		case "output":
			values = outputsFor(cmd.Name())
		case "strategy":
			values = append([]string{"auto"}, remediate.StrategyNames()...)
		case "log-format":
			values = []string{"text", "json"}
		case "dns-server-namespace", "dns-server-label", "dns-server-name-prefix":
			values = st.defaults()
		}
		if values != nil {
			_ = cmd.RegisterFlagCompletionFunc(n, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return values, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	return &Flags{cmd: cmd, names: names}
}

func settingNamed(name string) setting {
	for _, s := range settings {
		if s.name == name {
			return s
		}
	}
	panic("no setting " + name)
}

func orList(s []string) string {
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// Config is the typed result of flags, UNLOOP_* env, config file and
// defaults; a setting the command does not take keeps its zero value.
type Config struct {
	Root      string
	Output    string
	LogFormat string
	Verbose   bool
	Quiet     bool
	Opts      remediate.Options
	// Warnings are said on stderr once the logger exists, and Sources
	// (with --verbose) where each setting came from.
	Warnings []string
	Sources  []Source
}

// Source says where a setting's value came from: flag, env, file or default.
type Source struct {
	Name, From string
	Value      any
}

// outputsFor are the outputs cmd prints: check also speaks the monitoring
// formats; a plan or a run as metrics or an NPD verdict would be a quiet
// wrong answer.
func outputsFor(cmd string) []string {
	if cmd == "check" {
		return []string{"text", "json", "prometheus", "npd"}
	}
	return []string{"text", "json"}
}

// Load resolves the command's settings with precedence flag > env > file >
// default. Env variables and file keys of settings the command does not take
// are not read.
func (cf *Flags) Load() (*Config, error) {
	flags := cf.cmd.Flags()
	file, err := cf.readConfigFile()
	if err != nil {
		return nil, err
	}
	vals := map[string]given{}
	for _, n := range cf.names {
		if vals[n], err = resolve(settingNamed(n), flags, file); err != nil {
			return nil, err
		}
	}
	c := &Config{
		Root:      vals["root"].text(),
		Output:    vals["output"].text(),
		LogFormat: vals["log-format"].text(),
		Verbose:   vals["verbose"].flag(),
		Quiet:     vals["quiet"].flag(),
	}
	for _, n := range cf.names {
		c.Sources = append(c.Sources, Source{Name: n, From: vals[n].from, Value: vals[n].String()})
	}
	if lf := vals["log-format"]; lf.from != "" && !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		return nil, lf.bad(c.LogFormat, "want text or json")
	}
	cmd := cf.cmd.Name()
	out := vals["output"]
	if !slices.Contains(outputsFor("check"), c.Output) {
		return nil, out.bad(c.Output, "want text or json (check also takes prometheus and npd)")
	}
	if !slices.Contains(outputsFor(cmd), c.Output) {
		// Asked for on this command line (flag or environment): refuse. Set
		// in the config file, it is there for check (a metrics timer) and
		// must not stop the boot unit's apply: text, said on stderr.
		if out.from != "file" {
			return nil, fmt.Errorf("%s %q is for check only: %s takes text or json", out.items[0].where, c.Output, cmd)
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s %q is for check only: %s prints text", out.items[0].where, c.Output, cmd))
		c.Output = "text"
	}
	if err := c.loadOptions(vals); err != nil {
		return nil, err
	}
	if file != nil {
		c.Opts.Ignore = file.ignore
	}
	return c, nil
}

// loadOptions fills the options remediate takes; a setting the command does
// not take is missing from vals and reads as its zero value.
func (c *Config) loadOptions(vals map[string]given) error {
	o := &c.Opts
	o.Offline = vals["offline"].flag()
	o.NoRestart = vals["no-restart"].flag()
	o.NoVerify = vals["no-verify"].flag()
	o.NoRecreatePods = vals["no-recreate-pods"].flag()
	if ep := vals["runtime-endpoint"]; ep.text() != "" {
		if _, err := cri.SocketPath(ep.text()); err != nil {
			return ep.bad(ep.text(), "want a unix socket: unix:///run/containerd/containerd.sock or /run/containerd/containerd.sock")
		}
		o.RuntimeEndpoint = ep.text()
	}
	for _, it := range vals["corefile"].items {
		o.Corefiles = append(o.Corefiles, it.text)
	}
	var err error
	if o.KeepRuns, err = keepRuns(vals["keep-runs"]); err != nil {
		return err
	}
	if o.Strategies, err = strategies(vals["strategy"].items); err != nil {
		return err
	}
	for _, k := range []struct {
		key string
		dst *[]netip.Addr
	}{{"upstream", &o.Upstreams}, {"node-local-dns", &o.NodeLocalDNS}, {"local-ip", &o.LocalIPs}, {"dns-upstreams", &o.DNSUpstreams}} {
		for _, it := range vals[k.key].items {
			a, err := netip.ParseAddr(it.text)
			if err != nil {
				return it.bad("not an IP address")
			}
			if k.key == "upstream" || k.key == "dns-upstreams" {
				if why := remediate.NotAnUpstream(a); why != "" {
					return it.bad(why)
				}
			}
			*k.dst = append(*k.dst, a)
		}
	}
	if o.NodeLocalDNS == nil {
		o.NodeLocalDNS = []netip.Addr{}
	}
	return dnsServerPods(vals, &o.DNSServerPods)
}

// defaultLabels are the dns-server-label setting's default, as written.
func defaultLabels() []string {
	var out []string
	for _, l := range remediate.DefaultDNSServerPods.Labels {
		out = append(out, l.String())
	}
	return out
}

// dnsServerPods reads the dns-server-* settings. A setting the command takes
// is never nil (`[]` in the file matches no pod); one it does not take is,
// and remediate uses its default.
func dnsServerPods(vals map[string]given, d *remediate.DNSServerPods) error {
	check := func(key string, dst *[]string, why func(string) string) error {
		g, ok := vals[key]
		if !ok || g.from == "" {
			return nil
		}
		*dst = []string{}
		for _, it := range g.items {
			if w := why(it.text); w != "" {
				return it.bad(w)
			}
			*dst = append(*dst, it.text)
		}
		return nil
	}
	if err := check("dns-server-namespace", &d.Namespaces, remediate.CheckNamespace); err != nil {
		return err
	}
	if err := check("dns-server-name-prefix", &d.NamePrefixes, remediate.CheckNamePrefix); err != nil {
		return err
	}
	if g, ok := vals["dns-server-label"]; ok && g.from != "" {
		d.Labels = []remediate.Label{}
		for _, it := range g.items {
			l, err := remediate.ParseLabel(it.text)
			if err != nil {
				return it.bad(err.Error())
			}
			d.Labels = append(d.Labels, l)
		}
	}
	return nil
}

// keepRuns reads keep-runs, a whole number (parsed as one wherever it was
// written), which must be at least 1: the run just applied is kept, or
// rollback could not undo it. 0 when the command does not take it.
func keepRuns(g given) (int, error) {
	if len(g.items) == 0 {
		return 0, nil
	}
	n, _ := strconv.Atoi(g.text())
	if n < 1 {
		return 0, g.bad(g.text(), "want at least 1 run")
	}
	return n, nil
}

func strategies(in []item) ([]string, error) {
	if len(in) == 0 || (len(in) == 1 && in[0].text == "auto") {
		return nil, nil
	}
	var out []string
	for _, it := range in {
		if !slices.Contains(remediate.StrategyNames(), it.text) {
			return nil, it.bad("want auto or a list of " + strings.Join(remediate.StrategyNames(), ","))
		}
		if !slices.Contains(out, it.text) {
			out = append(out, it.text)
		}
	}
	return out, nil
}

// envName is a setting's environment variable: UNLOOP_NODE_LOCAL_DNS.
func envName(setting string) string {
	return "UNLOOP_" + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}
