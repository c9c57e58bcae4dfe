// Package dhclient reads ISC dhclient's configuration and leases, and comments
// out its name-server statements.
package dhclient

import (
	"bytes"
	"errors"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/conffile"
)

// leaseDirs hold dhclient's leases: Debian's and RHEL's.
var leaseDirs = []string{"/var/lib/dhcp", "/var/lib/dhclient"}

// Evidence says in words why dhclient is thought to run on the node (its
// leases, else its binary), or "" when nothing says so.
func Evidence(r *hostcfg.Root) string {
	for _, dir := range leaseDirs {
		for _, pat := range []string{"*.leases", "*.lease"} {
			if m, _ := r.Glob(dir, pat); len(m) > 0 {
				return "dhclient leases in " + dir
			}
		}
	}
	for _, b := range []string{"/sbin/dhclient", "/usr/sbin/dhclient"} {
		if fi, err := r.Stat(b); err == nil && fi.Mode().IsRegular() {
			return "dhclient installed at " + b
		}
	}
	return ""
}

// Statement is a `prepend|supersede|append|default domain-name-servers`
// statement of a dhclient.conf.
type Statement struct {
	Verb      string // prepend, supersede, append, default
	Option    string // domain-name-servers (or dhcp6.name-servers)
	Addrs     []netip.Addr
	Interface string // the `interface "IFACE" { }` block it is in; "" at top level
	Line      int
	Start     int // byte offset of the statement's first byte in the file
	End       int // byte offset just past its ';'
}

// Config is one dhclient.conf (global, or dhclient-IFACE.conf).
type Config struct {
	Path       string
	Interface  string // "" for the global file
	Statements []Statement
}

// dhclientVerbs are the statements that change the servers dhclient-script
// writes into resolv.conf.
var dhclientVerbs = []string{"prepend", "supersede", "append", "default"}

// dhclientDNSOptions are the options that hold name servers (DHCPv4, DHCPv6).
var dhclientDNSOptions = []string{"domain-name-servers", "dhcp6.name-servers"}

// ParseConfig parses the domain-name-servers statements of a dhclient.conf;
// comments (#) are not statements. Other statements are skipped, not judged, but
// the file must tokenize: an unterminated string or unbalanced braces is an
// error, as is a name-server statement without ';' or with an address that is
// not an IP address.
func ParseConfig(path string, data []byte) (*Config, error) {
	toks, err := dhTokenize(path, data)
	if err != nil {
		return nil, err
	}
	conf := &Config{Path: path}
	err = dhWalk(path, toks, func(stmt []dhToken, end *dhToken, blocks []dhBlock) error {
		if len(stmt) < 2 || stmt[0].kind != 'w' || stmt[1].kind != 'w' ||
			!slices.Contains(dhclientVerbs, stmt[0].text) || !slices.Contains(dhclientDNSOptions, stmt[1].text) {
			return nil
		}
		if end == nil || end.kind != ';' {
			return hostcfg.Errorf(path, stmt[len(stmt)-1].line, "%s %s: missing ';'", stmt[0].text, stmt[1].text)
		}
		addrs, err := dhAddrList(path, stmt[0].text+" "+stmt[1].text, stmt[2:], stmt[0].line)
		if err != nil {
			return err
		}
		iface := ""
		for _, b := range blocks {
			if b.iface != "" {
				iface = b.iface
			}
		}
		conf.Statements = append(conf.Statements, Statement{
			Verb: stmt[0].text, Option: stmt[1].text, Addrs: addrs, Interface: iface,
			Line: stmt[0].line, Start: stmt[0].start, End: end.end,
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return conf, nil
}

// dhAddrList reads "ADDR, ADDR, ..." as dhclient writes an IP address list.
func dhAddrList(path, what string, toks []dhToken, line int) ([]netip.Addr, error) {
	if len(toks) == 0 {
		return nil, hostcfg.Errorf(path, line, "%s: no address", what)
	}
	var addrs []netip.Addr
	for i, t := range toks {
		if i%2 == 1 {
			if t.kind != ',' {
				return nil, hostcfg.Errorf(path, t.line, "%s: expected ',' between addresses, found %q", what, t.text)
			}
			continue
		}
		a, err := netip.ParseAddr(t.text)
		if t.kind != 'w' || err != nil {
			return nil, hostcfg.Errorf(path, t.line, "%s: %q is not an IP address", what, t.text)
		}
		addrs = append(addrs, a)
	}
	if toks[len(toks)-1].kind == ',' {
		return nil, hostcfg.Errorf(path, toks[len(toks)-1].line, "%s: ',' without an address after it", what)
	}
	return addrs, nil
}

// dhToken is a token of dhclient's configuration and lease files.
type dhToken struct {
	kind       byte   // 'w' word, 's' quoted string, or one of ; { } ,
	text       string // the word, the string's content, or the punctuation
	line       int
	start, end int // byte offsets in the file
}

// dhTokenize cuts a dhclient.conf or leases file into tokens: '#' starts a
// comment to the end of the line (outside strings), strings are in double
// quotes with backslash escapes, and ; { } , stand alone.
func dhTokenize(path string, data []byte) ([]dhToken, error) {
	if err := conffile.CheckParsedSize(path, data); err != nil {
		return nil, err
	}
	if err := conffile.Check(path, data, conffile.MaxINILine); err != nil {
		return nil, err
	}
	var toks []dhToken
	line := 1
	for i := 0; i < len(data); {
		c := data[i]
		switch {
		case c == '\n':
			line++
			i++
		case conffile.IsSpace(rune(c)):
			i++
		case c == '#':
			j := bytes.IndexByte(data[i:], '\n')
			if j < 0 {
				i = len(data)
			} else {
				i += j
			}
		case c == ';' || c == '{' || c == '}' || c == ',':
			toks = append(toks, dhToken{kind: c, text: string(c), line: line, start: i, end: i + 1})
			i++
		case c == '"':
			startLine := line
			var sb strings.Builder
			j := i + 1
			for ; j < len(data) && data[j] != '"'; j++ {
				if data[j] == '\\' && j+1 < len(data) {
					j++
				}
				if data[j] == '\n' {
					line++
				}
				sb.WriteByte(data[j])
			}
			if j >= len(data) {
				return nil, hostcfg.Errorf(path, startLine, "unterminated string")
			}
			toks = append(toks, dhToken{kind: 's', text: sb.String(), line: startLine, start: i, end: j + 1})
			i = j + 1
		default:
			j := i
			for j < len(data) && !conffile.IsSpace(rune(data[j])) && !strings.ContainsRune("\n#;{},\"", rune(data[j])) {
				j++
			}
			toks = append(toks, dhToken{kind: 'w', text: string(data[i:j]), line: line, start: i, end: j})
			i = j
		}
	}
	return toks, nil
}

// dhBlock is an open { } block: the statement that opened it.
type dhBlock struct {
	head  []dhToken
	line  int
	iface string // `interface "eth0" {`
}

// dhWalk calls fn for every statement of toks with the token that ended it
// (';', '{', '}', or nil at the end of the file) and the blocks it is in.
// Unbalanced braces are errors.
func dhWalk(path string, toks []dhToken, fn func(stmt []dhToken, end *dhToken, blocks []dhBlock) error) error {
	var blocks []dhBlock
	var cur []dhToken
	for i := range toks {
		t := &toks[i]
		switch t.kind {
		case ';', '{', '}':
			if len(cur) > 0 {
				if err := fn(cur, t, blocks); err != nil {
					return err
				}
			}
			switch t.kind {
			case '{':
				b := dhBlock{head: cur, line: t.line}
				if len(cur) == 2 && cur[0].kind == 'w' && cur[0].text == "interface" && cur[1].kind == 's' {
					b.iface = cur[1].text
				}
				blocks = append(blocks, b)
			case '}':
				if len(blocks) == 0 {
					return hostcfg.Errorf(path, t.line, "'}' without '{'")
				}
				blocks = blocks[:len(blocks)-1]
			}
			cur = nil
		default:
			cur = append(cur, *t)
		}
	}
	if len(cur) > 0 {
		if err := fn(cur, nil, blocks); err != nil {
			return err
		}
	}
	if len(blocks) > 0 {
		return hostcfg.Errorf(path, blocks[len(blocks)-1].line, "'{' never closed")
	}
	return nil
}

// Neutralise comments out exactly the statement st of data: every line
// it spans gets "# MARKER: " in front, so a person can see what unloop did and
// undo it by deleting the prefix. When another statement shares its first or
// last line, a line break keeps that one active. A statement that does not
// match data (offsets out of range, not ending in ';') leaves data as it is;
// callers parse the result again anyway.
func Neutralise(data []byte, st Statement, marker string) []byte {
	out := bytes.Clone(data)
	if st.Start < 0 || st.End > len(data) || st.Start >= st.End || data[st.End-1] != ';' {
		return out
	}
	prefix := "# " + marker + ": "
	lineStart := bytes.LastIndexByte(data[:st.Start], '\n') + 1
	lineEnd := len(data)
	if j := bytes.IndexByte(data[st.End:], '\n'); j >= 0 {
		lineEnd = st.End + j
	}
	nl := "\n"
	if lineEnd > 0 && lineEnd < len(data) && data[lineEnd-1] == '\r' {
		nl = "\r\n"
	}
	var b bytes.Buffer
	b.Write(data[:lineStart])
	before := data[lineStart:st.Start]
	if len(bytes.TrimLeft(before, " \t")) > 0 {
		b.Write(before)
		b.WriteString(nl)
		b.WriteString(prefix)
	} else {
		b.WriteString(prefix)
		b.Write(before)
	}
	b.Write(bytes.ReplaceAll(data[st.Start:st.End], []byte("\n"), []byte("\n"+prefix)))
	after := data[st.End:lineEnd]
	if rest := bytes.TrimLeft(after, " \t\r"); len(rest) > 0 && rest[0] != '#' {
		b.WriteString(nl)
	}
	b.Write(after)
	b.Write(data[lineEnd:])
	return b.Bytes()
}

// LoadConfigs reads every dhclient.conf on the node: /etc/dhcp/dhclient.conf,
// /etc/dhclient.conf and the per-interface dhclient-IFACE.conf beside them. A
// file reached twice through links is read once. Files that can't be read or
// parsed are left out and their errors returned, joined.
func LoadConfigs(r *hostcfg.Root) ([]*Config, error) {
	type cand struct{ path, iface string }
	cands := []cand{{"/etc/dhcp/dhclient.conf", ""}, {"/etc/dhclient.conf", ""}}
	var errs []error
	for _, dir := range []string{"/etc/dhcp", "/etc"} {
		m, err := r.Glob(dir, "dhclient-*.conf")
		if err != nil {
			errs = append(errs, err)
		}
		for _, p := range m {
			cands = append(cands, cand{p, strings.TrimSuffix(strings.TrimPrefix(path.Base(p), "dhclient-"), ".conf")})
		}
	}
	var paths []string
	iface := map[string]string{}
	seen := map[string]bool{}
	for _, c := range cands {
		if target, err := r.Resolve(c.path); err == nil {
			if seen[target] {
				continue
			}
			seen[target] = true
		}
		paths = append(paths, c.path)
		iface[c.path] = c.iface
	}
	// Missing (or a dangling link) is absent, as it is to dhclient.
	var out []*Config
	errs = append(errs, hostcfg.ReadEach(r, paths, func(p string, data []byte) error {
		conf, err := ParseConfig(p, data)
		if err != nil {
			return err
		}
		conf.Interface = iface[p]
		out = append(out, conf)
		return nil
	})...)
	return out, errors.Join(errs...)
}

// Lease is the newest lease of one interface.
type Lease struct {
	Path      string
	Interface string
	V6        bool         // a lease6 block (dhclient -6)
	DNS       []netip.Addr // option domain-name-servers as the server sent it
	Line      int          // of the option, or of the lease when it has none
}

// LoadLeases reads the newest lease per interface from /var/lib/dhcp and
// /var/lib/dhclient (*.leases, *.lease). dhclient appends each new lease to its
// file, so the last one of an interface wins, files read in name order. Files
// that can't be read or parsed are left out and their errors returned, joined.
func LoadLeases(r *hostcfg.Root) ([]Lease, error) {
	var errs []error
	type key struct {
		iface string
		v6    bool
	}
	newest := map[key]Lease{}
	for _, dir := range leaseDirs {
		var files []string
		for _, pat := range []string{"*.leases", "*.lease"} {
			m, err := r.Glob(dir, pat)
			if err != nil {
				errs = append(errs, err)
			}
			files = append(files, m...)
		}
		slices.Sort(files)
		// Gone since the listing, or a dangling link: absent.
		errs = append(errs, hostcfg.ReadEach(r, files, func(p string, data []byte) error {
			leases, err := ParseLeases(p, data)
			if err != nil {
				return err
			}
			for _, l := range leases {
				newest[key{l.Interface, l.V6}] = l
			}
			return nil
		})...)
	}
	out := make([]Lease, 0, len(newest))
	for _, l := range newest {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b Lease) int {
		if c := strings.Compare(a.Interface, b.Interface); c != 0 {
			return c
		}
		if a.V6 == b.V6 {
			return 0
		}
		if b.V6 {
			return -1
		}
		return 1
	})
	return out, errors.Join(errs...)
}

// ParseLeases returns every lease and lease6 block of a leases file, in
// file order.
func ParseLeases(path string, data []byte) ([]Lease, error) {
	toks, err := dhTokenize(path, data)
	if err != nil {
		return nil, err
	}
	var out []Lease
	var cur *Lease
	err = dhWalk(path, toks, func(stmt []dhToken, end *dhToken, blocks []dhBlock) error {
		if len(blocks) == 0 {
			if end != nil && end.kind == '{' && len(stmt) == 1 && (stmt[0].text == "lease" || stmt[0].text == "lease6") {
				out = append(out, Lease{Path: path, V6: stmt[0].text == "lease6", Line: stmt[0].line})
				cur = &out[len(out)-1]
			} else {
				cur = nil
			}
			return nil
		}
		if cur == nil || end == nil || end.kind != ';' {
			return nil
		}
		switch {
		case len(stmt) == 2 && stmt[0].text == "interface" && stmt[1].kind == 's':
			cur.Interface = stmt[1].text
		case len(stmt) >= 2 && stmt[0].text == "option" && slices.Contains(dhclientDNSOptions, stmt[1].text):
			addrs, err := dhAddrList(path, "option "+stmt[1].text, stmt[2:], stmt[0].line)
			if err != nil {
				return err
			}
			cur.DNS, cur.Line = addrs, stmt[0].line
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Paths are the node paths LoadConfigs reads: the two dhclient.conf and the
// folders of the per-interface ones. Leases are read for upstreams only and
// change at every renew: they are not listed.
func Paths() []string {
	return []string{"/etc/dhcp/dhclient.conf", "/etc/dhclient.conf", "/etc/dhcp"}
}
