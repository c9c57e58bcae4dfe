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
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
	"github.com/unloop/unloop/hostcfg/internal/yamltext"
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
		return nil, yamltext.Error(path, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, yamltext.Error(path, err)
	case !yamltext.EmptyDoc(&next):
		return nil, hostcfg.Errorf(path, next.Line, "a second YAML document starts here: kubelet reads only the first, so keep one KubeletConfiguration per file")
	}
	if yamltext.EmptyDoc(&doc) {
		return nil, hostcfg.Errorf(path, 0, "the file holds no YAML content: no KubeletConfiguration in it")
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, hostcfg.Errorf(path, top.Line, "not a KubeletConfiguration: the document is %s, not a mapping of keys", yamltext.KindWords(top))
	}
	kc = &kubeletConfig{path: path, data: data, top: top}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, val := yamltext.Deref(top.Content[i]), top.Content[i+1]
		if key.Kind != yaml.ScalarNode {
			continue
		}
		switch {
		case key.Tag == "!!merge":
			if kc.mergedVal == nil {
				kc.mergedVal = yamltext.MergedKey(val, "resolvConf", 0)
			}
		case key.Value == "kind":
			kc.kindKey, kc.kindVal = top.Content[i], val
		case key.Value == "healthzBindAddress":
			kc.healthzAddr = yamltext.Deref(val)
		case key.Value == "healthzPort":
			kc.healthzPort = yamltext.Deref(val)
		case key.Value == "containerRuntimeEndpoint":
			kc.runtimeEP = yamltext.Deref(val)
		case key.Value == "clusterDNS":
			kc.clusterDNS = yamltext.Deref(val)
		case key.Value == "resolvConf":
			kc.rcKey, kc.rcVal = top.Content[i], val
			kc.rcLines = append(kc.rcLines, top.Content[i].Line)
		case resolvConfNearMiss(key.Value):
			kc.misses = append(kc.misses, [2]*yaml.Node{top.Content[i], val})
		}
	}
	if kc.kindVal != nil {
		v := yamltext.Deref(kc.kindVal)
		if v.Kind != yaml.ScalarNode || v.Value != "KubeletConfiguration" {
			return nil, hostcfg.Errorf(path, kc.kindVal.Line, "kind is %s, not KubeletConfiguration", yamltext.ValueWords(v))
		}
	}
	for _, v := range []*yaml.Node{kc.rcVal, kc.mergedVal} {
		if v == nil {
			continue
		}
		d := yamltext.Deref(v)
		if d.Kind != yaml.ScalarNode || (d.Tag != "!!str" && d.Tag != "!!null") {
			return nil, hostcfg.Errorf(path, v.Line, "resolvConf must be a path (a string), not %s: kubelet refuses this file", yamltext.ValueWords(d))
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
	v = yamltext.Deref(v)
	if v.Tag == "!!null" {
		return "", false
	}
	return v.Value, true
}

func (kc *kubeletConfig) misspelled() []KeyMiss {
	var out []KeyMiss
	for _, m := range kc.misses {
		km := KeyMiss{Key: yamltext.Deref(m[0]).Value, File: kc.path, Line: m[0].Line}
		if v := yamltext.Deref(m[1]); v.Kind == yaml.ScalarNode {
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
	t, err := yamltext.New(path, data)
	if err != nil {
		return nil, err
	}
	if len(kc.rcLines) > 1 {
		return nil, hostcfg.Errorf(path, kc.rcLines[0], "resolvConf is set %d times (lines %s): keep one by hand", len(kc.rcLines), joinLineNumbers(kc.rcLines))
	}
	flow := kc.top.Style&yaml.FlowStyle != 0
	var edits []yamltext.Edit
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
			return nil, hostcfg.Errorf(path, key.Line, "the key %q is an alias: rename it to resolvConf by hand", yamltext.Deref(key).Value)
		}
		ks, ke, err := t.ScalarSpan(key, flow)
		if err != nil {
			return nil, hostcfg.Errorf(path, key.Line, "can't find the key %q in the text (%v): rename it to resolvConf by hand", key.Value, err)
		}
		edits = append(edits, yamltext.Edit{Start: ks, End: ke, Text: yamltext.KeyText("resolvConf", key.Style)})
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
	out, err := yamltext.Apply(data, edits)
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

// setValue replaces the value of the pair key: val with value.
func (kc *kubeletConfig) setValue(t *yamltext.Text, key, val *yaml.Node, value string, flow bool) (yamltext.Edit, error) {
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
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, val.Line, "%s's value is anchored (&%s), so other keys may share it: change it by hand", yamltext.Deref(key).Value, val.Anchor)
	}
	switch {
	case val.Kind == yaml.AliasNode:
		p := t.Offset(val)
		end := p + 1 + len(val.Value)
		if p < 0 || end > len(t.Data()) || string(t.Data()[p:end]) != "*"+val.Value {
			return yamltext.Edit{}, hostcfg.Errorf(kc.path, val.Line, "can't find the alias *%s in the text: change resolvConf by hand", val.Value)
		}
		return yamltext.Edit{Start: p, End: end, Text: yamltext.ScalarText(value, style)}, nil
	case val.Kind != yaml.ScalarNode:
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, val.Line, "the value is %s, not a path: change it by hand", yamltext.ValueWords(val))
	case val.Tag == "!!null" && val.Value == "":
		// `resolvConf:` with nothing after it: write the value after the colon.
		_, ke, err := t.ScalarSpan(key, flow)
		if err != nil {
			return yamltext.Edit{}, hostcfg.Errorf(kc.path, key.Line, "can't find the key in the text (%v): change it by hand", err)
		}
		p := ke
		for p < len(t.Data()) && (t.Data()[p] == ' ' || t.Data()[p] == '\t') {
			p++
		}
		if p >= len(t.Data()) || t.Data()[p] != ':' {
			return yamltext.Edit{}, hostcfg.Errorf(kc.path, key.Line, "can't find the colon after the key: change it by hand")
		}
		return yamltext.Edit{Start: p + 1, End: p + 1, Text: " " + yamltext.ScalarText(value, style)}, nil
	}
	s, e, err := t.ScalarSpan(val, flow)
	if err != nil {
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, val.Line, "can't find the value in the text (%v): change it by hand", err)
	}
	if val.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		style = val.Style // its own quotes are kept
	}
	return yamltext.Edit{Start: s, End: e, Text: yamltext.ScalarText(value, style)}, nil
}

// addKey writes a new `resolvConf: VALUE` pair into the top mapping.
func (kc *kubeletConfig) addKey(t *yamltext.Text, value string, flow bool) (yamltext.Edit, error) {
	if flow {
		if kc.kindVal == nil || kc.kindVal.Kind != yaml.ScalarNode {
			return yamltext.Edit{}, hostcfg.Errorf(kc.path, kc.top.Line, "a flow-style mapping without kind: add resolvConf by hand")
		}
		_, e, err := t.ScalarSpan(kc.kindVal, true)
		if err != nil {
			return yamltext.Edit{}, hostcfg.Errorf(kc.path, kc.kindVal.Line, "can't find the kind's value in the text (%v): add resolvConf by hand", err)
		}
		key := yamltext.KeyText("resolvConf", kc.kindKey.Style)
		return yamltext.Edit{Start: e, End: e, Text: ", " + key + ": " + yamltext.DoubleQuoted(value)}, nil
	}
	if len(kc.top.Content) == 0 {
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, kc.top.Line, "an empty mapping: add resolvConf by hand")
	}
	first := kc.top.Content[0]
	fp := t.Offset(first)
	if fp < 0 {
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, first.Line, "can't find the first key in the text: add resolvConf by hand")
	}
	indent := string(t.Data()[t.LineStart(first.Line):fp])
	if strings.Trim(indent, " ") != "" {
		indent = strings.Repeat(" ", first.Column-1)
	}
	line := indent + "resolvConf: " + yamltext.ScalarText(value, 0)
	if kc.kindVal != nil && kc.kindVal.Kind == yaml.ScalarNode {
		_, e, err := t.ScalarSpan(kc.kindVal, false)
		if err == nil {
			eol := t.EOL(e)
			if i := bytes.IndexByte(t.Data()[e:], '\n'); i >= 0 {
				return yamltext.Edit{Start: e + i + 1, End: e + i + 1, Text: line + eol}, nil
			}
			return yamltext.Edit{Start: len(t.Data()), End: len(t.Data()), Text: eol + line}, nil
		}
	}
	eol := t.EOL(0)
	if len(t.Data()) > 0 && t.Data()[len(t.Data())-1] != '\n' {
		return yamltext.Edit{Start: len(t.Data()), End: len(t.Data()), Text: eol + line + eol}, nil
	}
	return yamltext.Edit{Start: len(t.Data()), End: len(t.Data()), Text: line + eol}, nil
}

// commentOut puts "# " before a near miss of resolvConf that is not renamed.
func (kc *kubeletConfig) commentOut(t *yamltext.Text, key, val *yaml.Node, flow bool) (yamltext.Edit, error) {
	name := yamltext.Deref(key).Value
	if flow {
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, key.Line, "%q nearly spells resolvConf and kubelet ignores it: remove it by hand (flow-style mapping)", name)
	}
	p := t.Offset(key)
	if p < 0 {
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, key.Line, "can't find the key %q in the text: remove it by hand", name)
	}
	single := val.Kind == yaml.AliasNode && val.Line == key.Line
	if val.Kind == yaml.ScalarNode {
		if val.Tag == "!!null" && val.Value == "" {
			single = true
		} else if _, e, err := t.ScalarSpan(val, false); err == nil && conffile.LineOfOffset(t.Data(), e) == key.Line {
			single = true
		}
	}
	if !single {
		return yamltext.Edit{}, hostcfg.Errorf(kc.path, key.Line, "%q nearly spells resolvConf and kubelet ignores it; its value spans lines: remove it by hand", name)
	}
	return yamltext.Edit{Start: p, End: p, Text: "# "}, nil
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
		return hostcfg.Errorf(path, nk.misses[0][0].Line, "after the edit %q is still there: nothing written", yamltext.Deref(nk.misses[0][0]).Value)
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
		k := yamltext.Deref(c[i])
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
