// Package corefile reads CoreDNS's Corefile with the caddy lexer, keeping
// every token's place, and rewrites a forward's targets in place.
package corefile

import (
	"bytes"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/coredns/caddy/caddyfile"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// Token is one word of a Corefile, where it is.
type Token struct {
	Text   string
	Line   int
	Offset int // byte offset in the file, for splicing
	End    int // byte offset just after the token as written (after its closing quote)
}

// Forward is one `forward FROM TO...` directive.
type Forward struct {
	From string
	Line int
	To   []Token // IPs, IP:port, dns://IP, or a file path such as /etc/resolv.conf
}

// ServerBlock is one server block of a Corefile.
type ServerBlock struct {
	Keys     []string // as written: ".:53", "example.org"
	Ports    []string // the port of each key, in Keys' order
	Line     int
	Port     string // the first key's port; "53" when it names none (853 for tls://, 443 for https:// and grpc://)
	Binds    []Token
	Loop     bool // the loop plugin is on
	Reload   bool // the reload plugin is on
	Forwards []Forward
	Imports  []Token // `import` arguments, not expanded: what they bring is not checked
}

// Config is a parsed Corefile (no import or env expansion).
type Config struct {
	Path    string
	Servers []ServerBlock
	Imports []Token // `import` lines between server blocks, not expanded
	// Source is set for a Corefile from a ConfigMap or a pod's volume: its
	// lines are the YAML file's (a manifest's), and unloop never edits it.
	Source *Source `json:",omitempty"`
}

// Parse lexes data with the caddy lexer; unbalanced braces and other
// syntax errors name path and line. Imports and {$ENV} placeholders are kept as
// written: checking must not depend on the environment or on other files.
func Parse(path string, data []byte) (*Config, error) {
	if err := conffile.CheckParsedSize(path, data); err != nil {
		return nil, err
	}
	toks, err := lexCorefile(path, data)
	if err != nil {
		return nil, err
	}
	p := &corefileParser{path: path, toks: toks}
	cf := &Config{Path: path}
	for p.i < len(p.toks) {
		sb, err := p.serverBlock(cf)
		if err != nil {
			return nil, err
		}
		if sb != nil {
			cf.Servers = append(cf.Servers, *sb)
		}
	}
	return cf, nil
}

// lexCorefile returns the Corefile's tokens as the caddy lexer reads them, each
// with its byte offsets. The lexer gives lines only, so the bytes are walked
// beside it with the same rules (whitespace, "#" comments, quotes with \"
// escapes) and every token is checked against the lexer's.
func lexCorefile(path string, data []byte) ([]Token, error) {
	if err := corefileText(path, data); err != nil {
		return nil, err
	}
	d := caddyfile.NewDispenser(path, bytes.NewReader(data))
	var out []Token
	pos, line := 0, 1
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		pos = len("\uFEFF")
	}
	for d.Next() {
		// Skip blanks and comments up to the token.
		for pos < len(data) {
			r, size := utf8.DecodeRune(data[pos:])
			if r == '#' {
				for pos < len(data) && data[pos] != '\n' {
					pos++
				}
				continue
			}
			if !unicode.IsSpace(r) {
				break
			}
			if r == '\n' {
				line++
			}
			pos += size
		}
		start, startLine, end := pos, line, pos
		var text []rune
		if pos < len(data) && data[pos] == '"' {
			pos++
			escaped := false
		quoted:
			for pos < len(data) {
				r, size := utf8.DecodeRune(data[pos:])
				pos += size
				switch {
				case !escaped && r == '\\':
					escaped = true
					continue
				case !escaped && r == '"':
					break quoted
				case r == '\n':
					line++
				}
				if escaped && r != '"' {
					text = append(text, '\\')
				}
				text = append(text, r)
				escaped = false
			}
			end = pos
		} else {
			// As the lexer does: a CR inside a word is dropped, and a "#"
			// inside a word starts a comment that only runs to the next blank
			// (the word after that blank is a token again).
			comment := false
			for pos < len(data) {
				r, size := utf8.DecodeRune(data[pos:])
				if unicode.IsSpace(r) && r != '\r' {
					break
				}
				if r == '#' {
					comment = true
				}
				if !comment && r != '\r' {
					text = append(text, r)
					end = pos + size
				}
				pos += size
			}
		}
		if string(text) != d.Val() || startLine != d.Line() {
			return nil, hostcfg.Errorf(path, d.Line(), "can't place the token %q in the text (found %q at line %d)", d.Val(), string(text), startLine)
		}
		out = append(out, Token{Text: d.Val(), Line: d.Line(), Offset: start, End: end})
	}
	return out, nil
}

// corefileText rejects binary junk: NUL and other control bytes, invalid UTF-8.
func corefileText(path string, data []byte) error {
	line := 1
	for i := 0; i < len(data); {
		c := data[i]
		if c == '\n' {
			line++
			i++
			continue
		}
		if c < utf8.RuneSelf {
			if c == 0x7f || (c < 0x20 && c != '\t' && c != '\r' && c != '\v' && c != '\f') {
				return hostcfg.Errorf(path, line, "control byte 0x%02x: binary data, not a Corefile", c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size <= 1 {
			return hostcfg.Errorf(path, line, "invalid UTF-8 (byte 0x%02x): binary data, not a Corefile", c)
		}
		i += size
	}
	return nil
}

// corefileParser groups tokens into server blocks and directives the way
// caddy's parser does (addresses up to "{" or the end of the line, a block in
// braces, or the rest of the file for a single block without braces;
// directives end at the end of their line unless a "{" opens a block).
type corefileParser struct {
	path string
	toks []Token
	i    int
}

// newLine says whether token i starts a line (a quoted token may span lines).
func (p *corefileParser) newLine(i int) bool {
	if i == 0 {
		return true
	}
	prev := p.toks[i-1]
	return prev.Line+strings.Count(prev.Text, "\n") < p.toks[i].Line
}

// lineEnd is the index of the first token after i that starts another line.
func (p *corefileParser) lineEnd(i int) int {
	j := i + 1
	for j < len(p.toks) && !p.newLine(j) {
		j++
	}
	return j
}

// serverBlock reads one server block: its keys, then its directives. It
// returns nil at the end of the file and for a snippet.
func (p *corefileParser) serverBlock(cf *Config) (*ServerBlock, error) {
	sb := &ServerBlock{Line: p.toks[p.i].Line}
	if err := p.keys(cf, sb); err != nil {
		return nil, err
	}
	if len(sb.Keys) == 0 {
		if p.i < len(p.toks) {
			// caddy would read what follows as a server block without a
			// name and drop it: CoreDNS would silently not serve it.
			return nil, hostcfg.Errorf(p.path, p.toks[p.i].Line, "%q: a block with no server address before it", p.toks[p.i].Text)
		}
		return nil, nil
	}
	if len(sb.Keys) == 1 && strings.HasPrefix(sb.Keys[0], "(") && strings.HasSuffix(sb.Keys[0], ")") {
		// A snippet: kept for imports, which are not expanded here.
		return nil, p.skipSnippet(sb.Line)
	}
	for _, k := range sb.Keys {
		sb.Ports = append(sb.Ports, corefileKeyPort(k))
	}
	sb.Port = sb.Ports[0]
	if err := p.body(sb); err != nil {
		return nil, err
	}
	return sb, nil
}

// keys reads a server block's addresses, up to "{" or the end of their line
// (a trailing comma asks for another), and the imports between blocks.
func (p *corefileParser) keys(cf *Config, sb *ServerBlock) error {
	expectAnother := false
	for {
		t := p.toks[p.i]
		if t.Text == "import" && p.newLine(p.i) && !expectAnother {
			end := p.lineEnd(p.i)
			if end == p.i+1 {
				return hostcfg.Errorf(p.path, t.Line, "import needs a file or a snippet name")
			}
			cf.Imports = append(cf.Imports, p.toks[p.i+1:end]...)
			p.i = end
			if p.i >= len(p.toks) {
				return nil
			}
			if len(sb.Keys) == 0 {
				sb.Line = p.toks[p.i].Line
			}
			continue
		}
		if t.Text == "{" {
			if expectAnother {
				return hostcfg.Errorf(p.path, t.Line, "expected another address after the comma, found {")
			}
			return nil
		}
		if t.Text == "}" {
			return hostcfg.Errorf(p.path, t.Line, "unexpected } : no block is open here")
		}
		if k := t.Text; k != "" {
			// As caddy does: a lone "," is an empty key that asks for another.
			expectAnother = strings.HasSuffix(k, ",")
			sb.Keys = append(sb.Keys, strings.TrimSuffix(k, ","))
		}
		p.i++
		if p.i >= len(p.toks) {
			if expectAnother {
				return hostcfg.Errorf(p.path, t.Line, "expected another address after the comma, found the end of the file")
			}
			return nil
		}
		if !expectAnother && p.newLine(p.i) {
			return nil
		}
	}
}

// body reads a server block's directives: in braces, or to the end of the
// file for a single block without them.
func (p *corefileParser) body(sb *ServerBlock) error {
	braced := false
	if p.i < len(p.toks) && p.toks[p.i].Text == "{" {
		braced = true
		p.i++
	}
	for p.i < len(p.toks) {
		t := p.toks[p.i]
		if t.Text == "}" {
			if !braced {
				return hostcfg.Errorf(p.path, t.Line, "unexpected } : the server block at line %d has no opening {", sb.Line)
			}
			p.i++
			return nil
		}
		if err := p.directive(sb); err != nil {
			return err
		}
	}
	if braced {
		return hostcfg.Errorf(p.path, sb.Line, "the server block opened here is never closed: a } is missing")
	}
	return nil
}

func (p *corefileParser) skipSnippet(line int) error {
	if p.i >= len(p.toks) || p.toks[p.i].Text != "{" {
		return hostcfg.Errorf(p.path, line, "a snippet needs a block in braces")
	}
	depth := 0
	for ; p.i < len(p.toks); p.i++ {
		switch p.toks[p.i].Text {
		case "{":
			depth++
		case "}":
			depth--
			if depth == 0 {
				p.i++
				return nil
			}
		}
	}
	return hostcfg.Errorf(p.path, line, "the snippet opened here is never closed: a } is missing")
}

// directive reads one directive: its name, the arguments on its line, and a
// block in braces that may follow them.
func (p *corefileParser) directive(sb *ServerBlock) error {
	name := p.toks[p.i]
	if name.Text == "{" {
		return hostcfg.Errorf(p.path, name.Line, "unexpected { : a block needs a directive before it on its line")
	}
	var args []Token // before any block
	depth := 0
	blockSeen := false
	p.i++
	for ; p.i < len(p.toks); p.i++ {
		t := p.toks[p.i]
		switch {
		case t.Text == "{":
			depth++
			blockSeen = true
			continue
		case depth == 0 && p.newLine(p.i):
		case t.Text == "}" && depth > 0:
			depth--
			continue
		case t.Text == "}":
			return hostcfg.Errorf(p.path, t.Line, "unexpected } : no block is open here (a block's } must be on a line of its own)")
		default:
			if !blockSeen {
				args = append(args, t)
			}
			continue
		}
		break
	}
	if depth > 0 {
		return hostcfg.Errorf(p.path, name.Line, "the block of %s opened here is never closed: a } is missing", name.Text)
	}
	switch name.Text {
	case "import":
		if len(args) == 0 {
			return hostcfg.Errorf(p.path, name.Line, "import needs a file or a snippet name")
		}
		sb.Imports = append(sb.Imports, args...)
	case "bind":
		if len(args) == 0 {
			return hostcfg.Errorf(p.path, name.Line, "bind needs an address or an interface")
		}
		sb.Binds = append(sb.Binds, args...)
	case "loop":
		sb.Loop = true
	case "reload":
		sb.Reload = true
	case "forward":
		if len(args) < 2 {
			return hostcfg.Errorf(p.path, name.Line, "forward needs a zone and at least one target (forward . 1.1.1.1)")
		}
		sb.Forwards = append(sb.Forwards, Forward{From: args[0].Text, Line: name.Line, To: slices.Clone(args[1:])})
	}
	return nil
}

// corefileKeyPort is the port a server block key listens on, after CoreDNS's
// rules: the port after the last colon, else the transport's default.
func corefileKeyPort(k string) string {
	def := "53"
	for _, t := range []struct{ prefix, port string }{
		{"dns://", "53"}, {"tls://", "853"}, {"quic://", "853"},
		{"grpc://", "443"}, {"https://", "443"}, {"https3://", "443"},
	} {
		if rest, ok := strings.CutPrefix(strings.ToLower(k), t.prefix); ok {
			k, def = k[len(k)-len(rest):], t.port
			break
		}
	}
	if i := strings.LastIndexByte(k, ':'); i >= 0 {
		if n, err := strconv.Atoi(k[i+1:]); err == nil && n >= 0 && n <= 65535 {
			return strconv.Itoa(n)
		}
	}
	return def
}

// ReplaceTargets returns data with the targets of the forward fw (as
// Parse found it in data) replaced by targets, written space-separated
// where the old ones were; comments, the options block and indentation are
// kept. The result is lexed again and must differ from data only in those
// targets.
func ReplaceTargets(path string, data []byte, fw Forward, targets []string) ([]byte, error) {
	if len(fw.To) == 0 {
		return nil, hostcfg.Errorf(path, fw.Line, "the forward has no targets to replace")
	}
	if len(targets) == 0 {
		return nil, hostcfg.Errorf(path, fw.Line, "refusing to leave forward without targets")
	}
	for _, t := range targets {
		if t == "" || strings.ContainsFunc(t, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || strings.ContainsRune("#\"{}\\", r)
		}) || !utf8.ValidString(t) {
			return nil, hostcfg.Errorf(path, fw.Line, "refusing to write %q as a forward target: it would not read back as one word", t)
		}
	}
	old, err := lexCorefile(path, data)
	if err != nil {
		return nil, err
	}
	cf, err := Parse(path, data)
	if err != nil {
		return nil, err
	}
	if !corefileHasForward(cf, fw) {
		return nil, hostcfg.Errorf(path, fw.Line, "the forward read before is not in the file any more: it changed")
	}
	first, last := fw.To[0], fw.To[len(fw.To)-1]
	out := slices.Concat(data[:first.Offset], []byte(strings.Join(targets, " ")), data[last.End:])

	// Check: the tokens are the old ones with exactly the targets swapped.
	a := slices.IndexFunc(old, func(t Token) bool { return t.Offset == first.Offset })
	b := slices.IndexFunc(old, func(t Token) bool { return t.Offset == last.Offset })
	if a < 0 || b < a {
		return nil, hostcfg.Errorf(path, fw.Line, "the forward's targets are not where they were read")
	}
	want := make([]string, 0, len(old)-(b-a+1)+len(targets))
	for _, t := range old[:a] {
		want = append(want, t.Text)
	}
	want = append(want, targets...)
	for _, t := range old[b+1:] {
		want = append(want, t.Text)
	}
	got, err := lexCorefile(path, out)
	if err != nil {
		return nil, fmt.Errorf("the edited Corefile does not lex, nothing written: %w", err)
	}
	if len(got) != len(want) {
		return nil, hostcfg.Errorf(path, fw.Line, "the edit changed %d tokens into %d: nothing written", len(old), len(got))
	}
	for i := range got {
		if got[i].Text != want[i] {
			return nil, hostcfg.Errorf(path, got[i].Line, "the edit changed %q: nothing written", want[i])
		}
	}
	if _, err := Parse(path, out); err != nil {
		return nil, fmt.Errorf("the edited Corefile does not parse, nothing written: %w", err)
	}
	return out, nil
}

// corefileHasForward says whether cf has a forward at fw's line with exactly
// fw's targets at the same offsets.
func corefileHasForward(cf *Config, fw Forward) bool {
	for _, sb := range cf.Servers {
		for _, f := range sb.Forwards {
			if f.Line == fw.Line && f.From == fw.From && slices.Equal(f.To, fw.To) {
				return true
			}
		}
	}
	return false
}

// ForwardTarget reads one forward target: an address (IP, IP:port,
// dns://IP:port) or a file path. ok is false for anything else (tls://, a
// template placeholder), which unloop does not judge.
func ForwardTarget(s string) (addr netip.AddrPort, path string, ok bool) {
	if strings.HasPrefix(s, "/") {
		return netip.AddrPort{}, s, true
	}
	s = strings.TrimPrefix(s, "dns://")
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.WithZone(""), 53), "", true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().WithZone(""), ap.Port()), "", true
	}
	return netip.AddrPort{}, "", false
}
