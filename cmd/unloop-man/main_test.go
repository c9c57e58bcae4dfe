package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestManPages: one page per visible command, generated from the commands
// (so a new command or flag shows up without editing a page), dated by
// SOURCE_DATE_EPOCH (the same date, the same bytes), valid roff as groff reads
// it (no warning), with unloop's sections (codes, strategies, exit status,
// environment, files), and no page for a hidden command.
func TestManPages(t *testing.T) {
	groff, err := exec.LookPath("groff")
	if err != nil {
		t.Fatal("groff not found (Debian's groff-base): run `make deps`")
	}
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1700000000")
	if err := run([]string{dir}); err != nil {
		t.Fatalf("unloop-man: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "unloop.1")); err != nil || !bytes.Contains(b, []byte("\n"+`.TH "UNLOOP" "1" "Nov 2023" "unloop dev" "unloop manual"`+"\n")) {
		t.Errorf("unloop.1 lacks its title and the date of SOURCE_DATE_EPOCH: %q %v", b[:min(len(b), 80)], err)
	}
	again := t.TempDir()
	if err := run([]string{again}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"unloop.1", "unloop-check.1", "unloop-apply.1"} {
		a, _ := os.ReadFile(filepath.Join(dir, p))
		b, _ := os.ReadFile(filepath.Join(again, p))
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs with one date", p)
		}
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
		{"unloop-apply.1", "--strategy=[auto]"},
		// The strategies, from the table plan and apply use.
		{"unloop-apply.1", "STRATEGIES"},
		{"unloop-plan.1", "corefile\n              rewrite a Corefile's looping forward targets"},
		{"unloop-plan.1", "--detailed-exitcode"},
		{"unloop-rollback.1", `--run=""`},
		{"unloop-completion-bash.1", "bash"},
		{"unloop-apply.1", "unloop apply [flags]"},
		{"unloop-apply.1", "--help"},
		// cobra's completion help: its commands kept on one line each, its
		// Markdown headings as headings.
		{"unloop-completion-bash.1", "unloop completion bash > $(brew --prefix)/etc/bash_completion.d/unloop"},
		{"unloop-completion-bash.1", "\n   Linux:\n"},
		// The sections cobra/doc does not write, from the exit codes the
		// commands return and the settings table.
		{"unloop-check.1", "EXIT STATUS\n       0      no errors (warnings allowed)\n"},
		{"unloop-check.1", "\n       2      errors found\n"},
		{"unloop-plan.1", "2      with --detailed-exitcode: changes to make"},
		{"unloop-apply.1", "3      fixed, but some DNS pods still hold the old file"},
		{"unloop-apply.1", "4      fixed in the files, not yet in effect"},
		{"unloop-apply.1", "5      the loops unloop owns fixed"},
		{"unloop-rollback.1", "EXIT STATUS\n       0      rolled back"},
		{"unloop-runs.1", "1      the journal can't be read"},
		{"unloop-version.1", "EXIT STATUS\n       0      success"},
		{"unloop-check.1", "ENVIRONMENT"},
		{"unloop-check.1", "UNLOOP_NODE_LOCAL_DNS\n              as --node-local-dns; in the config file, node-local-dns\n"},
		// Issue 25, item 8: the precedence, and the sections a reader
		// looks for.
		{"unloop-plan.1", "beats its variable, which beats the"},
		{"unloop-plan.1", "\nEXAMPLES\n         unloop plan\n"},
		{"unloop-plan.1", "\nEXIT STATUS\n"},
		{"unloop-plan.1", "\nFILES\n"},
		{"unloop-watch.1", "UNLOOP_STRATEGY\n              as --strategy; in the config file, strategy\n"},
		{"unloop-check.1", "NO_COLOR\n"},
		{"unloop-check.1", "FILES\n       /etc/unloop/unloop.yaml"},
		{"unloop-apply.1", "/var/lib/unloop/runs"},
		{"unloop.1", "UNLOOP_STRATEGY"},
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
	for _, p := range []string{"unloop-help.1", "unloop-man.1", "unloop-completion-help.1"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err == nil {
			t.Errorf("%s: a page for a command --help does not list", p)
		}
	}
	for _, c := range []struct{ page, notWant string }{
		{"unloop-runs.1", "STRATEGIES"},
		{"unloop-plan.1", "FINDING CODES"},
		{"unloop-runs.1", "UNLOOP_STRATEGY"},
		{"unloop-version.1", "ENVIRONMENT"},
		// Issue 25, item 7: --apply takes no argument.
		{"unloop-watch.1", "unloop apply (under"},
		{"unloop-watch.1", "\nEXAMPLE\n"},
	} {
		if got := render(c.page); strings.Contains(got, c.notWant) {
			t.Errorf("%s has %q", c.page, c.notWant)
		}
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
		}, []string{`--with-dash="a-b"`, "a value .SH not a section", `--file=""`, `the fi\le name`}},
		{"quotes and backslashes in the use line", "", func() *cobra.Command {
			return &cobra.Command{Use: `x "ARG" \back`, Short: `say "hi"`, Run: func(*cobra.Command, []string) {}}
		}, []string{`x "ARG" \back [flags]`, `x - say "hi"`}},
		{"beyond ASCII", "", func() *cobra.Command {
			return &cobra.Command{Use: "x", Short: "naïve → ok", Long: "überall — 🙂"}
		}, []string{"naïve → ok", "überall — 🙂"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			version := "dev"
			if tc.version != "" {
				version = tc.version
			}
			dir := t.TempDir()
			if err := writePages(tc.cmd(), dir, time.Unix(0, 0).UTC(), version); err != nil {
				t.Fatal(err)
			}
			page := filepath.Join(dir, "x.1")
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

// TestVersionRefused: a version that .TH's quoted arguments can't hold as it
// is (cobra/doc escapes nothing there) is refused, not written garbled.
func TestVersionRefused(t *testing.T) {
	for _, v := range []string{`v1"2`, `v1\2`, "v1 2", ""} {
		if err := run([]string{"-version", v, t.TempDir()}); err == nil {
			t.Errorf("-version %q accepted", v)
		}
	}
	if err := run([]string{"-version", "v1.2.3-4-gabcdef0-dirty", "-date", "2026-12-07", t.TempDir()}); err != nil {
		t.Errorf("a git describe version: %v", err)
	}
}

// TestNotInTheBinary: cobra/doc and the Markdown renderer it goes through are
// this generator's alone; unloop itself does not link them.
func TestNotInTheBinary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/unloop/unloop/cmd/unloop").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "md2man") || strings.Contains(pkg, "blackfriday") || pkg == "github.com/spf13/cobra/doc" {
			t.Errorf("unloop links %s", pkg)
		}
	}
}
