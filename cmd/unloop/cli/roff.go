package cli

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
//
// Every string that comes from a command (help, flags, examples, the
// version) is escaped on its way out, so no text can become a roff request
// or escape sequence.

// writeManTree writes a page for root and every visible command under it into
// dir: unloop.1, unloop-check.1, unloop-completion-bash.1, ...
func writeManTree(root *cobra.Command, dir string, date time.Time) error {
	var err error
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if err != nil || !c.IsAvailableCommand() && c != root {
			return
		}
		// cobra adds --help when a command runs; the page is made without
		// running it (as `unloop apply --help` shows it: with [flags]).
		c.InitDefaultHelpFlag()
		name := manName(c) + ".1"
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

// manName is a command's page name: "unloop-completion-bash".
func manName(c *cobra.Command) string { return strings.ReplaceAll(c.CommandPath(), " ", "-") }

// manPage is the roff of one command's page.
func manPage(c *cobra.Command, date time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s \"1\" %s %s \"unloop manual\"\n",
		roffArg(strings.ToUpper(manName(c))), roffArg(date.Format("Jan 2006")), roffArg("unloop "+version))
	// Paths and flags must not be hyphenated or spread out.
	b.WriteString(".nh\n.ad l\n")
	fmt.Fprintf(&b, ".SH NAME\n%s \\- %s\n", roffText(manName(c)), roffText(oneLine(c.Short)))
	fmt.Fprintf(&b, ".SH SYNOPSIS\n.B %s\n", roffArg(c.UseLine()))
	b.WriteString(".SH DESCRIPTION\n")
	desc := c.Long
	if desc == "" {
		desc = c.Short
	}
	roffBody(&b, desc)
	if f := c.NonInheritedFlags(); f.HasAvailableFlags() {
		b.WriteString(".SH OPTIONS\n")
		roffFlags(&b, f)
	}
	if f := c.InheritedFlags(); f.HasAvailableFlags() {
		b.WriteString(".SH OPTIONS INHERITED FROM PARENT COMMANDS\n")
		roffFlags(&b, f)
	}
	manSections(&b, c)
	if c.Example != "" {
		b.WriteString(".SH EXAMPLE\n")
		roffVerbatim(&b, strings.Split(strings.TrimRight(c.Example, "\n"), "\n"))
	}
	var see []string
	if p := c.Parent(); p != nil {
		see = append(see, manName(p))
	}
	for _, sub := range c.Commands() {
		if sub.IsAvailableCommand() {
			see = append(see, manName(sub))
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
		tag := `\fB` + roffText("--"+f.Name) + `\fR`
		if f.Shorthand != "" && f.ShorthandDeprecated == "" {
			tag = `\fB` + roffText("-"+f.Shorthand) + `\fR, ` + tag
		}
		varname, usage := pflag.UnquoteUsage(f)
		if varname != "" {
			tag += ` \fI` + roffText(varname) + `\fR`
		}
		text := roffLines(usage)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "[]" && f.DefValue != "0" {
			// A list's default may break after each comma (\:): a long one
			// is wider than the page.
			text += " (default " + strings.ReplaceAll(roffText(f.DefValue), ",", `,\:`) + ")"
		}
		fmt.Fprintf(b, ".TP\n%s\n%s\n", tag, text)
	})
}

// roffBody writes help text: its lines filled into paragraphs (they are
// broken for a terminal; man fills to the reader's width), a blank line
// starting a new one, indented lines (commands to copy) kept as they are,
// and Markdown headings ("#### Linux:", as cobra's completion help has them)
// as subsections.
func roffBody(b *strings.Builder, text string) {
	lines := strings.Split(strings.TrimSpace(text), "\n")
	b.WriteString(".PP\n")
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch {
		case strings.TrimSpace(l) == "":
			b.WriteString(".PP\n")
		case strings.HasPrefix(l, "\t") || strings.HasPrefix(l, "  "):
			j := i
			for j < len(lines) && (strings.HasPrefix(lines[j], "\t") || strings.HasPrefix(lines[j], "  ")) {
				j++
			}
			roffVerbatim(b, lines[i:j])
			i = j - 1
		case strings.HasPrefix(l, "#"):
			fmt.Fprintf(b, ".SS %s\n", roffArg(strings.TrimLeft(l, "# ")))
		default:
			b.WriteString(roffLines(l) + "\n")
		}
	}
}

// roffVerbatim writes lines unfilled and indented, as a terminal shows them.
func roffVerbatim(b *strings.Builder, lines []string) {
	b.WriteString(".PP\n.RS\n.nf\n")
	for _, l := range lines {
		b.WriteString(roffLines(strings.TrimLeft(l, "\t")) + "\n")
	}
	b.WriteString(".fi\n.RE\n")
}

// roffLines is text as roff text lines: escaped, and each line guarded so
// one that starts with a control character ('.' or a single quote) is not
// taken for a request.
func roffLines(s string) string {
	lines := strings.Split(roffText(s), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			lines[i] = `\&` + l
		}
	}
	return strings.Join(lines, "\n")
}

// roffArg is s as one quoted argument of a macro (.TH, .B, .SS): on one line,
// escaped, its double quotes as roff's \(dq (a '"' would end the argument).
func roffArg(s string) string {
	return `"` + strings.ReplaceAll(roffText(oneLine(s)), `"`, `\(dq`) + `"`
}

// oneLine joins s's lines and runs of spaces into one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// roffText escapes text for roff: a backslash (roff's escape character), a
// hyphen (a plain '-' may be set as a hyphen; options must copy and paste as
// '-'), and any character beyond ASCII as a named Unicode character (groff
// reads its input as Latin-1 unless told otherwise). Control characters other
// than line feeds and tabs become spaces.
func roffText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		case r > 0x7f:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
