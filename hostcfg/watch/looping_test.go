package watch

import (
	"net/netip"
	"testing"
)

func TestLoopingLine(t *testing.T) {
	looping := func(a netip.Addr) bool { return a.IsLoopback() || a == netip.MustParseAddr("169.254.25.10") }
	for _, tc := range []struct {
		data string
		line int
		addr string
	}{
		{"nameserver 10.0.0.2\nnameserver 169.254.25.10\n", 2, "169.254.25.10"},
		{"[Resolve]\nDNS=127.0.0.53\n", 2, "127.0.0.53"},
		{"[ipv4]\ndns=10.0.0.2;127.0.0.1;\n", 2, "127.0.0.1"},
		{"prepend domain-name-servers 169.254.25.10;\n", 1, "169.254.25.10"},
		{"lease {\n  option domain-name-servers 10.0.0.2,169.254.25.10;\n}\n", 2, "169.254.25.10"},
		{".:53 {\n  forward . 127.0.0.53:53\n}\n", 2, "127.0.0.53"},
		{"nameserver ::1\n", 1, "::1"},
		{"nameserver fe80::1%eth0\nnameserver 10.0.0.2\n", 0, ""},
		{"# nameserver 127.0.0.53\n; nameserver 169.254.25.10\n", 0, ""},
		{"healthzBindAddress: 127.0.0.1\n", 0, ""},
		{"nameserver 169.254.25.100\n", 0, ""},
	} {
		line, a := LoopingLine([]byte(tc.data), looping)
		got := ""
		if a.IsValid() {
			got = a.String()
		}
		if line != tc.line || got != tc.addr {
			t.Errorf("LoopingLine(%q) = %d %q, want %d %q", tc.data, line, got, tc.line, tc.addr)
		}
	}
}
