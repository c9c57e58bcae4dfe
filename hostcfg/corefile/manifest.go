package corefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/hostcfg"
)

// Source says where a Corefile read from something else than a plain file
// came from: a ConfigMap's data in a manifest, or a pod's configmap volume.
// kubelet and the installers rewrite those, so unloop only reads them.
type Source struct {
	ConfigMap string // "namespace/name"; "" when not known (a pod volume)
	Key       string // the data key: "Corefile", "Corefile.base"
	Pod       string // the pod UID of a mounted Corefile
	PodName   string // its "namespace/name"
	Volume    string // its configmap volume's name in the pod's spec
	// API: read through the Kubernetes API, not from a copy on the node:
	// the ConfigMap itself, which the corefile strategy edits there.
	API bool
}

// IsManifest says whether data looks like a Kubernetes YAML manifest rather
// than a Corefile: a document with apiVersion and kind at its top level.
func IsManifest(data []byte) bool {
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "kind:") || strings.HasPrefix(line, "apiVersion:") {
			return true
		}
	}
	return false
}

// ParseManifest reads the Corefiles held in the ConfigMaps of a YAML manifest
// (one or more documents, each a ConfigMap or a List of objects): every data
// key named Corefile or Corefile.base. Lines are those of the YAML file, so a
// finding names the line to edit there. A manifest holding no Corefile is an
// error: it was given, or found, as one.
func ParseManifest(path string, data []byte) ([]*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Config
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, hostcfg.Errorf(path, yamlErrLine(err), "not a YAML manifest: %v", err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		cfs, err := objectCorefiles(path, doc.Content[0])
		if err != nil {
			return nil, err
		}
		out = append(out, cfs...)
	}
	if len(out) == 0 {
		return nil, hostcfg.Errorf(path, 0, "neither a Corefile nor a manifest whose ConfigMap data holds a Corefile")
	}
	return out, nil
}

func objectCorefiles(path string, obj *yaml.Node) ([]*Config, error) {
	if obj.Kind != yaml.MappingNode {
		return nil, nil
	}
	switch scalar(obj, "kind") {
	case "List":
		var out []*Config
		if items := field(obj, "items"); items != nil && items.Kind == yaml.SequenceNode {
			for _, it := range items.Content {
				cfs, err := objectCorefiles(path, it)
				if err != nil {
					return nil, err
				}
				out = append(out, cfs...)
			}
		}
		return out, nil
	case "ConfigMap":
	default:
		return nil, nil
	}
	name := scalar(field(obj, "metadata"), "name")
	if ns := scalar(field(obj, "metadata"), "namespace"); ns != "" {
		name = ns + "/" + name
	}
	d := field(obj, "data")
	if d == nil || d.Kind != yaml.MappingNode {
		return nil, nil
	}
	var out []*Config
	for i := 0; i+1 < len(d.Content); i += 2 {
		k, v := d.Content[i], d.Content[i+1]
		if k.Value != "Corefile" && k.Value != "Corefile.base" {
			continue
		}
		if v.Kind != yaml.ScalarNode {
			return nil, hostcfg.Errorf(path, v.Line, "ConfigMap %s: data.%s is not a string", name, k.Value)
		}
		// A block scalar's text starts on the line after its "|"; its lines
		// are the file's lines. A quoted or plain one may fold lines: its
		// findings name the key's line.
		shift, exact := v.Line-1, false
		if v.Style == yaml.LiteralStyle {
			shift, exact = v.Line, true
		}
		cf, err := Parse(path, []byte(v.Value))
		if err != nil {
			var fe *hostcfg.FileError
			if errors.As(err, &fe) && fe.Line > 0 {
				line := fe.Line + shift
				if !exact {
					line = v.Line
				}
				return nil, hostcfg.Errorf(path, line, "ConfigMap %s, data.%s: %v", name, k.Value, fe.Err)
			}
			return nil, fmt.Errorf("ConfigMap %s, data.%s: %w", name, k.Value, err)
		}
		cf.shiftLines(shift, exact, v.Line)
		cf.Source = &Source{ConfigMap: name, Key: k.Value}
		out = append(out, cf)
	}
	return out, nil
}

// shiftLines moves every line by shift (exact) or onto line at (not exact).
func (cf *Config) shiftLines(shift int, exact bool, at int) {
	mv := func(l int) int {
		if exact {
			return l + shift
		}
		return at
	}
	toks := func(ts []Token) {
		for i := range ts {
			ts[i].Line = mv(ts[i].Line)
		}
	}
	toks(cf.Imports)
	for i := range cf.Servers {
		sb := &cf.Servers[i]
		sb.Line = mv(sb.Line)
		toks(sb.Binds)
		toks(sb.Imports)
		for j := range sb.Forwards {
			sb.Forwards[j].Line = mv(sb.Forwards[j].Line)
			toks(sb.Forwards[j].To)
		}
	}
}

func field(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(m *yaml.Node, key string) string {
	if v := field(m, key); v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// yamlErrLine digs the line out of a yaml error ("yaml: line 3: ..."); 0 when none.
func yamlErrLine(err error) int {
	var n int
	if _, e := fmt.Sscanf(strings.TrimPrefix(err.Error(), "yaml: "), "line %d:", &n); e == nil {
		return n
	}
	return 0
}

// Check refuses what the caddy lexer reads as a Corefile but is not one: no
// server block, or a server address with characters no zone or address has
// (the first word of a line of prose, a key of a YAML file).
func (cf *Config) Check() error {
	if len(cf.Servers) == 0 && len(cf.Imports) == 0 {
		return hostcfg.Errorf(cf.Path, 0, "neither a Corefile nor a manifest whose ConfigMap data holds a Corefile: no server block")
	}
	for _, sb := range cf.Servers {
		for _, k := range sb.Keys {
			if strings.HasPrefix(k, "{$") || strings.HasPrefix(k, "{%") {
				continue // an environment placeholder
			}
			if k == "" || strings.ContainsFunc(k, func(r rune) bool {
				return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune(".-_:/[]*%", r))
			}) || !strings.ContainsAny(k, ".:/") {
				// A zone names its dots (".", "cluster.local", ".:53"); a bare
				// word is the start of prose.
				return hostcfg.Errorf(cf.Path, sb.Line, "neither a Corefile nor a manifest whose ConfigMap data holds a Corefile: %q is not a server address", k)
			}
		}
	}
	return nil
}
