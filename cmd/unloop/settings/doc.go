package settings

import (
	"fmt"
	"slices"
	"strings"
)

// A Doc is one setting as the man pages list it: cmd/unloop-man writes their
// ENVIRONMENT and FILES sections from Docs.
type Doc struct {
	Flag  string // "" for a key only the config file has
	Env   string // its UNLOOP_* variable; "" for a file-only key
	Key   string // its key in the config file; "" when the file can't set it
	Usage string
}

// ConfigFile is where unloop reads its settings unless --config or
// UNLOOP_CONFIG names another file.
const ConfigFile = defaultConfigFile

// Docs are every setting, in the order of the settings table, then the
// config file's own key.
func Docs() []Doc {
	var out []Doc
	for _, s := range settings {
		d := Doc{Flag: s.name, Env: envName(s.name), Key: s.name, Usage: s.usage}
		if s.name == "config" {
			d.Key = "" // the file does not name itself
		}
		out = append(out, d)
	}
	return append(out, Doc{Key: "ignore", Usage: "finding codes not to report: each a code, or {code: CODE, file: PATH} for one file"})
}

// Help is the end of a command's --help: where each of its flags can also be
// set (its UNLOOP_* variable and config file key) and in which order the
// sources win, from the same table as the flags.
func Help(names []string) string {
	names = slices.Sorted(slices.Values(names))
	var b strings.Builder
	b.WriteString("\nSettings: each flag below is also a variable and a key of the config file (" + ConfigFile + ",\n" +
		"or the file --config or UNLOOP_CONFIG names). A flag beats its variable, which beats the file,\n" +
		"which beats the default; an empty variable counts as unset. Other flags are flags only.\n")
	row := func(flag, env, key string) { fmt.Fprintf(&b, "  %-26s %-30s %s\n", flag, env, key) }
	row("FLAG", "VARIABLE", "CONFIG KEY")
	for _, n := range names {
		key := n
		if n == "config" {
			key = "-"
		}
		row("--"+n, envName(n), key)
	}
	if slices.Contains(names, "config") {
		row("-", "-", "ignore: finding codes not to report")
	}
	return b.String()
}
