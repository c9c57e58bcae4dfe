// Package settings is unloop's typed settings (DESIGN.md §4): each a flag,
// an UNLOOP_<NAME> variable and a key of the config file, with precedence
// flag > env > file > default, and one strict syntax wherever written. The
// commands say which settings they take (Add); Load checks every source,
// layers them with viper and gives the typed result.
package settings

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/unloop/unloop/remediate/dnspods"

	"github.com/unloop/unloop/remediate/node"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

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
	{"strategy", "", []string{"auto"}, "auto, or a comma list of " + strings.Join(remediate.StrategyNames(), ", ") + " in order of preference"},
	{"upstream", "", []string(nil), "an upstream DNS server to use instead of discovering them (repeatable)"},
	{"node-local-dns", "", []string{"169.254.25.10", "169.254.20.10"}, "a node-local-dns address (repeatable)"},
	{"local-ip", "", []string(nil), "an address of this node beyond those its interfaces show (repeatable)"},
	{"dns-upstreams", "", []string(nil), "an address the site's DNS servers forward to instead of the pod file (repeatable; e.g. Kubespray's upstream_dns_servers)"},
	{"dns-server-namespace", "", dnspods.Default.Namespaces, "a namespace of the cluster's DNS server pods (repeatable): only their files and the node's own are read"},
	{"dns-server-label", "", defaultLabels(), "a label of DNS server pods, KEY=VALUE, or KEY for any value (repeatable)"},
	{"dns-server-name-prefix", "", dnspods.Default.NamePrefixes, "how a DNS server pod's name starts, for pods whose labels are not known (offline) (repeatable)"},
	{"corefile", "", []string(nil), "a Corefile to check and fix (repeatable; default /etc/coredns/Corefile when present)"},
	{"runtime-endpoint", "", "", "the container runtime's CRI socket, under --root (default: kubelet's containerRuntimeEndpoint); asked online only"},
	{"kubeconfig", "", "", "Kubernetes credentials to read and fix the DNS ConfigMaps through the API (default: $KUBECONFIG, else /etc/kubernetes/admin.conf or /etc/rancher/k3s/k3s.yaml under --root, else the pod's service account); not with --offline"},
	{"no-recreate-pods", "", false, "do not recreate the DNS-server pods that hold an old copy of the pod file"},
	{"offline", "", false, "read files only: no D-Bus, no processes, no interfaces, no DNS queries, no restarts"},
	{"no-restart", "", false, "do not restart or reload services"},
	{"no-verify", "", false, "do not check again after apply"},
	{"keep-runs", "", node.DefaultKeepRuns, "how many runs the journal keeps; a successful apply removes older ones"},
	{"log-format", "", "text", "log format on stderr: text or json"},
	{"verbose", "v", false, "debug logs on stderr: each setting, input read and decision"},
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
		fl := f.VarPF(&flagValue{def: st.def, val: st.def}, n, st.short, usage)
		if _, ok := st.def.(bool); ok {
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
			values = st.def.([]string)
		}
		if values != nil {
			_ = cmd.RegisterFlagCompletionFunc(n, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return values, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	// --help ends with where else each flag can be set (cobra's usage
	// template is text/template: the table holds no "{{").
	cmd.SetUsageTemplate(cmd.UsageTemplate() + Help(names))
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
	Root   string
	Output string
	// Kubeconfig is --kubeconfig: a path on this machine, not under Root.
	Kubeconfig string
	LogFormat  string
	Verbose    bool
	Quiet      bool
	Opts       node.Options
	// Warnings are said on stderr once the logger exists, and Sources
	// (with --verbose) where each setting came from.
	Warnings []string
	Sources  []Source
}

// Source says where a setting's value came from: flag, env, file or default.
type Source struct {
	Name, From string
	Value      any
	// Where names it as written, for env and file: "UNLOOP_STRATEGY",
	// "config /etc/unloop/unloop.yaml:3".
	Where string
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

// values are the settings as viper decodes them: one field per setting, by
// its key.
type values struct {
	Root                string   `mapstructure:"root"`
	Config              string   `mapstructure:"config"`
	Output              string   `mapstructure:"output"`
	Strategy            []string `mapstructure:"strategy"`
	Upstream            []string `mapstructure:"upstream"`
	NodeLocalDNS        []string `mapstructure:"node-local-dns"`
	LocalIP             []string `mapstructure:"local-ip"`
	DNSUpstreams        []string `mapstructure:"dns-upstreams"`
	DNSServerNamespace  []string `mapstructure:"dns-server-namespace"`
	DNSServerLabel      []string `mapstructure:"dns-server-label"`
	DNSServerNamePrefix []string `mapstructure:"dns-server-name-prefix"`
	Corefile            []string `mapstructure:"corefile"`
	RuntimeEndpoint     string   `mapstructure:"runtime-endpoint"`
	Kubeconfig          string   `mapstructure:"kubeconfig"`
	NoRecreatePods      bool     `mapstructure:"no-recreate-pods"`
	Offline             bool     `mapstructure:"offline"`
	NoRestart           bool     `mapstructure:"no-restart"`
	NoVerify            bool     `mapstructure:"no-verify"`
	KeepRuns            int      `mapstructure:"keep-runs"`
	LogFormat           string   `mapstructure:"log-format"`
	Verbose             bool     `mapstructure:"verbose"`
	Quiet               bool     `mapstructure:"quiet"`
}

// Load resolves the command's settings through viper, with precedence flag >
// env > file > default (the flag's). Every source is checked first, also one
// that another overrides: a bad value is an error wherever it is written. An
// empty variable counts as unset (systemd EnvironmentFiles often carry KEY=;
// viper's AllowEmptyEnv is off); an empty flag or file value is refused. Env
// variables and file keys of settings the command does not take are not
// read.
func (cf *Flags) Load() (*Config, error) {
	flags := cf.cmd.Flags()
	v := viper.New()
	for _, n := range cf.names {
		if err := errors.Join(v.BindPFlag(n, flags.Lookup(n)), v.BindEnv(n, envName(n))); err != nil {
			return nil, err
		}
		if e := os.Getenv(envName(n)); e != "" {
			if _, err := parse(settingNamed(n).def, e); err != nil {
				return nil, badValue(envName(n), e, err)
			}
		}
	}
	o := origin{flags: flags}
	file, err := cf.readConfigFile(v.GetString("config"), o.from("config") != "default")
	if err != nil {
		return nil, err
	}
	o.file = file
	checked, err := yaml.Marshal(file.text)
	if err != nil {
		return nil, err
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(checked)); err != nil {
		return nil, err
	}
	var in values
	if err := v.UnmarshalExact(&in, func(dc *mapstructure.DecoderConfig) {
		dc.WeaklyTypedInput, dc.DecodeHook = false, mapstructure.DecodeHookFuncType(fromText)
	}); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	c := &Config{Root: in.Root, Output: in.Output, LogFormat: in.LogFormat, Verbose: in.Verbose, Quiet: in.Quiet, Kubeconfig: in.Kubeconfig}
	var byName map[string]any
	if err := mapstructure.Decode(in, &byName); err != nil {
		return nil, err
	}
	for _, n := range cf.names {
		val := fmt.Sprint(byName[n])
		if l, ok := byName[n].([]string); ok {
			val = strings.Join(l, ",")
		}
		c.Sources = append(c.Sources, Source{Name: n, From: o.from(n), Value: val, Where: strings.TrimSuffix(o.where(n, 0), ": "+n)})
	}
	if !slices.Contains([]string{"text", "json"}, c.LogFormat) {
		return nil, o.bad("log-format", 0, c.LogFormat, "want text or json")
	}
	cmd := cf.cmd.Name()
	if !slices.Contains(outputsFor("check"), c.Output) {
		return nil, o.bad("output", 0, c.Output, "want text or json (check also takes prometheus and npd)")
	}
	if !slices.Contains(outputsFor(cmd), c.Output) {
		// Asked for on this command line (flag or environment): refuse. Set
		// in the config file, it is there for check (a metrics timer) and
		// must not stop the boot unit's apply: text, said on stderr.
		if o.from("output") != "file" {
			return nil, fmt.Errorf("%s %q is for check only: %s takes text or json", o.where("output", 0), c.Output, cmd)
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("%s %q is for check only: %s prints text", o.where("output", 0), c.Output, cmd))
		c.Output = "text"
	}
	if err := cf.loadOptions(&c.Opts, in, o); err != nil {
		return nil, err
	}
	c.Opts.Ignore = file.ignore
	return c, nil
}

// loadOptions fills the options remediate takes; a setting the command does
// not take reads as its zero value.
func (cf *Flags) loadOptions(opts *node.Options, in values, o origin) error {
	opts.Offline, opts.NoRestart, opts.NoVerify, opts.NoRecreatePods = in.Offline, in.NoRestart, in.NoVerify, in.NoRecreatePods
	opts.Corefiles = in.Corefile
	if ep := in.RuntimeEndpoint; ep != "" {
		if _, err := cri.SocketPath(ep); err != nil {
			return o.bad("runtime-endpoint", 0, ep, "want a unix socket: unix:///run/containerd/containerd.sock or /run/containerd/containerd.sock")
		}
		opts.RuntimeEndpoint = ep
	}
	// keep-runs must be at least 1: the run just applied is kept, or
	// rollback could not undo it.
	if opts.KeepRuns = in.KeepRuns; slices.Contains(cf.names, "keep-runs") && in.KeepRuns < 1 {
		return o.bad("keep-runs", 0, strconv.Itoa(in.KeepRuns), "want at least 1 run")
	}
	if len(in.Strategy) > 1 || len(in.Strategy) == 1 && in.Strategy[0] != "auto" {
		for i, s := range in.Strategy {
			if s == "auto" {
				// auto is unloop's own order of every strategy: one more
				// strategy beside it would mean nothing.
				return o.bad("strategy", i, s, "auto stands alone: give auto, or a list of "+strings.Join(remediate.StrategyNames(), ",")+" without it")
			}
			if !slices.Contains(remediate.StrategyNames(), s) {
				return o.bad("strategy", i, s, "not a strategy: want auto, or a list of "+strings.Join(remediate.StrategyNames(), ","))
			}
			if !slices.Contains(opts.Strategies, s) {
				opts.Strategies = append(opts.Strategies, s)
			}
		}
	}
	for _, k := range []struct {
		key string
		src []string
		dst *[]netip.Addr
	}{{"upstream", in.Upstream, &opts.Upstreams}, {"node-local-dns", in.NodeLocalDNS, &opts.NodeLocalDNS}, {"local-ip", in.LocalIP, &opts.LocalIPs}, {"dns-upstreams", in.DNSUpstreams, &opts.DNSUpstreams}} {
		for i, s := range k.src {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return o.bad(k.key, i, s, "not an IP address")
			}
			if k.key == "upstream" || k.key == "dns-upstreams" {
				if why := node.NotAnUpstream(a); why != "" {
					return o.bad(k.key, i, s, why)
				}
			}
			*k.dst = append(*k.dst, a)
		}
	}
	if opts.NodeLocalDNS == nil {
		opts.NodeLocalDNS = []netip.Addr{}
	}
	return cf.dnsServerPods(&opts.DNSServerPods, in, o)
}

// defaultLabels are the dns-server-label setting's default, as written.
func defaultLabels() []string {
	var out []string
	for _, l := range dnspods.Default.Labels {
		out = append(out, l.String())
	}
	return out
}

// dnsServerPods reads the dns-server-* settings. A setting the command takes
// is never nil (`[]` in the file matches no pod); one it does not take is,
// and remediate uses its default.
func (cf *Flags) dnsServerPods(d *dnspods.Selector, in values, o origin) error {
	check := func(key string, src []string, dst *[]string, why func(string) string) error {
		if !slices.Contains(cf.names, key) {
			return nil
		}
		*dst = []string{}
		for i, s := range src {
			if w := why(s); w != "" {
				return o.bad(key, i, s, w)
			}
			*dst = append(*dst, s)
		}
		return nil
	}
	if err := check("dns-server-namespace", in.DNSServerNamespace, &d.Namespaces, dnspods.CheckNamespace); err != nil {
		return err
	}
	if err := check("dns-server-name-prefix", in.DNSServerNamePrefix, &d.NamePrefixes, dnspods.CheckNamePrefix); err != nil {
		return err
	}
	if !slices.Contains(cf.names, "dns-server-label") {
		return nil
	}
	d.Labels = []dnspods.Label{}
	for i, s := range in.DNSServerLabel {
		l, err := dnspods.ParseLabel(s)
		if err != nil {
			return o.bad("dns-server-label", i, s, err.Error())
		}
		d.Labels = append(d.Labels, l)
	}
	return nil
}

// envName is a setting's environment variable: UNLOOP_NODE_LOCAL_DNS.
func envName(setting string) string {
	return "UNLOOP_" + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}
