package openresolv

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/hostcfg/resolvconf"
)

// program is the head of Debian's openresolv 3.12.0 /sbin/resolvconf.
const program = "#!/bin/sh\n# Copyright (c) 2007-2020 Roy Marples\nRESOLVCONF=\"$0\"\nOPENRESOLV_VERSION=\"3.12.0\"\nSYSCONFDIR=/etc\n"

func load(t *testing.T, files map[string]string) *Config {
	t.Helper()
	r, err := hostcfg.NewRoot(hostcfgtest.Files(t, files))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Load(r)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func servers(c *Config) []string {
	var out []string
	for _, s := range c.Servers {
		out = append(out, fmt.Sprintf("%s@%s:%d", s.Addr, s.File, s.Line))
	}
	return out
}

// Load lists the servers in the order libc.in writes them, each at its
// file and line: the last assignment of a variable wins, blacklisted ones
// are left out, and the records come between name_servers and
// name_servers_append.
func TestLoad(t *testing.T) {
	c := load(t, map[string]string{
		"usr/sbin/resolvconf": program,
		"etc/resolvconf.conf": "# Configuration for resolvconf(8)\nresolv_conf=/etc/resolv.conf\nname_servers=192.0.2.9\nname_servers=\"169.254.25.10 192.0.2.1\"\n" +
			"name_servers_append=192.0.2.3\nprepend_nameservers='192.0.2.7'\nname_server_blacklist=\"192.0.2.6*\"\n",
		"run/resolvconf/interfaces/eth0.dhcp": "# resolv.conf for eth0\nsearch lan\nnameserver 10.0.0.2\nnameserver 192.0.2.66\n",
	})
	want := []string{"192.0.2.7@/etc/resolvconf.conf:6", "169.254.25.10@/etc/resolvconf.conf:4", "192.0.2.1@/etc/resolvconf.conf:4",
		"10.0.0.2@/run/resolvconf/interfaces/eth0.dhcp:3", "192.0.2.3@/etc/resolvconf.conf:5"}
	if got := servers(c); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("servers\n%q\nwant\n%q", got, want)
	}
	if !c.Installed || c.Version != "3.12.0" || !c.HasConf || c.ResolvConf.Value != "/etc/resolv.conf" || c.ResolvConf.Line != 2 {
		t.Errorf("installed=%v version=%q conf=%v resolv_conf=%+v", c.Installed, c.Version, c.HasConf, c.ResolvConf)
	}
	sv, ok := c.Find(netip.MustParseAddr("169.254.25.10"))
	if !ok || !sv.Fixed() || sv.Var != "name_servers" || !strings.Contains(sv.Says(), "/etc/resolvconf.conf line 4") {
		t.Errorf("Find = %+v, %v: %s", sv, ok, sv.Says())
	}
	rec, _ := c.Find(netip.MustParseAddr("10.0.0.2"))
	if rec.Fixed() || rec.Record != "eth0.dhcp" {
		t.Errorf("record %+v", rec)
	}
	if got := c.Next(func(a netip.Addr) bool { return a.String() == "169.254.25.10" }); strings.Join(got, " ") != "192.0.2.7 192.0.2.1 10.0.0.2 192.0.2.3" {
		t.Errorf("Next = %q", got)
	}
}

// A node without openresolv: Debian's resolvconf's program, or none, and no
// resolvconf.conf. Its records are not read: they are another program's.
func TestLoadNotOpenresolv(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"debian resolvconf": {"sbin/resolvconf": "#!/bin/sh\n# resolvconf 1.91\n", "run/resolvconf/interfaces/eth0": "nameserver 10.0.0.2\n"},
		"nothing":           {"etc/hostname": "node\n"},
	} {
		t.Run(name, func(t *testing.T) {
			c := load(t, files)
			if c.Present() || c.Installed || len(c.Servers) != 0 {
				t.Errorf("present=%v installed=%v servers=%q", c.Present(), c.Installed, servers(c))
			}
		})
	}
}

// Bad input: a binary resolvconf.conf is an error naming the file and line.
func TestLoadBinaryConf(t *testing.T) {
	r, err := hostcfg.NewRoot(hostcfgtest.Files(t, map[string]string{"etc/resolvconf.conf": "name_servers=1.2.3.4\n\x00\n"}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(r); err == nil || !strings.Contains(err.Error(), Conf) || !strings.Contains(err.Error(), "2") {
		t.Errorf("Load = %v, want an error naming %s line 2", err, Conf)
	}
}

// WithoutServers changes only the value's bytes of the line asked.
func TestWithoutServers(t *testing.T) {
	for _, tt := range []struct {
		name, in  string
		line      int
		drop, add []string
		want      string
	}{
		{"bare", "# x\nname_servers=169.254.25.10\n", 2, []string{"169.254.25.10"}, []string{"192.0.2.1"}, "# x\nname_servers=192.0.2.1\n"},
		{"quoted, others kept", "name_servers=\"169.254.25.10  192.0.2.1\" # cache\nX=1\n", 1, []string{"169.254.25.10"}, []string{"9.9.9.9"}, "name_servers=\"192.0.2.1\" # cache\nX=1\n"},
		{"single quotes", "  name_servers_append='192.0.2.1 169.254.25.10'\n", 1, []string{"169.254.25.10"}, nil, "  name_servers_append='192.0.2.1'\n"},
		{"empty", "name_servers=169.254.25.10", 1, []string{"169.254.25.10"}, nil, "name_servers="},
		{"two added need quotes", "name_servers=127.0.0.1\r\n", 1, []string{"127.0.0.1"}, []string{"192.0.2.1", "192.0.2.2"}, "name_servers=\"192.0.2.1 192.0.2.2\"\r\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithoutServers([]byte(tt.in), tt.line, tt.drop, tt.add)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	if _, err := WithoutServers([]byte("# none\n"), 1, []string{"1.2.3.4"}, nil); err == nil || !strings.Contains(err.Error(), Conf) {
		t.Errorf("no assignment: %v", err)
	}
}

// Regenerated writes next in the nameservers' place, as libc.in does.
func TestRegenerated(t *testing.T) {
	in := Signature + "\nsearch lan\nnameserver 169.254.25.10\nnameserver 192.0.2.1\noptions edns0\n"
	got, err := Regenerated("/etc/resolv.conf", []byte(in), []string{"192.0.2.1", "10.0.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	want := Signature + "\nsearch lan\nnameserver 192.0.2.1\nnameserver 10.0.0.2\noptions edns0\n"
	if string(got) != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// Wrote tells openresolv's file from Debian's resolvconf's by the first line.
func TestWrote(t *testing.T) {
	for _, tt := range []struct {
		data string
		want bool
	}{
		{Signature + "\nnameserver 192.0.2.1\n", true},
		{"# Dynamic resolv.conf(5) file for glibc resolver(3) generated by resolvconf(8)\n#     DO NOT EDIT THIS FILE BY HAND -- YOUR CHANGES WILL BE OVERWRITTEN\nnameserver 192.0.2.1\n", false},
		{"nameserver 192.0.2.1\n" + Signature + "\n", false},
	} {
		r, err := hostcfg.NewRoot(hostcfgtest.Files(t, map[string]string{"etc/resolv.conf": tt.data}))
		if err != nil {
			t.Fatal(err)
		}
		rf, err := resolvconf.Read(r, "/etc/resolv.conf")
		if err != nil {
			t.Fatal(err)
		}
		if got := Wrote(rf); got != tt.want {
			t.Errorf("Wrote(%q) = %v, want %v (generator %s)", tt.data, got, tt.want, rf.Generator)
		}
	}
}

// Blacklisted adds to the last name_server_blacklist, or appends one.
func TestBlacklisted(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"resolv_conf=/etc/resolv.conf", "resolv_conf=/etc/resolv.conf\nname_server_blacklist=\"169.254.25.10\"\n"},
		{"name_server_blacklist=10.9.9.9 # old\nX=1\n", "name_server_blacklist=\"10.9.9.9 169.254.25.10\" # old\nX=1\n"},
		{"name_server_blacklist='169.254.25.10'\n", "name_server_blacklist='169.254.25.10'\n"},
	} {
		got, err := Blacklisted([]byte(tt.in), []string{"169.254.25.10"})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("Blacklisted(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
