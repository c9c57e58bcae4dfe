package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate"
)

// runsDoc is `unloop runs --output json`, version 1. Lists are [], never null.
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

func newRunsCommand(s Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the runs of apply journaled on the node, newest first",
		Long: `runs lists the runs of apply journaled under /var/lib/unloop/runs (under --root), newest
first: the first is the one 'unloop rollback' undoes. Each run has its ID, when it started,
its state (started: cut short, rolled back by the next apply; applied; rolled-back), its
strategies and the paths it changed. It reads the journal only.

Exit status: 0, also when no run is journaled; 1 when the journal can't be read.
With --quiet nothing is printed but that error.`,
		Example: `  unloop runs
  unloop runs -o json | jq -r '.runs[0].id'
  unloop rollback --run "$(unloop runs -o json | jq -r '.runs[1].id')"`,
		Args: cobra.NoArgs,
	}
	flags := addSettings(cmd, runsSettings...)
	cmd.RunE = func(*cobra.Command, []string) error {
		ss, err := flags.start(s)
		if err != nil {
			return err
		}
		root, err := hostcfg.NewRoot(ss.Root)
		if err != nil {
			return err
		}
		js, err := remediate.Journals(root)
		if err != nil {
			return err
		}
		doc := runsDoc{Version: 1, Runs: []runDoc{}}
		for _, j := range js {
			doc.Runs = append(doc.Runs, newRunDoc(j))
		}
		if ss.Output == "json" {
			return writeJSON(ss.out, doc)
		}
		return renderRuns(ss.out, doc.Runs)
	}
	return cmd
}

func newRunDoc(j *remediate.Journal) runDoc {
	r := runDoc{ID: j.ID, Created: j.Created.UTC(), State: string(j.State),
		Strategies: append([]string{}, j.Strategies...), Paths: []string{}, Units: append([]string{}, j.Units...)}
	for _, s := range j.Snapshots {
		r.Paths = append(r.Paths, s.Path)
	}
	return r
}

func renderRuns(w io.Writer, runs []runDoc) error {
	if len(runs) == 0 {
		_, err := fmt.Fprintf(w, "No runs journaled under %s.\n", remediate.JournalDir)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTARTED\tSTATE\tSTRATEGIES\tPATHS")
	for _, r := range runs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.Created.Format(time.RFC3339), r.State, orDash(strings.Join(r.Strategies, ",")), orDash(strings.Join(r.Paths, " ")))
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
