package settings

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/unloop/unloop/remediate/node"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// boolSpellings are strconv.ParseBool's: YAML 1.1's yes, no, on and off are
// not among them (yaml.v3 reads them as strings), and are refused rather
// than read as false.
const boolSpellings = "1, t, T, TRUE, true, True, 0, f, F, FALSE, false or False"

var (
	errEmpty     = errors.New("empty value")
	errEmptyItem = errors.New("empty item")
)

// parse reads one value as written on the command line, in the environment
// or as a scalar in the file, as the kind of like (a setting's default): a
// bool in strconv.ParseBool's spellings, an int as strconv.Atoi reads it, a
// comma list of non-empty strings, or one non-empty string. It is the one
// syntax of every source: the checks before viper and viper's decoding both
// use it.
func parse(like any, v string) (any, error) {
	if v == "" {
		return nil, errEmpty
	}
	switch like.(type) {
	case bool:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return nil, fmt.Errorf("not a boolean: want %s", boolSpellings)
		}
		return b, nil
	case int:
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, errors.New("not a whole number")
		}
		return n, nil
	case []string:
		var out []string
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f == "" {
				return nil, errEmptyItem
			}
			out = append(out, f)
		}
		return out, nil
	}
	return v, nil
}

// fromText is viper's only decode hook: text (a variable, or a value of the
// checked file) becomes the field's kind by parse, and nothing else is
// converted. Every text was checked when it was read; "" is a default
// (runtime-endpoint's), never written.
func fromText(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || data == "" {
		return data, nil
	}
	return parse(reflect.Zero(to).Interface(), data.(string))
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
// of pflag's own flags, so the help reads the same and viper reads it as
// one of them.
type flagValue struct {
	def, val any
	set      bool
}

func (f *flagValue) Set(s string) error {
	v, err := parse(f.def, s)
	if err != nil {
		return err
	}
	if l, ok := v.([]string); ok && f.set {
		v = append(f.val.([]string), l...) // repeatable
	}
	f.val, f.set = v, true
	return nil
}

// String is a list as pflag writes its string slices, [a,b] in CSV, which is
// how viper reads them back; an empty list is "", so no default is shown.
func (f *flagValue) String() string {
	l, ok := f.val.([]string)
	if !ok {
		return fmt.Sprint(f.val)
	}
	if len(l) == 0 {
		return ""
	}
	var b strings.Builder
	w := csv.NewWriter(&b)
	_ = w.Write(l)
	w.Flush()
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}

func (f *flagValue) Type() string {
	switch f.def.(type) {
	case []string:
		return "stringSlice"
	case bool:
		return "bool"
	case int:
		return "int"
	}
	return "string"
}

// configFile is what the strict pass found in the config file: the
// command's settings as written (a string, or a list of strings), which
// viper is given, and where each was written, which viper does not keep.
type configFile struct {
	text   map[string]any
	where  map[string][]string // per item; one for a scalar
	ignore []node.Ignore
}

// readConfigFile reads the config file: a missing default file is fine, a
// missing file that was named is not.
func (cf *Flags) readConfigFile(name string, named bool) (*configFile, error) {
	data, err := readLimited(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !named:
		data = nil
	case err != nil:
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return cf.checkConfig(name, data)
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

// checkConfig is the strict pass over the file, before viper reads it:
// viper keeps no lines, lets a key be set twice, and would read keys of
// settings the command does not take. A key no command takes is refused (a
// misspelled key would otherwise be ignored silently, the very bug unloop
// finds in kubelet configs), and so is a value of the command's settings
// that is not of its kind: a scalar in parse's syntax, or for a list also a
// YAML list of scalars. Nothing is coerced: a mapping, a list where one
// value is wanted, or an empty value is refused with the file and line.
func (cf *Flags) checkConfig(name string, data []byte) (*configFile, error) {
	c := &configFile{text: map[string]any{}, where: map[string][]string{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return c, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config %s:%d: want a mapping of settings", name, m.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], deref(m.Content[i+1])
		switch {
		case k.Value == "config" || k.Value != "ignore" && !slices.ContainsFunc(settings, func(s setting) bool { return s.name == k.Value }):
			msg := fmt.Sprintf("config %s:%d: unknown key %q.", name, k.Line, k.Value)
			if n := Nearest(k.Value, Keys()); n != "" {
				msg = fmt.Sprintf("config %s:%d: unknown key %q: did you mean %q?", name, k.Line, k.Value, n)
			}
			return nil, fmt.Errorf("%s See '%s --help' for the keys.", msg, cf.cmd.CommandPath())
		case seen[k.Value]:
			return nil, fmt.Errorf("config %s:%d: %s set twice", name, k.Line, k.Value)
		}
		seen[k.Value] = true
		var err error
		switch {
		case k.Value == "ignore":
			c.ignore, err = parseIgnore(name, v)
		case slices.Contains(cf.names, k.Value):
			err = c.check(settingNamed(k.Value), func(line int) string { return fmt.Sprintf("config %s:%d: %s", name, line, k.Value) }, k, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return c, nil
}

// check takes the value v of st's key k into c.
func (c *configFile) check(st setting, where func(line int) string, k, v *yaml.Node) error {
	_, list := st.def.([]string)
	switch {
	case v.Kind == yaml.ScalarNode:
		if v.Tag == "!!null" {
			return badValue(where(k.Line), "", errEmpty)
		}
		if _, err := parse(st.def, v.Value); err != nil {
			return badValue(where(k.Line), v.Value, err)
		}
		c.text[st.name], c.where[st.name] = v.Value, []string{where(k.Line)}
		return nil
	case !list:
		return fmt.Errorf("%s: want %s, not %s", where(k.Line), singular(st), nodeKind(v))
	case v.Kind != yaml.SequenceNode:
		return fmt.Errorf("%s: want a list of %s, not %s", where(k.Line), listOf(st), nodeKind(v))
	}
	items, wheres := []string{}, []string{} // [] is a list: not the default
	for _, e := range v.Content {
		e = deref(e)
		switch {
		case e.Kind != yaml.ScalarNode:
			return fmt.Errorf("%s: want a list of %s, not %s in it", where(e.Line), listOf(st), nodeKind(e))
		case e.Tag == "!!null" || e.Value == "":
			return badValue(where(e.Line), "", errEmptyItem)
		}
		items, wheres = append(items, e.Value), append(wheres, where(e.Line))
	}
	if len(wheres) == 0 {
		wheres = []string{where(k.Line)} // [] is named by its key's line
	}
	c.text[st.name], c.where[st.name] = items, wheres
	return nil
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
	switch st.def.(type) {
	case bool:
		return "true or false"
	case int:
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

// origin says where a setting's value came from, which viper does not tell:
// for the -v log, and to name a bad value where it was written.
type origin struct {
	flags *pflag.FlagSet
	file  *configFile
}

// from follows viper's precedence: flag, env, file, default.
func (o origin) from(name string) string {
	switch {
	case o.flags.Changed(name):
		return "flag"
	case os.Getenv(envName(name)) != "":
		return "env"
	case o.file != nil && o.file.where[name] != nil:
		return "file"
	}
	return "default"
}

// where names the i-th item of name's value as it was written: "--upstream",
// "UNLOOP_UPSTREAM", "config /etc/unloop/unloop.yaml:3: upstream".
func (o origin) where(name string, i int) string {
	switch o.from(name) {
	case "flag":
		return "--" + name
	case "env":
		return envName(name)
	case "file":
		w := o.file.where[name]
		return w[min(i, len(w)-1)]
	}
	return name
}

// bad is the error about it: `UNLOOP_UPSTREAM "x": not an IP address`.
func (o origin) bad(name string, i int, v, why string) error {
	return fmt.Errorf("%s %q: %s", o.where(name, i), v, why)
}
