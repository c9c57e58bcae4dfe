package cli

import (
	"strconv"
	"strings"
)

// An Exit is one exit code of a command and what it means.
type Exit struct {
	Code    int
	Meaning string
}

// exitCodes are what each command's exit codes mean (DESIGN.md §4), in the
// order its help says them: the help's "Exit status:" sentence is made from
// them, and so is the EXIT STATUS section of its man page (cmd/unloop-man).
var exitCodes = map[string][]Exit{
	"check": {
		{exitOK, "no errors (warnings allowed)"},
		{exitFindings, "errors found"},
		{exitFailed, "unloop itself failed (including an input it could not read or parse)"},
	},
	"plan": {
		{exitOK, "success; with --detailed-exitcode, nothing to do"},
		{exitFindings, "with --detailed-exitcode: changes to make"},
		{exitFailed, "failure, or errors that no chosen strategy fixes (apply would refuse)"},
	},
	"apply": {
		{exitOK, "done (changed or not)"},
		{exitFailed, "failed (and rolled back) or refused"},
		{exitPodsLeft, "fixed, but some pods still hold the old file (not recreated in time; listed in pods_stale)"},
	},
	"rollback": {
		{exitOK, "rolled back"},
		{exitFailed, "failed, refused paths, nothing to roll back, or rolled back already"},
	},
	"runs": {
		{exitOK, "listed, also when no run is journaled"},
		{exitFailed, "the journal can't be read"},
	},
	"watch": {
		{exitOK, "stopped"},
		{exitFailed, "watch itself failed (its watches, its listener)"},
	},
}

// ExitCodes are what the named command's exit codes mean: a command not in
// the table exits 0 on success and 1 on failure.
func ExitCodes(cmd string) []Exit {
	if e, ok := exitCodes[cmd]; ok {
		return e
	}
	return []Exit{{exitOK, "success"}, {exitFailed, "failure"}}
}

// exitHelp is the sentence a command's help ends its description with:
// "Exit status: 0 no errors (warnings allowed); 2 errors found; ...", filled
// to the width of the rest of the help.
func exitHelp(cmd string) string {
	var parts []string
	for _, e := range exitCodes[cmd] {
		parts = append(parts, strconv.Itoa(e.Code)+" "+e.Meaning)
	}
	return fill("Exit status: "+strings.Join(parts, "; ")+".", 90)
}

// fill breaks text into lines of at most width columns at spaces.
func fill(text string, width int) string {
	var b strings.Builder
	n := 0
	for i, w := range strings.Fields(text) {
		switch {
		case i == 0:
		case n+1+len(w) > width:
			b.WriteByte('\n')
			n = 0
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
