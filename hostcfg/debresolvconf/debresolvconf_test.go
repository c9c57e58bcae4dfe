package debresolvconf

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/unloop/unloop/hostcfg"
)

// ExceptLo adds lo to the last DNSMASQ_EXCEPT, keeping the interfaces it
// named, or appends one; a commented line (Debian's default file) is left.
func TestExceptLo(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"#DNSMASQ_EXCEPT=\"lo\"\nENABLED=1\n", "#DNSMASQ_EXCEPT=\"lo\"\nENABLED=1\nDNSMASQ_EXCEPT=\"lo\"\n"},
		{"ENABLED=1", "ENABLED=1\nDNSMASQ_EXCEPT=\"lo\"\n"},
		{"", "DNSMASQ_EXCEPT=\"lo\"\n"},
		{"DNSMASQ_EXCEPT=eth1\nDNSMASQ_EXCEPT=\"eth2 eth3\"\nX=1\n", "DNSMASQ_EXCEPT=eth1\nDNSMASQ_EXCEPT=\"eth2 eth3 lo\"\nX=1\n"},
		{"  DNSMASQ_EXCEPT='lo'\n", "  DNSMASQ_EXCEPT='lo'\n"},
	} {
		if got := string(ExceptLo([]byte(tt.in))); got != tt.want {
			t.Errorf("ExceptLo(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Load reads every input at its line, and the settings of the defaults
// files as the libc script and dnsmasq's start_resolvconf read them.
func TestLoad(t *testing.T) {
	dir := t.TempDir()
	for p, data := range map[string]string{
		Head:                            "# head\nnameserver 169.254.25.10\n",
		Base:                            "nameserver 192.0.2.1 192.0.2.2\n",
		DnsmasqRecord:                   "nameserver 127.0.0.1\n",
		InterfaceDir + "/eth0.dhclient": "search lan\n nameserver 10.0.0.2\n",
		Defaults:                        "TRUNCATE_NAMESERVER_LIST_AFTER_LOOPBACK_ADDRESS=no\n",
		DnsmasqDefaults:                 "DNSMASQ_EXCEPT=\"eth1 lo\"\n",
	} {
		f := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(r)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range c.Servers {
		got = append(got, s.Input+":"+s.Addr.String()+"@"+s.File+":"+string(rune('0'+s.Line)))
	}
	want := []string{"head:169.254.25.10@" + Head + ":2", "eth0.dhclient:10.0.0.2@" + InterfaceDir + "/eth0.dhclient:2",
		"lo.dnsmasq:127.0.0.1@" + DnsmasqRecord + ":1", "base:192.0.2.1@" + Base + ":1", "base:192.0.2.2@" + Base + ":1"}
	if len(got) != len(want) {
		t.Fatalf("servers %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("server %d: %q, want %q", i, got[i], want[i])
		}
	}
	if !c.Present || c.Truncate || !c.ExceptsLo || c.Except.Line != 1 {
		t.Errorf("present=%v truncate=%v exceptsLo=%v except=%+v", c.Present, c.Truncate, c.ExceptsLo, c.Except)
	}
}
