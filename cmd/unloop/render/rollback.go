package render

import (
	"fmt"
	"io"
	"strings"

	"github.com/unloop/unloop/remediate"
	"github.com/unloop/unloop/remediate/journal"
)

// Rollback prints what a rollback did: in text, each refused path
// with the diff --force would apply, then one line.
func Rollback(w io.Writer, output string, res *remediate.RollbackResult, restarted bool) error {
	j := res.Run
	count := map[string]int{}
	for _, p := range res.Paths {
		count[p.Result]++
	}
	if output == "json" {
		return writeJSON(w, rollbackDocument(res))
	}
	ew := &errWriter{w: w}
	for _, p := range res.Paths {
		switch p.Result {
		case journal.PathRefused:
			fmt.Fprintf(ew, "refused %s: it changed since run %s; its newer content is kept (--force restores it as it was before the run):\n%s", printable(p.Path), j.ID, p.Diff)
		case journal.PathBlockRemoved:
			fmt.Fprintf(ew, "removed unloop's block from %s, keeping the rest of the file\n", printable(p.Path))
		case journal.PathFailed:
			fmt.Fprintf(ew, "failed %s: %s\n", printable(p.Path), OneLine(p.Error))
		}
	}
	// The last line is a summary like apply's "Apply complete: …": a
	// sentence, its counts in the right number.
	restored := count[journal.PathRestored] + count[journal.PathBlockRemoved]
	if n := count[journal.PathRefused]; n > 0 {
		fmt.Fprintf(ew, "Run %s is in conflict: %d %s restored, %d refused", j.ID, restored, Plural(restored, "path"), n)
	} else {
		fmt.Fprintf(ew, "Rolled back run %s: %d %s restored", j.ID, restored, Plural(restored, "path"))
		if n := count[journal.PathUnchanged]; n > 0 {
			fmt.Fprintf(ew, ", %d already as before", n)
		}
	}
	if restarted && len(j.Units) > 0 {
		fmt.Fprintf(ew, "; restarted %s", strings.Join(j.Units, ", "))
	}
	fmt.Fprintln(ew, ".")
	return ew.err
}

// errWriter keeps the first write error and drops later writes: output to a
// closed pipe must be seen, but never stop what the command does.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return len(p), nil
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, nil
}
