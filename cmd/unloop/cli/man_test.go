package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestManPages: one page per visible command, generated from the commands
// (so a new command or flag shows up without editing a page), dated by the
// build, valid roff as groff reads it (no warning), and the hidden generator
// itself is not documented.
func TestManPages(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not found (Debian's groff-base): run `make deps`")
	}
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	var out, errb bytes.Buffer
	if code := Run(context.Background(), []string{"man", dir}, Streams{Out: &out, Err: &errb}); code != 0 {
		t.Fatalf("unloop man: exit %d: %s", code, errb.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "unloop.1")); err != nil || !bytes.HasPrefix(b, []byte(`.TH "UNLOOP" "1" "Nov 2023"`)) {
		t.Errorf("unloop.1 does not start with its title and the build's date: %q %v", b[:min(len(b), 60)], err)
	}
	// What a reader sees: the page as man shows it (groff, plain text).
	render := func(page string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-cbou", filepath.Join(dir, page))
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Errorf("groff %s: %v: %s", page, err, stderr.String())
		}
		return stdout.String()
	}
	for _, c := range []struct{ page, want string }{
		{"unloop.1", "unloop apply"},
		{"unloop.1", "SEE ALSO"},
		{"unloop-check.1", "unloop check --output json"},
		{"unloop-check.1", "Exit status: 0 no errors"},
		// The codes, from the registry.
		{"unloop-check.1", "FINDING CODES"},
		{"unloop-check.1", "nameserver-limit\n              warning: more than 3 nameservers"},
		{"unloop-apply.1", "--strategy strings"},
		// The strategies, from the table plan and apply use.
		{"unloop-apply.1", "STRATEGIES"},
		{"unloop-plan.1", "corefile\n              rewrite a Corefile's looping forward targets"},
		{"unloop-plan.1", "--detailed-exitcode"},
		{"unloop-rollback.1", "--run string"},
		{"unloop-completion-bash.1", "bash"},
		{"unloop-apply.1", "unloop apply [flags]"},
		{"unloop-apply.1", "--help"},
		// cobra's completion help: its commands kept on one line each, its
		// Markdown headings as headings.
		{"unloop-completion-bash.1", "unloop completion bash > $(brew --prefix)/etc/bash_completion.d/unloop"},
		{"unloop-completion-bash.1", "\n   Linux:\n"},
	} {
		if _, err := os.Stat(filepath.Join(dir, c.page)); err != nil {
			t.Errorf("no page %s: %v", c.page, err)
			continue
		}
		if got := render(c.page); !strings.Contains(got, c.want) {
			t.Errorf("%s lacks %q:\n%s", c.page, c.want, got)
		}
	}
	pages, _ := filepath.Glob(filepath.Join(dir, "*.1"))
	for _, p := range pages {
		render(filepath.Base(p))
	}
	if _, err := os.Stat(filepath.Join(dir, "unloop-man.1")); err == nil {
		t.Error("the hidden man generator has a page of its own")
	}
}

// TestManPageEscapes: whatever a command's help holds — text that looks like
// roff (a line starting with '.' or a single quote, a backslash, a double
// quote in a macro argument), line feeds where one line is expected,
// characters beyond ASCII — reaches the reader as written, and groff has
// nothing to warn about.
func TestManPageEscapes(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not found (Debian's groff-base): run `make deps`")
	}
	for _, tc := range []struct {
		name    string
		version string
		cmd     func() *cobra.Command
		want    []string
	}{
		{"requests in the help", "", func() *cobra.Command {
			return &cobra.Command{Use: "x", Short: "a -short- line", Long: ".TH not a title\n'also text\na \\fB back\\slash\n\n--flag-like"}
		}, []string{".TH not a title", "'also text", `a \fB back\slash`, "--flag-like", "a -short- line"}},
		{"a line feed in Short", "", func() *cobra.Command {
			return &cobra.Command{Use: "x", Short: "multi\n.line short", Run: func(*cobra.Command, []string) {}}
		}, []string{"x - multi .line short"}},
		{"a flag's usage and value name", "", func() *cobra.Command {
			c := &cobra.Command{Use: "x", Run: func(*cobra.Command, []string) {}}
			c.Flags().String("with-dash", "a-b", "a value\n.SH not a section")
			c.Flags().String("file", "", "the `fi\\le` name")
			return c
		}, []string{"--with-dash string", "(default a-b)", ".SH not a section", `--file fi\le`, `the fi\le name`}},
		{"quotes and backslashes in the version and use line", `v1"2\3`, func() *cobra.Command {
			return &cobra.Command{Use: `x "ARG"`, Run: func(*cobra.Command, []string) {}}
		}, []string{`unloop v1"2\3`, `x "ARG"`}},
		{"beyond ASCII", "", func() *cobra.Command {
			return &cobra.Command{Use: "x", Short: "naïve → ok", Long: "überall — 🙂"}
		}, []string{"naïve → ok", "überall — 🙂"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.version != "" {
				old := version
				version = tc.version
				t.Cleanup(func() { version = old })
			}
			page := filepath.Join(t.TempDir(), "x.1")
			if err := os.WriteFile(page, []byte(manPage(tc.cmd(), time.Unix(0, 0))), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-P-cbou", page)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil || stderr.Len() > 0 {
				t.Errorf("groff: %v: %s", err, stderr.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("the page lacks %q:\n%s", want, stdout.String())
				}
			}
		})
	}
}
