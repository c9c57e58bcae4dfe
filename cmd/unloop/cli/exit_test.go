package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestExitCodesInHelp: every command with exit codes of its own says them in
// its help, from the table its man page's EXIT STATUS is written from.
func TestExitCodesInHelp(t *testing.T) {
	root := NewRootCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	for name := range exitCodes {
		c, _, err := root.Find([]string{name})
		if err != nil || c == root {
			t.Errorf("exit codes for %q, which is no command", name)
			continue
		}
		if !strings.Contains(c.Long, exitHelp(name)) {
			t.Errorf("%s's help lacks %q:\n%s", name, exitHelp(name), c.Long)
		}
	}
}
