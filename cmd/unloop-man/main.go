// Command unloop-man writes unloop's man pages (unloop.1, unloop-check.1, ...)
// into a folder, from the commands themselves, with cobra's doc package.
// `make package` runs it and the packages ship the pages. It is a program of
// its own, not a command of unloop, so cobra/doc and the Markdown renderer it
// goes through (go-md2man, blackfriday) stay out of the product binary.
//
//	go run ./cmd/unloop-man -date 2026-12-07 -version v1.2.3 dist/man
//
// cobra/doc writes NAME, SYNOPSIS, DESCRIPTION, OPTIONS, EXAMPLE and SEE
// ALSO. To those this adds, before EXAMPLE, what a reader of a man page looks
// for and the help has no place for: FINDING CODES on check's page (from the
// registry the analysis uses), STRATEGIES on plan's and apply's (from the
// table they plan with), EXIT STATUS (from the commands' exit codes),
// ENVIRONMENT and FILES (from the settings table).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/unloop/unloop/cmd/unloop/cli"
)

var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~_-]*$`)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "unloop-man: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("unloop-man", flag.ContinueOnError)
	day := fs.String("date", "", "the pages' date, YYYY-MM-DD (default: SOURCE_DATE_EPOCH, else today); the same date gives the same pages")
	version := fs.String("version", "dev", "unloop's version, as the pages' footer names it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one folder to write the pages into, got %d arguments", fs.NArg())
	}
	// The version goes into .TH's quoted arguments as it is: cobra/doc
	// escapes nothing there.
	if !versionRE.MatchString(*version) {
		return fmt.Errorf("-version %q: want letters, digits and .+~_-", *version)
	}
	date, err := pageDate(*day)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(fs.Arg(0), 0o755); err != nil {
		return err
	}
	root := cli.NewRootCommand(cli.Streams{In: strings.NewReader(""), Out: io.Discard, Err: io.Discard})
	return writePages(root, fs.Arg(0), date, *version)
}

// pageDate is -date, else SOURCE_DATE_EPOCH (reproducible builds), else today.
func pageDate(day string) (time.Time, error) {
	if day != "" {
		d, err := time.Parse(time.DateOnly, day)
		if err != nil {
			return time.Time{}, fmt.Errorf("-date: want YYYY-MM-DD: %w", err)
		}
		return d, nil
	}
	if e := os.Getenv("SOURCE_DATE_EPOCH"); e != "" {
		n, err := strconv.ParseInt(e, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: %w", e, err)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Now().UTC(), nil
}

// writePages writes a page for root and each command under it that --help
// lists, named as cobra/doc names them (unloop-completion-bash.1), and then
// adds unloop's sections to each.
func writePages(root *cobra.Command, dir string, date time.Time, version string) error {
	header := &doc.GenManHeader{Section: "1", Date: &date, Source: "unloop " + version, Manual: "unloop manual"}
	if err := doc.GenManTreeFromOpts(root, doc.GenManTreeOptions{Header: header, Path: dir, CommandSeparator: "-"}); err != nil {
		return fmt.Errorf("writing the man pages: %w", err)
	}
	return forEachPage(root, func(c *cobra.Command) error {
		p := pagePath(dir, c)
		page, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(p, finish(page, c), 0o644)
	})
}

// forEachPage calls f with each command GenManTreeFromOpts writes a page for.
func forEachPage(c *cobra.Command, f func(*cobra.Command) error) error {
	for _, sub := range c.Commands() {
		if !sub.IsAvailableCommand() || sub.IsAdditionalHelpTopicCommand() {
			continue
		}
		if err := forEachPage(sub, f); err != nil {
			return err
		}
	}
	return f(c)
}

func pagePath(dir string, c *cobra.Command) string {
	return dir + "/" + strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
}
