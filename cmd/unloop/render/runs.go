package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/unloop/unloop/remediate/document"
	"github.com/unloop/unloop/remediate/journal"
)

// runsDoc is `unloop runs --output json` (document.Version). Lists
// are [], never null.
type runsDoc struct {
	Version int      `json:"version"`
	Runs    []runDoc `json:"runs"`
}

type runDoc struct {
	ID         string    `json:"id"`
	Created    time.Time `json:"created"`
	State      string    `json:"state"`
	Strategies []string  `json:"strategies"`
	Paths      []string  `json:"paths"`
	Units      []string  `json:"units_restarted"`
}

// Runs shows the journaled runs, newest first.
func Runs(w io.Writer, format string, js []*journal.Journal) error {
	doc := runsDoc{Version: document.Version, Runs: []runDoc{}}
	for _, j := range js {
		doc.Runs = append(doc.Runs, newRunDoc(j))
	}
	if format == "json" {
		return writeJSON(w, doc)
	}
	return renderRuns(w, doc.Runs)
}

func newRunDoc(j *journal.Journal) runDoc {
	r := runDoc{ID: j.ID, Created: j.Created.UTC(), State: string(j.State),
		Strategies: append([]string{}, j.Strategies...), Paths: []string{}, Units: append([]string{}, j.Units...)}
	// A ConfigMap key a run changed through the API is listed by its path
	// (configmap/NAMESPACE/NAME/KEY), after the files.
	r.Paths = append(r.Paths, j.Paths()...)
	return r
}

func renderRuns(w io.Writer, runs []runDoc) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintf(w, "No runs journaled under %s.\n", journal.Dir)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// CREATED, as the JSON's "created": the journal's time of the run.
	fmt.Fprintln(tw, "RUN\tCREATED\tSTATE\tSTRATEGIES\tPATHS")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Created.Format(time.RFC3339), r.State, orDash(strings.Join(r.Strategies, ",")), orDash(strings.Join(printables(r.Paths), " ")))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printables are the paths as printable shows them: one row each run.
func printables(paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		out[i] = printable(p)
	}
	return out
}
