package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/document"
)

// numbers are the fields whose number is no count: a position, an ID or
// the format's version. Any other number must be named *_count (DESIGN.md
// §4, version 2).
var numbers = []string{"version", "line", "loop", "pid"}

// TestDocumentShape: the JSON of every command, on every node the vectors
// hold, keeps version 2's rules: "version" 2, no list null, every count
// named *_count, and no "from", "lines" of strings, or prose "skipped".
func TestDocumentShape(t *testing.T) {
	trees, err := filepath.Glob(filepath.Join("..", "..", "..", "remediate", "testdata", "nodes", "*.txtar"))
	if err != nil || len(trees) == 0 {
		t.Fatalf("no nodes: %v", err)
	}
	for _, tree := range trees {
		t.Run(strings.TrimSuffix(filepath.Base(tree), ".txtar"), func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, tree)
			root := t.TempDir()
			if err := os.CopyFS(root, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			// apply before rollback and runs, so that they have a run to show.
			for _, cmd := range [][]string{{"check"}, {"plan"}, {"apply", "--strategy", "kubelet,stub,networkd,dhclient,corefile"}, {"runs"}, {"rollback"}} {
				out, stderr, _ := run(t, root, append(cmd, "--output", "json")...)
				if out == "" {
					continue // rollback with no run: an error on stderr, nothing to shape
				}
				var doc map[string]any
				if err := json.Unmarshal([]byte(out), &doc); err != nil {
					t.Fatalf("%s: %v\n%s%s", cmd[0], err, out, stderr)
				}
				if v := doc["version"]; v != float64(document.Version) || document.Version != 2 {
					t.Errorf("%s: version %v, want 2", cmd[0], v)
				}
				for _, bad := range shapeErrors(cmd[0], doc) {
					t.Error(bad)
				}
			}
		})
	}
}

// shapeErrors walks v and says each place that breaks version 2's rules.
func shapeErrors(at string, v any) []string {
	var out []string
	switch v := v.(type) {
	case nil:
		out = append(out, at+": null (a list is [], an absent object is left out)")
	case map[string]any:
		for k, e := range v {
			field := at + "." + k
			if _, ok := e.(float64); ok && !strings.HasSuffix(k, "_count") && !slices.Contains(numbers, k) {
				out = append(out, fmt.Sprintf("%s: a number named without _count", field))
			}
			if s, ok := e.(string); ok && k == "skipped" {
				out = append(out, fmt.Sprintf("%s: prose %q where version 2 has {reason, message}", field, s))
			}
			if k == "from" {
				out = append(out, field+": version 1's prose place; version 2 has file, line and message")
			}
			out = append(out, shapeErrors(field, e)...)
		}
	case []any:
		for i, e := range v {
			field := fmt.Sprintf("%s[%d]", at, i)
			if s, ok := e.(string); ok && (strings.HasSuffix(at, ".lines") || strings.HasSuffix(at, ".source") || strings.HasSuffix(at, ".read_by")) {
				out = append(out, fmt.Sprintf("%s: prose %q where version 2 has file, line, text and message", field, s))
			}
			out = append(out, shapeErrors(field, e)...)
		}
	}
	return out
}
