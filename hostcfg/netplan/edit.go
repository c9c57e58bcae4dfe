package netplan

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/internal/yamltext"
)

// The editors below splice: they change the bytes of the values they must
// and keep every other byte (comments, quotes, order, line endings), then
// read the result again to check that only that changed.

// ErrHand says the file is written in a way the editor does not splice.
var ErrHand = errors.New("edit it by hand")

// Remove returns the file p without the nameservers: addresses: entries
// that loop. A list left with none gets fill instead (the upstreams that
// answered), or [] when fill is empty: netplan refuses a null list.
func Remove(p string, data []byte, looping func(netip.Addr) bool, fill []netip.Addr) ([]byte, error) {
	top, t, err := prepare(p, data)
	if err != nil {
		return nil, err
	}
	if top == nil {
		return data, nil
	}
	var edits []yamltext.Edit
	err = eachDef(top, func(_, _ string, def *yaml.Node) error {
		ns := yamltext.MergedKey(def, "nameservers", 0)
		if ns == nil || yamltext.Deref(ns).Kind != yaml.MappingNode {
			return nil
		}
		for i := 0; i+1 < len(ns.Content); i += 2 {
			if ns.Content[i].Value == "addresses" && ns.Content[i+1].Kind == yaml.SequenceNode {
				e, err := removeFrom(t, p, ns.Content[i], ns.Content[i+1], looping, fill)
				if err != nil {
					return err
				}
				edits = append(edits, e...)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(edits) == 0 {
		return data, nil
	}
	out, err := yamltext.Apply(data, edits)
	if err != nil {
		return nil, hostcfg.Errorf(p, 0, "%v: %w", err, ErrHand)
	}
	if err := checkRemoved(p, data, out, looping, fill); err != nil {
		return nil, err
	}
	return out, nil
}

// eachDef calls fn with each interface definition of the file.
func eachDef(top *yaml.Node, fn func(typ, id string, def *yaml.Node) error) error {
	return each(top, func(k, v *yaml.Node) error {
		if k.Value != "network" {
			return nil
		}
		return each(v, func(tk, tv *yaml.Node) error {
			if !isType(tk.Value) {
				return nil
			}
			return each(tv, func(ik, iv *yaml.Node) error {
				if ik.Value == "renderer" || iv.Kind != yaml.MappingNode {
					return nil
				}
				return fn(tk.Value, ik.Value, iv)
			})
		})
	})
}

// removeFrom plans the edits that drop the looping entries of list, the
// value of key.
func removeFrom(t *yamltext.Text, p string, key, list *yaml.Node, looping func(netip.Addr) bool, fill []netip.Addr) ([]yamltext.Edit, error) {
	var drop []*yaml.Node
	for _, e := range list.Content {
		if a, err := netip.ParseAddr(e.Value); err == nil && looping(a.Unmap()) {
			drop = append(drop, e)
		}
	}
	if len(drop) == 0 {
		return nil, nil
	}
	all := len(drop) == len(list.Content)
	if list.Style&yaml.FlowStyle != 0 {
		return removeFlow(t, p, list, drop, all, fill)
	}
	var edits []yamltext.Edit
	for i, e := range drop {
		start, end, ok := itemLine(t, e)
		if !ok {
			return nil, hostcfg.Errorf(p, e.Line, "nameservers: addresses: this entry does not stand on a line of its own: %w", ErrHand)
		}
		switch {
		case all && i == 0 && len(fill) > 0:
			// The first entry's line takes the upstreams, one line each.
			s, _, err := t.ScalarSpan(e, false)
			if err != nil {
				return nil, hostcfg.Errorf(p, e.Line, "%v: %w", err, ErrHand)
			}
			prefix := string(t.Data()[start:s])
			eol := t.EOL(start)
			var b strings.Builder
			for _, a := range fill {
				b.WriteString(prefix + a.String() + eol)
			}
			edits = append(edits, yamltext.Edit{Start: start, End: end, Text: b.String()})
		default:
			edits = append(edits, yamltext.Edit{Start: start, End: end})
		}
	}
	if all && len(fill) == 0 {
		colon, err := afterColon(t, key)
		if err != nil {
			return nil, hostcfg.Errorf(p, key.Line, "%v: %w", err, ErrHand)
		}
		edits = append(edits, yamltext.Edit{Start: colon, End: colon, Text: " []"})
	}
	return edits, nil
}

// itemLine is the span of the line holding block entry e ("- value" and a
// comment), when nothing else stands on it.
func itemLine(t *yamltext.Text, e *yaml.Node) (start, end int, ok bool) {
	d := t.Data()
	start = t.LineStart(e.Line)
	pre := strings.TrimSpace(string(d[start:t.Offset(e)]))
	if pre != "-" || e.Kind != yaml.ScalarNode {
		return 0, 0, false
	}
	_, se, err := t.ScalarSpan(e, false)
	if err != nil {
		return 0, 0, false
	}
	rest := strings.TrimSpace(strings.TrimSuffix(lineRest(d, se), "\r"))
	if rest != "" && !strings.HasPrefix(rest, "#") {
		return 0, 0, false
	}
	end = se + len(lineRest(d, se))
	if end < len(d) {
		end++ // the line break
	}
	return start, end, true
}

// lineRest is the text from offset i to the end of its line.
func lineRest(d []byte, i int) string {
	j := i
	for j < len(d) && d[j] != '\n' {
		j++
	}
	return string(d[i:j])
}

// afterColon is the offset just after the ':' that follows key.
func afterColon(t *yamltext.Text, key *yaml.Node) (int, error) {
	_, e, err := t.ScalarSpan(key, false)
	if err != nil {
		return 0, err
	}
	d := t.Data()
	for e < len(d) && (d[e] == ' ' || d[e] == '\t') {
		e++
	}
	if e >= len(d) || d[e] != ':' {
		return 0, errors.New("the key's ':' not found")
	}
	return e + 1, nil
}

// removeFlow plans the edits of a flow list [a, b, c].
func removeFlow(t *yamltext.Text, p string, list *yaml.Node, drop []*yaml.Node, all bool, fill []netip.Addr) ([]yamltext.Edit, error) {
	type span struct{ s, e int }
	spans := make([]span, len(list.Content))
	for i, e := range list.Content {
		s, en, err := t.ScalarSpan(e, true)
		if err != nil || e.Kind != yaml.ScalarNode {
			return nil, hostcfg.Errorf(p, e.Line, "nameservers: addresses: %v: %w", err, ErrHand)
		}
		spans[i] = span{s, en}
	}
	last := len(spans) - 1
	if all {
		var words []string
		for _, a := range fill {
			words = append(words, a.String())
		}
		return []yamltext.Edit{{Start: spans[0].s, End: spans[last].e, Text: strings.Join(words, ", ")}}, nil
	}
	var edits []yamltext.Edit
	for i, e := range list.Content {
		if !slices.Contains(drop, e) {
			continue
		}
		// An entry goes with the separator after it; the last one with the
		// separator before it, from the end of the entry before.
		if i < last {
			edits = append(edits, yamltext.Edit{Start: spans[i].s, End: spans[i+1].s})
		} else {
			edits = append(edits, yamltext.Edit{Start: spans[i-1].e, End: spans[i].e})
		}
	}
	return mergeSpans(edits), nil
}

// mergeSpans joins deletions that overlap (neighbours both removed).
func mergeSpans(edits []yamltext.Edit) []yamltext.Edit {
	slices.SortFunc(edits, func(a, b yamltext.Edit) int { return a.Start - b.Start })
	var out []yamltext.Edit
	for _, e := range edits {
		if n := len(out); n > 0 && e.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, e.End)
			continue
		}
		out = append(out, e)
	}
	return out
}

// checkRemoved reads the edited file again: the same definitions and
// settings, with the looping servers gone (and fill in their place).
func checkRemoved(p string, before, after []byte, looping func(netip.Addr) bool, fill []netip.Addr) error {
	b, a, err := readBack(p, before, after)
	if err != nil {
		return err
	}
	for i, l := range b.Links {
		var want []string
		for _, s := range l.Nameservers {
			if !looping(s.Addr) {
				want = append(want, s.Addr.String())
			}
		}
		if len(want) == 0 && len(l.Nameservers) > 0 {
			for _, f := range fill {
				want = append(want, f.String())
			}
		}
		var got []string
		for _, s := range a.Links[i].Nameservers {
			got = append(got, s.Addr.String())
		}
		al := a.Links[i]
		if !slices.Equal(got, want) || al.ID != l.ID || al.DHCP4 != l.DHCP4 || al.DHCP6 != l.DHCP6 || al.UseDNS4 != l.UseDNS4 || al.UseDNS6 != l.UseDNS6 {
			return hostcfg.Errorf(p, 0, "the edit did not read back as intended (%s: %v, want %v): %w", l.ID, got, want, ErrHand)
		}
	}
	return nil
}

// NoLeaseDNS returns the file p with dhcpN-overrides: use-dns: false set
// on the definition typ/id (family 4 or 6): netplan then renders networkd's
// [DHCPv4] UseDNS=false, or NetworkManager's ipv4.ignore-auto-dns=true, so a
// lease's servers no longer reach the resolver.
func NoLeaseDNS(p string, data []byte, typ, id string, family int) ([]byte, error) {
	top, t, err := prepare(p, data)
	if err != nil {
		return nil, err
	}
	key := fmt.Sprintf("dhcp%d-overrides", family)
	var edits []yamltext.Edit
	found := false
	err = eachDef(top, func(dt, did string, def *yaml.Node) error {
		if dt != typ || did != id || found {
			return nil
		}
		found = true
		edits, err = useDNSEdit(t, p, key, def)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !found:
		return nil, hostcfg.Errorf(p, 0, "no %s: %s here", typ, id)
	}
	out, err := yamltext.Apply(data, edits)
	if err != nil {
		return nil, hostcfg.Errorf(p, 0, "%v: %w", err, ErrHand)
	}
	if err := checkNoLeaseDNS(p, data, out, typ, id, family); err != nil {
		return nil, err
	}
	return out, nil
}

// useDNSEdit plans setting key: use-dns: false in the block mapping def.
func useDNSEdit(t *yamltext.Text, p, key string, def *yaml.Node) ([]yamltext.Edit, error) {
	for i := 0; i+1 < len(def.Content); i += 2 {
		if def.Content[i].Value != key {
			continue
		}
		ov := def.Content[i+1]
		if ov.Kind != yaml.MappingNode || ov.Style&yaml.FlowStyle != 0 || len(ov.Content) == 0 {
			return nil, hostcfg.Errorf(p, ov.Line, "%s: is not a block mapping: %w", key, ErrHand)
		}
		for j := 0; j+1 < len(ov.Content); j += 2 {
			if ov.Content[j].Value == "use-dns" {
				s, e, err := t.ScalarSpan(ov.Content[j+1], false)
				if err != nil {
					return nil, hostcfg.Errorf(p, ov.Content[j+1].Line, "%s: use-dns: %v: %w", key, err, ErrHand)
				}
				return []yamltext.Edit{{Start: s, End: e, Text: "false"}}, nil
			}
		}
		at, indent, err := keyLine(t, p, ov.Content[0])
		if err != nil {
			return nil, err
		}
		return []yamltext.Edit{{Start: at, End: at, Text: indent + "use-dns: false" + t.EOL(at)}}, nil
	}
	if def.Style&yaml.FlowStyle != 0 || len(def.Content) == 0 {
		return nil, hostcfg.Errorf(p, def.Line, "the definition is not a block mapping: %w", ErrHand)
	}
	at, indent, err := keyLine(t, p, def.Content[0])
	if err != nil {
		return nil, err
	}
	eol := t.EOL(at)
	return []yamltext.Edit{{Start: at, End: at, Text: indent + key + ":" + eol + indent + "  use-dns: false" + eol}}, nil
}

// keyLine is where the line of block mapping key k starts, and its indent:
// a new key goes before it, indented alike.
func keyLine(t *yamltext.Text, p string, k *yaml.Node) (int, string, error) {
	at := t.LineStart(k.Line)
	indent := string(t.Data()[at:t.Offset(k)])
	if strings.Trim(indent, " ") != "" {
		return 0, "", hostcfg.Errorf(p, k.Line, "the mapping does not start its line: %w", ErrHand)
	}
	return at, indent, nil
}

// checkNoLeaseDNS reads the edited file again: only use-dns changed.
func checkNoLeaseDNS(p string, before, after []byte, typ, id string, family int) error {
	b, a, err := readBack(p, before, after)
	if err != nil {
		return err
	}
	for i, l := range b.Links {
		want := l
		if l.Type == typ && l.ID == id {
			if family == 6 {
				want.UseDNS6.Value = "no"
			} else {
				want.UseDNS4.Value = "no"
			}
		}
		if !sameLink(a.Links[i], want) {
			return hostcfg.Errorf(p, 0, "the edit did not read back as intended (%s): %w", l.ID, ErrHand)
		}
	}
	return nil
}

// sameLink compares what the editors may not change (positions may move).
func sameLink(a, b Link) bool {
	if a.ID != b.ID || a.Type != b.Type || a.Renderer != b.Renderer || len(a.Nameservers) != len(b.Nameservers) ||
		a.DHCP4.Value != b.DHCP4.Value || a.DHCP6.Value != b.DHCP6.Value || a.UseDNS4.Value != b.UseDNS4.Value || a.UseDNS6.Value != b.UseDNS6.Value {
		return false
	}
	for i := range a.Nameservers {
		if a.Nameservers[i].Text != b.Nameservers[i].Text {
			return false
		}
	}
	return true
}

// AddNameservers returns the file p with addrs appended to the
// nameservers: addresses: of the definition typ/id (the list, or the keys,
// made where missing), as a block list's lines or a flow list's items.
func AddNameservers(p string, data []byte, typ, id string, addrs []netip.Addr) ([]byte, error) {
	if len(addrs) == 0 {
		return data, nil
	}
	top, t, err := prepare(p, data)
	if err != nil {
		return nil, err
	}
	var edits []yamltext.Edit
	err = eachDef(top, func(dt, did string, def *yaml.Node) error {
		if dt != typ || did != id || edits != nil {
			return nil
		}
		edits, err = addEdit(t, p, def, addrs)
		return err
	})
	if err == nil && edits == nil {
		err = hostcfg.Errorf(p, 0, "no %s: %s here", typ, id)
	}
	if err != nil {
		return nil, err
	}
	out, err := yamltext.Apply(data, edits)
	if err != nil {
		return nil, hostcfg.Errorf(p, 0, "%v: %w", err, ErrHand)
	}
	if _, err := Parse(p, out); err != nil {
		return nil, fmt.Errorf("the edited %s does not read back: %w", p, err)
	}
	return out, nil
}

// addEdit plans appending addrs to def's nameservers: addresses:.
func addEdit(t *yamltext.Text, p string, def *yaml.Node, addrs []netip.Addr) ([]yamltext.Edit, error) {
	words := make([]string, len(addrs))
	for i, a := range addrs {
		words[i] = a.String()
	}
	if def.Style&yaml.FlowStyle != 0 || len(def.Content) == 0 {
		return nil, hostcfg.Errorf(p, def.Line, "the definition is not a block mapping: %w", ErrHand)
	}
	var ns *yaml.Node
	for i := 0; i+1 < len(def.Content); i += 2 {
		if def.Content[i].Value == "nameservers" {
			ns = def.Content[i+1]
		}
	}
	if ns == nil {
		at, indent, err := keyLine(t, p, def.Content[0])
		if err != nil {
			return nil, err
		}
		eol := t.EOL(at)
		return []yamltext.Edit{{Start: at, End: at, Text: indent + "nameservers:" + eol + indent + "  addresses: [" + strings.Join(words, ", ") + "]" + eol}}, nil
	}
	for i := 0; i+1 < len(ns.Content); i += 2 {
		if ns.Content[i].Value != "addresses" {
			continue
		}
		list := ns.Content[i+1]
		if len(list.Content) == 0 || list.Kind != yaml.SequenceNode {
			return nil, hostcfg.Errorf(p, list.Line, "nameservers: addresses: is empty: %w", ErrHand)
		}
		last := list.Content[len(list.Content)-1]
		if list.Style&yaml.FlowStyle != 0 {
			_, e, err := t.ScalarSpan(last, true)
			if err != nil {
				return nil, hostcfg.Errorf(p, last.Line, "%v: %w", err, ErrHand)
			}
			return []yamltext.Edit{{Start: e, End: e, Text: ", " + strings.Join(words, ", ")}}, nil
		}
		start, end, ok := itemLine(t, last)
		if !ok {
			return nil, hostcfg.Errorf(p, last.Line, "nameservers: addresses: this entry does not stand on a line of its own: %w", ErrHand)
		}
		prefix := string(t.Data()[start:t.Offset(last)])
		eol := t.EOL(start)
		var b strings.Builder
		if end == len(t.Data()) && !strings.HasSuffix(string(t.Data()), "\n") {
			b.WriteString(eol)
		}
		for _, w := range words {
			b.WriteString(prefix + w + eol)
		}
		return []yamltext.Edit{{Start: end, End: end, Text: b.String()}}, nil
	}
	if ns.Kind != yaml.MappingNode || ns.Style&yaml.FlowStyle != 0 || len(ns.Content) == 0 {
		return nil, hostcfg.Errorf(p, ns.Line, "nameservers: is not a block mapping: %w", ErrHand)
	}
	at, indent, err := keyLine(t, p, ns.Content[0])
	if err != nil {
		return nil, err
	}
	return []yamltext.Edit{{Start: at, End: at, Text: indent + "addresses: [" + strings.Join(words, ", ") + "]" + t.EOL(at)}}, nil
}

// readBack parses a file before and after an edit, which must keep its
// interface definitions.
func readBack(p string, before, after []byte) (b, a *Config, err error) {
	if b, err = Parse(p, before); err != nil {
		return nil, nil, err
	}
	if a, err = Parse(p, after); err != nil {
		return nil, nil, fmt.Errorf("the edited %s does not read back: %w", p, err)
	}
	if len(a.Links) != len(b.Links) {
		return nil, nil, hostcfg.Errorf(p, 0, "the edit changed the interface definitions: %w", ErrHand)
	}
	return b, a, nil
}

// prepare reads a file netplan must accept as it is, for an edit.
func prepare(p string, data []byte) (*yaml.Node, *yamltext.Text, error) {
	if _, err := Parse(p, data); err != nil {
		return nil, nil, err // netplan would refuse the file as it is
	}
	top, err := Doc(p, data)
	if err != nil {
		return nil, nil, err
	}
	t, err := yamltext.New(p, data)
	return top, t, err
}
