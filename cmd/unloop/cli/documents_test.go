package cli

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runID is a run's ID (time and random suffix): the one part of a document
// that differs from run to run.
var runID = regexp.MustCompile(`\d{8}T\d{6}Z-[0-9a-f]+`)

var configFlag = regexp.MustCompile(`--config /\S+`)

// TestDocuments holds what check, plan, apply and rollback print, as JSON
// and as text, for make demo's node (one dhclient.conf line, five findings):
// the JSON documents are a contract, the text is what people read.
func TestDocuments(t *testing.T) {
	dir, _ := hostcfgtest.Tree(t, filepath.Join("..", "..", "..", "remediate", "testdata", "nodes", "demo-dhclient-node-local-dns.txtar"))
	for _, output := range []string{"json", "text"} {
		root := t.TempDir()
		if err := os.CopyFS(root, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		for _, step := range []struct {
			cmd  string
			code int
		}{{"check", exitFindings}, {"plan", exitOK}, {"apply", exitOK}, {"rollback", exitOK}} {
			t.Run(step.cmd+"/"+output, func(t *testing.T) {
				out, stderr, code := run(t, root, step.cmd, "--output", output)
				if code != step.code {
					t.Fatalf("exit %d, want %d\n%s%s", code, step.code, out, stderr)
				}
				out = runID.ReplaceAllString(out, "RUN")
				// The suggested commands carry the run's temporary --root
				// and --config.
				out = strings.ReplaceAll(out, root, "ROOT")
				out = configFlag.ReplaceAllString(out, "--config CONFIG")
				golden(t, filepath.Join("testdata", step.cmd+"."+output+".golden"), out)
			})
		}
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after checking):\n%s", path, got)
	}
}
