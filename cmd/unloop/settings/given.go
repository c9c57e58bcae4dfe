package settings

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/remediate"
)

// The kinds of value a setting takes. Each is parsed the same way from a
// flag, the environment and the file, so a value means one thing wherever it
// is written.
type kind int

const (
	kindText kind = iota // one non-empty string
	kindList             // non-empty strings; written as one, a comma list
	kindBool             // strconv.ParseBool's spellings, and no others
	kindInt              // a whole number in decimal, as strconv.Atoi reads it
)

func (s setting) kind() kind {
	switch s.def.(type) {
	case []string:
		return kindList
	case bool:
		return kindBool
	case int:
		return kindInt
	}
	return kindText
}

// boolSpellings are strconv.ParseBool's: YAML 1.1's yes, no, on and off are
// not among them (yaml.v3 reads them as strings), and are refused rather
// than read as false.
const boolSpellings = "1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False"

var (
	errEmpty     = errors.New("empty value")
	errEmptyItem = errors.New("empty item")
)

// parse reads one value as written on the command line, in the environment
// or as a scalar in the file.
func (s setting) parse(v string) ([]string, error) {
	if v == "" {
		return nil, errEmpty
	}
	switch s.kind() {
	case kindBool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("not a boolean: want %s", boolSpellings)
		}
		return []string{strconv.FormatBool(b)}, nil
	case kindInt:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errors.New("not a whole number")
		}
		return []string{strconv.Itoa(n)}, nil
	case kindList:
		var out []string
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				return nil, errEmptyItem
			}
			out = append(out, f)
		}
		return out, nil
	}
	return []string{v}, nil
}

// defaults are the setting's default, as parsed items.
func (s setting) defaults() []string {
	switch d := s.def.(type) {
	case string:
		return []string{d}
	case bool:
		return []string{strconv.FormatBool(d)}
	case int:
		return []string{strconv.Itoa(d)}
	case []string:
		return slices.Clone(d)
	}
	return nil
}

// item is one value of a setting and where it was written, to name it in an
// error: "--upstream", "UNLOOP_UPSTREAM", "config /etc/unloop/unloop.yaml:3: upstream".
type item struct {
	text, where string
}

// bad is the error about it: `UNLOOP_UPSTREAM "x": not an IP address`.
func (it item) bad(why string) error {
	return fmt.Errorf("%s %q: %s", it.where, it.text, why)
}

// given is a setting's value: its items and where they came from (flag, env,
// file or default).
type given struct {
	from  string
	items []item
}

func (g given) text() string {
	if len(g.items) == 0 {
		return ""
	}
	return g.items[0].text
}

func (g given) flag() bool { return g.text() == "true" }

func (g given) bad(v, why string) error {
	where := "--"
	if len(g.items) > 0 {
		where = g.items[0].where
	}
	return item{text: v, where: where}.bad(why)
}

// String is the value for the debug log.
func (g given) String() string {
	var s []string
	for _, it := range g.items {
		s = append(s, it.text)
	}
	return strings.Join(s, ",")
}

// resolve finds st's value: flag > env > file > default. Every source is
// checked, also one that another overrides: a bad value is an error wherever
// it is written. An empty variable counts as unset (systemd EnvironmentFiles
// often carry KEY=); an empty flag or file value is refused.
func resolve(st setting, flags *pflag.FlagSet, file *configFile) (given, error) {
	at := func(from, where string, texts []string) given {
		g := given{from: from}
		for _, t := range texts {
			g.items = append(g.items, item{text: t, where: where})
		}
		return g
	}
	fromFile, inFile, err := file.lookup(st)
	if err != nil {
		return given{}, err
	}
	var fromEnv *given
	if v := os.Getenv(envName(st.name)); v != "" {
		texts, err := st.parse(v)
		if err != nil {
			return given{}, badValue(envName(st.name), v, err)
		}
		g := at("env", envName(st.name), texts)
		fromEnv = &g
	}
	switch fl := flags.Lookup(st.name); {
	case fl != nil && fl.Changed:
		return at("flag", "--"+st.name, fl.Value.(*flagValue).items), nil
	case fromEnv != nil:
		return *fromEnv, nil
	case inFile:
		return fromFile, nil
	}
	return at("default", st.name, st.defaults()), nil
}

// badValue says what is wrong with v as written at where, without quoting
// an empty value: `UNLOOP_OFFLINE "yes": not a boolean: want ...`.
func badValue(where, v string, err error) error {
	if v == "" {
		return fmt.Errorf("%s: %w", where, err)
	}
	return fmt.Errorf("%s %q: %w", where, v, err)
}

// flagValue is a setting's flag. The value is parsed as it is set, so a bad
// one is refused by the flag parser, which names the flag. Its Type is that
// of pflag's own flags, so the help reads the same.
type flagValue struct {
	st    setting
	items []string
	set   bool
}

func newFlagValue(st setting) *flagValue { return &flagValue{st: st, items: st.defaults()} }

func (f *flagValue) Set(v string) error {
	items, err := f.st.parse(v)
	if err != nil {
		return err
	}
	if f.st.kind() == kindList && f.set {
		items = append(f.items, items...) // repeatable
	}
	f.items, f.set = items, true
	return nil
}

func (f *flagValue) String() string {
	if f.st.kind() == kindList && len(f.items) > 0 {
		return "[" + strings.Join(f.items, ",") + "]"
	}
	return strings.Join(f.items, "") // "" for an empty list: no default shown
}

func (f *flagValue) Type() string {
	switch f.st.kind() {
	case kindList:
		return "strings"
	case kindBool:
		return "bool"
	case kindInt:
		return "int"
	}
	return "string"
}

// configFile is unloop's config file, parsed: each key's YAML node, for the
// lines of its errors.
type configFile struct {
	name   string
	keys   map[string]*yaml.Node
	values map[string]*yaml.Node
	ignore []remediate.Ignore // the file-only key, read by every command
}

// readConfigFile reads --config: a missing default file is fine, a missing
// file that was named is not, and a key no command takes is refused.
func (cf *Flags) readConfigFile() (*configFile, error) {
	g, err := resolve(settingNamed("config"), cf.cmd.Flags(), nil)
	if err != nil {
		return nil, err
	}
	name := g.text()
	data, err := readLimited(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && g.from == "default":
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	c, err := parseConfig(name, data)
	if err != nil {
		return nil, err
	}
	if c.ignore, err = parseIgnore(name, data); err != nil {
		return nil, err
	}
	return c, nil
}

// readLimited reads a regular file of at most maxConfigSize bytes; /dev/null
// reads as empty. It opens without blocking, so a FIFO is refused rather
// than waited on.
func readLimited(name string) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the caller names the file
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
			return nil, nil // the usual way to say: no config
		}
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("larger than %d KiB", maxConfigSize>>10)
	}
	return data, nil
}

// parseConfig parses the config file and refuses keys no command takes: a
// misspelled key would otherwise be ignored silently (the very bug unloop
// finds in kubelet configs). Values are checked when a command reads them.
func parseConfig(name string, data []byte) (*configFile, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	c := &configFile{name: name, keys: map[string]*yaml.Node{}, values: map[string]*yaml.Node{}}
	if len(doc.Content) == 0 {
		return c, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want a mapping of settings", name, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Value == "config" || k.Value != "ignore" && !slices.ContainsFunc(settings, func(s setting) bool { return s.name == k.Value }) {
			return nil, fmt.Errorf("config %s:%d: unknown key %q", name, k.Line, k.Value)
		}
		if _, dup := c.keys[k.Value]; dup {
			return nil, fmt.Errorf("config %s:%d: %s set twice", name, k.Line, k.Value)
		}
		c.keys[k.Value], c.values[k.Value] = k, v
	}
	return c, nil
}

// lookup reads st from the file: a scalar of its kind, or for a list also a
// YAML list of scalars. Nothing is coerced: a mapping, a list where one value
// is wanted, or an empty value is refused with the file and line.
func (c *configFile) lookup(st setting) (given, bool, error) {
	if c == nil || c.values[st.name] == nil {
		return given{}, false, nil
	}
	k, v := c.keys[st.name], deref(c.values[st.name])
	where := func(line int) string { return fmt.Sprintf("config %s:%d: %s", c.name, line, st.name) }
	g := given{from: "file"}
	switch {
	case v.Kind == yaml.ScalarNode:
		if v.Tag == "!!null" {
			return given{}, true, badValue(where(k.Line), "", errEmpty)
		}
		texts, err := st.parse(v.Value)
		if err != nil {
			return given{}, true, badValue(where(k.Line), v.Value, err)
		}
		for _, t := range texts {
			g.items = append(g.items, item{text: t, where: where(k.Line)})
		}
		return g, true, nil
	case st.kind() != kindList:
		return given{}, true, fmt.Errorf("%s: want %s, not %s", where(k.Line), singular(st), nodeKind(v))
	case v.Kind != yaml.SequenceNode:
		return given{}, true, fmt.Errorf("%s: want a list of %s, not %s", where(k.Line), listOf(st), nodeKind(v))
	}
	for _, e := range v.Content {
		e = deref(e)
		switch {
		case e.Kind != yaml.ScalarNode:
			return given{}, true, fmt.Errorf("%s: want a list of %s, not %s in it", where(e.Line), listOf(st), nodeKind(e))
		case e.Tag == "!!null" || e.Value == "":
			return given{}, true, badValue(where(e.Line), "", errEmptyItem)
		}
		g.items = append(g.items, item{text: e.Value, where: where(e.Line)})
	}
	return g, true, nil
}

// deref follows a YAML alias to what it names.
func deref(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a " + strings.TrimPrefix(n.Tag, "!!")
}

func singular(st setting) string {
	switch st.kind() {
	case kindBool:
		return "true or false"
	case kindInt:
		return "a whole number"
	}
	return "a single value"
}

func listOf(st setting) string {
	switch st.name {
	case "strategy":
		return "strategies"
	case "corefile":
		return "paths"
	case "dns-server-namespace":
		return "namespaces"
	case "dns-server-label":
		return "labels"
	case "dns-server-name-prefix":
		return "name prefixes"
	}
	return "addresses"
}
