package watch

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
)

// LoopingLine is the first line of data (1-based; 0: none) that names DNS
// servers and one of them an address for which looping says true, and that
// address. A line names DNS servers when it mentions "server", "dns" or
// "forward", which covers the files unloop watches: resolv.conf's
// `nameserver`, dhclient's `domain-name-servers`, systemd's `DNS=`,
// NetworkManager's `dns=`, a Corefile's `forward`. Comments (`#`, `;`) are
// left out: unloop comments a looping line out when it fixes one. It is a
// cheap look, not the check: it only decides how soon the check runs.
func LoopingLine(data []byte, looping func(netip.Addr) bool) (int, netip.Addr) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		low := strings.ToLower(line)
		if !strings.Contains(low, "server") && !strings.Contains(low, "dns") && !strings.Contains(low, "forward") {
			continue
		}
		for _, tok := range strings.FieldsFunc(line, notAddrRune) {
			if a, ok := parseAddr(tok); ok && looping(a) {
				return n, a
			}
		}
	}
	return 0, netip.Addr{}
}

// notAddrRune: r is in no address as files write them (1.2.3.4, ::1,
// fe80::1%eth0, 1.2.3.4:53), so it separates tokens.
func notAddrRune(r rune) bool {
	switch {
	case r >= '0' && r <= '9', r >= 'a' && r <= 'f', r >= 'A' && r <= 'F', r == '.', r == ':', r == '%':
		return false
	}
	return r < 'g' || r > 'z' // an interface's zone (eth0) keeps its letters
}

// parseAddr reads an address, or the address of ADDR:PORT.
func parseAddr(tok string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(tok); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(tok); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}
