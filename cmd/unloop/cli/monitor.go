package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/unloop/unloop/remediate/finding"
	"github.com/unloop/unloop/remediate/node"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/spf13/cobra"

	"github.com/unloop/unloop/cmd/unloop/render"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/remediate"
)

// Monitoring: check's report as Prometheus metrics (stdout with --output
// prometheus, or a node_exporter textfile with --textfile) and as a
// node-problem-detector custom plugin (--output npd).

// A metric family as unloop builds it from a result: the name of a metric
// in metricHelp, its type and samples. familiesCollector hands families to
// client_golang, which writes the text (and OpenMetrics) formats.
type gaugeFamily struct {
	name    string
	typ     prometheus.ValueType
	samples []gaugeSample
}

type gaugeSample struct {
	labels []string // name, value, name, value, ...
	value  float64
}

// gauge and counter start the family of a metric named in metricHelp; a
// name missing there is a programming error, caught by every test that
// writes metrics.
func gauge(name string) *gaugeFamily { return family(name, prometheus.GaugeValue) }

func counter(name string) *gaugeFamily { return family(name, prometheus.CounterValue) }

func family(name string, typ prometheus.ValueType) *gaugeFamily {
	if _, ok := metricHelp[name]; !ok {
		panic("metric " + name + " has no HELP in metricHelp")
	}
	return &gaugeFamily{name: name, typ: typ}
}

func (g *gaugeFamily) add(v float64, labels ...string) {
	g.samples = append(g.samples, gaugeSample{labels: labels, value: v})
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metrics are the report's metric families, in a stable order.
func metrics(rep *node.Report, now time.Time) []*gaugeFamily {
	status := gauge("unloop_check_status")
	for _, s := range []string{"ok", "warning", "error"} {
		status.add(b2f(rep.Status == s), "status", s)
	}

	// Every known code is exported, 0 when absent, so that an alert on a
	// code never depends on the series existing. Ignored findings are not
	// counted: the site has decided to live with them.
	counts := map[finding.Code]int{}
	for _, f := range rep.Findings {
		if !f.Ignored {
			counts[f.Code]++
		}
	}
	findings := gauge("unloop_findings")
	for _, c := range remediate.Codes {
		findings.add(float64(counts[c.Code]), "code", string(c.Code), "severity", string(c.Severity))
	}

	online := gauge("unloop_check_online")
	online.add(b2f(rep.Online))
	last := gauge("unloop_last_check_timestamp_seconds")
	last.add(float64(now.UnixNano()) / 1e9)
	info := gauge("unloop_build_info")
	info.add(1, "version", version)
	return []*gaugeFamily{status, findings, online, last, info}
}

// familiesCollector is a prometheus.Collector of the families its function
// returns, called at each gathering: the function reads the last result
// itself, so there is one source of truth and no series outlives it.
type familiesCollector func() []*gaugeFamily

// Describe describes every metric unloop has: a result has some of them.
func (c familiesCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range metricDescs() {
		ch <- d
	}
}

func (c familiesCollector) Collect(ch chan<- prometheus.Metric) {
	descs := metricDescs()
	for _, g := range c() {
		for _, s := range g.samples {
			ch <- constMetric(descs[g.name], g, s)
		}
	}
}

// constMetric is one sample, or an invalid metric (Gather's error) when its
// label names are not metricLabels'.
func constMetric(d *prometheus.Desc, g *gaugeFamily, s gaugeSample) prometheus.Metric {
	var names, values []string
	for i := 0; i+1 < len(s.labels); i += 2 {
		// A path label's value may hold any byte, but the exposition format
		// takes only UTF-8 (else the whole gathering fails): such a value is
		// escaped. A line break is the format's to escape, as it does.
		v := s.labels[i+1]
		if !utf8.ValidString(v) {
			v = render.OneLine(v)
		}
		names, values = append(names, s.labels[i]), append(values, v)
	}
	if !slices.Equal(names, metricLabels[g.name]) {
		return prometheus.NewInvalidMetric(d, fmt.Errorf("%s: labels %q, want %q", g.name, names, metricLabels[g.name]))
	}
	m, err := prometheus.NewConstMetric(d, g.typ, s.value, values...)
	if err != nil {
		return prometheus.NewInvalidMetric(d, err)
	}
	return m
}

// registryOf is a registry of unloop's own (never the global default, which
// holds the go_* and process_* collectors) gathering fams at each call.
func registryOf(fams func() []*gaugeFamily) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(familiesCollector(fams))
	return reg
}

// writeMetrics writes the report in Prometheus's text format.
func writeMetrics(w io.Writer, rep *node.Report, now time.Time) error {
	return writeGathered(w, reportRegistry(rep, now))
}

// reportRegistry gathers the report's metrics, as of now.
func reportRegistry(rep *node.Report, now time.Time) *prometheus.Registry {
	return registryOf(func() []*gaugeFamily { return metrics(rep, now) })
}

// writeGathered writes what g gathers in Prometheus's text format, as
// prometheus.WriteToTextfile does.
func writeGathered(w io.Writer, g prometheus.Gatherer) error {
	mfs, err := g.Gather()
	if err != nil {
		return fmt.Errorf("gathering metrics: %w", err)
	}
	var b bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
			return fmt.Errorf("writing metrics: %w", err)
		}
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return fmt.Errorf("writing metrics: %w", err)
	}
	return nil
}

// writeTextfile replaces path with the report's metrics at once (a
// temporary file in the same folder, renamed): node_exporter's textfile
// collector must never read half a file. The temporary name doesn't end in
// .prom, so the collector skips it.
func writeTextfile(path string, rep *node.Report, now time.Time) error {
	return writeTextfileOf(path, reportRegistry(rep, now))
}

// writeTextfileOf replaces path with what g gathers, at once. Not
// prometheus.WriteToTextfile: it chmods its temporary file by name, which
// follows a link the folder's owner swaps in (root would make any file
// 0644), and renames without fsync. hostcfg's write goes through the
// folder's handle, fchmods, fsyncs and renames.
func writeTextfileOf(path string, g prometheus.Gatherer) error {
	var b bytes.Buffer
	if err := writeGathered(&b, g); err != nil {
		return err
	}
	// The textfile is this machine's path, not the node's (--root): a root
	// of "/" gives hostcfg's atomic write without a second confinement. It
	// writes through the folder's handle and replaces a link at unloop.prom
	// rather than follow it: the folder's owner may not be root.
	root, err := hostcfg.NewRoot("/")
	if err != nil {
		return err
	}
	if err := root.WriteFile(path, b.Bytes(), 0o644, -1, -1); err != nil {
		return fmt.Errorf("writing textfile %q: %w", path, err)
	}
	return nil
}

// npdMaxMessage is node-problem-detector's limit on a plugin's message.
const npdMaxMessage = 80

// node-problem-detector's custom plugin exit codes.
const (
	npdOK      = 0
	npdProblem = 1
	npdUnknown = 3
)

// npdResult is the message and exit code of the NPD plugin protocol: 0 and
// a short OK, 1 and the first loop (with how many more), or 3 (unknown)
// when unloop could not read an input.
func npdResult(rep *node.Report) (string, int) {
	msg, more, code := verdict(rep)
	return shorten(msg, more), code
}

// verdict is npdResult's message, uncut (more: how many more loops, kept
// when msg must be cut), and its code. The Node condition takes it whole.
func verdict(rep *node.Report) (msg, more string, code int) {
	var errs, warns []node.Finding
	for _, f := range rep.Findings {
		if f.Ignored {
			continue
		}
		switch f.Severity {
		case finding.SevError:
			errs = append(errs, f)
		case finding.SevWarning:
			warns = append(warns, f)
		}
	}
	if rep.HasUnreadable() {
		for _, f := range errs {
			if f.Code == finding.CodeUnreadable {
				return fmt.Sprintf("unloop could not read %s", render.Where(f)), "", npdUnknown
			}
			if f.Code == finding.CodeNotANode {
				// The root's path would take NPD's 80 characters: the reason first.
				_, why, _ := strings.Cut(f.Message, " does not look like a node: ")
				return "unknown: not a node: " + why, "", npdUnknown
			}
		}
	}
	if len(errs) > 0 {
		f := errs[0]
		msg := fmt.Sprintf("DNS loop: %s", f.Code)
		if f.Address != "" {
			msg += " " + f.Address
		}
		if w := render.Where(f); w != "" {
			msg += " in " + w
		}
		if len(errs) > 1 {
			more = fmt.Sprintf(" (+%d more)", len(errs)-1)
		}
		return msg, more, npdProblem
	}
	if len(warns) > 0 {
		return fmt.Sprintf("no DNS loop; %d %s: %s", len(warns), render.Plural(len(warns), "warning"), warns[0].Code), "", npdOK
	}
	return "no DNS forwarding loop", "", npdOK
}

// shorten fits msg and then suffix into npdMaxMessage characters, cutting
// msg (with "...") rather than the suffix. NPD takes the plugin's output as
// its message whole: a line break or a byte that is not UTF-8 in a path or
// an error would forge a second line, so both are escaped first.
func shorten(msg string, suffix ...string) string {
	msg = render.OneLine(msg)
	sfx := render.OneLine(strings.Join(suffix, ""))
	room := npdMaxMessage - utf8.RuneCountInString(sfx)
	if utf8.RuneCountInString(msg) > room {
		r := []rune(msg)
		msg = string(r[:room-3]) + "..."
	}
	return msg + sfx
}

// renderNPD prints the plugin's one line and returns its exit code as an
// error (nil for OK), so check exits as NPD expects rather than 0/2/1.
func renderNPD(w io.Writer, rep *node.Report) error {
	msg, code := npdResult(rep)
	if _, err := fmt.Fprintln(w, msg); err != nil {
		return err
	}
	if code == npdOK {
		return nil
	}
	return &exitError{code: code}
}

// monitorFlags adds check's --textfile. A flag of check alone: plan and
// apply have their own outputs.
func monitorFlags(root *cobra.Command) {
	check, _, err := root.Find([]string{"check"})
	if err != nil || check == root {
		return
	}
	// NPD reads exit 1 as "problem found": unloop's own failures (a bad
	// flag, an unreadable config) must be "unknown" (3) with a message.
	runE := check.RunE
	check.RunE = func(cmd *cobra.Command, args []string) error {
		err := runE(cmd, args)
		var ee *exitError
		if err == nil || errors.As(err, &ee) || !npdOutput(cmd) {
			return err
		}
		fmt.Fprintln(cmd.OutOrStdout(), shorten("unloop failed: "+err.Error()))
		return &exitError{code: npdUnknown}
	}
	check.Flags().String("textfile", "", "also write the result as Prometheus metrics to this file, atomically (node_exporter's textfile collector)")
	check.Example += `
  unloop check --output prometheus
  unloop check --textfile /var/lib/node_exporter/textfile/unloop.prom >/dev/null
  unloop check --output npd     # node-problem-detector plugin: exit 0 ok, 1 loop, 3 unknown`
}

// npdOutput: the output asked for is npd (by flag or environment; the
// config file is read later, by the command itself).
func npdOutput(cmd *cobra.Command) bool {
	if f := cmd.Flags().Lookup("output"); f != nil && f.Changed {
		return f.Value.String() == "npd"
	}
	return os.Getenv("UNLOOP_OUTPUT") == "npd"
}

// textfileFor writes the textfile when check was given --textfile.
func textfileFor(cmd *cobra.Command, rep *node.Report) error {
	f := cmd.Flags().Lookup("textfile")
	if f == nil || f.Value.String() == "" {
		return nil
	}
	p := f.Value.String()
	if !filepath.IsAbs(p) {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		p = filepath.Join(wd, p)
	}
	return writeTextfile(p, rep, time.Now())
}
