package kubelet

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// kubeletConfig is a parsed KubeletConfiguration file, kept as yaml.v3 nodes so
// an editor can splice at their lines and columns.
type kubeletConfig struct {
	path string
	data []byte
	top  *yaml.Node // the document's mapping

	kindKey, kindVal *yaml.Node
	rcKey, rcVal     *yaml.Node // the last resolvConf key of the top mapping
	rcLines          []int      // every line resolvConf is set on (duplicates)
	mergedVal        *yaml.Node // resolvConf brought in by a "<<" merge key
	misses           [][2]*yaml.Node
	healthzAddr      *yaml.Node // healthzBindAddress
	healthzPort      *yaml.Node
	runtimeEP        *yaml.Node // containerRuntimeEndpoint
	clusterDNS       *yaml.Node // clusterDNS
}

var yamlErrLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into a FileError with the line it names.
func yamlError(path string, err error) error {
	msg := err.Error()
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return hostcfg.Errorf(path, line, "not valid YAML: %s", m[2])
	}
	return hostcfg.Errorf(path, 0, "not valid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
}

// parseKubeletConfig reads a KubeletConfiguration: one YAML document holding a
// mapping, with kind KubeletConfiguration when it says its kind, and resolvConf
// a string when set.
func parseKubeletConfig(path string, data []byte) (kc *kubeletConfig, err error) {
	defer func() {
		// yaml.v3 is a port of libyaml; a panic on hostile input must become an
		// error about the file, not a crash at boot.
		if p := recover(); p != nil {
			kc, err = nil, hostcfg.Errorf(path, 0, "YAML parser failed: %v", p)
		}
	}()
	if err := conffile.CheckParsedSize(path, data); err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, hostcfg.Errorf(path, 0, "the file is empty: no KubeletConfiguration in it")
		}
		return nil, yamlError(path, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamlError(path, err)
	case !yamlEmptyDoc(&next):
		return nil, hostcfg.Errorf(path, next.Line, "a second YAML document starts here: kubelet reads only the first, so keep one KubeletConfiguration per file")
	}
	if yamlEmptyDoc(&doc) {
		return nil, hostcfg.Errorf(path, 0, "the file holds no YAML content: no KubeletConfiguration in it")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, hostcfg.Errorf(path, top.Line, "not a KubeletConfiguration: the document is %s, not a mapping of keys", yamlKindWords(top))
	}
	kc = &kubeletConfig{path: path, data: data, top: top}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := yamlDeref(top.Content[i]), top.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			continue
		}
		switch {
		case key.Tag == "!!merge":
			if kc.mergedVal == nil {
				kc.mergedVal = yamlMergedKey(val, "resolvConf", 0)
			}
		case key.Value == "kind":
			kc.kindKey, kc.kindVal = top.Content[i], val
		case key.Value == "healthzBindAddress":
			kc.healthzAddr = yamlDeref(val)
		case key.Value == "healthzPort":
			kc.healthzPort = yamlDeref(val)
		case key.Value == "containerRuntimeEndpoint":
			kc.runtimeEP = yamlDeref(val)
		case key.Value == "clusterDNS":
			kc.clusterDNS = yamlDeref(val)
		case key.Value == "resolvConf":
			kc.rcKey, kc.rcVal = top.Content[i], val
			kc.rcLines = append(kc.rcLines, top.Content[i].Line)
		case resolvConfNearMiss(key.Value):
			kc.misses = append(kc.misses, [2]*yaml.Node{top.Content[i], val})
		}
	}
	if kc.kindVal != nil {
		v := yamlDeref(kc.kindVal)
		if v.Kind != yaml.ScalarNode || v.Value != "KubeletConfiguration" {
			return nil, hostcfg.Errorf(path, kc.kindVal.Line, "kind is %s, not KubeletConfiguration", yamlValueWords(v))
		}
	}
	for _, v := range []*yaml.Node{kc.rcVal, kc.mergedVal} {
		if v == nil {
			continue
		}
		d := yamlDeref(v)
		if d.Kind != yaml.ScalarNode || (d.Tag != "!!str" && d.Tag != "!!null") {
			return nil, hostcfg.Errorf(path, v.Line, "resolvConf must be a path (a string), not %s: kubelet refuses this file", yamlValueWords(d))
		}
	}
	return kc, nil
}

// healthz is the host:port of kubelet's /healthz by the config, "" when
// healthzPort is 0. A value kubelet would refuse leaves the default: the
// watch then fails, as kubelet does.
func (kc *kubeletConfig) healthz() string {
	host, port := "127.0.0.1", "10248"
	if v := kc.healthzAddr; v != nil && v.Kind == yaml.ScalarNode && v.Value != "" {
		host = v.Value
	}
	if v := kc.healthzPort; v != nil && v.Kind == yaml.ScalarNode {
		if n, err := strconv.Atoi(v.Value); err == nil {
			if n == 0 {
				return ""
			}
			port = strconv.Itoa(n)
		}
	}
	return net.JoinHostPort(host, port)
}

// runtimeEndpoint is the config's containerRuntimeEndpoint, "" when unset.
func (kc *kubeletConfig) runtimeEndpoint() string {
	if v := kc.runtimeEP; v != nil && v.Kind == yaml.ScalarNode {
		return v.Value
	}
	return ""
}

// yamlEmptyDoc says whether a decoded document holds nothing (comments only,
// or a lone "---").
func yamlEmptyDoc(doc *yaml.Node) bool {
	if len(doc.Content) == 0 {
		return true
	}
	c := doc.Content[0]
	return c.Kind == yaml.ScalarNode && c.Tag == "!!null" && c.Value == ""
}

// yamlDeref follows an alias to the node it names.
func yamlDeref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && n.Alias != nil && i < 100; i++ {
		n = n.Alias
	}
	return n
}

// yamlMergedKey finds key in what a "<<" merge brings in: a mapping, an alias
// to one, or a list of those (the first one listed wins, as YAML merges do).
func yamlMergedKey(v *yaml.Node, key string, depth int) *yaml.Node {
	v = yamlDeref(v)
	if v == nil || depth > 20 {
		return nil
	}
	switch v.Kind {
	case yaml.SequenceNode:
		for _, c := range v.Content {
			if f := yamlMergedKey(c, key, depth+1); f != nil {
				return f
			}
		}
	case yaml.MappingNode:
		var merged *yaml.Node
		for i := 0; i+1 < len(v.Content); i += 2 {
			k := yamlDeref(v.Content[i])
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if k.Value == key && k.Tag != "!!merge" {
				return v.Content[i+1]
			}
			if k.Tag == "!!merge" && merged == nil {
				merged = yamlMergedKey(v.Content[i+1], key, depth+1)
			}
		}
		return merged
	}
	return nil
}

func yamlKindWords(n *yaml.Node) string {
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

func yamlValueWords(n *yaml.Node) string {
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

// resolvConf is the value the file gives resolvConf; ok is false when the file
// leaves it to kubelet's default (absent, or null as in `resolvConf:`).
func (kc *kubeletConfig) resolvConf() (string, bool) {
	v := kc.rcVal
	if v == nil {
		v = kc.mergedVal
	}
	if v == nil {
		return "", false
	}
	v = yamlDeref(v)
	if v.Tag == "!!null" {
		return "", false
	}
	return v.Value, true
}

func (kc *kubeletConfig) misspelled() []KeyMiss {
	var out []KeyMiss
	for _, m := range kc.misses {
		km := KeyMiss{Key: yamlDeref(m[0]).Value, File: kc.path, Line: m[0].Line}
		if v := yamlDeref(m[1]); v.Kind == yaml.ScalarNode {
			km.Value = v.Value
		}
		out = append(out, km)
	}
	return out
}

// resolvConfNearMiss says whether key is a near miss of resolvConf that kubelet
// ignores: another case (kubelet's decoding is case-sensitive), another word
// separator, ResolverConfig (the Go field's name), or a typo within three edits.
func resolvConfNearMiss(key string) bool {
	if key == "resolvConf" {
		return false
	}
	k := strings.ToLower(key)
	bare := strings.NewReplacer("-", "", "_", "", ".", "", " ", "").Replace(k)
	for _, want := range []string{"resolvconf", "resolverconfig"} {
		if keyEditDistance(k, want) <= 3 || keyEditDistance(bare, want) <= 3 {
			return true
		}
	}
	return false
}

// keyEditDistance is the Levenshtein distance of two strings, in bytes; it gives
// up early (returning a large number) for strings of very different lengths.
func keyEditDistance(a, b string) int {
	if d := len(a) - len(b); d > 3 || d < -3 {
		return 4
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// yamlText locates yaml.v3 positions (line, column in characters) in the bytes.
type yamlText struct {
	data  []byte
	lines []int // offset where each line starts
}

func newYAMLText(path string, data []byte) (*yamlText, error) {
	if !utf8.Valid(data) {
		return nil, hostcfg.Errorf(path, 0, "not UTF-8: edit it by hand")
	}
	t := &yamlText{data: data, lines: []int{0}}
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

// offset is the byte offset of a node's line and column, -1 if out of range.
func (t *yamlText) offset(n *yaml.Node) int {
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

// eol is the line ending used by the line holding offset p.
func (t *yamlText) eol(p int) string {
	if i := bytes.IndexByte(t.data[p:], '\n'); i > 0 && t.data[p+i-1] == '\r' {
		return "\r\n"
	}
	if i := bytes.IndexByte(t.data, '\n'); i > 0 && t.data[i-1] == '\r' {
		return "\r\n"
	}
	return "\n"
}

// scalarSpan returns where the text of scalar n is in the bytes: its start
// (after any &anchor or !tag) and end (after the closing quote). flow says the
// scalar is inside a flow collection, where ",]}" end a plain scalar.
func (t *yamlText) scalarSpan(n *yaml.Node, flow bool) (start, end int, err error) {
	p := t.offset(n)
	if p < 0 {
		return 0, 0, errors.New("position out of range")
	}
	d := t.data
	for p < len(d) && (d[p] == '&' || d[p] == '!') {
		for p < len(d) && !isYAMLBlank(d[p]) {
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
		if d[e] == ':' && (e+1 == len(d) || isYAMLBlank(d[e+1])) {
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

func isYAMLBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// yamlPlainSafe says whether v can be written as a plain YAML scalar and still
// read back as the same string in YAML 1.1 and 1.2: a path of plain characters.
func yamlPlainSafe(v string) bool {
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

// yamlDoubleQuoted writes v as a YAML double-quoted scalar (also valid JSON for
// the printable strings paths are).
func yamlDoubleQuoted(v string) string {
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

// yamlScalarText writes v in the given quoting style: double and single quotes
// are kept; plain is kept when v is safe as a plain scalar, else double quotes.
func yamlScalarText(v string, style yaml.Style) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return yamlDoubleQuoted(v)
	case style&yaml.SingleQuotedStyle != 0:
		for _, r := range v {
			if r < 0x20 || r == 0x7f {
				return yamlDoubleQuoted(v)
			}
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case yamlPlainSafe(v):
		return v
	}
	return yamlDoubleQuoted(v)
}

// byteEdit is one replacement of data[start:end].
type byteEdit struct {
	start, end int
	text       string
}

func applyByteEdits(data []byte, edits []byteEdit) ([]byte, error) {
	sort.SliceStable(edits, func(i, j int) bool { return edits[i].start < edits[j].start })
	var out []byte
	last := 0
	for _, e := range edits {
		if e.start < last || e.end < e.start || e.end > len(data) {
			return nil, errors.New("overlapping edits")
		}
		out = append(out, data[last:e.start]...)
		out = append(out, e.text...)
		last = e.end
	}
	return append(out, data[last:]...), nil
}

// SetResolvConf returns data, a KubeletConfiguration read from path,
// with resolvConf set to value; every other byte is kept. It replaces the value
// of resolvConf (keeping its quotes), or renames the first near miss of the key
// (`resolvconf:`, `ResolverConfig:`) to resolvConf with the new value, or adds
// `resolvConf: VALUE` after the kind line (at the end of the mapping when there
// is no kind), at the mapping's indentation. Other near misses are commented
// out, since kubelet ignores them and they would be reported again. The result
// is parsed again and must differ from data only in resolvConf and those keys.
func SetResolvConf(path string, data []byte, value string) ([]byte, error) {
	if strings.ContainsFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !utf8.ValidString(value) {
		return nil, hostcfg.Errorf(path, 0, "refusing to write %q as resolvConf: control characters", value)
	}
	kc, err := parseKubeletConfig(path, data)
	if err != nil {
		return nil, err
	}
	t, err := newYAMLText(path, data)
	if err != nil {
		return nil, err
	}
	if len(kc.rcLines) > 1 {
		return nil, hostcfg.Errorf(path, kc.rcLines[0], "resolvConf is set %d times (lines %s): keep one by hand", len(kc.rcLines), joinLineNumbers(kc.rcLines))
	}
	flow := kc.top.Style&yaml.FlowStyle != 0
	var edits []byteEdit
	misses := kc.misses
	switch {
	case kc.rcVal != nil:
		e, err := kc.setValue(t, kc.rcKey, kc.rcVal, value, flow)
		if err != nil {
			return nil, err
		}
		edits = append(edits, e)
	case len(misses) > 0:
		key, val := misses[0][0], misses[0][1]
		misses = misses[1:]
		if key.Kind != yaml.ScalarNode {
			return nil, hostcfg.Errorf(path, key.Line, "the key %q is an alias: rename it to resolvConf by hand", yamlDeref(key).Value)
		}
		ks, ke, err := t.scalarSpan(key, flow)
		if err != nil {
			return nil, hostcfg.Errorf(path, key.Line, "can't find the key %q in the text (%v): rename it to resolvConf by hand", key.Value, err)
		}
		edits = append(edits, byteEdit{ks, ke, yamlKeyText("resolvConf", key.Style)})
		e, err := kc.setValue(t, key, val, value, flow)
		if err != nil {
			return nil, err
		}
		edits = append(edits, e)
	default:
		e, err := kc.addKey(t, value, flow)
		if err != nil {
			return nil, err
		}
		edits = append(edits, e)
	}
	for _, m := range misses {
		e, err := kc.commentOut(t, m[0], m[1], flow)
		if err != nil {
			return nil, err
		}
		edits = append(edits, e)
	}
	out, err := applyByteEdits(data, edits)
	if err != nil {
		return nil, hostcfg.Errorf(path, 0, "editing resolvConf: %v", err)
	}
	// Digests of the other pairs, so that the old tree is garbage before the
	// edited file is parsed: two trees of a large config at once would cost
	// twice the memory (apply stays within 64 MB on every input).
	before, err := pairDigests(kc.otherPairs())
	if err != nil {
		return nil, hostcfg.Errorf(path, 0, "%v: change resolvConf by hand", err)
	}
	if err := checkEdit(path, out, value, before); err != nil {
		return nil, err
	}
	return out, nil
}

func joinLineNumbers(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ", ")
}

// yamlKeyText writes a key name in the quoting style of the key it replaces.
func yamlKeyText(k string, style yaml.Style) string {
	switch {
	case style&yaml.DoubleQuotedStyle != 0:
		return `"` + k + `"`
	case style&yaml.SingleQuotedStyle != 0:
		return "'" + k + "'"
	}
	return k
}

// setValue replaces the value of the pair key: val with value.
func (kc *kubeletConfig) setValue(t *yamlText, key, val *yaml.Node, value string, flow bool) (byteEdit, error) {
	// In a flow mapping a value is written double-quoted (a plain one could
	// end at a ',' or '}'), whether it replaces a scalar, an alias or
	// nothing: the next run then finds a quoted value and keeps it.
	var style yaml.Style
	if flow {
		style = yaml.DoubleQuotedStyle
	}
	// An anchored value may be shared through aliases elsewhere. This holds
	// for resolvConf and for a near miss that would be renamed to it alike:
	// a rename that kept the anchor would write a file the next run refuses.
	if val.Anchor != "" {
		return byteEdit{}, hostcfg.Errorf(kc.path, val.Line, "%s's value is anchored (&%s), so other keys may share it: change it by hand", yamlDeref(key).Value, val.Anchor)
	}
	switch {
	case val.Kind == yaml.AliasNode:
		p := t.offset(val)
		end := p + 1 + len(val.Value)
		if p < 0 || end > len(t.data) || string(t.data[p:end]) != "*"+val.Value {
			return byteEdit{}, hostcfg.Errorf(kc.path, val.Line, "can't find the alias *%s in the text: change resolvConf by hand", val.Value)
		}
		return byteEdit{p, end, yamlScalarText(value, style)}, nil
	case val.Kind != yaml.ScalarNode:
		return byteEdit{}, hostcfg.Errorf(kc.path, val.Line, "the value is %s, not a path: change it by hand", yamlValueWords(val))
	case val.Tag == "!!null" && val.Value == "":
		// `resolvConf:` with nothing after it: write the value after the colon.
		_, ke, err := t.scalarSpan(key, flow)
		if err != nil {
			return byteEdit{}, hostcfg.Errorf(kc.path, key.Line, "can't find the key in the text (%v): change it by hand", err)
		}
		p := ke
		for p < len(t.data) && (t.data[p] == ' ' || t.data[p] == '\t') {
			p++
		}
		if p >= len(t.data) || t.data[p] != ':' {
			return byteEdit{}, hostcfg.Errorf(kc.path, key.Line, "can't find the colon after the key: change it by hand")
		}
		return byteEdit{p + 1, p + 1, " " + yamlScalarText(value, style)}, nil
	}
	s, e, err := t.scalarSpan(val, flow)
	if err != nil {
		return byteEdit{}, hostcfg.Errorf(kc.path, val.Line, "can't find the value in the text (%v): change it by hand", err)
	}
	if val.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		style = val.Style // its own quotes are kept
	}
	return byteEdit{s, e, yamlScalarText(value, style)}, nil
}

// addKey writes a new `resolvConf: VALUE` pair into the top mapping.
func (kc *kubeletConfig) addKey(t *yamlText, value string, flow bool) (byteEdit, error) {
	if flow {
		if kc.kindVal == nil || kc.kindVal.Kind != yaml.ScalarNode {
			return byteEdit{}, hostcfg.Errorf(kc.path, kc.top.Line, "a flow-style mapping without kind: add resolvConf by hand")
		}
		_, e, err := t.scalarSpan(kc.kindVal, true)
		if err != nil {
			return byteEdit{}, hostcfg.Errorf(kc.path, kc.kindVal.Line, "can't find the kind's value in the text (%v): add resolvConf by hand", err)
		}
		key := yamlKeyText("resolvConf", kc.kindKey.Style)
		return byteEdit{e, e, ", " + key + ": " + yamlDoubleQuoted(value)}, nil
	}
	if len(kc.top.Content) == 0 {
		return byteEdit{}, hostcfg.Errorf(kc.path, kc.top.Line, "an empty mapping: add resolvConf by hand")
	}
	first := kc.top.Content[0]
	fp := t.offset(first)
	if fp < 0 {
		return byteEdit{}, hostcfg.Errorf(kc.path, first.Line, "can't find the first key in the text: add resolvConf by hand")
	}
	indent := string(t.data[t.lines[first.Line-1]:fp])
	if strings.Trim(indent, " ") != "" {
		indent = strings.Repeat(" ", first.Column-1)
	}
	line := indent + "resolvConf: " + yamlScalarText(value, 0)
	if kc.kindVal != nil && kc.kindVal.Kind == yaml.ScalarNode {
		_, e, err := t.scalarSpan(kc.kindVal, false)
		if err == nil {
			eol := t.eol(e)
			if i := bytes.IndexByte(t.data[e:], '\n'); i >= 0 {
				return byteEdit{e + i + 1, e + i + 1, line + eol}, nil
			}
			return byteEdit{len(t.data), len(t.data), eol + line}, nil
		}
	}
	eol := t.eol(0)
	if len(t.data) > 0 && t.data[len(t.data)-1] != '\n' {
		return byteEdit{len(t.data), len(t.data), eol + line + eol}, nil
	}
	return byteEdit{len(t.data), len(t.data), line + eol}, nil
}

// commentOut puts "# " before a near miss of resolvConf that is not renamed.
func (kc *kubeletConfig) commentOut(t *yamlText, key, val *yaml.Node, flow bool) (byteEdit, error) {
	name := yamlDeref(key).Value
	if flow {
		return byteEdit{}, hostcfg.Errorf(kc.path, key.Line, "%q nearly spells resolvConf and kubelet ignores it: remove it by hand (flow-style mapping)", name)
	}
	p := t.offset(key)
	if p < 0 {
		return byteEdit{}, hostcfg.Errorf(kc.path, key.Line, "can't find the key %q in the text: remove it by hand", name)
	}
	single := val.Kind == yaml.AliasNode && val.Line == key.Line
	if val.Kind == yaml.ScalarNode {
		if val.Tag == "!!null" && val.Value == "" {
			single = true
		} else if _, e, err := t.scalarSpan(val, false); err == nil && conffile.LineOfOffset(t.data, e) == key.Line {
			single = true
		}
	}
	if !single {
		return byteEdit{}, hostcfg.Errorf(kc.path, key.Line, "%q nearly spells resolvConf and kubelet ignores it; its value spans lines: remove it by hand", name)
	}
	return byteEdit{p, p, "# "}, nil
}

// checkEdit parses the edited file and makes sure that only resolvConf (and
// the near misses of it) changed, and that resolvConf is now value: the other
// top-level pairs must have the digests before holds.
func checkEdit(path string, out []byte, value string, before []pairDigest) error {
	nk, err := parseKubeletConfig(path, out)
	if err != nil {
		return fmt.Errorf("the edited file does not parse, nothing written: %w", err)
	}
	if got, ok := nk.resolvConf(); !ok || got != value || nk.rcVal == nil {
		return hostcfg.Errorf(path, 0, "after the edit resolvConf reads %q, not %q: nothing written", got, value)
	}
	if len(nk.misses) > 0 {
		return hostcfg.Errorf(path, nk.misses[0][0].Line, "after the edit %q is still there: nothing written", yamlDeref(nk.misses[0][0]).Value)
	}
	after, err := pairDigests(nk.otherPairs())
	if err != nil {
		return hostcfg.Errorf(path, 0, "after the edit: %v: nothing written", err)
	}
	if len(before) != len(after) {
		return hostcfg.Errorf(path, 0, "the edit changed other keys (%d before, %d after): nothing written", len(before), len(after))
	}
	for i := range before {
		if before[i].sum != after[i].sum {
			return hostcfg.Errorf(path, 0, "the edit changed %q: nothing written", before[i].key)
		}
	}
	return nil
}

// otherPairs is every top-level pair but resolvConf and its near misses.
func (kc *kubeletConfig) otherPairs() [][2]*yaml.Node {
	var out [][2]*yaml.Node
	c := kc.top.Content
	for i := 0; i+1 < len(c); i += 2 {
		k := yamlDeref(c[i])
		if k.Kind == yaml.ScalarNode && (k.Value == "resolvConf" && k.Tag != "!!merge" || resolvConfNearMiss(k.Value)) {
			continue
		}
		out = append(out, [2]*yaml.Node{c[i], c[i+1]})
	}
	return out
}

// pairDigest is a top-level pair's key and a digest of the pair's content.
type pairDigest struct {
	key string
	sum [sha256.Size]byte
}

// pairDigests digests each pair by content, ignoring positions and comments.
// Aliases are followed, so a changed anchor shows wherever it is used; a
// budget bounds the work, since aliases can make a small file a huge tree.
func pairDigests(pairs [][2]*yaml.Node) ([]pairDigest, error) {
	budget := 1 << 20
	out := make([]pairDigest, 0, len(pairs))
	for _, p := range pairs {
		h := sha256.New()
		if !digestYAML(h, p[0], &budget) || !digestYAML(h, p[1], &budget) {
			return nil, errors.New("the config is too large or too nested (aliases) to compare before and after an edit")
		}
		d := pairDigest{key: p[0].Value}
		h.Sum(d.sum[:0])
		out = append(out, d)
	}
	return out, nil
}

// digestYAML writes what makes two nodes the same content to h: kind, tag, value,
// anchor, style and children, each length-prefixed so that no two trees
// write the same bytes.
func digestYAML(h hash.Hash, n *yaml.Node, budget *int) bool {
	if *budget--; *budget < 0 {
		return false
	}
	if n == nil {
		h.Write([]byte{0})
		return true
	}
	var num [8]byte
	field := func(s string) {
		binary.LittleEndian.PutUint64(num[:], uint64(len(s)))
		h.Write(num[:])
		io.WriteString(h, s)
	}
	h.Write([]byte{1, byte(n.Kind)})
	binary.LittleEndian.PutUint64(num[:], uint64(n.Style))
	h.Write(num[:])
	field(n.Tag)
	field(n.Value)
	field(n.Anchor)
	if n.Kind == yaml.AliasNode {
		return digestYAML(h, n.Alias, budget)
	}
	binary.LittleEndian.PutUint64(num[:], uint64(len(n.Content)))
	h.Write(num[:])
	for _, c := range n.Content {
		if !digestYAML(h, c, budget) {
			return false
		}
	}
	return true
}
