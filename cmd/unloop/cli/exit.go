package cli

import (
	"strconv"
	"strings"

	"github.com/unloop/unloop/remediate"
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
		{exitFailed, "unloop itself failed or could not decide: an input of the node's own it could not read or parse (a DNS server pod's is the warning dns-pod-unreadable), or a root that is no node (not-a-node)"},
	},
	"plan": {
		{exitOK, "success; with --detailed-exitcode, nothing to do"},
		{exitFindings, "with --detailed-exitcode: changes to make"},
		{exitFailed, "failure, an input it could not read, a root that is no node, or errors of the node's own that no chosen strategy fixes (apply would refuse; the plan names the strategy that would fix each)"},
	},
	"apply": {
		{exitOK, "done: every loop fixed and in effect, or none to fix (a kubelet not running yet counts as in effect: it reads the file when it starts)"},
		{exitFailed, "failed or could not decide: refused (nothing written) or rolled back"},
		{exitPodsLeft, "fixed, but some DNS pods still hold the old file (not back in time, or not recreated: offline, --no-recreate-pods, no runtime, kubelet not running; listed in pods_stale, with the kubectl line)"},
		{exitNotYet, "fixed in the files, not yet in effect: a restart was skipped (offline, --no-restart); the line to run is said"},
		{exitLeft, "the loops unloop owns fixed; loops or unreadable inputs of DNS server pods left for you, listed with their fix (in left)"},
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

// outcomeExit is the exit code of each outcome of an apply that did not
// fail; when several hold, the highest wins (remediate.Result.Outcome).
var outcomeExit = map[remediate.Outcome]int{
	remediate.OutcomeDone:        exitOK,
	remediate.OutcomePodsStale:   exitPodsLeft,
	remediate.OutcomeNotInEffect: exitNotYet,
	remediate.OutcomeLoopsLeft:   exitLeft,
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
