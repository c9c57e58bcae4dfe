package node

import (
	"fmt"
	"slices"
)

// A loop is told once: the line that puts a looping address into a file,
// the lines it produced, and what reads them are findings of their own
// (scripts and alerts key on each), but they are one cause with one fix.

// partRole is what a finding is in its loop.
type partRole int

const (
	roleNone   partRole = iota
	roleSource          // a setting that writes the address somewhere (dhclient.conf, DNS=)
	roleLine            // a line of a resolv.conf that names the address
	roleReader          // a Corefile forward through a file that names it
)

// loopPart is what the grouping needs of a finding, set where it is made.
type loopPart struct {
	role partRole
	text string // the setting or line as written: "prepend domain-name-servers 169.254.25.10"
	why  string // why the address loops
	// source says what put a line there when no finding of its own does
	// (a generator); reader who reads the file (kubelet, or the host's DNS).
	source, reader string
	// produced is, for a reader, the line of the file it forwards through.
	produced string
	// links are places ("file:line") of other parts: the dhclient statement
	// that wrote a line, the line a Corefile forwards through.
	links []string
}

// Loop is one forwarding loop: its findings grouped by their cause.
type Loop struct {
	ID        int
	Addresses []string
	Why       []string
	// Source is what writes the looping address: "FILE:LINE  setting", or
	// what wrote the file when no setting of a node file does.
	Source []string
	// Lines are the lines it produced, "FILE:LINE  line".
	Lines []string
	// ReadBy is what reads them: kubelet (for pods), a Corefile.
	ReadBy []string
	// Fixes are the strategies that fix every finding of the loop, least
	// invasive first; empty when no one strategy does.
	Fixes    []string
	Findings int
	// Ignored: every finding of the loop is ignored.
	Ignored bool
}

func place(file string, line int) string {
	if file == "" {
		return ""
	}
	return fmt.Sprintf("%s:%d", file, line)
}

func (f *Finding) inLoop() bool {
	i, _ := f.Code.Info()
	return i.Loop && f.part.role != roleNone
}

// groupLoops numbers the loops of fs (setting each finding's Loop) and
// describes them. Two parts are one loop when they share a place: the
// dhclient statement and the line it wrote, the line and the Corefile that
// forwards through it.
func groupLoops(fs []Finding) []Loop {
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
		for _, p := range append([]string{place(fs[i].File, fs[i].Line)}, fs[i].part.links...) {
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
				if f.Loop == l.ID && f.part.source != "" {
					l.Source = appendNew(l.Source, f.part.source)
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
		l.Addresses = appendNew(l.Addresses, f.Address)
	}
	p := f.part
	l.Why = appendNew(l.Why, p.why)
	at := place(f.File, f.Line)
	if at != "" {
		at += "  "
	}
	switch p.role {
	case roleSource:
		l.Source = appendNew(l.Source, at+p.text)
	case roleLine:
		l.Lines = appendNew(l.Lines, at+p.text)
		l.ReadBy = appendNew(l.ReadBy, p.reader)
	case roleReader:
		l.Lines = appendNew(l.Lines, p.produced)
		l.ReadBy = appendNew(l.ReadBy, at+p.text)
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

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}
