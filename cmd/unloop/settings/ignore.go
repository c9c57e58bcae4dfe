package settings

import (
	"fmt"
	"path"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"go.yaml.in/yaml/v3"
)

// parseIgnore reads the config file's `ignore` key: a list whose items are
// a finding code, or {code: CODE, file: /node/path} to ignore it in one file
// only. Anything else is an error naming the file and line: a misspelled
// code would otherwise hide nothing, silently.
func parseIgnore(file string, n *yaml.Node) ([]node.Ignore, error) {
	bad := func(n *yaml.Node, format string, args ...any) error {
		return fmt.Errorf("config %s:%d: ignore: %s", file, n.Line, fmt.Sprintf(format, args...))
	}
	if n.Kind != yaml.SequenceNode {
		return nil, bad(n, "want a list of finding codes or {code: CODE, file: PATH}")
	}
	var out []node.Ignore
	for _, item := range n.Content {
		var ig node.Ignore
		switch item.Kind {
		case yaml.ScalarNode:
			ig.Code = finding.Code(item.Value)
		case yaml.MappingNode:
			for i := 0; i+1 < len(item.Content); i += 2 {
				k, v := item.Content[i], item.Content[i+1]
				if v.Kind != yaml.ScalarNode {
					return nil, bad(v, "%s: want a string", k.Value)
				}
				switch k.Value {
				case "code":
					ig.Code = finding.Code(v.Value)
				case "file":
					if !path.IsAbs(v.Value) || path.Clean(v.Value) != v.Value {
						return nil, bad(v, "file %q: want a clean absolute path of the node", v.Value)
					}
					ig.File = v.Value
				default:
					return nil, bad(k, "unknown key %q (want code and file)", k.Value)
				}
			}
		default:
			return nil, bad(item, "want a finding code or {code: CODE, file: PATH}")
		}
		info, ok := ig.Code.Info()
		switch {
		case ig.Code == "":
			return nil, bad(item, "an item without a code")
		case !ok:
			return nil, bad(item, "unknown finding code %q", ig.Code)
		case ig.Code == finding.CodeUnreadable:
			// An answer about a file unloop could not read would be a guess.
			return nil, bad(item, "%s can't be ignored: fix or remove the file", info.Code)
		case ig.Code == finding.CodeNotANode:
			// An all-clear about a root that is no node is the harm it stops.
			return nil, bad(item, "%s can't be ignored: give the node's root (--root)", info.Code)
		}
		out = append(out, ig)
	}
	return out, nil
}
