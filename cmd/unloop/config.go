package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/remediate"
)

const defaultConfigFile = "/etc/unloop/unloop.yaml"

// A setting is a flag that is also UNLOOP_<NAME> in the environment and a key
// of the config file. Each command takes some of them; the file is shared by
// every command, so a key is refused only when no command takes it.
type setting struct {
	name, short string
	def         any // string, []string, bool or int
	usage       string
}

var settings = []setting{
	{"root", "", "/", "the node's filesystem tree to read and edit"},
	{"config", "", defaultConfigFile, "unloop's config file (read as given, not under --root)"},
	{"output", "o", "text", ""}, // usage: by command, in addSettings
	{"strategy", "", []string{"auto"}, "auto, or a comma list of kubelet,stub,dhclient,corefile in order of preference"},
	{"upstream", "", []string(nil), "an upstream DNS server to use instead of discovering them (repeatable)"},
	{"node-local-dns", "", []string{"169.254.25.10", "169.254.20.10"}, "a node-local-dns address (repeatable)"},
	{"local-ip", "", []string(nil), "an address of this node beyond those its interfaces show (repeatable)"},
	{"corefile", "", []string(nil), "a Corefile to check and fix (repeatable; default /etc/coredns/Corefile when present)"},
	{"offline", "", false, "read files only: no D-Bus, no interfaces, no DNS queries, no restarts"},
	{"no-restart", "", false, "do not restart or reload services"},
	{"no-verify", "", false, "do not check again after apply"},
	{"keep-runs", "", remediate.DefaultKeepRuns, "how many runs the journal keeps; a successful apply removes older ones"},
	{"log-format", "", "text", "log format on stderr: text or json"},
	{"verbose", "v", false, "debug logs on stderr"},
	{"quiet", "q", false, "print nothing but errors (beats --verbose); the exit status still tells"},
}

// The settings each command takes.
var (
	logSettings   = []string{"log-format", "verbose", "quiet"}
	checkSettings = append([]string{"root", "config", "output", "node-local-dns", "local-ip", "corefile", "offline"}, logSettings...)
	// plan takes apply's settings: one list of arguments serves both (the
	// Ansible role's unloop_args), and the plan is what apply would do.
	applySettings    = append([]string{"root", "config", "output", "strategy", "upstream", "node-local-dns", "local-ip", "corefile", "offline", "no-restart", "no-verify", "keep-runs"}, logSettings...)
	planSettings     = applySettings
	rollbackSettings = append([]string{"root", "config", "output", "offline", "no-restart"}, logSettings...)
	runsSettings     = append([]string{"root", "config", "output"}, logSettings...)
)

// cmdFlags are one command's settings: only the flags it takes, so its help
// lists them alone, and only their UNLOOP_* variables and file keys are read.
type cmdFlags struct {
	cmd   *cobra.Command
	names []string
}

// addSettings gives cmd the flags of the named settings, with completion of
// their values.
func addSettings(cmd *cobra.Command, names ...string) *cmdFlags {
	f := cmd.Flags()
	for _, n := range names {
		st := settingNamed(n)
		usage := st.usage
		if n == "output" {
			usage = "output format: " + orList(outputsFor(cmd.Name()))
		}
		switch d := st.def.(type) {
		case string:
			f.StringP(n, st.short, d, usage)
		case []string:
			f.StringSliceP(n, st.short, d, usage)
		case bool:
			f.BoolP(n, st.short, d, usage)
		case int:
			f.IntP(n, st.short, d, usage)
		}
		var values []string
		switch n {
		case "output":
			values = outputsFor(cmd.Name())
		case "strategy":
			values = append([]string{"auto"}, remediate.AllStrategies...)
		case "log-format":
			values = []string{"text", "json"}
		}
		if values != nil {
			_ = cmd.RegisterFlagCompletionFunc(n, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
				return values, cobra.ShellCompDirectiveNoFileComp
			})
		}
	}
	return &cmdFlags{cmd: cmd, names: names}
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

// config is the typed result of flags, UNLOOP_* env, config file and
// defaults; a setting the command does not take keeps its zero value.
type config struct {
	Root      string
	Output    string
	LogFormat string
	Verbose   bool
	Quiet     bool
	Opts      remediate.Options
	// Warnings are said on stderr once the logger exists, and Sources
	// (with --verbose) where each setting came from.
	Warnings []string
	Sources  []source
}

// source says where a setting's value came from: flag, env, file or default.
type source struct {
	name, from string
	value      any
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

// load resolves the command's settings with precedence flag > env > file >
// default. Env variables and file keys of settings the command does not take
// are not read.
func (cf *cmdFlags) load() (*config, error) {
	flags := cf.cmd.Flags()
	// Only the command's own settings enter v: any other key reads as unset.
	v := viper.New()
	for _, n := range cf.names {
		if err := v.BindPFlag(n, flags.Lookup(n)); err != nil {
			return nil, err
		}
		if err := v.BindEnv(n, envName(n)); err != nil {
			return nil, err
		}
	}
	if err := readConfigFile(v, flags, cf.takes); err != nil {
		return nil, err
	}
	cmd := cf.cmd.Name()
	c := &config{
		Root:      v.GetString("root"),
		Output:    v.GetString("output"),
		LogFormat: v.GetString("log-format"),
		Verbose:   v.GetBool("verbose"),
		Quiet:     v.GetBool("quiet"),
	}
	for _, n := range cf.names {
		c.Sources = append(c.Sources, source{name: n, from: sourceOf(v, flags, n), value: v.Get(n)})
	}
	if !slices.Contains(outputsFor("check"), c.Output) {
		return nil, fmt.Errorf("output %q: want text or json (check also takes prometheus and npd)", c.Output)
	}
	if !slices.Contains(outputsFor(cmd), c.Output) {
		// Asked for on this command line (flag or environment): refuse. Set
		// in the config file, it is there for check (a metrics timer) and
		// must not stop the boot unit's apply: text, said on stderr.
		if flags.Changed("output") || os.Getenv("UNLOOP_OUTPUT") != "" {
			return nil, fmt.Errorf("output %q is for check only: %s takes text or json", c.Output, cmd)
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("output %q in %s is for check only: %s prints text", c.Output, v.GetString("config"), cmd))
		c.Output = "text"
	}
	if err := c.loadOptions(v); err != nil {
		return nil, err
	}
	return c, nil
}

func (cf *cmdFlags) takes(name string) bool { return slices.Contains(cf.names, name) }

// readConfigFile reads --config into v: a missing default file is fine, a
// missing file that was named is not, a key no command takes is refused, and
// keys of settings this command does not take are left out.
func readConfigFile(v *viper.Viper, flags *pflag.FlagSet, takes func(string) bool) error {
	file := v.GetString("config")
	explicit := flags.Changed("config")
	if _, ok := os.LookupEnv(envName("config")); ok {
		explicit = true
	}
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
		return nil
	case err != nil:
		return fmt.Errorf("reading config: %w", err)
	}
	doc, err := configKeys(file, data)
	if err != nil {
		return err
	}
	ignore, err := parseIgnore(file, data) // a file-only key, read as loadOptions needs it
	if err != nil {
		return err
	}
	v.Set("ignore", ignore)
	mine := map[string]any{}
	for k, val := range doc {
		if takes(k) {
			mine[k] = val
		}
	}
	return v.MergeConfigMap(mine)
}

// envName is a setting's environment variable: UNLOOP_NODE_LOCAL_DNS.
func envName(setting string) string {
	return "UNLOOP_" + strings.ToUpper(strings.ReplaceAll(setting, "-", "_"))
}

func sourceOf(v *viper.Viper, flags *pflag.FlagSet, name string) string {
	switch {
	case flags.Changed(name):
		return "flag"
	case os.Getenv(envName(name)) != "":
		return "env"
	case v.InConfig(name):
		return "file"
	}
	return "default"
}

// loadOptions fills the options remediate takes from v.
func (c *config) loadOptions(v *viper.Viper) error {
	// v holds no other setting: each of the others reads as its zero value.
	o := &c.Opts
	o.Offline = v.GetBool("offline")
	o.NoRestart = v.GetBool("no-restart")
	o.NoVerify = v.GetBool("no-verify")
	o.Ignore, _ = v.Get("ignore").([]remediate.Ignore)
	o.Corefiles = list(v, "corefile")
	var err error
	if o.KeepRuns, err = keepRuns(v); err != nil {
		return err
	}
	if o.Strategies, err = strategies(list(v, "strategy")); err != nil {
		return err
	}
	for _, k := range []struct {
		key string
		dst *[]netip.Addr
	}{{"upstream", &o.Upstreams}, {"node-local-dns", &o.NodeLocalDNS}, {"local-ip", &o.LocalIPs}} {
		for _, s := range list(v, k.key) {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return fmt.Errorf("%s %q: not an IP address", k.key, s)
			}
			*k.dst = append(*k.dst, a)
		}
	}
	if o.NodeLocalDNS == nil {
		o.NodeLocalDNS = []netip.Addr{}
	}
	return nil
}

// keepRuns reads keep-runs: a whole number of at least 1 (the run just
// applied is kept, or rollback could not undo it).
func keepRuns(v *viper.Viper) (int, error) {
	if !v.IsSet("keep-runs") {
		return 0, nil // not a setting of this command
	}
	s := strings.TrimSpace(v.GetString("keep-runs"))
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("keep-runs %q: want a whole number of runs, at least 1", s)
	}
	return n, nil
}

// list reads a list setting: a YAML list, or (from the environment) a string
// of comma- or space-separated items.
func list(v *viper.Viper, key string) []string {
	var out []string
	for _, s := range v.GetStringSlice(key) {
		for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
			out = append(out, f)
		}
	}
	return out
}

func strategies(in []string) ([]string, error) {
	if len(in) == 0 || (len(in) == 1 && in[0] == "auto") {
		return nil, nil
	}
	var out []string
	for _, s := range in {
		if !slices.Contains(remediate.AllStrategies, s) {
			return nil, fmt.Errorf("strategy %q: want auto or a list of %s", s, strings.Join(remediate.AllStrategies, ","))
		}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

// configKeys parses the config file and refuses keys no command takes: a
// misspelled key would otherwise be ignored silently (the very bug unloop
// finds in kubelet configs).
func configKeys(file string, data []byte) (map[string]any, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	out := map[string]any{}
	if len(doc.Content) == 0 {
		return out, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want a mapping of settings", file, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, val := m.Content[i], m.Content[i+1]
		if k.Value == "config" || k.Value != "ignore" && !slices.ContainsFunc(settings, func(s setting) bool { return s.name == k.Value }) {
			return nil, fmt.Errorf("config %s:%d: unknown key %q", file, k.Line, k.Value)
		}
		var x any
		if err := val.Decode(&x); err != nil {
			return nil, fmt.Errorf("config %s:%d: %s: %w", file, val.Line, k.Value, err)
		}
		out[k.Value] = x
	}
	return out, nil
}
