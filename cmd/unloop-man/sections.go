package main

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/cli"
	"github.com/unloop/unloop/cmd/unloop/settings"
	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/journal"
)

// finish adds unloop's sections to the page cobra/doc wrote for c, before its
// EXAMPLE (else before SEE ALSO or HISTORY, else at the end), as cobra/doc writes its
// own: Markdown rendered by go-md2man. Then every character beyond ASCII
// becomes a groff named character, so the page reads the same whatever
// encoding the reader's man assumes (groff reads Latin-1 unless told).
func finish(page []byte, c *cobra.Command) []byte {
	// go-md2man makes a document's first heading its title (.TH): a title
	// goes first, and the sections start at the first .SH after it.
	extra := md2man.Render([]byte("# unloop\n\n" + sections(c)))
	extra = extra[bytes.Index(extra, []byte("\n.SH ")):]
	at := len(page)
	for _, sh := range []string{"\n.SH EXAMPLE\n", "\n.SH SEE ALSO\n", "\n.SH HISTORY\n"} {
		if i := bytes.Index(page, []byte(sh)); i >= 0 {
			at = i
			break
		}
	}
	out := slices.Concat(page[:at], extra, page[at:])
	// man-pages(7) names the section EXAMPLES; cobra/doc writes EXAMPLE.
	out = bytes.Replace(out, []byte("\n.SH EXAMPLE\n"), []byte("\n.SH EXAMPLES\n"), 1)
	// cobra/doc says .nh before .TH, which turns hyphenation back on: say it
	// after, so paths and flags are neither hyphenated nor spread out.
	if i := bytes.Index(out, []byte("\n.TH ")); i >= 0 {
		if j := bytes.IndexByte(out[i+1:], '\n'); j >= 0 {
			out = slices.Concat(out[:i+1+j+1], []byte(".nh\n.ad l\n"), out[i+1+j+1:])
		}
	}
	return []byte(asciiRoff(string(out)))
}

// sections is the Markdown of the sections c's page adds.
func sections(c *cobra.Command) string {
	var b strings.Builder
	switch c.Name() {
	case "check":
		b.WriteString("# FINDING CODES\n\nStable: scripts and alerts depend on them. The fixes are the strategies that can fix a finding of the code, where the node allows them.\n\n")
		for _, i := range remediate.Codes {
			line := string(i.Severity) + ": " + strings.ReplaceAll(i.Meaning, "`", "")
			if len(i.Fixes) > 0 {
				line += " (fixes: " + strings.Join(i.Fixes, ", ") + ")"
			}
			term(&b, string(i.Code), line)
		}
	case "plan", "apply":
		b.WriteString("# STRATEGIES\n\nIn auto's order; --strategy gives your own.\n\n")
		for _, s := range remediate.Strategies {
			term(&b, s.Name, s.Help)
		}
	}
	b.WriteString("# EXIT STATUS\n\n")
	if !c.HasParent() {
		b.WriteString("Of unloop --version; each command's page says its own.\n\n")
	}
	for _, e := range cli.ExitCodes(c.Name()) {
		term(&b, strconv.Itoa(e.Code), e.Meaning)
	}
	environment(&b, c)
	return b.String()
}

// environment writes the ENVIRONMENT and FILES sections: the UNLOOP_*
// variable and config file key of each setting c takes (on unloop's own page,
// of every setting), from the settings table.
func environment(b *strings.Builder, c *cobra.Command) {
	takes := func(flag string) bool { return !c.HasParent() || c.Flags().Lookup(flag) != nil }
	var vars, keys []settings.Doc
	for _, d := range settings.Docs() {
		if d.Env != "" && takes(d.Flag) {
			vars = append(vars, d)
		}
		if d.Key != "" && takes(d.Flag) || d.Flag == "" && takes("config") {
			keys = append(keys, d)
		}
	}
	if len(vars) > 0 {
		b.WriteString("# ENVIRONMENT\n\nEach setting is a flag, a variable and a key of the config file: a flag beats its variable, which beats the config file, which beats the default. An empty variable counts as unset.\n\n")
		for _, d := range vars {
			text := "as --" + d.Flag
			if d.Key != "" {
				text += "; in the config file, " + d.Key
			}
			term(b, d.Env, text)
		}
		term(b, "NO_COLOR", "when set, no colour in the text output, on a terminal too (no-color.org)")
	}
	if !takes("config") {
		return
	}
	b.WriteString("# FILES\n\n")
	text := "unloop's config file (--config or UNLOOP_CONFIG names another; a missing default file is no error): a YAML mapping of settings, below the flags and variables. Its keys:"
	for i, d := range keys {
		text += " " + d.Key
		if d.Flag == "" {
			text += " (" + d.Usage + ")"
		}
		if i < len(keys)-1 {
			text += ","
		}
	}
	term(b, settings.ConfigFile, text+". A key no command takes is refused.")
	switch c.Name() {
	case "unloop", "apply", "rollback", "runs", "watch":
		term(b, journal.Dir, "the journal: one folder per run of apply, with the originals of what it changed; rollback restores from it and runs lists it")
	}
}

// term writes a definition list item, which go-md2man renders as a tagged
// paragraph (.TP): the term, then its text indented below it.
func term(b *strings.Builder, name, text string) {
	fmt.Fprintf(b, "%s\n: %s\n\n", md(name), md(text))
}

// md escapes text for Markdown, so it reaches the page as written.
func md(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune("\\`*_{}[]()#+-.!:|&<>~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// asciiRoff writes each character beyond ASCII as groff's \[uXXXX].
func asciiRoff(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r > 0x7f {
			fmt.Fprintf(&b, `\[u%04X]`, r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}
