package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// The man pages are written here as roff, straight from the commands: cobra's
// doc package goes through Markdown (go-md2man, blackfriday), whose package
// initialisation every run of unloop paid for at start-up (~0.7 ms of a 4 ms
// check) to serve a build step.

// writeManTree writes a page for root and every visible command under it into
// dir: unloop.1, unloop-check.1, unloop-completion-bash.1, ...
func writeManTree(root *cobra.Command, dir string, date time.Time) error {
	var err error
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if err != nil || !c.IsAvailableCommand() && c != root {
			return
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		if werr := os.WriteFile(filepath.Join(dir, name), []byte(manPage(c, date)), 0o644); werr != nil {
			err = werr
			return
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return err
}

// manPage is the roff of one command's page.
func manPage(c *cobra.Command, date time.Time) string {
	var b strings.Builder
	path := c.CommandPath()
	fmt.Fprintf(&b, ".TH %q \"1\" %q %q \"unloop manual\"\n", strings.ToUpper(strings.ReplaceAll(path, " ", "-")), date.Format("Jan 2006"), "unloop "+version)
	// Paths and flags must not be hyphenated or spread out.
	b.WriteString(".nh\n.ad l\n")
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roffText(strings.ReplaceAll(path, " ", "-")), roffText(c.Short))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", roffText(c.UseLine()))
	b.WriteString(".SH DESCRIPTION\n")
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	roffParagraphs(&b, desc)
	if f := c.NonInheritedFlags(); f.HasAvailableFlags() {
		b.WriteString(".SH OPTIONS\n")
		roffFlags(&b, f)
	}
	if f := c.InheritedFlags(); f.HasAvailableFlags() {
		b.WriteString(".SH OPTIONS INHERITED FROM PARENT COMMANDS\n")
		roffFlags(&b, f)
	}
	if c.Example != "" {
		b.WriteString(".SH EXAMPLE\n.PP\n.nf\n.RS\n")
		for _, l := range strings.Split(strings.TrimRight(c.Example, "\n"), "\n") {
			b.WriteString(roffLine(l) + "\n")
		}
		b.WriteString(".RE\n.fi\n")
	}
	var see []string
	if p := c.Parent(); p != nil {
		see = append(see, strings.ReplaceAll(p.CommandPath(), " ", "-"))
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			see = append(see, strings.ReplaceAll(sub.CommandPath(), " ", "-"))
		}
	}
	if len(see) > 0 {
		b.WriteString(".SH SEE ALSO\n")
		for i, s := range see {
			sep := ","
			if i == len(see)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, ".BR %s (1)%s\n", roffText(s), sep)
		}
	}
	return b.String()
}

// roffFlags lists flags as tagged paragraphs: the flag, its value's name and
// default, then its usage.
func roffFlags(b *strings.Builder, fs *pflag.FlagSet) {
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		tag := "\\fB--" + f.Name + "\\fR"
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			tag = "\\fB-" + f.Shorthand + "\\fR, " + tag
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" {
			tag += " \\fI" + varname + "\\fR"
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", roffEscape(tag, false), roffLine(usage))
	})
}

// roffParagraphs writes text as filled paragraphs: the help's lines are
// broken for a terminal of 100 columns, man fills to the reader's; a blank
// line starts a new paragraph.
func roffParagraphs(b *strings.Builder, text string) {
	b.WriteString(".PP\n")
	for _, l := range strings.Split(strings.TrimSpace(text), "\n") {
		if strings.TrimSpace(l) == "" {
			b.WriteString(".PP\n")
			continue
		}
		b.WriteString(roffLine(l) + "\n")
	}
}

// roffLine is text as roff text lines: escaped, and each line guarded so
// one starting with '.' or '\” is not taken for a request.
func roffLine(s string) string {
	lines := strings.Split(roffText(s), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = "\\&" + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffText escapes text: backslashes and hyphens (a plain '-' may be set as
// a hyphen, and options must copy and paste as '-').
func roffText(s string) string { return roffEscape(s, true) }

func roffEscape(s string, backslashes bool) string {
	if backslashes {
		s = strings.ReplaceAll(s, `\`, `\e`)
	}
	return strings.ReplaceAll(s, "-", `\-`)
}
