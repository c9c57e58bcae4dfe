package hostcfg

// This file reads kubelet's command line the way systemd builds it: unit files
// and drop-ins (systemd.syntax(7)), ExecStart= word splitting, Environment= and
// EnvironmentFile= (systemd.exec(5)), and $VAR / ${VAR} expansion
// (systemd.service(5)). Every byte of a value remembers where it was written,
// so a flag's value can be traced back to the bytes an editor must replace.

import (
	"strings"
	"unicode/utf8"
)

// srcByte is one byte of a value and where it came from.
type srcByte struct {
	c    byte
	file int  // index into srcFiles
	off  int  // byte offset in that file
	lit  bool // the byte is written as itself at off (not produced by an escape or a line join)
}

// srcText is a value whose bytes know their origin.
type srcText []srcByte

func (s srcText) String() string {
	b := make([]byte, len(s))
	for i, c := range s {
		b[i] = c.c
	}
	return string(b)
}

// srcFiles is the table of files values come from.
type srcFiles struct {
	paths []string
	data  [][]byte
}

func (f *srcFiles) add(path string, data []byte) int {
	f.paths = append(f.paths, path)
	f.data = append(f.data, data)
	return len(f.paths) - 1
}

// lineOfOffset is the 1-based line of offset off in data.
func lineOfOffset(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	return 1 + strings.Count(string(data[:off]), "\n")
}

// srcLiteralSpan returns the file and the byte range that hold s exactly as
// written, or ok false when s is not one contiguous literal run (quotes, escapes
// or joined lines in between, or bytes from two files).
func srcLiteralSpan(s srcText) (file, start, end int, ok bool) {
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	file, start = s[0].file, s[0].off
	for i, c := range s {
		if !c.lit || c.file != file || c.off != start+i {
			return 0, 0, 0, false
		}
	}
	return file, start, start + len(s), true
}

const (
	unitWhitespace = " \t\n\r"
	unitComments   = "#;"
)

func isUnitSpace(c byte) bool { return strings.IndexByte(unitWhitespace, c) >= 0 }

func trimUnitSpace(s srcText) srcText {
	for len(s) > 0 && isUnitSpace(s[0].c) {
		s = s[1:]
	}
	for len(s) > 0 && isUnitSpace(s[len(s)-1].c) {
		s = s[:len(s)-1]
	}
	return s
}

// unitAssignment is one `Key=value` line of a unit file's [Service] section.
type unitAssignment struct {
	Key   string
	Value srcText // stripped, continuation lines joined
	Line  int     // the line the assignment starts on
}

// unitPhysicalLines cuts data at "\n", "\r\n", "\r" and NUL, as systemd's
// read_line() does, and returns each line's start and end offsets.
func unitPhysicalLines(data []byte) [][2]int {
	var out [][2]int
	start := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n', 0:
			out = append(out, [2]int{start, i})
			start = i + 1
		case '\r':
			out = append(out, [2]int{start, i})
			if i+1 < len(data) && data[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(data) {
		out = append(out, [2]int{start, len(data)})
	}
	return out
}

// parseUnitFile returns the assignments of the [Service] section of a unit
// file or drop-in. Like systemd, it skips comment lines even inside a
// continuation, joins lines that end in an unescaped backslash (the backslash
// becomes a space), and ignores lines it cannot use instead of failing.
func parseUnitFile(fi int, data []byte) []unitAssignment {
	var (
		out     []unitAssignment
		section string
		cont    srcText
		contAt  int
	)
	flush := func(p srcText, line int) {
		p = trimUnitSpace(p)
		if len(p) == 0 {
			return
		}
		if p[0].c == '[' {
			if p[len(p)-1].c == ']' {
				section = p[1 : len(p)-1].String()
			} else {
				section = "" // systemd refuses the file; nothing here is used
			}
			return
		}
		if section != "Service" {
			return
		}
		eq := -1
		for i, c := range p {
			if c.c == '=' {
				eq = i
				break
			}
		}
		if eq <= 0 {
			return
		}
		out = append(out, unitAssignment{
			Key:   trimUnitSpace(p[:eq]).String(),
			Value: trimUnitSpace(p[eq+1:]),
			Line:  line,
		})
	}
	for n, ln := range unitPhysicalLines(data) {
		start, end := ln[0], ln[1]
		if n == 0 && strings.HasPrefix(string(data[start:end]), "\uFEFF") {
			start += len("\uFEFF")
		}
		text := data[start:end]
		trimmed := strings.TrimLeft(string(text), unitWhitespace)
		if trimmed != "" && strings.IndexByte(unitComments, trimmed[0]) >= 0 {
			continue
		}
		if cont == nil {
			contAt = n + 1
		}
		p := cont
		for i := start; i < end; i++ {
			p = append(p, srcByte{c: data[i], file: fi, off: i, lit: true})
		}
		escaped := false
		for _, c := range p {
			if escaped {
				escaped = false
			} else if c.c == '\\' {
				escaped = true
			}
		}
		if escaped {
			p[len(p)-1] = srcByte{c: ' ', file: fi, off: p[len(p)-1].off}
			cont = p
			continue
		}
		cont = nil
		flush(p, contAt)
	}
	if cont != nil {
		flush(cont, contAt)
	}
	return out
}

// unitWordFlags choose how unitExtractWord reads a word, after systemd's extract_first_word.
type unitWordFlags int

const (
	unitWordUnescape unitWordFlags = 1 << iota // C escapes (\n, \x41, ...) are decoded
	unitWordRelax                              // unbalanced quotes end the word instead of failing
)

// unitExtractWord reads the next whitespace-separated word of s from *pos, with
// quotes removed wherever they are in the word. It returns ok false when no word
// is left, and bad true for unbalanced quotes (systemd then ignores the line).
func unitExtractWord(s srcText, pos *int, flags unitWordFlags) (word srcText, ok, bad bool) {
	i := *pos
	for i < len(s) && isUnitSpace(s[i].c) {
		i++
	}
	if i >= len(s) {
		*pos = len(s)
		return nil, false, false
	}
	word = srcText{}
	var quote byte
	for i < len(s) {
		c := s[i]
		switch {
		case c.c == '\\':
			if i+1 >= len(s) {
				if quote != 0 && flags&unitWordRelax == 0 {
					*pos = len(s)
					return nil, false, true
				}
				if flags&unitWordUnescape != 0 {
					// systemd retries a failed word with its escapes relaxed,
					// which keeps a trailing backslash.
					word = append(word, c)
				}
				i++
				continue
			}
			if flags&unitWordUnescape == 0 {
				word = append(word, s[i+1])
				i += 2
				continue
			}
			dec, n := unitUnescape(s[i+1:])
			if n == 0 {
				// An unknown escape: systemd warns and keeps it verbatim.
				word = append(word, c, s[i+1])
				i += 2
				continue
			}
			for _, b := range dec {
				word = append(word, srcByte{c: b, file: c.file, off: c.off})
			}
			i += 1 + n
		case quote != 0:
			if c.c == quote {
				quote = 0
			} else {
				word = append(word, c)
			}
			i++
		case c.c == '\'' || c.c == '"':
			quote = c.c
			i++
		case isUnitSpace(c.c):
			*pos = i
			return word, true, false
		default:
			word = append(word, c)
			i++
		}
	}
	*pos = len(s)
	if quote != 0 && flags&unitWordRelax == 0 {
		return nil, false, true
	}
	return word, true, false
}

// unitUnescape decodes the C escape at the start of s (the part after the
// backslash), as systemd's cunescape_one does. n is how many bytes of s it used;
// 0 means the escape is not one systemd knows.
func unitUnescape(s srcText) (dec []byte, n int) {
	hex := func(b byte) int {
		switch {
		case b >= '0' && b <= '9':
			return int(b - '0')
		case b >= 'a' && b <= 'f':
			return int(b-'a') + 10
		case b >= 'A' && b <= 'F':
			return int(b-'A') + 10
		}
		return -1
	}
	if len(s) == 0 {
		return nil, 0
	}
	switch c := s[0].c; c {
	case 'a':
		return []byte{'\a'}, 1
	case 'b':
		return []byte{'\b'}, 1
	case 'f':
		return []byte{'\f'}, 1
	case 'n':
		return []byte{'\n'}, 1
	case 'r':
		return []byte{'\r'}, 1
	case 't':
		return []byte{'\t'}, 1
	case 'v':
		return []byte{'\v'}, 1
	case '\\', '"', '\'':
		return []byte{c}, 1
	case 's':
		return []byte{' '}, 1
	case 'x':
		if len(s) < 3 || hex(s[1].c) < 0 || hex(s[2].c) < 0 {
			return nil, 0
		}
		v := hex(s[1].c)<<4 | hex(s[2].c)
		if v == 0 {
			return nil, 0
		}
		return []byte{byte(v)}, 3
	case 'u', 'U':
		digits := 4
		if c == 'U' {
			digits = 8
		}
		if len(s) < 1+digits {
			return nil, 0
		}
		v := 0
		for k := 1; k <= digits; k++ {
			h := hex(s[k].c)
			if h < 0 {
				return nil, 0
			}
			v = v<<4 | h
		}
		if v == 0 || v > utf8.MaxRune || !utf8.ValidRune(rune(v)) {
			return nil, 0
		}
		return utf8.AppendRune(nil, rune(v)), 1 + digits
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 3 {
			return nil, 0
		}
		v := 0
		for k := 0; k < 3; k++ {
			d := s[k].c
			if d < '0' || d > '7' {
				return nil, 0
			}
			v = v<<3 | int(d-'0')
		}
		if v == 0 || v > 0xff {
			return nil, 0
		}
		return []byte{byte(v)}, 3
	}
	return nil, 0
}

// unitSplitWords splits s into words with unitExtractWord.
func unitSplitWords(s srcText, flags unitWordFlags) (words []srcText, bad bool) {
	pos := 0
	for {
		w, ok, b := unitExtractWord(s, &pos, flags)
		if b {
			return nil, true
		}
		if !ok {
			return words, false
		}
		words = append(words, w)
	}
}

// unitSpecifiers resolves "%%" to "%". Other specifiers (%n, %i, ...) name the
// unit or the host and are left as written: kubelet's units don't use them.
func unitSpecifiers(s srcText) srcText {
	out := make(srcText, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i].c == '%' && i+1 < len(s) && s[i+1].c == '%' {
			out = append(out, s[i])
			i++
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// unitExecCommand is one command of an ExecStart= line.
type unitExecCommand struct {
	Path     srcText
	Args     []srcText // argv[1:] as written, before environment expansion
	NoEnv    bool      // ":" prefix: systemd expands no variables
	Line     int
	FileIdx  int
	Position int // the assignment's order, for "last one wins"
}

// parseExecStart splits an ExecStart= value into commands (";" separates them),
// as systemd's config_parse_exec does. A value systemd would reject (unbalanced
// quotes) gives no commands.
func parseExecStart(v srcText, line int) []unitExecCommand {
	var out []unitExecCommand
	pos := 0
	for {
		first, ok, bad := unitExtractWord(v, &pos, unitWordUnescape)
		if bad || !ok {
			return out
		}
		if first.String() == ";" {
			continue
		}
		cmd := unitExecCommand{Line: line}
		separateArgv0 := false
		f := first
	prefixes:
		for len(f) > 0 {
			switch f[0].c {
			case '-', '+', '!':
			case '@':
				separateArgv0 = true
			case ':':
				cmd.NoEnv = true
			default:
				break prefixes
			}
			f = f[1:]
		}
		cmd.Path = unitSpecifiers(f)
		semicolon := false
		for pos < len(v) {
			for pos < len(v) && isUnitSpace(v[pos].c) {
				pos++
			}
			if pos >= len(v) {
				break
			}
			if v[pos].c == ';' && (pos+1 == len(v) || isUnitSpace(v[pos+1].c)) {
				pos++
				semicolon = true
				break
			}
			if v[pos].c == '\\' && pos+1 < len(v) && v[pos+1].c == ';' && (pos+2 == len(v) || isUnitSpace(v[pos+2].c)) {
				cmd.Args = append(cmd.Args, srcText{v[pos+1]})
				pos += 2
				continue
			}
			w, ok, bad := unitExtractWord(v, &pos, unitWordUnescape)
			if bad {
				return out
			}
			if !ok {
				break
			}
			cmd.Args = append(cmd.Args, unitSpecifiers(w))
		}
		if separateArgv0 {
			if len(cmd.Args) == 0 {
				return out
			}
			cmd.Args = cmd.Args[1:]
		}
		if len(cmd.Path) > 0 {
			out = append(out, cmd)
		}
		if !semicolon {
			return out
		}
	}
}

// unitEnvNameValid is systemd's env_name_is_valid: a shell variable name.
func unitEnvNameValid(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// unitEnvValueValid is systemd's env_value_is_valid: UTF-8 without control
// characters other than newline and tab.
func unitEnvValueValid(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f {
			return false
		}
	}
	return true
}

// unitEnvVar is one assignment of an environment file or an Environment= line.
type unitEnvVar struct {
	Name  string
	Value srcText
	Line  int
}

// parseUnitEnvironment reads the assignments of an Environment= value: quoted
// words of KEY=VALUE; words that are not valid assignments are ignored, as
// systemd does.
func parseUnitEnvironment(v srcText, line int) []unitEnvVar {
	words, bad := unitSplitWords(v, unitWordUnescape)
	if bad {
		return nil
	}
	var out []unitEnvVar
	for _, w := range words {
		w = unitSpecifiers(w)
		s := w.String()
		eq := strings.IndexByte(s, '=')
		if eq < 0 || !unitEnvNameValid(s[:eq]) || !unitEnvValueValid(s[eq+1:]) {
			continue
		}
		out = append(out, unitEnvVar{Name: s[:eq], Value: w[eq+1:], Line: line})
	}
	return out
}

// parseSystemdEnvFile reads an environment file (EnvironmentFile=) the way systemd's
// parse_env_file_internal does: KEY=VALUE lines, "#" and ";" comments,
// single quotes literal, double quotes with \" \\ \` \$ escapes and
// backslash-newline continuations, unquoted values with backslash escapes and
// trailing blanks cut. Assignments with invalid names are dropped, as systemd
// drops them before it runs the command.
func parseSystemdEnvFile(fi int, data []byte) []unitEnvVar {
	const (
		preKey = iota
		inKey
		preValue
		inValue
		valueEscape
		singleQuote
		doubleQuote
		doubleQuoteEscape
		comment
		commentEscape
	)
	var (
		out       []unitEnvVar
		state     = preKey
		key       []byte
		value     srcText
		keyLine   int
		line      = 1
		lastKeyWS = -1 // where trailing blanks of the key start
		lastValWS = -1 // where trailing blanks of an unquoted value start
	)
	isNL := func(c byte) bool { return c == '\n' || c == '\r' }
	push := func(trimValue bool) {
		if lastKeyWS >= 0 {
			key = key[:lastKeyWS]
		}
		v := value
		if trimValue && lastValWS >= 0 {
			v = v[:lastValWS]
		}
		name := string(key)
		if unitEnvNameValid(name) && unitEnvValueValid(v.String()) {
			if v == nil {
				v = srcText{}
			}
			out = append(out, unitEnvVar{Name: name, Value: v, Line: keyLine})
		}
		key, value = nil, nil
	}
	at := func(i int) srcByte { return srcByte{c: data[i], file: fi, off: i, lit: true} }
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch state {
		case preKey:
			switch {
			case strings.IndexByte(unitComments, c) >= 0:
				state = comment
			case !isUnitSpace(c):
				state = inKey
				lastKeyWS = -1
				keyLine = line
				key = append(key[:0], c)
			}
		case inKey:
			switch {
			case isNL(c):
				state = preKey
				key = key[:0]
			case c == '=':
				state = preValue
				lastValWS = -1
				value = nil
			default:
				if !isUnitSpace(c) {
					lastKeyWS = -1
				} else if lastKeyWS < 0 {
					lastKeyWS = len(key)
				}
				key = append(key, c)
			}
		case preValue:
			switch {
			case isNL(c):
				state = preKey
				push(false)
			case c == '\'':
				state = singleQuote
			case c == '"':
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case !isUnitSpace(c):
				state = inValue
				value = append(value, at(i))
			}
		case inValue:
			switch {
			case isNL(c):
				state = preKey
				push(true)
			case c == '\\':
				state = valueEscape
				lastValWS = -1
			default:
				if !isUnitSpace(c) {
					lastValWS = -1
				} else if lastValWS < 0 {
					lastValWS = len(value)
				}
				value = append(value, at(i))
			}
		case valueEscape:
			state = inValue
			if !isNL(c) {
				value = append(value, at(i))
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				value = append(value, at(i))
			}
		case doubleQuote:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleQuoteEscape
			default:
				value = append(value, at(i))
			}
		case doubleQuoteEscape:
			state = doubleQuote
			switch {
			case strings.IndexByte("\"\\`$", c) >= 0:
				value = append(value, at(i))
			case c != '\n':
				value = append(value, at(i-1), at(i))
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNL(c) {
				state = preKey
			}
		case commentEscape:
			if isNL(c) {
				state = preKey
			} else {
				state = comment
			}
		}
		if c == '\n' {
			line++
		}
	}
	switch state {
	case preValue, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		push(false)
	case inValue:
		push(true)
	}
	return out
}

// unitExpandArgv expands environment variables in argv as systemd does when it
// starts the command: a word that is exactly $NAME becomes the variable's value
// split into words (quotes honoured); ${NAME} anywhere in a word is replaced by
// the value as is, giving exactly one word; "$$" is a literal "$".
func unitExpandArgv(argv []srcText, env map[string]srcText) []srcText {
	var out []srcText
	for _, w := range argv {
		if len(w) > 0 && w[0].c == '$' && (len(w) == 1 || (w[1].c != '{' && w[1].c != '$')) {
			v, ok := env[w[1:].String()]
			if !ok {
				continue
			}
			words, _ := unitSplitWords(v, unitWordRelax)
			out = append(out, words...)
			continue
		}
		out = append(out, unitExpandBraces(w, env))
	}
	return out
}

// unitExpandBraces replaces ${NAME} in w (systemd's replace_env without its
// extended ${NAME:-default} forms, which ExecStart= does not support).
func unitExpandBraces(w srcText, env map[string]srcText) srcText {
	out := srcText{}
	for i := 0; i < len(w); {
		if w[i].c != '$' || i+1 >= len(w) {
			out = append(out, w[i])
			i++
			continue
		}
		switch w[i+1].c {
		case '$':
			out = append(out, w[i])
			i += 2
			continue
		case '{':
			end := -1
			for j := i + 2; j < len(w) && end < 0; j++ {
				switch w[j].c {
				case '}':
					end = j
				case ':':
					// ${NAME:-x} is not supported in ExecStart=: systemd
					// leaves it as written and reads on after the "$".
					j = len(w)
				}
			}
			if end < 0 {
				out = append(out, w[i])
				i++
				continue
			}
			out = append(out, env[w[i+2:end].String()]...)
			i = end + 1
			continue
		}
		out = append(out, w[i])
		i++
	}
	return out
}
