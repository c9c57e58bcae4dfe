// Package trace is unloop's -v trail: one debug line per fact that
// detection, planning and apply used, in key=value pairs, as tailscale's
// dnsMode logs each fact it decides on (dbg(k, v), net/dns/manager_linux.go).
// A user who gets a wrong verdict reads it to find the input or the rule
// that led there.
package trace

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/unloop/unloop/hostcfg"
)

// Log writes the trail. The zero Log writes nothing; so does one whose
// logger is not at debug level (no -v), and then On is false, so callers
// skip the work of building a fact nobody reads.
type Log struct{ l *slog.Logger }

// New is a trail on l, on only when l logs debug lines.
func New(l *slog.Logger) Log {
	if l == nil || !l.Enabled(context.Background(), slog.LevelDebug) {
		return Log{}
	}
	return Log{l}
}

// On reports whether the trail is written (-v).
func (t Log) On() bool { return t.l != nil }

// Fact logs one fact: what it is about (msg) and its key=value pairs.
func (t Log) Fact(msg string, args ...any) {
	if t.l != nil {
		t.l.Debug(msg, args...)
	}
}

// Reads logs each file read and folder listed through root (hostcfg's one
// reading function records them), whether it was there, and why what was
// there could not be read: the inputs of every verdict after it.
func (t Log) Reads(root *hostcfg.Root) {
	if t.l == nil {
		return
	}
	for _, f := range root.Founds() {
		args := []any{"path", f.Path, "exists", f.Exists}
		if f.Led != "" {
			args = append(args, "through links to", f.Led)
		}
		switch {
		case f.Err != nil:
			args = append(args, "unreadable", f.Err.Error())
		case f.Exists && f.Op == "read":
			args = append(args, "bytes", f.Size)
		case f.Exists:
			args = append(args, "entries", f.Size)
		}
		t.l.Debug(f.Op, args...)
	}
}

// List is a list of names as one value: "a,b", or "none".
func List[T any](xs []T) string {
	if len(xs) == 0 {
		return "none"
	}
	s := ""
	for i, x := range xs {
		if i > 0 {
			s += ","
		}
		s += fmt.Sprint(x)
	}
	return s
}
