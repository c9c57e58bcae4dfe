// Package block is unloop's marked block in a file someone else owns (RHEL's
// dhclient-enter-hooks): spliced in after the owner's lines, and taken out
// again by its begin and end lines, so that every other byte stays the
// owner's whatever happened since. Rollback (remediate/journal) removes it
// without knowing which strategy put it there.
//
// A block is unloop's only when its full marker lines are there and enclose
// what unloop wrote: both lines carry a hash of the note and the body, a
// string no admin types by accident. Anything else, an admin's comment
// "# BEGIN unloop-free zone" or their own Ansible blockinfile block
// "# BEGIN unloop" ... "# END unloop", or unloop's block edited by hand, is the
// owner's: never removed, never refused over.
package block

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/unloop/unloop/hostcfg"
)

const (
	// Begin starts the block's first line; its hash and note follow, as
	// "# BEGIN unloop-managed block, do not edit (sha256 HASH): NOTE".
	Begin = "# BEGIN unloop-managed block, do not edit (sha256 "
	// End starts the block's last line, "# END unloop-managed block (sha256 HASH)".
	End = "# END unloop-managed block (sha256 "
	// eol ends the begin line when unloop also added the line break before
	// the block (the file did not end with one), so that removing the block
	// gives back every byte.
	eol = " (and the line break before it)"
	// hashLen hex digits of sha256 (64 bits) name the block's content.
	hashLen = 16
)

// Hash names a block's note and body in its marker lines: a block whose
// lines between the markers hash otherwise was edited, and is not unloop's.
func Hash(note, body string) string {
	sum := sha256.Sum256([]byte(note + "\n" + body))
	return hex.EncodeToString(sum[:])[:hashLen]
}

// Text is the block with note on its begin line and body (whole lines)
// inside; addedEOL says that the line break before it is unloop's too.
func Text(note, body string, addedEOL bool) string {
	h := Hash(note, body)
	begin := Begin + h + "): " + note
	if addedEOL {
		begin += eol
	}
	return begin + "\n" + body + End + h + ")\n"
}

// legacy are the blocks unloop wrote before its markers carried a hash
// ("# BEGIN unloop: NOTE" ... "# END unloop"): one, the same in every release
// since the RHEL enter hook came (commit ddd96b2). They are unloop's only when every byte between and on the
// marker lines is exactly what it wrote, so that rollback and a re-apply
// still work on nodes an older unloop fixed, while an admin's own block with
// those markers (Ansible's blockinfile with "# {mark} unloop") stays theirs.
var legacy = []struct{ note, body string }{{
	// RHEL's dhclient-enter-hooks (remediate's enterNote and enterBody).
	note: "keeps DNS forwarding loops out of /etc/resolv.conf; `unloop rollback` removes this block",
	body: "if [ -f /etc/dhcp/dhclient.d/unloop.sh ]; then\n\t. /etc/dhcp/dhclient.d/unloop.sh\nfi\n",
}}

const (
	legacyBegin = "# BEGIN unloop: "
	legacyEnd   = "# END unloop"
)

// line is one line of data: its bytes [start, end), line break included, and
// its text without the line break.
type line struct {
	start, end int
	text       string
}

func lines(data []byte) []line {
	var out []line
	for off := 0; off < len(data); {
		end := len(data)
		if next := bytes.IndexByte(data[off:], '\n'); next >= 0 {
			end = off + next + 1
		}
		out = append(out, line{off, end, strings.TrimRight(string(data[off:end]), "\r\n")})
		off = end
	}
	return out
}

// beginHash is the hash on a begin line of unloop's, and whether the line
// says unloop added the line break before it; ok is false for any other line.
func beginHash(text string) (hash string, addedEOL, ok bool) {
	rest, found := strings.CutPrefix(text, Begin)
	if !found || len(rest) < hashLen+3 || rest[hashLen:hashLen+3] != "): " {
		return "", false, false
	}
	hash = rest[:hashLen]
	if strings.Trim(hash, "0123456789abcdef") != "" {
		return "", false, false
	}
	return hash, strings.HasSuffix(text, eol), true
}

// Find finds unloop's block in data: the bytes [start, end) to remove, the
// line break before it included when the block says unloop added it. A full
// begin line of unloop's without its end line is an error: what follows it
// may be the owner's. A block whose content does not match its hash, and any
// block with other markers, is passed over as the owner's.
func Find(path string, data []byte) (start, end int, found bool, err error) {
	ls := lines(data)
	for i, l := range ls {
		if start, end, found = legacyAt(data, ls, i); found {
			return start, end, true, nil
		}
		hash, addedEOL, ok := beginHash(l.text)
		if !ok {
			continue
		}
		j := i + 1
		for j < len(ls) && ls[j].text != End+hash+")" {
			j++
		}
		if j == len(ls) {
			return 0, 0, false, hostcfg.Errorf(path, i+1,
				"unloop's %q line has no %q line after it: remove the block by hand, then run apply again", l.text, End+hash+")")
		}
		note := strings.TrimSuffix(strings.TrimPrefix(l.text, Begin+hash+"): "), eol)
		body := string(data[ls[i].end:ls[j].start])
		if Hash(note, body) != hash {
			continue // edited since: the owner's now
		}
		return blockStart(data, l.start, addedEOL), ls[j].end, true, nil
	}
	return 0, 0, false, nil
}

// legacyAt reports an older unloop's block starting at line i, recognised
// only when it is byte for byte one unloop wrote.
func legacyAt(data []byte, ls []line, i int) (start, end int, found bool) {
	note, ok := strings.CutPrefix(ls[i].text, legacyBegin)
	if !ok {
		return 0, 0, false
	}
	addedEOL := strings.HasSuffix(note, eol)
	note = strings.TrimSuffix(note, eol)
	for _, b := range legacy {
		if note != b.note {
			continue
		}
		want := b.body + legacyEnd + "\n"
		rest := data[ls[i].end:]
		if bytes.HasPrefix(rest, []byte(want)) {
			return blockStart(data, ls[i].start, addedEOL), ls[i].end + len(want), true
		}
	}
	return 0, 0, false
}

// blockStart includes the line break before a block that says unloop added it.
func blockStart(data []byte, off int, addedEOL bool) int {
	if addedEOL && off > 0 && data[off-1] == '\n' {
		return off - 1
	}
	return off
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
// unloop's (an older release's markers included) is replaced. Every other
// byte is kept.
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
