package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/unloop/unloop/remediate"
)

const busDialTimeout = 2 * time.Second

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// painter colours text only when writing to a terminal and NO_COLOR is unset.
type painter struct{ on bool }

func newPainter(w io.Writer) painter {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" {
		return painter{}
	}
	return painter{on: term.IsTerminal(int(f.Fd()))}
}

func (p painter) paint(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p painter) severity(s remediate.Severity) string {
	switch s {
	case remediate.SevError:
		return p.paint("1;31", "ERROR  ")
	case remediate.SevWarning:
		return p.paint("1;33", "WARNING")
	}
	return p.paint("1;34", "INFO   ")
}

func renderCheck(w io.Writer, format string, rep *remediate.Report) error {
	if format == "json" {
		return writeJSON(w, rep)
	}
	p := newPainter(w)
	var b strings.Builder
	writeFindings(&b, p, rep)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeFindings(b *strings.Builder, p painter, rep *remediate.Report) {
	errs, warns := 0, 0
	for _, f := range rep.Findings {
		switch f.Severity {
		case remediate.SevError:
			errs++
		case remediate.SevWarning:
			warns++
		}
	}
	status := rep.Status
	switch status {
	case "error":
		status = p.paint("1;31", "LOOP")
	case "warning":
		status = p.paint("1;33", "WARNING")
	default:
		status = p.paint("1;32", "OK")
	}
	mode := "online"
	if !rep.Online {
		mode = "files only"
	}
	fmt.Fprintf(b, "%s: %d %s, %d %s (%s)\n", status, errs, plural(errs, "error"), warns, plural(warns, "warning"), mode)

	rc := rep.ResolvConf
	k := rep.Kubelet
	switch {
	case rc.Path == "":
		fmt.Fprintf(b, "pod file:  none (kubelet's resolvConf is \"\": pods inherit no nameservers)\n")
	default:
		who := rc.Generator
		if rc.Evidence != "" {
			who += ": " + rc.Evidence
		}
		src := k.Source
		if !k.Present {
			src = "no kubelet: the host's file"
		} else if k.Config != "" {
			src += ", config " + k.Config
		}
		fmt.Fprintf(b, "pod file:  %s (%s)\n", rc.Path, src)
		if rc.Link != "" {
			fmt.Fprintf(b, "link:      → %s\n", rc.Link)
		}
		if who != "" {
			fmt.Fprintf(b, "written by %s\n", who)
		}
		if len(rc.Nameservers) > 0 {
			fmt.Fprintf(b, "nameservers: %s\n", strings.Join(rc.Nameservers, " "))
		}
	}
	for _, n := range rep.Notes {
		fmt.Fprintf(b, "note: %s\n", n)
	}
	for _, f := range rep.Findings {
		b.WriteString("\n")
		where := f.File
		if f.Line > 0 {
			where = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		fmt.Fprintf(b, "%s %s", p.severity(f.Severity), p.paint("1", string(f.Code)))
		if where != "" {
			fmt.Fprintf(b, "  %s", where)
		}
		if f.Address != "" {
			fmt.Fprintf(b, "  %s", f.Address)
		}
		b.WriteString("\n")
		for i, c := range f.Chain {
			arrow := "  "
			if i > 0 {
				arrow = "→ "
			}
			fmt.Fprintf(b, "  %s%s\n", arrow, c)
		}
		if len(f.Fixes) > 0 {
			fmt.Fprintf(b, "  fix: unloop apply --strategy %s", f.Fixes[0])
			if len(f.Fixes) > 1 {
				fmt.Fprintf(b, "  (or: %s)", strings.Join(f.Fixes[1:], ", "))
			}
			b.WriteString("\n")
		}
	}
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
