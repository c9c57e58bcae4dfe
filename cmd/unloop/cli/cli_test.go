package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func runArgs(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, Streams{In: strings.NewReader(""), Out: &out, Err: &errb})
	return out.String(), errb.String(), code
}

// TestCLIConventions: --version says version, commit and build date; every
// command users see has examples; cobra's completion command is there for
// bash, zsh and fish and completes unloop's own values.
func TestCLIConventions(t *testing.T) {
	out, _, code := runArgs(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "unloop ") || !strings.Contains(out, "commit ") || !strings.Contains(out, "built ") {
		t.Errorf("--version: exit %d, %q", code, out)
	}
	if v, _, _ := runArgs(t, "version"); v != out {
		t.Errorf("unloop version %q and --version %q differ", v, out)
	}

	root := NewRootCommand(Streams{Out: &bytes.Buffer{}, Err: &bytes.Buffer{}})
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if !sub.IsAvailableCommand() || sub.Name() == "help" {
				continue
			}
			seen++
			if strings.TrimSpace(sub.Example) == "" {
				t.Errorf("%q has no examples", sub.CommandPath())
			}
			walk(sub)
		}
	}
	if strings.TrimSpace(root.Example) == "" {
		t.Error("unloop itself has no examples")
	}
	walk(root)
	if seen < 9 {
		t.Errorf("only %d commands seen", seen)
	}

	for _, sh := range []struct{ name, marker string }{
		{"bash", "__start_unloop"}, {"zsh", "#compdef unloop"}, {"fish", "complete -c unloop"},
	} {
		out, stderr, code := runArgs(t, "completion", sh.name)
		if code != 0 || !strings.Contains(out, sh.marker) {
			t.Errorf("completion %s: exit %d, %q missing (%s)", sh.name, code, sh.marker, stderr)
		}
	}
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"__complete", "ch"}, []string{"check"}},
		{[]string{"__complete", "check", "--output", ""}, []string{"text", "json", "prometheus", "npd"}},
		{[]string{"__complete", "apply", "--strategy", ""}, []string{"auto", "kubelet", "stub", "dhclient", "corefile"}},
		{[]string{"__complete", "check", "--text"}, []string{"--textfile"}},
	} {
		out, _, _ := runArgs(t, c.args...)
		for _, w := range c.want {
			if !strings.Contains(out, w+"\n") && !strings.Contains(out, w+"\t") {
				t.Errorf("%v: %q not offered:\n%s", c.args, w, out)
			}
		}
	}
	// Each command completes its own values: metrics are check's alone.
	for _, cmd := range []string{"plan", "apply", "rollback", "runs"} {
		out, _, _ := runArgs(t, "__complete", cmd, "-o", "")
		if !strings.HasPrefix(out, "text\njson\n:") {
			t.Errorf("%s -o offers %q, want text and json", cmd, out)
		}
	}
}
