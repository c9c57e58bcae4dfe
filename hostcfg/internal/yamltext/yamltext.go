// Package yamltext edits YAML text in place, by the positions yaml.v3 gives
// its nodes: an editor that changes only the bytes it must, keeping quotes,
// comments, anchors and line endings. The kubelet config and k3s config
// editors use it.
package yamltext

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"go.yaml.in/yaml/v3"
)

// EmptyDoc says whether a decoded document holds nothing (comments only,
// or a lone "---").
func EmptyDoc(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	c := doc.Content[0]
	return c.Kind == yaml.ScalarNode && c.Tag == "!!null" && c.Value == ""
}

// Deref follows an alias to the node it names.
func Deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// MergedKey finds key in what a "<<" merge brings in: a mapping, an alias
// to one, or a list of those (the first one listed wins, as YAML merges do).
func MergedKey(v *yaml.Node, key string, depth int) *yaml.Node {
	v = Deref(v)
	if v == nil || depth > 20 {
		return nil
	}
	switch v.Kind {
	case yaml.SequenceNode:
		for _, c := range v.Content {
			if f := MergedKey(c, key, depth+1); f != nil {
				return f
			}
		}
	case yaml.MappingNode:
		var merged *yaml.Node
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := Deref(v.Content[i])
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if k.Value == key && k.Tag != "!!merge" {
				return v.Content[i+1]
			}
			if k.Tag == "!!merge" && merged == nil {
				merged = MergedKey(v.Content[i+1], key, depth+1)
			}
		}
		return merged
	}
	return nil
}

// KindWords names what a node is, where a mapping was wanted.
func KindWords(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a single value"
	case yaml.AliasNode:
		return "an alias"
	}
	return "not a mapping"
}

// ValueWords says what a value is, for a message.
func ValueWords(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return strconv.Quote(n.Value)
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s (%s)", n.Value, strings.TrimPrefix(n.Tag, "!!"))
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "an alias"
}

// Text locates yaml.v3 positions (line, column in characters) in the bytes.
type Text struct {
	data  []byte
	lines []int // offset where each line starts
}

// New reads data (from path, for messages) for edits at yaml.v3 positions;
// it refuses text whose lines yaml.v3 and this type would count differently.
func New(path string, data []byte) (*Text, error) {
	if !utf8.Valid(data) {
		return nil, hostcfg.Errorf(path, 0, "not UTF-8: edit it by hand")
	}
	t := &Text{data: data, lines: []int{0}}
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		t.lines[0] = len("\uFEFF") // yaml.v3 skips the byte order mark
	}
	for i := 0; i < len(data); i++ {
		switch {
		case data[i] == '\n':
			t.lines = append(t.lines, i+1)
		case data[i] == '\r' && (i+1 == len(data) || data[i+1] != '\n'):
			return nil, hostcfg.Errorf(path, len(t.lines), "a carriage return alone ends a line here: edit the file by hand")
		}
	}
	for _, odd := range []string{"\u0085", "\u2028", "\u2029"} {
		if i := bytes.Index(data, []byte(odd)); i >= 0 {
			return nil, hostcfg.Errorf(path, conffile.LineOfOffset(data, i), "a Unicode line separator (%U) is here: edit the file by hand", []rune(odd)[0])
		}
	}
	return t, nil
}

// Offset is the byte offset of a node's line and column, -1 if out of range.
func (t *Text) Offset(n *yaml.Node) int {
	if n.Line < 1 || n.Line > len(t.lines) {
		return -1
	}
	p := t.lines[n.Line-1]
	for c := 1; c < n.Column; c++ {
		if p >= len(t.data) || t.data[p] == '\n' {
			return -1
		}
		_, size := utf8.DecodeRune(t.data[p:])
		p += size
	}
	return p
}

// EOL is the line ending used by the line holding offset p.
func (t *Text) EOL(p int) string {
	if i := bytes.IndexByte(t.data[p:], '\n'); i > 0 && t.data[p+i-1] == '\r' {
		return "\r\n"
	}
	if i := bytes.IndexByte(t.data, '\n'); i > 0 && t.data[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// ScalarSpan returns where the text of scalar n is in the bytes: its start
// (after any &anchor or !tag) and end (after the closing quote). flow says the
// scalar is inside a flow collection, where ",]}" end a plain scalar.
func (t *Text) ScalarSpan(n *yaml.Node, flow bool) (start, end int, err error) {
	p := t.Offset(n)
	if p < 0 {
		return 0, 0, errors.New("position out of range")
	}
	d := t.data
	for p < len(d) && (d[p] == '&' || d[p] == '!') {
		for p < len(d) && !IsBlank(d[p]) {
			p++
		}
		for p < len(d) && (d[p] == ' ' || d[p] == '\t') {
			p++
		}
	}
	if p >= len(d) {
		return 0, 0, errors.New("value not found")
	}
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		return 0, 0, errors.New("a block scalar (| or >)")
	case n.Style&yaml.DoubleQuotedStyle != 0:
		if d[p] != '"' {
			return 0, 0, errors.New("opening quote not found")
		}
		for i := p + 1; i < len(d); i++ {
			switch d[i] {
			case '\\':
				i++
			case '"':
				return p, i + 1, nil
			}
		}
		return 0, 0, errors.New("closing quote not found")
	case n.Style&yaml.SingleQuotedStyle != 0:
		if d[p] != '\'' {
			return 0, 0, errors.New("opening quote not found")
		}
		for i := p + 1; i < len(d); i++ {
			if d[i] == '\'' {
				if i+1 < len(d) && d[i+1] == '\'' {
					i++
					continue
				}
				return p, i + 1, nil
			}
		}
		return 0, 0, errors.New("closing quote not found")
	}
	e := p
	for e < len(d) && d[e] != '\n' && d[e] != '\r' {
		if d[e] == '#' && e > p && (d[e-1] == ' ' || d[e-1] == '\t') {
			break
		}
		if d[e] == ':' && (e+1 == len(d) || IsBlank(d[e+1])) {
			break
		}
		if flow && strings.IndexByte(",[]{}", d[e]) >= 0 {
			break
		}
		e++
	}
	for e > p && (d[e-1] == ' ' || d[e-1] == '\t') {
		e--
	}
	if string(d[p:e]) != n.Value {
		return 0, 0, errors.New("a plain value over several lines")
	}
	return p, e, nil
}

// IsBlank: a YAML blank or line break.
func IsBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// PlainSafe says whether v can be written as a plain YAML scalar and still
// read back as the same string in YAML 1.1 and 1.2: a path of plain characters.
func PlainSafe(v string) bool {
	if !strings.HasPrefix(v, "/") {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("/._-+@=", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// DoubleQuoted writes v as a YAML double-quoted scalar (also valid JSON for
// the printable strings paths are).
func DoubleQuoted(v string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range v {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// ScalarText writes v in the given quoting style: double and single quotes
// are kept; plain is kept when v is safe as a plain scalar, else double quotes.
func ScalarText(v string, style yaml.Style) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return DoubleQuoted(v)
	case style&yaml.SingleQuotedStyle != 0:
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return DoubleQuoted(v)
			}
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case PlainSafe(v):
		return v
	}
	return DoubleQuoted(v)
}

// Edit is one replacement of data[start:end].
type Edit struct {
	Start, End int
	Text       string
}

// Apply makes the edits to data, which must not overlap.
func Apply(data []byte, edits []Edit) ([]byte, error) {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].Start < edits[j].Start })
	var out []byte
	last := 0
	for _, e := range edits {
		if e.Start < last || e.End < e.Start || e.End > len(data) {
			return nil, errors.New("overlapping edits")
		}
		out = append(out, data[last:e.Start]...)
		out = append(out, e.Text...)
		last = e.End
	}
	return append(out, data[last:]...), nil
}

// KeyText writes a key name in the quoting style of the key it replaces.
func KeyText(k string, style yaml.Style) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return `"` + k + `"`
	case style&yaml.SingleQuotedStyle != 0:
		return "'" + k + "'"
	}
	return k
}

// Data is the text's bytes.
func (t *Text) Data() []byte { return t.data }

// LineStart is the offset where line (1-based, as yaml.v3 counts) starts.
func (t *Text) LineStart(line int) int { return t.lines[line-1] }

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Error turns a yaml.v3 error into a FileError with the line it names.
func Error(path string, err error) error {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return hostcfg.Errorf(path, line, "not valid YAML: %s", m[2])
	}
	return hostcfg.Errorf(path, 0, "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}
