// Package render is how unloop's documents look: check, plan, apply,
// rollback and runs, as text for people and as JSON (remediate's document
// types, version 2). The monitoring formats (Prometheus, node-problem-detector)
// are the commands'.
package render

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/unloop/unloop/hostcfg/resolvconf"
	"github.com/unloop/unloop/remediate/document"
	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"golang.org/x/term"

	"github.com/unloop/unloop/remediate"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Repeating is a writer that knows the flags which chose the node this run
// read (--root, --config, --offline), shell-quoted: every command the text
// suggests carries them, so that it acts on the same tree.
type Repeating struct {
	io.Writer
	Flags string // " --root /mnt/node", or ""
}

// painter colours text only when writing to a terminal and NO_COLOR is
// unset, and writes the commands the text suggests.
type painter struct {
	on    bool
	again string // Repeating's Flags
}

func newPainter(w io.Writer) painter {
	var p painter
	if r, ok := w.(*Repeating); ok {
		w, p.again = r.Writer, r.Flags
	}
	f, ok := w.(*os.File)
	if ok && os.Getenv("NO_COLOR") == "" {
		p.on = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// command is a command to suggest: "unloop apply --root /mnt/node --strategy kubelet".
func (p painter) command(verb string, args ...string) string {
	return strings.Join(append([]string{"unloop " + verb + p.again}, args...), " ")
}

func (p painter) paint(code, s string) string {
	if !p.on {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

func (p painter) severity(s finding.Severity) string {
	if s == finding.SevError {
		return p.paint("1;31", "ERROR  ")
	}
	return p.paint("1;33", "WARNING")
}

// Check shows check's report: json, or text.
func Check(w io.Writer, format string, rep *node.Report) error {
	if format == "json" {
		return writeJSON(w, document.NewCheck(rep))
	}
	var b strings.Builder
	writeFindings(&b, newPainter(w), document.NewCheck(rep))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFindings is check's text: a summary, the pod file, each loop told
// once, then the findings that are no part of a loop.
func writeFindings(b *strings.Builder, p painter, d document.Check) {
	writeSummary(b, p, d)
	writePodFile(b, d)
	for _, n := range d.Notes {
		fmt.Fprintf(b, "note: %s\n", printable(n))
	}
	for _, l := range d.Loops {
		writeLoop(b, p, l, d.Findings)
	}
	for _, f := range d.Findings {
		if f.Loop == 0 {
			writeFinding(b, p, f)
		}
	}
}

// writeSummary is the first line: "LOOP: 1 loop (5 findings), 0 warnings (online)".
func writeSummary(b *strings.Builder, p painter, d document.Check) {
	loops, inLoops, errs, warns, ignored := 0, 0, 0, 0, 0
	for _, l := range d.Loops {
		if !l.Ignored {
			loops++
			inLoops += l.FindingsCount
		}
	}
	for _, f := range d.Findings {
		switch {
		case f.Ignored:
			ignored++
		case f.Loop > 0:
		case f.Severity == finding.SevError:
			errs++
		case f.Severity == finding.SevWarning:
			warns++
		}
	}
	var status string
	switch {
	case d.Status == "error" && loops > 0:
		status = p.paint("1;31", "LOOP")
	case d.Status == "error":
		status = p.paint("1;31", "ERROR")
	case d.Status == "warning":
		status = p.paint("1;33", "WARNING")
	default:
		status = p.paint("1;32", "OK")
	}
	var parts []string
	if loops > 0 {
		parts = append(parts, fmt.Sprintf("%d %s (%d %s)", loops, Plural(loops, "loop"), inLoops, Plural(inLoops, "finding")))
	}
	if errs > 0 {
		parts = append(parts, fmt.Sprintf("%d %s", errs, Plural(errs, "error")))
	}
	if loops == 0 && errs == 0 {
		parts = append(parts, "no loop")
	}
	parts = append(parts, fmt.Sprintf("%d %s", warns, Plural(warns, "warning")))
	if ignored > 0 {
		parts = append(parts, fmt.Sprintf("%d ignored", ignored))
	}
	mode := "online"
	if !d.Online {
		mode = "files only"
	}
	fmt.Fprintf(b, "%s: %s (%s)\n", status, strings.Join(parts, ", "), mode)
}

func writePodFile(b *strings.Builder, d document.Check) {
	rc, k := d.ResolvConf, d.Kubelet
	if rc.Path == "" {
		b.WriteString("pod file:  none (kubelet's resolvConf is \"\": pods get nameserver 127.0.0.1 (::1 for an IPv6 --node-ip), their own loopback)\n")
		return
	}
	var src string
	switch {
	case !k.Present:
		src = "no kubelet: the host's file"
	case k.Why != "":
		// Where the distribution's layout chose it (k3s, the snaps, k0s, drop-ins).
		src = printable(k.Why)
	case k.Source == "flag":
		src = "kubelet's --resolv-conf"
	case k.Source == "config":
		src = "resolvConf in " + printable(k.Config)
	case k.Config != "":
		src = "kubelet's default: " + printable(k.Config) + " sets no resolvConf"
	default:
		src = "kubelet's default"
	}
	fmt.Fprintf(b, "pod file:  %s (%s)\n", printable(rc.Path), src)
	if rc.Link != "" {
		fmt.Fprintf(b, "link:      → %s\n", printable(rc.Link))
	}
	if who := rc.Generator; who != "" {
		if who == string(resolvconf.GenUnknown) {
			// The generator's word "unknown" read as a writer's name.
			who = "no source unloop knows"
		}
		if rc.Evidence != "" {
			who += ": " + rc.Evidence
		}
		fmt.Fprintf(b, "written by %s\n", printable(who))
	}
	if len(rc.Nameservers) > 0 {
		fmt.Fprintf(b, "nameservers: %s\n", strings.Join(rc.Nameservers, " "))
	}
}

// writeLoop tells one loop: its source, the lines it produced, what reads
// them, why they loop, one fix, and its findings by code.
func writeLoop(b *strings.Builder, p painter, l document.Loop, fs []document.Finding) {
	label := p.paint("1;31", fmt.Sprintf("LOOP %d", l.Loop))
	if l.Ignored {
		label = fmt.Sprintf("LOOP %d (ignored)", l.Loop)
	}
	fmt.Fprintf(b, "\n%s  %s\n", label, strings.Join(l.Addresses, ", "))
	field := func(name string, values []string) {
		for i, v := range values {
			if i == 0 {
				fmt.Fprintf(b, "  %-10s%s\n", name+":", printable(v))
			} else {
				fmt.Fprintf(b, "  %-10s%s\n", "", printable(v))
			}
		}
	}
	field("source", entries(l.Source))
	field("wrote", entries(l.Lines))
	field("read by", entries(l.ReadBy))
	field("why", l.Why)
	switch {
	case len(l.Fixes) > 0:
		field("fix", []string{p.fixLine(l.Fixes)})
	default:
		// No one strategy fixes every part: an order that holds one for each.
		var each []string
		for _, f := range fs {
			if f.Loop == l.Loop && len(f.Fixes) > 0 && !slices.Contains(each, f.Fixes[0]) {
				each = append(each, f.Fixes[0])
			}
		}
		if len(each) > 0 {
			field("fix", []string{p.command("apply", "--strategy", strings.Join(each, ","))})
		}
	}
	var byCode []string
	for _, f := range fs {
		if f.Loop != l.Loop {
			continue
		}
		at := Where(node.Finding{File: f.File, Line: f.Line})
		if f.Ignored {
			at += " (ignored)"
		}
		byCode = appendAt(byCode, string(f.Code), at)
	}
	field("findings", byCode)
}

// entries are a loop's entries as people read them: "FILE:LINE  text",
// or the message of an entry that is no line of a file.
func entries(es []document.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, finding.Entry{File: e.File, Line: e.Line, Text: e.Text, Message: e.Message}.String())
	}
	return out
}

// appendAt adds at to code's entry ("code  at, at") of list.
func appendAt(list []string, code, at string) []string {
	for i, e := range list {
		if c, ats, _ := strings.Cut(e, "  "); c == code {
			if !slices.Contains(strings.Split(ats, ", "), at) {
				list[i] += ", " + at
			}
			return list
		}
	}
	return append(list, code+"  "+at)
}

func (p painter) fixLine(fixes []string) string {
	s := p.command("apply", "--strategy", fixes[0])
	if len(fixes) > 1 {
		s += "  (or: " + strings.Join(fixes[1:], ", ") + ")"
	}
	return s
}

// writeFinding is a finding that is no part of a loop, with its chain.
func writeFinding(b *strings.Builder, p painter, f document.Finding) {
	b.WriteString("\n")
	fmt.Fprintf(b, "%s %s", p.severity(f.Severity), p.paint("1", string(f.Code)))
	if at := printable(Where(node.Finding{File: f.File, Line: f.Line})); at != "" {
		fmt.Fprintf(b, "  %s", at)
	}
	if f.Address != "" {
		fmt.Fprintf(b, "  %s", f.Address)
	}
	if f.Ignored {
		b.WriteString("  (ignored)")
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
		fmt.Fprintf(b, "  fix: %s\n", p.fixLine(f.Fixes))
	}
}

// Where is a finding's place: file:line, or the file alone. A file name
// that holds a line break or a byte that is not UTF-8 is quoted (printable):
// every format that shows a place on one line gets it safe.
func Where(f node.Finding) string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d", printable(f.File), f.Line)
	}
	return printable(f.File)
}

// printable quotes a string with control characters (a file name with a
// newline in it) so that it can't forge a line of the report. Not only
// ASCII's: NEL, U+2028 and U+2029 end a line for some readers too.
func printable(s string) string {
	if !unsafeRune(s) {
		return s
	}
	return strconv.Quote(s)
}

func unsafeRune(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if isBadByte(s[i:]) {
				return true
			}
		} else if r != '\t' && !unicode.IsPrint(r) {
			return true // IsPrint's only space is ' '
		}
	}
	return false
}

// isBadByte: s starts with a byte that is not UTF-8 (rather than a real
// U+FFFD, which is printable).
func isBadByte(s string) bool {
	_, n := utf8.DecodeRuneInString(s)
	return n == 1
}

// OneLine is s with each character that could end or garble a line (control
// characters, Unicode's line and paragraph separators, bytes that are not
// UTF-8) written as Go escapes (\n, \x80, \u2028), the rest as it is: for
// messages that already hold quoted parts, where quoting the whole would
// double the quotes (node-problem-detector's line, stderr's one-line errors).
func OneLine(s string) string {
	if !unsafeRune(s) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError && isBadByte(s[i:]):
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\t' || unicode.IsPrint(r) || r == utf8.RuneError:
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r) // '\n', '\u2028'
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// Plural is s, or its plural (s+"s" unless given) when n is not 1.
func Plural(n int, s string, pl ...string) string {
	switch {
	case n == 1:
		return s
	case len(pl) > 0:
		return pl[0]
	}
	return s + "s"
}

// Plan shows a plan; err, when planning failed after the check, goes
// into the JSON (the text shows the findings; the error goes to stderr).
func Plan(w io.Writer, format string, pl *remediate.Plan, err error) error {
	d := remediate.NewPlanDocument(pl, err)
	if format == "json" {
		return writeJSON(w, d)
	}
	p := newPainter(w)
	var b strings.Builder
	writeFindings(&b, p, d.Check)
	if err == nil {
		writeChanges(&b, p, d)
		b.WriteString("\n" + planSummary(d) + "\n")
		writeStops(&b, p, d)
	}
	_, werr := io.WriteString(w, b.String())
	return werr
}

// writeChanges lists what the plan does: the upstreams, then each change
// with its diff.
func writeChanges(b *strings.Builder, p painter, d document.Plan) {
	first := true
	for _, f := range d.Unfixed {
		if f.Pod != "" {
			continue // a DNS server pod's: its finding says the fix; apply lists it as left
		}
		if first {
			b.WriteString("\n")
			first = false
		}
		fmt.Fprintf(b, "%s %s %s is not fixed by %s: %s\n", p.paint("1;31", "UNFIXED"), f.Code, printable(Where(node.Finding{File: f.File, Line: f.Line})), chosen(d.Strategies), wayOut(p, f))
	}
	if !d.Changed {
		// No file to change, but pods may still hold an old copy.
		for _, c := range d.Changes {
			if c.Kind == remediate.KindPods {
				b.WriteString("\n")
				writePods(b, p, c)
			}
		}
		return
	}
	fmt.Fprintf(b, "\n%s (strategies: %s)\n", p.paint("1", "Plan"), strings.Join(d.Strategies, ", "))
	for _, c := range d.Upstreams {
		state := c.Note
		if c.Error != "" {
			state = p.paint("31", "not used: "+OneLine(c.Error))
		}
		fmt.Fprintf(b, "  upstream %s (%s; %s)\n", c.Address, c.Message, state)
	}
	for _, c := range d.Changes {
		b.WriteString("\n")
		action := p.paint("1;36", c.Action)
		switch c.Kind {
		case remediate.KindFile:
			fmt.Fprintf(b, "%s %s  [%s] %s\n", action, printable(c.Path), c.Strategy, printable(c.Message))
			writeDiff(b, p, c.Diff)
		case remediate.KindLink:
			fmt.Fprintf(b, "%s %s → %s  [%s] %s\n", action, printable(c.Path), printable(c.Target), c.Strategy, printable(c.Message))
			writeDiff(b, p, c.Diff)
		case remediate.KindUnit:
			fmt.Fprintf(b, "%s %s  [%s] %s", action, c.Unit, c.Strategy, c.Message)
			if c.Skipped != nil {
				fmt.Fprintf(b, " (skipped: %s)", OneLine(c.Skipped.Message))
			}
			b.WriteString("\n")
		case remediate.KindPods:
			writePods(b, p, c)
		case remediate.KindConfigMap:
			fmt.Fprintf(b, "%s ConfigMap %s, data.%s  [%s] %s", action, printable(c.ConfigMap), printable(c.Key), c.Strategy, printable(c.Message))
			if c.Skipped != nil {
				fmt.Fprintf(b, " (skipped: %s)", OneLine(c.Skipped.Message))
			}
			b.WriteString("\n")
			writeDiff(b, p, c.Diff)
			fmt.Fprintf(b, "  %s\n", printable(c.Command))
		}
	}
}

// writePods shows a pods change: each pod apply recreates through the
// container runtime, or (skipped: offline, no runtime) the kubectl line
// that does it by hand, with the node's name as kubelet registers it.
func writePods(b *strings.Builder, p painter, c document.Change) {
	action := p.paint("1;36", c.Action)
	if c.Skipped == nil {
		for _, pod := range c.Pods {
			fmt.Fprintf(b, "%s pod %s\n", action, printable(pod))
		}
		fmt.Fprintf(b, "  %s\n", c.Message)
		return
	}
	// Skipped may hold the runtime's own error text: one line all the same.
	strategy := ""
	if c.Strategy != "" {
		strategy = "[" + c.Strategy + "] "
	}
	what := "pods " + strings.Join(printables(c.Pods), ", ")
	if len(c.Pods) == 0 {
		// None seen: the pods are not named, only the kubectl line's selector.
		what = "the DNS server pods on this node"
	}
	fmt.Fprintf(b, "%s %s  %s%s (skipped: %s)\n", action, what, strategy, c.Message, OneLine(c.Skipped.Message))
	node := "$(hostname)"
	if c.Node != "" {
		node = shellQuote(c.Node)
	}
	fmt.Fprintf(b, "  kubectl -n kube-system delete pod --field-selector spec.nodeName=%s -l '%s'\n", node, remediate.DNSPodSelector)
}

func writeDiff(b *strings.Builder, p painter, diff string) {
	for _, line := range strings.SplitAfter(diff, "\n") {
		text := strings.TrimSuffix(line, "\n")
		switch {
		case strings.HasPrefix(line, "+++"), strings.HasPrefix(line, "---"):
			text = p.paint("1", text)
		case strings.HasPrefix(line, "+"):
			text = p.paint("32", text)
		case strings.HasPrefix(line, "-"):
			text = p.paint("31", text)
		}
		b.WriteString(text)
		if strings.HasSuffix(line, "\n") {
			b.WriteString("\n")
		}
	}
}

// counts are a plan's files to change and units to restart, and the
// restarts it leaves out (offline, --no-restart, not running).
func counts(d document.Plan) (files, units, skipped, pods int) {
	for _, c := range d.Changes {
		switch {
		case c.Kind == remediate.KindPods && c.Skipped == nil:
			pods += len(c.Pods)
		case c.Kind == remediate.KindFile || c.Kind == remediate.KindLink:
			files++
		case c.Kind == remediate.KindUnit && c.Skipped == nil:
			units++
		case c.Kind == remediate.KindUnit:
			skipped++
		}
	}
	return files, units, skipped, pods
}

// planSummary is plan's last line, as terraform ends its plan.
func planSummary(d document.Plan) string {
	if fs := undecided(d); len(fs) > 0 {
		if fs[0].Code == finding.CodeNotANode {
			return "No plan: the root is not a node; apply refuses."
		}
		return fmt.Sprintf("No plan: %d %s can't be read; apply refuses.", len(fs), Plural(len(fs), "input", "inputs"))
	}
	if n := blocking(d.Unfixed); n > 0 {
		s := fmt.Sprintf("No plan: %d %s no fix among the chosen strategies; apply refuses.", n, Plural(n, "error has", "errors have"))
		if fixes := unfixedFixes(d.Unfixed); len(fixes) > 0 {
			s += " Try --strategy " + strings.Join(fixes, ",") + "."
		}
		return s
	}
	files, units, skipped, pods := counts(d)
	if !d.Changed && pods == 0 {
		return "No changes."
	}
	s := fmt.Sprintf("Plan: %d %s to change, %d %s to restart", files, Plural(files, "file"), units, Plural(units, "unit"))
	if skipped > 0 {
		s += fmt.Sprintf(" (%d skipped)", skipped)
	}
	if pods > 0 {
		s += fmt.Sprintf(", %d %s to recreate", pods, Plural(pods, "pod"))
	}
	// apply writes ConfigMaps through the API; one a controller owns it
	// refuses (the user writes the owner's override).
	owned := 0
	for _, c := range d.Changes {
		if c.Kind == remediate.KindConfigMap && c.Skipped != nil {
			owned++
		}
	}
	if n := countKind(d, remediate.KindConfigMap) - owned; n > 0 {
		s += fmt.Sprintf(", %d %s to change through the API (or with the kubectl %s shown)", n, Plural(n, "ConfigMap"), Plural(n, "command"))
	}
	if owned > 0 {
		s += fmt.Sprintf(", %d %s owned by a controller (apply refuses)", owned, Plural(owned, "ConfigMap"))
	}
	return s + "."
}

func countKind(d document.Plan, kind string) int {
	n := 0
	for _, c := range d.Changes {
		if c.Kind == kind {
			n++
		}
	}
	return n
}

// undecided are the findings that stop any plan: an input that can't be
// read, a root that is no node. Plan names each, not "No changes.".
func undecided(d document.Plan) []document.Finding {
	var out []document.Finding
	for _, f := range d.Findings {
		if f.Code == finding.CodeUnreadable || f.Code == finding.CodeNotANode {
			out = append(out, f)
		}
	}
	return out
}

// writeStops says, under the summary, what stops the plan: each input that
// can't be read (or the root that is no node) with its file and line.
func writeStops(b *strings.Builder, p painter, d document.Plan) {
	for _, f := range undecided(d) {
		msg := f.Message
		if w := Where(node.Finding{File: f.File, Line: f.Line}); w != "" && !strings.HasPrefix(msg, f.File) {
			msg = w + ": " + msg
		}
		fmt.Fprintf(b, "  %s %s\n", f.Code, printable(OneLine(msg)))
	}
}

// unfixedFixes are the strategies that fix the node's own unfixed errors,
// in the order the findings name them, each once.
func unfixedFixes(fs []document.Finding) []string {
	var out []string
	for _, f := range fs {
		for _, s := range f.Fixes {
			if f.Pod == "" && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// chosen names the strategies a plan was made with, as they were asked for.
func chosen(strategies []string) string {
	if len(strategies) == 0 {
		return "the chosen strategies"
	}
	return "--strategy " + strings.Join(strategies, ",")
}

// wayOut is what fixes a finding the chosen strategies leave: the
// strategies that fix it on this node (its fixes, from the Strategies
// table's Fixes), as the command to run, or the hand when none does.
func wayOut(p painter, f document.Finding) string {
	if len(f.Fixes) == 0 {
		return "no strategy fixes it on this node; fix it by hand (its chain says where)"
	}
	return p.command("plan", "--strategy", strings.Join(f.Fixes, ",")) + " fixes it"
}

// Apply shows what apply did. A refusal shows the check that led to
// it; a run shows its changes and how it went, not the check again.
func Apply(w io.Writer, format string, res *remediate.Result, err error) error {
	d := remediate.NewApplyDocument(res, err)
	if format == "json" {
		return writeJSON(w, d)
	}
	p := newPainter(w)
	var b strings.Builder
	if err != nil && res.Run == "" {
		writeFindings(&b, p, d.Check)
		writeChanges(&b, p, d.Plan)
		_, werr := io.WriteString(w, b.String())
		return werr
	}
	writeChanges(&b, p, d.Plan)
	b.WriteString("\n")
	files, units, _, _ := counts(d.Plan)
	switch {
	case err != nil:
		fmt.Fprintf(&b, "%s run %s: %v\n", p.paint("1;31", "FAILED"), res.Run, err)
	case !d.Changed && len(res.Recreated)+len(res.StillStale) > 0:
		b.WriteString("No file to change.\n")
	case !d.Changed:
		b.WriteString(p.paint("1;32", "No changes.") + " The node has no loop to fix.\n")
	default:
		verified := "verified: no error remains"
		if len(d.Left) > 0 {
			verified = "verified: no error of the node's own remains"
		}
		if !res.Verified {
			verified = "not verified (--no-verify)"
		}
		fmt.Fprintf(&b, "Applied run %s (%s). Undo with: %s\n", res.Run, verified, p.command("rollback", "--run", res.Run))
		fmt.Fprintf(&b, "%s %d %s changed, %d %s restarted.\n", p.paint("1;32", "Apply complete:"), files, Plural(files, "file"), units, Plural(units, "unit"))
	}
	for _, pod := range res.Recreated {
		fmt.Fprintf(&b, "Recreated pod %s: its new sandbox is ready with the fixed file.\n", pod)
	}
	switch n := len(res.StillStale); {
	case n > 0 && res.StaleSkipped != "":
		fmt.Fprintf(&b, "%s %d DNS %s still %s a looping copy of the pod file, not recreated (%s): %s\n", p.paint("1;33", "Not done:"), n, Plural(n, "pod"), Plural(n, "holds", "hold"), OneLine(res.StaleSkipped), strings.Join(res.StillStale, ", "))
	case n > 0:
		fmt.Fprintf(&b, "%s %d %s not back within 60 s, still holding the old file: %s\n", p.paint("1;33", "Fixed, but"), n, Plural(n, "pod"), strings.Join(res.StillStale, ", "))
	}
	writeLeft(&b, p, d.Left)
	if d.Next != "" {
		fmt.Fprintf(&b, "%s %s\n", p.paint("1;33", "Next:"), printable(d.Next))
	}
	_, werr := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
	return werr
}

// blocking counts the unfixed errors that make apply refuse: the node's
// own, not a DNS server pod's (those are left to the user).
func blocking(fs []document.Finding) int {
	n := 0
	for _, f := range fs {
		if f.Pod == "" {
			n++
		}
	}
	return n
}

// writeLeft lists what apply left to the user, each with what to do: the
// by-hand edit a finding's chain ends with, or, for an unreadable input,
// where it comes from.
func writeLeft(b *strings.Builder, p painter, left []document.Finding) {
	for _, f := range left {
		fmt.Fprintf(b, "%s %s %s (pod %s)\n", p.paint("1;33", "LEFT FOR YOU"), f.Code, printable(Where(node.Finding{File: f.File, Line: f.Line})), printable(f.Pod))
		ns, name, _ := strings.Cut(f.Pod, "/")
		switch {
		case f.Code != finding.CodeDNSPodUnreadable && len(f.Chain) > 0:
			fmt.Fprintf(b, "  %s\n", printable(f.Chain[len(f.Chain)-1]))
		case strings.Contains(f.File, "/volumes/kubernetes.io~configmap/"):
			fmt.Fprintf(b, "  %s\n  fix the ConfigMap the pod mounts (kubectl -n %s get pod %s -o yaml names it under spec.volumes; then kubectl -n %s edit configmap NAME)\n", printable(f.Message), ns, name, ns)
		default:
			fmt.Fprintf(b, "  %s\n  the pod's copy of the pod file: recreate the pod (kubectl -n %s delete pod %s)\n", printable(f.Message), ns, name)
		}
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-._", c)) {
			return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
		}
	}
	return s
}
