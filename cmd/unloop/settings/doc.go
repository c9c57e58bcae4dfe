package settings

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
