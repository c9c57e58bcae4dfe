package finding

import (
	"fmt"
	"slices"
)

// A loop is told once: the line that puts a looping address into a file,
// the lines it produced, and what reads them are findings of their own
// (scripts and alerts key on each), but they are one cause with one fix.

// Role is what a finding is in its loop.
type Role int

const (
	RoleNone   Role = iota
	RoleSource      // a setting that writes the address somewhere (dhclient.conf, DNS=)
	RoleLine        // a line of a resolv.conf that names the address
	RoleReader      // a Corefile forward through a file that names it
)

// Part is what the grouping needs of a finding, set where it is made.
type Part struct {
	Role Role
	Text string // the setting or line as written: "prepend domain-name-servers 169.254.25.10"
	Why  string // why the address loops
	// Source says what put a line there when no finding of its own does
	// (a generator); Reader who reads the file (kubelet, or the host's DNS).
	Source, Reader string
	// Produced is, for a reader, the line of the file it forwards through.
	Produced Entry
	// Links are places ("file:line") of other parts: the dhclient statement
	// that wrote a line, the line a Corefile forwards through.
	Links []string
}

// Loop is one forwarding loop: its findings grouped by their cause.
type Loop struct {
	ID        int
	Addresses []string
	Why       []string
	// Source is what writes the looping address: a setting's line, or
	// (Message) what wrote the file when no setting of a node file does.
	Source []Entry
	// Lines are the lines it produced.
	Lines []Entry
	// ReadBy is what reads them: kubelet (for pods, Message), a Corefile's
	// forward line.
	ReadBy []Entry
	// Fixes are the strategies that fix every finding of the loop, least
	// invasive first; empty when no one strategy does.
	Fixes    []string
	Findings int
	// Ignored: every finding of the loop is ignored.
	Ignored bool
}

// Entry is a part of a loop as scripts want it (DESIGN.md §4, version 2):
// a line of a file and what it says there, or, when it is no line of a
// file (systemd-resolved over D-Bus, kubelet handing pods a file, a
// generator), Message alone.
type Entry struct {
	File    string
	Line    int
	Text    string
	Message string
}

// At is the entry of a line of a file, or Message when file is "".
func At(file string, line int, text string) Entry {
	if file == "" {
		return Entry{Message: text}
	}
	return Entry{File: file, Line: line, Text: text}
}

// String is the entry for people: "FILE:LINE  text", or the message.
func (e Entry) String() string {
	s := e.Message
	if e.File != "" {
		s = Place(e.File, e.Line) + "  " + e.Text
		if e.Message != "" {
			s += " (" + e.Message + ")"
		}
	}
	return s
}

// Place is "file:line", or "" for no file.
func Place(file string, line int) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", file, line)
}

func (f *Finding) inLoop() bool {
	i, _ := f.Code.Info()
	return i.Loop && f.Part.Role != RoleNone
}

// groupLoops numbers the loops of fs (setting each finding's Loop) and
// describes them. Two parts are one loop when they share a place: the
// dhclient statement and the line it wrote, the line and the Corefile that
// forwards through it.
func GroupLoops(fs []Finding) []Loop {
	parent := make([]int, len(fs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	owner := map[string]int{}
	for i := range fs {
		if !fs[i].inLoop() {
			continue
		}
		for _, p := range append([]string{Place(fs[i].File, fs[i].Line)}, fs[i].Part.Links...) {
			if p == "" {
				continue
			}
			if j, ok := owner[p]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[p] = i
			}
		}
	}
	var loops []Loop
	id := map[int]int{}
	for i := range fs {
		if !fs[i].inLoop() {
			continue
		}
		r := find(i)
		if id[r] == 0 {
			loops = append(loops, Loop{ID: len(loops) + 1, Ignored: true})
			id[r] = len(loops)
		}
		fs[i].Loop = id[r]
		loops[id[r]-1].add(fs[i])
	}
	for i := range loops {
		l := &loops[i]
		if len(l.Source) == 0 {
			for _, f := range fs {
				if f.Loop == l.ID && f.Part.Source != "" {
					l.Source = appendEntry(l.Source, Entry{Message: f.Part.Source})
				}
			}
		}
		l.Fixes = commonFixes(fs, l.ID)
	}
	return loops
}

func (l *Loop) add(f Finding) {
	l.Findings++
	l.Ignored = l.Ignored && f.Ignored
	if f.Address != "" {
		l.Addresses = AppendNew(l.Addresses, f.Address)
	}
	p := f.Part
	l.Why = AppendNew(l.Why, p.Why)
	at := At(f.File, f.Line, p.Text)
	switch p.Role {
	case RoleSource:
		l.Source = appendEntry(l.Source, at)
	case RoleLine:
		l.Lines = appendEntry(l.Lines, at)
		l.ReadBy = appendEntry(l.ReadBy, Entry{Message: p.Reader})
	case RoleReader:
		l.Lines = appendEntry(l.Lines, p.Produced)
		l.ReadBy = appendEntry(l.ReadBy, at)
	}
}

// commonFixes are the fixes every finding of loop id that counts has, in
// the order of the first one's.
func commonFixes(fs []Finding, id int) []string {
	var out []string
	first := true
	for _, f := range fs {
		if f.Loop != id || f.Ignored || f.Severity != SevError {
			continue
		}
		if first {
			out, first = slices.Clone(f.Fixes), false
			continue
		}
		out = slices.DeleteFunc(out, func(s string) bool { return !slices.Contains(f.Fixes, s) })
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// appendEntry appends e to list unless it is empty or already there.
func appendEntry(list []Entry, e Entry) []Entry {
	if e == (Entry{}) || slices.Contains(list, e) {
		return list
	}
	return append(list, e)
}

// AppendNew appends s to list unless it is empty or already there.
func AppendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
