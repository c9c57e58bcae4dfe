// Package conffile holds what the parsers under hostcfg share: the text checks
// every configuration file goes through, line splitting, and systemd-style
// drop-in folders.
package conffile

import (
	"bytes"
	"errors"
	"path"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/unloop/unloop/hostcfg"
)

// MaxINILine bounds a line of the INI-like files (resolved.conf, NetworkManager
// keyfiles, dhclient.conf): long server lists are legitimate there, a megabyte
// line is not.
const MaxINILine = 64 << 10

// CheckParsedSize refuses a file over hostcfg.MaxParsedSize before it is
// parsed into a tree or a token list.
func CheckParsedSize(path string, data []byte) error {
	if len(data) > hostcfg.MaxParsedSize {
		return hostcfg.Errorf(path, 0, "file is %d bytes, more than the %d unloop parses in a file of this kind (real ones are a few KB)", len(data), hostcfg.MaxParsedSize)
	}
	return nil
}

// Check rejects what no configuration file holds: more than hostcfg.MaxFileSize
// bytes, NUL or other control bytes, invalid UTF-8, or a line longer than
// maxLine bytes. The error names path and the line, so `unreadable` can point
// at it.
func Check(path string, data []byte, maxLine int) error {
	if len(data) > hostcfg.MaxFileSize {
		return hostcfg.Errorf(path, 0, "file is %d bytes, more than the %d a configuration file may have", len(data), hostcfg.MaxFileSize)
	}
	line, lineStart := 1, 0
	for i := 0; i < len(data); {
		b := data[i]
		if b == '\n' {
			if n := lineLen(data[lineStart:i]); n > maxLine {
				return hostcfg.Errorf(path, line, "line is %d bytes long, more than %d", n, maxLine)
			}
			line++
			i++
			lineStart = i
			continue
		}
		if b < utf8.RuneSelf {
			switch {
			case b == 0:
				return hostcfg.Errorf(path, line, "NUL byte: binary data, not a text file")
			case b == 0x7f || (b < 0x20 && b != '\t' && b != '\r' && b != '\v' && b != '\f'):
				return hostcfg.Errorf(path, line, "control byte 0x%02x: binary data, not a text file", b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return hostcfg.Errorf(path, line, "invalid UTF-8 (byte 0x%02x): binary data, not a text file", b)
		}
		i += size
	}
	if n := lineLen(data[lineStart:]); n > maxLine {
		return hostcfg.Errorf(path, line, "line is %d bytes long, more than %d", n, maxLine)
	}
	return nil
}

// lineLen is a line's length without a CR that ends it (CRLF files).
func lineLen(l []byte) int {
	return len(bytes.TrimSuffix(l, []byte("\r")))
}

// Line is one line of a file: data[Start:End] is its text without the
// line terminator, data[Start:Next] with it.
type Line struct {
	Start, End, Next int
}

// Lines cuts data into lines at '\n'. A last line without '\n' is a line;
// an empty file has none. A CR before the '\n' is left out of [Start, End).
func Lines(data []byte) []Line {
	var out []Line
	for start := 0; start < len(data); {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			end := len(data)
			if data[end-1] == '\r' {
				end--
			}
			out = append(out, Line{start, end, len(data)})
			break
		}
		end := start + i
		if end > start && data[end-1] == '\r' {
			end--
		}
		out = append(out, Line{start, end, start + i + 1})
		start += i + 1
	}
	return out
}

// IsSpace is the whitespace of the files parsed here: ASCII only, as in the C
// parsers that read them.
func IsSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\r' || r == '\v' || r == '\f'
}

// Clean makes p an absolute, clean node path.
func Clean(p string) string {
	return path.Clean("/" + p)
}

// LineOfOffset is the 1-based line of offset off in data.
func LineOfOffset(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	return 1 + strings.Count(string(data[:off]), "\n")
}

// DropIns lists the files named *suffix in sub of each of dirs, a name in
// an earlier folder shadowing the same name in later ones, sorted by name.
// Links to /dev/null mask their name and are left out.
func DropIns(r *hostcfg.Root, dirs []string, sub, suffix string) ([]string, error) {
	byName := map[string]string{}
	var errs []error
	for _, dir := range dirs {
		d := path.Join(dir, sub)
		ents, err := r.ReadDir(d)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, suffix) || e.IsDir() {
				continue
			}
			if _, seen := byName[name]; !seen {
				byName[name] = path.Join(d, name)
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	slices.Sort(names)
	var out []string
	for _, n := range names {
		p := byName[n]
		if t, err := r.Readlink(p); err == nil && path.Clean(t) == "/dev/null" {
			continue
		}
		if fi, err := r.Stat(p); err == nil && fi.IsDir() {
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// ForEachINILine calls fn with each logical line of a systemd-style file,
// trimmed, and the number of its first line, as systemd's config_parse reads
// them (src/shared/conf-parser.c, v252–v256): a UTF-8 byte order mark before
// the first line is dropped; comments (# and ;) and blank lines are skipped; a
// line ending in an unescaped backslash goes on in the next one, and comment
// lines inside are skipped.
func ForEachINILine(data []byte, fn func(num int, text string) error) error {
	lines := Lines(data)
	text := func(i int) string {
		t := string(data[lines[i].Start:lines[i].End])
		if i == 0 {
			t = strings.TrimPrefix(t, "\ufeff")
		}
		return strings.TrimFunc(t, IsSpace)
	}
	for i := 0; i < len(lines); i++ {
		num := i + 1
		t := text(i)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		for continues(t) && i+1 < len(lines) {
			t = strings.TrimRightFunc(t[:len(t)-1], IsSpace) + " "
			i++
			next := text(i)
			if next != "" && (next[0] == '#' || next[0] == ';') {
				t += `\` // keep going past the comment
				continue
			}
			t += next
		}
		if continues(t) { // the file ends in a continuation
			t = t[:len(t)-1]
		}
		if err := fn(num, strings.TrimFunc(t, IsSpace)); err != nil {
			return err
		}
	}
	return nil
}

// continues: the line ends in a backslash that is not itself escaped (an odd
// run of them), as systemd counts.
func continues(t string) bool {
	n := len(t) - len(strings.TrimRight(t, `\`))
	return n%2 == 1
}

// Assignment is one NAME=value line of a file read as shell assignments
// (an ifcfg profile, /etc/default/*): Start is the offset of its name.
type Assignment struct {
	Key, Value  string
	Line, Start int
}

// Assignments reads data's NAME=value lines as shell assignments: '#'
// comments, a value in single or double quotes or bare; lines of any other
// form are skipped, as NetworkManager's shvar.c and a shell's `.` of the file
// leave them. Bounded like the INI-like files.
func Assignments(p string, data []byte) ([]Assignment, error) {
	if err := Check(p, data, MaxINILine); err != nil {
		return nil, err
	}
	var out []Assignment
	for i, l := range Lines(data) {
		raw := string(data[l.Start:l.End])
		t := strings.TrimLeftFunc(raw, IsSpace)
		key, val, ok := strings.Cut(t, "=")
		if !ok || t == "" || t[0] == '#' || strings.ContainsFunc(key, IsSpace) {
			continue
		}
		val = strings.TrimRightFunc(val, IsSpace)
		if len(val) >= 2 && (val[0] == '"' || val[0] == '\'') && val[len(val)-1] == val[0] {
			val = val[1 : len(val)-1]
		}
		out = append(out, Assignment{Key: key, Value: val, Line: i + 1, Start: l.Start + len(raw) - len(t)})
	}
	return out, nil
}
