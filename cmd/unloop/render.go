package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

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
	switch format {
	case "json":
		return writeJSON(w, rep)
	case "prometheus":
		return writeMetrics(w, rep, time.Now())
	case "npd":
		return renderNPD(w, rep)
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
		fmt.Fprintf(b, "note: %s\n", printable(n))
	}
	for _, f := range rep.Findings {
		b.WriteString("\n")
		where := printable(f.File)
		if f.Line > 0 {
			where = fmt.Sprintf("%s:%d", where, f.Line)
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
			fmt.Fprintf(b, "  %s%s\n", arrow, printable(c))
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

// printable quotes a string with control characters (a file name with a
// newline in it) so that it can't forge a line of the report.
func printable(s string) string {
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f || r == utf8.RuneError {
			return strconv.Quote(s)
		}
	}
	return s
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}

// renderPlan shows a plan; err, when planning failed after the check, goes
// into the JSON (the text shows the findings; the error goes to stderr).
func renderPlan(w io.Writer, format string, pl *remediate.Plan, err error) error {
	if format == "json" {
		out := struct {
			*remediate.Plan
			Error string `json:"error,omitempty"`
		}{Plan: pl}
		if err != nil {
			out.Error = err.Error()
		}
		return writeJSON(w, out)
	}
	p := newPainter(w)
	var b strings.Builder
	writeFindings(&b, p, pl.Report)
	if err == nil {
		writeChanges(&b, p, pl)
	}
	_, werr := io.WriteString(w, b.String())
	return werr
}

func writeChanges(b *strings.Builder, p painter, pl *remediate.Plan) {
	b.WriteString("\n")
	for _, f := range pl.Unfixed {
		fmt.Fprintf(b, "%s %s is not fixed by the chosen strategies\n", p.paint("1;31", "UNFIXED"), f.Code)
	}
	if !pl.Changed {
		if len(pl.Unfixed) == 0 {
			b.WriteString(p.paint("1;32", "Nothing to change.") + "\n")
		}
		return
	}
	fmt.Fprintf(b, "%s (strategies: %s)\n", p.paint("1", "Plan"), strings.Join(pl.Strategies, ", "))
	for _, c := range pl.Upstreams {
		state := c.Note
		if c.Error != "" {
			state = p.paint("31", "not used: "+c.Error)
		}
		fmt.Fprintf(b, "  upstream %s (%s; %s)\n", c.Addr, c.From, state)
	}
	for _, c := range pl.Changes {
		b.WriteString("\n")
		switch c.Kind {
		case remediate.KindFile, remediate.KindLink:
			fmt.Fprintf(b, "%s %s %s  [%s] %s\n", p.paint("1;36", c.Action), c.Kind, printable(c.Path), c.Strategy, printable(c.Reason))
			for _, line := range strings.SplitAfter(c.Diff, "\n") {
				switch {
				case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
					b.WriteString(p.paint("1", strings.TrimSuffix(line, "\n")))
				case strings.HasPrefix(line, "+"):
					b.WriteString(p.paint("32", strings.TrimSuffix(line, "\n")))
				case strings.HasPrefix(line, "-"):
					b.WriteString(p.paint("31", strings.TrimSuffix(line, "\n")))
				default:
					b.WriteString(strings.TrimSuffix(line, "\n"))
				}
				if strings.HasSuffix(line, "\n") {
					b.WriteString("\n")
				}
			}
		case remediate.KindUnit:
			fmt.Fprintf(b, "%s %s  [%s] %s", p.paint("1;36", c.Action), c.Unit, c.Strategy, c.Reason)
			if c.Skipped != "" {
				fmt.Fprintf(b, " (skipped: %s)", c.Skipped)
			}
			b.WriteString("\n")
		case remediate.KindPods:
			fmt.Fprintf(b, "%s pods %s  [%s] %s\n", p.paint("1;36", c.Action), strings.Join(c.Pods, ", "), c.Strategy, c.Reason)
			b.WriteString("  kubectl -n kube-system delete pod --field-selector spec.nodeName=$(hostname) -l 'k8s-app in (kube-dns, node-local-dns)'\n")
		}
	}
}

func renderApply(w io.Writer, format string, res *remediate.Result, err error) error {
	if format == "json" {
		out := struct {
			*remediate.Result
			Error string `json:"error,omitempty"`
		}{Result: res}
		if err != nil {
			out.Error = err.Error()
		}
		return writeJSON(w, out)
	}
	p := newPainter(w)
	var b strings.Builder
	writeFindings(&b, p, res.Report)
	if err == nil || res.Run != "" {
		writeChanges(&b, p, res.Plan)
	}
	b.WriteString("\n")
	switch {
	case err != nil && res.Run != "":
		fmt.Fprintf(&b, "%s run %s: %v\n", p.paint("1;31", "FAILED"), res.Run, err)
	case err != nil:
		// Refused before any change; the error goes to stderr as well.
	case !res.Changed:
		b.WriteString(p.paint("1;32", "No change: the node is already clean.") + "\n")
	default:
		verified := "verified: no error remains"
		if !res.Verified {
			verified = "not verified (--no-verify)"
		}
		fmt.Fprintf(&b, "%s run %s (%s). Undo with: unloop rollback --run %s\n", p.paint("1;32", "Applied"), res.Run, verified, res.Run)
	}
	_, werr := io.WriteString(w, b.String())
	return werr
}
