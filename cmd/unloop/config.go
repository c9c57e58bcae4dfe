package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/remediate"
)

const defaultConfigFile = "/etc/unloop/unloop.yaml"

// globalFlags are the flags of DESIGN §4, shared by every command.
type globalFlags struct {
	flags *pflag.FlagSet
}

func (g *globalFlags) register(root *cobra.Command) {
	f := root.PersistentFlags()
	f.String("root", "/", "the node's filesystem tree to read and edit")
	f.String("config", defaultConfigFile, "unloop's config file (read as given, not under --root)")
	f.String("output", "text", "output format: text or json (check also prometheus or npd)")
	f.StringSlice("strategy", []string{"auto"}, "auto, or a comma list of kubelet,stub,dhclient,corefile in order of preference")
	f.StringSlice("upstream", nil, "an upstream DNS server to use instead of discovering them (repeatable)")
	f.StringSlice("node-local-dns", []string{"169.254.25.10", "169.254.20.10"}, "a node-local-dns address (repeatable)")
	f.StringSlice("local-ip", nil, "an address of this node beyond those its interfaces show (repeatable)")
	f.StringSlice("corefile", nil, "a Corefile to check and fix (repeatable; default /etc/coredns/Corefile when present)")
	f.Bool("offline", false, "read files only: no D-Bus, no interfaces, no DNS queries, no restarts")
	f.Bool("no-restart", false, "do not restart or reload services")
	f.Bool("no-verify", false, "do not check again after apply")
	f.String("log-format", "text", "log format on stderr: text or json")
	g.flags = f
}

// config is the typed result of flags, UNLOOP_* env, config file and defaults.
type config struct {
	Root      string
	Output    string
	LogFormat string
	Opts      remediate.Options
	// Warnings are said on stderr once the logger exists.
	Warnings []string
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

// load resolves every setting of command cmd with precedence flag > env >
// file > default.
func (g *globalFlags) load(cmd string) (*config, error) {
	v := viper.New()
	v.SetEnvPrefix("UNLOOP")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	if err := v.BindPFlags(g.flags); err != nil {
		return nil, err
	}
	known := map[string]bool{}
	g.flags.VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
	delete(known, "config")
	known["ignore"] = true // a file-only key: parseIgnore

	file := v.GetString("config")
	explicit := g.flags.Changed("config")
	if _, ok := os.LookupEnv("UNLOOP_CONFIG"); ok {
		explicit = true
	}
	data, err := os.ReadFile(file)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !explicit:
	case err != nil:
		return nil, fmt.Errorf("reading config: %w", err)
	default:
		if err := checkConfigKeys(file, data, known); err != nil {
			return nil, err
		}
		v.SetConfigType("yaml")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, fmt.Errorf("reading config %s: %w", file, err)
		}
	}

	c := &config{
		Root:      v.GetString("root"),
		Output:    v.GetString("output"),
		LogFormat: v.GetString("log-format"),
	}
	if !slices.Contains(outputsFor("check"), c.Output) {
		return nil, fmt.Errorf("output %q: want text or json (check also takes prometheus and npd)", c.Output)
	}
	if !slices.Contains(outputsFor(cmd), c.Output) {
		// Asked for on this command line (flag or environment): refuse. Set
		// in the config file, it is there for check (a metrics timer) and
		// must not stop the boot unit's apply: text, said on stderr.
		if g.flags.Changed("output") || os.Getenv("UNLOOP_OUTPUT") != "" {
			return nil, fmt.Errorf("output %q is for check only: %s takes text or json", c.Output, cmd)
		}
		c.Warnings = append(c.Warnings, fmt.Sprintf("output %q in %s is for check only: %s prints text", c.Output, file, cmd))
		c.Output = "text"
	}
	o := &c.Opts
	o.Offline = v.GetBool("offline")
	o.NoRestart = v.GetBool("no-restart")
	o.NoVerify = v.GetBool("no-verify")
	if o.Ignore, err = parseIgnore(file, data); err != nil {
		return nil, err
	}
	o.Corefiles = list(v, "corefile")
	if o.Strategies, err = strategies(list(v, "strategy")); err != nil {
		return nil, err
	}
	for _, k := range []struct {
		key string
		dst *[]netip.Addr
	}{{"upstream", &o.Upstreams}, {"node-local-dns", &o.NodeLocalDNS}, {"local-ip", &o.LocalIPs}} {
		for _, s := range list(v, k.key) {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%s %q: not an IP address", k.key, s)
			}
			*k.dst = append(*k.dst, a)
		}
	}
	if o.NodeLocalDNS == nil {
		o.NodeLocalDNS = []netip.Addr{}
	}
	return c, nil
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

// checkConfigKeys refuses keys unloop does not know: a misspelled key would
// otherwise be ignored silently (the very bug unloop finds in kubelet configs).
func checkConfigKeys(file string, data []byte, known map[string]bool) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: %w", file, err)
	}
	if len(doc.Content) == 0 {
		return nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s:%d: want a mapping of settings", file, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if !known[k.Value] {
			return fmt.Errorf("config %s:%d: unknown key %q", file, k.Line, k.Value)
		}
	}
	return nil
}
