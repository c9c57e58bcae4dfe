// Package block is unloop's marked block in a file someone else owns (RHEL's
// dhclient-enter-hooks): spliced in after the owner's lines, and taken out
// again by its begin and end lines, so that every other byte stays the
// owner's whatever happened since. Rollback (remediate/journal) removes it
// without knowing which strategy put it there.
package block

import (
	"bytes"
	"strings"

	"github.com/unloop/unloop/hostcfg"
)

const (
	// Begin starts the block's first line, End is its last line.
	Begin = "# BEGIN unloop"
	End   = "# END unloop"
	// eol ends the begin line when unloop also added the line break before
	// the block (the file did not end with one), so that removing the block
	// gives back every byte.
	eol = " (and the line break before it)"
)

// Text is the block with note on its begin line and body (whole lines)
// inside; addedEOL says that the line break before it is unloop's too.
func Text(note, body string, addedEOL bool) string {
	begin := Begin + ": " + note
	if addedEOL {
		begin += eol
	}
	return begin + "\n" + body + End + "\n"
}

// Find finds unloop's block in data: the bytes [start, end) to remove, the
// line break before it included when the block says unloop added it. A begin
// line without its end line is an error: what follows it may be the owner's.
func Find(path string, data []byte) (start, end int, found bool, err error) {
	off, line, begin := 0, 0, -1
	for off < len(data) {
		line++
		next := bytes.IndexByte(data[off:], '\n')
		lineEnd := len(data)
		if next >= 0 {
			lineEnd = off + next + 1
		}
		text := strings.TrimRight(string(data[off:lineEnd]), "\r\n")
		switch {
		case begin < 0 && strings.HasPrefix(text, Begin):
			begin = off
			start = off
			if strings.HasSuffix(text, eol) && off > 0 && data[off-1] == '\n' {
				start = off - 1
			}
		case begin >= 0 && text == End:
			return start, lineEnd, true, nil
		}
		off = lineEnd
	}
	if begin >= 0 {
		return 0, 0, false, hostcfg.Errorf(path, bytes.Count(data[:begin], []byte("\n"))+1,
			"unloop's %q line has no %q line after it: remove the block by hand, then run apply again", Begin, End)
	}
	return 0, 0, false, nil
}

// Remove returns data without unloop's block, byte for byte what it was
// before the block was spliced in; found is false when there is none.
func Remove(path string, data []byte) (out []byte, found bool, err error) {
	start, end, found, err := Find(path, data)
	if err != nil || !found {
		return data, false, err
	}
	out = append(bytes.Clone(data[:start]), data[end:]...)
	return out, true, nil
}

// Splice puts unloop's block (note, body: as Text) at the end of data, after
// the owner's lines, so that it has the last word; an older block of
// unloop's is replaced. Every other byte is kept.
func Splice(path string, data []byte, note, body string) ([]byte, error) {
	base, _, err := Remove(path, data)
	if err != nil {
		return nil, err
	}
	out := bytes.Clone(base)
	addedEOL := len(out) > 0 && out[len(out)-1] != '\n'
	if addedEOL {
		out = append(out, '\n')
	}
	return append(out, Text(note, body, addedEOL)...), nil
}
