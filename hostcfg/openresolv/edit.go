package openresolv

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// WithoutServers returns resolvconf.conf's data with the words drop taken
// out of the value assigned at line (and add put at its end, for a list that
// would otherwise be empty). Only that value's bytes change (the words left
// joined by one space): its quotes, a comment after it and every other line
// stay. The result is read again and must assign the same variables on the
// same lines, that one the words left.
func WithoutServers(data []byte, line int, drop, add []string) ([]byte, error) {
	return rewrite(data, line, func(words []string) []string {
		var kept []string
		for _, w := range words {
			if !slices.Contains(drop, w) {
				kept = append(kept, w)
			}
		}
		if len(kept) == 0 {
			return add
		}
		return kept
	})
}

// Blacklisted returns resolvconf.conf's data with addrs in
// name_server_blacklist, whose servers openresolv leaves out whichever
// interface registers them (resolvconf.in's list_remove): the last
// assignment gains them, or a line is appended. Every other byte is kept.
func Blacklisted(data []byte, addrs []string) ([]byte, error) {
	vars, err := lastAssignments(data)
	if err != nil {
		return nil, err
	}
	if v, ok := vars[blacklistVar]; ok {
		return rewrite(data, v.Line, func(words []string) []string {
			for _, a := range addrs {
				if !slices.Contains(words, a) {
					words = append(words, a)
				}
			}
			return words
		})
	}
	out := slices.Clone(data)
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return append(out, blacklistVar+"=\""+strings.Join(addrs, " ")+"\"\n"...), nil
}

// rewrite replaces the words of the value assigned at line by edit's.
func rewrite(data []byte, line int, edit func(words []string) []string) ([]byte, error) {
	before, err := conffile.Assignments(Conf, data)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(before, func(a conffile.Assignment) bool { return a.Line == line })
	if i < 0 {
		return nil, hostcfg.Errorf(Conf, line, "no assignment on this line")
	}
	a := before[i]
	start, end, quote := span(data, a, conffile.Lines(data)[line-1].End)
	val := string(data[start:end])
	start, end = start-len(quote), end+len(quote)
	nv := strings.Join(edit(strings.Fields(val)), " ")
	if quote == "" && strings.Contains(nv, " ") {
		quote = `"` // several words need quotes, or the shell runs the second
	}
	var out bytes.Buffer
	out.Write(data[:start])
	fmt.Fprintf(&out, "%s%s%s", quote, nv, quote)
	out.Write(data[end:])
	after, err := conffile.Assignments(Conf, out.Bytes())
	if err != nil || len(after) != len(before) || after[i].Key != a.Key || after[i].Line != a.Line || value(out.Bytes(), after[i]) != nv {
		return nil, hostcfg.Errorf(Conf, line, "editing %s changed more than its value: unloop refuses to write it", a.Key)
	}
	return out.Bytes(), nil
}

// Regenerated is openresolv's file with next as its nameservers, as the
// libc subscriber writes them from the edited inputs: its nameserver lines
// replaced, in their place, by one line for each of next. Every other byte
// (the signature, search, options, head and tail) is kept.
func Regenerated(file string, data []byte, next []string) ([]byte, error) {
	conf, err := resolvconf.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if len(conf.Nameservers) == 0 {
		return data, nil
	}
	drop := map[int]bool{}
	for _, ns := range conf.Nameservers {
		drop[ns.Line] = true
	}
	first := conf.Nameservers[0].Line
	var out []byte
	for i, l := range bytes.SplitAfter(data, []byte("\n")) {
		if i+1 == first {
			for _, n := range next {
				out = append(out, "nameserver "+n+"\n"...)
			}
		}
		if !drop[i+1] {
			out = append(out, l...)
		}
	}
	return out, nil
}

// span is where the value of the assignment a (on a line ending at lineEnd)
// is in data, without its quotes, as the shell reads it: a quoted word up
// to its closing quote, else the bare word up to a blank (a "# comment"
// after it is no part of it).
func span(data []byte, a conffile.Assignment, lineEnd int) (start, end int, quote string) {
	start = a.Start + len(a.Key) + 1
	rest := string(data[start:lineEnd])
	if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
		if j := strings.IndexByte(rest[1:], rest[0]); j >= 0 {
			return start + 1, start + 1 + j, rest[:1]
		}
	}
	if j := strings.IndexFunc(rest, conffile.IsSpace); j >= 0 {
		return start, start + j, ""
	}
	return start, lineEnd, ""
}

// value is the value of the assignment a in data, as the shell reads it.
func value(data []byte, a conffile.Assignment) string {
	ls := conffile.Lines(data)
	start, end, _ := span(data, a, ls[a.Line-1].End)
	return string(data[start:end])
}
