package hostcfg

import (
	"bytes"
	"unicode/utf8"
)

// MaxLineLength bounds a line of resolv.conf. glibc reads lines into a buffer
// of its own and treats longer ones as junk; no real file comes near it.
const MaxLineLength = 4096

// maxINILine bounds a line of the INI-like files (resolved.conf, NetworkManager
// keyfiles, dhclient.conf): long server lists are legitimate there, a megabyte
// line is not.
const maxINILine = 64 << 10

// checkText rejects what no configuration file holds: more than MaxFileSize
// bytes, NUL or other control bytes, invalid UTF-8, or a line longer than
// maxLine bytes. The error names path and the line, so `unreadable` can point
// at it.
func checkText(path string, data []byte, maxLine int) error {
	if len(data) > MaxFileSize {
		return Errorf(path, 0, "file is %d bytes, more than the %d a configuration file may have", len(data), MaxFileSize)
	}
	line, lineStart := 1, 0
	for i := 0; i < len(data); {
		b := data[i]
		if b == '\n' {
			if n := lineLen(data[lineStart:i]); n > maxLine {
				return Errorf(path, line, "line is %d bytes long, more than %d", n, maxLine)
			}
			line++
			i++
			lineStart = i
			continue
		}
		if b < utf8.RuneSelf {
			switch {
			case b == 0:
				return Errorf(path, line, "NUL byte: binary data, not a text file")
			case b == 0x7f || (b < 0x20 && b != '\t' && b != '\r' && b != '\v' && b != '\f'):
				return Errorf(path, line, "control byte 0x%02x: binary data, not a text file", b)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return Errorf(path, line, "invalid UTF-8 (byte 0x%02x): binary data, not a text file", b)
		}
		i += size
	}
	if n := lineLen(data[lineStart:]); n > maxLine {
		return Errorf(path, line, "line is %d bytes long, more than %d", n, maxLine)
	}
	return nil
}

// lineLen is a line's length without a CR that ends it (CRLF files).
func lineLen(l []byte) int {
	return len(bytes.TrimSuffix(l, []byte("\r")))
}

// lineSpan is one line of a file: data[Start:End] is its text without the
// line terminator, data[Start:Next] with it.
type lineSpan struct {
	Start, End, Next int
}

// splitLines cuts data into lines at '\n'. A last line without '\n' is a line;
// an empty file has none. A CR before the '\n' is left out of [Start, End).
func splitLines(data []byte) []lineSpan {
	var out []lineSpan
	for start := 0; start < len(data); {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			end := len(data)
			if data[end-1] == '\r' {
				end--
			}
			out = append(out, lineSpan{start, end, len(data)})
			break
		}
		end := start + i
		if end > start && data[end-1] == '\r' {
			end--
		}
		out = append(out, lineSpan{start, end, start + i + 1})
		start += i + 1
	}
	return out
}

// isSpace is the whitespace of the files parsed here: ASCII only, as in the C
// parsers that read them.
func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\r' || r == '\v' || r == '\f'
}
