// Package unitfile reads what systemd reads to start a service: unit files
// and drop-ins (systemd.syntax(7)), ExecStart= word splitting, Environment= and
// EnvironmentFile= (systemd.exec(5)), and $VAR / ${VAR} expansion
// (systemd.service(5)). Every byte of a value remembers where it was written,
// so a flag's value can be traced back to the bytes an editor must replace.
package unitfile

import (
	"strings"
	"unicode/utf8"
)

// Byte is one byte of a value and where it came from.
type Byte struct {
	C    byte
	File int  // index into Files
	Off  int  // byte offset in that file
	Lit  bool // the byte is written as itself at Off (not produced by an escape or a line join)
}

// Text is a value whose bytes know their origin.
type Text []Byte

func (s Text) String() string {
	b := make([]byte, len(s))
	for i, c := range s {
		b[i] = c.C
	}
	return string(b)
}

// Files is the table of files values come from.
type Files struct {
	Paths []string
	Data  [][]byte
}

// Add puts a file in the table and returns its index, for Byte.File.
func (f *Files) Add(path string, data []byte) int {
	f.Paths = append(f.Paths, path)
	f.Data = append(f.Data, data)
	return len(f.Paths) - 1
}

// LiteralSpan returns the file and the byte range that hold s exactly as
// written, or ok false when s is not one contiguous literal run (quotes, escapes
// or joined lines in between, or bytes from two files).
func LiteralSpan(s Text) (file, start, end int, ok bool) {
	if len(s) == 0 {
		return 0, 0, 0, false
	}
	file, start = s[0].File, s[0].Off
	for i, c := range s {
		if !c.Lit || c.File != file || c.Off != start+i {
			return 0, 0, 0, false
		}
	}
	return file, start, start + len(s), true
}

const (
	whitespace = " \t\n\r"
	comments   = "#;"
)

func isSpace(c byte) bool { return strings.IndexByte(whitespace, c) >= 0 }

func trimSpace(s Text) Text {
	for len(s) > 0 && isSpace(s[0].C) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1].C) {
		s = s[:len(s)-1]
	}
	return s
}

// Assignment is one `Key=value` line of a unit file's [Service] section.
type Assignment struct {
	Key   string
	Value Text // stripped, continuation lines joined
	Line  int  // the line the assignment starts on
}

// physicalLines cuts data at "\n", "\r\n", "\r" and NUL, as systemd's
// read_line() does, and returns each line's start and end offsets.
func physicalLines(data []byte) [][2]int {
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

// Parse returns the assignments of the [Service] section of a unit
// file or drop-in. Like systemd, it skips comment lines even inside a
// continuation, joins lines that end in an unescaped backslash (the backslash
// becomes a space), and ignores lines it cannot use instead of failing.
func Parse(fi int, data []byte) []Assignment {
	var (
		out     []Assignment
		section string
		cont    Text
		contAt  int
	)
	flush := func(p Text, line int) {
		p = trimSpace(p)
		if len(p) == 0 {
			return
		}
		if p[0].C == '[' {
			if p[len(p)-1].C == ']' {
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
			if c.C == '=' {
				eq = i
				break
			}
		}
		if eq <= 0 {
			return
		}
		out = append(out, Assignment{
			Key:   trimSpace(p[:eq]).String(),
			Value: trimSpace(p[eq+1:]),
			Line:  line,
		})
	}
	for n, ln := range physicalLines(data) {
		start, end := ln[0], ln[1]
		if n == 0 && strings.HasPrefix(string(data[start:end]), "\uFEFF") {
			start += len("\uFEFF")
		}
		text := data[start:end]
		trimmed := strings.TrimLeft(string(text), whitespace)
		if trimmed != "" && strings.IndexByte(comments, trimmed[0]) >= 0 {
			continue
		}
		if cont == nil {
			contAt = n + 1
		}
		p := cont
		for i := start; i < end; i++ {
			p = append(p, Byte{C: data[i], File: fi, Off: i, Lit: true})
		}
		escaped := false
		for _, c := range p {
			if escaped {
				escaped = false
			} else if c.C == '\\' {
				escaped = true
			}
		}
		if escaped {
			p[len(p)-1] = Byte{C: ' ', File: fi, Off: p[len(p)-1].Off}
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

// WordFlags choose how extractWord reads a word, after systemd's extract_first_word.
type WordFlags int

const (
	WordUnescape WordFlags = 1 << iota // C escapes (\n, \x41, ...) are decoded
	WordRelax                          // unbalanced quotes end the word instead of failing
)

// extractWord reads the next whitespace-separated word of s from *pos, with
// quotes removed wherever they are in the word. It returns ok false when no word
// is left, and bad true for unbalanced quotes (systemd then ignores the line).
func extractWord(s Text, pos *int, flags WordFlags) (word Text, ok, bad bool) {
	i := *pos
	for i < len(s) && isSpace(s[i].C) {
		i++
	}
	if i >= len(s) {
		*pos = len(s)
		return nil, false, false
	}
	word = Text{}
	var quote byte
	for i < len(s) {
		c := s[i]
		switch {
		case c.C == '\\':
			if i+1 >= len(s) {
				if quote != 0 && flags&WordRelax == 0 {
					*pos = len(s)
					return nil, false, true
				}
				if flags&WordUnescape != 0 {
					// systemd retries a failed word with its escapes relaxed,
					// which keeps a trailing backslash.
					word = append(word, c)
				}
				i++
				continue
			}
			if flags&WordUnescape == 0 {
				word = append(word, s[i+1])
				i += 2
				continue
			}
			dec, n := unescape(s[i+1:])
			if n == 0 {
				// An unknown escape: systemd warns and keeps it verbatim.
				word = append(word, c, s[i+1])
				i += 2
				continue
			}
			for _, b := range dec {
				word = append(word, Byte{C: b, File: c.File, Off: c.Off})
			}
			i += 1 + n
		case quote != 0:
			if c.C == quote {
				quote = 0
			} else {
				word = append(word, c)
			}
			i++
		case c.C == '\'' || c.C == '"':
			quote = c.C
			i++
		case isSpace(c.C):
			*pos = i
			return word, true, false
		default:
			word = append(word, c)
			i++
		}
	}
	*pos = len(s)
	if quote != 0 && flags&WordRelax == 0 {
		return nil, false, true
	}
	return word, true, false
}

// hex is the value of a hexadecimal digit, -1 for another byte.
func hex(b byte) int {
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

// unescape decodes the C escape at the start of s (the part after the
// backslash), as systemd's cunescape_one does. n is how many bytes of s it used;
// 0 means the escape is not one systemd knows.
func unescape(s Text) (dec []byte, n int) {
	if len(s) == 0 {
		return nil, 0
	}
	switch c := s[0].C; c {
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
		if len(s) < 3 || hex(s[1].C) < 0 || hex(s[2].C) < 0 {
			return nil, 0
		}
		v := hex(s[1].C)<<4 | hex(s[2].C)
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
			h := hex(s[k].C)
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
			d := s[k].C
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

// SplitWords splits s into words with extractWord.
func SplitWords(s Text, flags WordFlags) (words []Text, bad bool) {
	pos := 0
	for {
		w, ok, b := extractWord(s, &pos, flags)
		if b {
			return nil, true
		}
		if !ok {
			return words, false
		}
		words = append(words, w)
	}
}

// Specifiers resolves "%%" to "%". Other specifiers (%n, %i, ...) name the
// unit or the host and are left as written: kubelet's units don't use them.
func Specifiers(s Text) Text {
	out := make(Text, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i].C == '%' && i+1 < len(s) && s[i+1].C == '%' {
			out = append(out, s[i])
			i++
			continue
		}
		out = append(out, s[i])
	}
	return out
}

// Command is one command of an ExecStart= line.
type Command struct {
	Path     Text
	Args     []Text // argv[1:] as written, before environment expansion
	NoEnv    bool   // ":" prefix: systemd expands no variables
	Line     int
	FileIdx  int
	Position int // the assignment's order, for "last one wins"
}

// ParseExecStart splits an ExecStart= value into commands (";" separates them),
// as systemd's config_parse_exec does. A value systemd would reject (unbalanced
// quotes) gives no commands.
func ParseExecStart(v Text, line int) []Command {
	var out []Command
	pos := 0
	for {
		first, ok, bad := extractWord(v, &pos, WordUnescape)
		if bad || !ok {
			return out
		}
		if first.String() == ";" {
			continue
		}
		cmd := Command{Line: line}
		separateArgv0 := false
		f := first
	prefixes:
		for len(f) > 0 {
			switch f[0].C {
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
		cmd.Path = Specifiers(f)
		semicolon := false
		for pos < len(v) {
			for pos < len(v) && isSpace(v[pos].C) {
				pos++
			}
			if pos >= len(v) {
				break
			}
			if v[pos].C == ';' && (pos+1 == len(v) || isSpace(v[pos+1].C)) {
				pos++
				semicolon = true
				break
			}
			if v[pos].C == '\\' && pos+1 < len(v) && v[pos+1].C == ';' && (pos+2 == len(v) || isSpace(v[pos+2].C)) {
				cmd.Args = append(cmd.Args, Text{v[pos+1]})
				pos += 2
				continue
			}
			w, ok, bad := extractWord(v, &pos, WordUnescape)
			if bad {
				return out
			}
			if !ok {
				break
			}
			cmd.Args = append(cmd.Args, Specifiers(w))
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

// envNameValid is systemd's env_name_is_valid: a shell variable name.
func envNameValid(s string) bool {
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

// envValueValid is systemd's env_value_is_valid: UTF-8 without control
// characters other than newline and tab.
func envValueValid(s string) bool {
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

// EnvVar is one assignment of an environment file or an Environment= line.
type EnvVar struct {
	Name  string
	Value Text
	Line  int
}

// ParseEnvironment reads the assignments of an Environment= value: quoted
// words of KEY=VALUE; words that are not valid assignments are ignored, as
// systemd does.
func ParseEnvironment(v Text, line int) []EnvVar {
	words, bad := SplitWords(v, WordUnescape)
	if bad {
		return nil
	}
	var out []EnvVar
	for _, w := range words {
		w = Specifiers(w)
		s := w.String()
		eq := strings.IndexByte(s, '=')
		if eq < 0 || !envNameValid(s[:eq]) || !envValueValid(s[eq+1:]) {
			continue
		}
		out = append(out, EnvVar{Name: s[:eq], Value: w[eq+1:], Line: line})
	}
	return out
}

// ParseEnvFile reads an environment file (EnvironmentFile=) the way systemd's
// parse_env_file_internal does: KEY=VALUE lines, "#" and ";" comments,
// single quotes literal, double quotes with \" \\ \` \$ escapes and
// backslash-newline continuations, unquoted values with backslash escapes and
// trailing blanks cut. Assignments with invalid names are dropped, as systemd
// drops them before it runs the command. fi is the file's index in Files.
func ParseEnvFile(fi int, data []byte) []EnvVar {
	p := &envParser{fi: fi, data: data, line: 1, lastKeyWS: -1, lastValWS: -1}
	for i, c := range data {
		switch p.state {
		case preKey, inKey:
			p.key(c)
		case preValue, inValue, valueEscape:
			p.value(i, c)
		case singleQuote, doubleQuote, doubleQuoteEscape:
			p.quoted(i, c)
		case comment, commentEscape:
			p.comment(c)
		}
		if c == '\n' {
			p.line++
		}
	}
	switch p.state {
	case preValue, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		p.push(false)
	case inValue:
		p.push(true)
	}
	return p.out
}

// envState is where parse_env_file_internal's state machine is.
type envState int

const (
	preKey envState = iota
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

// envParser is ParseEnvFile's state between bytes.
type envParser struct {
	fi        int
	data      []byte
	out       []EnvVar
	state     envState
	k         []byte
	v         Text
	keyLine   int
	line      int
	lastKeyWS int // where trailing blanks of the key start
	lastValWS int // where trailing blanks of an unquoted value start
}

func isNL(c byte) bool { return c == '\n' || c == '\r' }

// at is data[i] as a literal byte of the file.
func (p *envParser) at(i int) Byte { return Byte{C: p.data[i], File: p.fi, Off: i, Lit: true} }

// push ends an assignment: it is kept when its name and value are valid.
func (p *envParser) push(trimValue bool) {
	if p.lastKeyWS >= 0 {
		p.k = p.k[:p.lastKeyWS]
	}
	v := p.v
	if trimValue && p.lastValWS >= 0 {
		v = v[:p.lastValWS]
	}
	name := string(p.k)
	if envNameValid(name) && envValueValid(v.String()) {
		if v == nil {
			v = Text{}
		}
		p.out = append(p.out, EnvVar{Name: name, Value: v, Line: p.keyLine})
	}
	p.k, p.v = nil, nil
}

// key reads c before or in a key.
func (p *envParser) key(c byte) {
	switch p.state {
	case preKey:
		switch {
		case strings.IndexByte(comments, c) >= 0:
			p.state = comment
		case !isSpace(c):
			p.state = inKey
			p.lastKeyWS = -1
			p.keyLine = p.line
			p.k = append(p.k[:0], c)
		}
	case inKey:
		switch {
		case isNL(c):
			p.state = preKey
			p.k = p.k[:0]
		case c == '=':
			p.state = preValue
			p.lastValWS = -1
			p.v = nil
		default:
			if !isSpace(c) {
				p.lastKeyWS = -1
			} else if p.lastKeyWS < 0 {
				p.lastKeyWS = len(p.k)
			}
			p.k = append(p.k, c)
		}
	}
}

// value reads c, the byte at i, before or in an unquoted value.
func (p *envParser) value(i int, c byte) {
	switch p.state {
	case preValue:
		switch {
		case isNL(c):
			p.state = preKey
			p.push(false)
		case c == '\'':
			p.state = singleQuote
		case c == '"':
			p.state = doubleQuote
		case c == '\\':
			p.state = valueEscape
		case !isSpace(c):
			p.state = inValue
			p.v = append(p.v, p.at(i))
		}
	case inValue:
		switch {
		case isNL(c):
			p.state = preKey
			p.push(true)
		case c == '\\':
			p.state = valueEscape
			p.lastValWS = -1
		default:
			if !isSpace(c) {
				p.lastValWS = -1
			} else if p.lastValWS < 0 {
				p.lastValWS = len(p.v)
			}
			p.v = append(p.v, p.at(i))
		}
	case valueEscape:
		p.state = inValue
		if !isNL(c) {
			p.v = append(p.v, p.at(i))
		}
	}
}

// quoted reads c, the byte at i, in single or double quotes.
func (p *envParser) quoted(i int, c byte) {
	switch p.state {
	case singleQuote:
		if c == '\'' {
			p.state = preValue
		} else {
			p.v = append(p.v, p.at(i))
		}
	case doubleQuote:
		switch c {
		case '"':
			p.state = preValue
		case '\\':
			p.state = doubleQuoteEscape
		default:
			p.v = append(p.v, p.at(i))
		}
	case doubleQuoteEscape:
		p.state = doubleQuote
		switch {
		case strings.IndexByte("\"\\`$", c) >= 0:
			p.v = append(p.v, p.at(i))
		case c != '\n':
			p.v = append(p.v, p.at(i-1), p.at(i))
		}
	}
}

// comment reads c in a comment, which a backslash does not end at a line break.
func (p *envParser) comment(c byte) {
	switch p.state {
	case comment:
		if c == '\\' {
			p.state = commentEscape
		} else if isNL(c) {
			p.state = preKey
		}
	case commentEscape:
		if isNL(c) {
			p.state = preKey
		} else {
			p.state = comment
		}
	}
}

// ExpandArgv expands environment variables in argv as systemd does when it
// starts the command: a word that is exactly $NAME becomes the variable's value
// split into words (quotes honoured); ${NAME} anywhere in a word is replaced by
// the value as is, giving exactly one word; "$$" is a literal "$".
func ExpandArgv(argv []Text, env map[string]Text) []Text {
	var out []Text
	for _, w := range argv {
		if len(w) > 0 && w[0].C == '$' && (len(w) == 1 || (w[1].C != '{' && w[1].C != '$')) {
			v, ok := env[w[1:].String()]
			if !ok {
				continue
			}
			words, _ := SplitWords(v, WordRelax)
			out = append(out, words...)
			continue
		}
		out = append(out, expandBraces(w, env))
	}
	return out
}

// expandBraces replaces ${NAME} in w (systemd's replace_env without its
// extended ${NAME:-default} forms, which ExecStart= does not support).
func expandBraces(w Text, env map[string]Text) Text {
	out := Text{}
	for i := 0; i < len(w); {
		if w[i].C != '$' || i+1 >= len(w) {
			out = append(out, w[i])
			i++
			continue
		}
		switch w[i+1].C {
		case '$':
			out = append(out, w[i])
			i += 2
			continue
		case '{':
			end := -1
			for j := i + 2; j < len(w) && end < 0; j++ {
				switch w[j].C {
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
