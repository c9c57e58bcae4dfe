package reliability

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHookUnderRealDhclient: the generated hook under Debian's real
// dhclient-script, fed by a real DHCP server (dnsmasq) that hands out 40 name
// servers (about as many as fit, with the rest, in the 576 bytes of a reply to
// a client that asks for no more) with looping ones among them, and a domain
// name and search list made of shell metacharacters (dhclient itself drops
// those: "suspect value in domain_name option - discarded"). After the lease,
// /etc/resolv.conf holds every clean server and no looping one, and nothing
// from the DHCP server was executed.
func TestHookUnderRealDhclient(t *testing.T) {
	b := newBed(t, "bookworm")
	n := b.Node
	var servers, clean []string
	for i := range 39 {
		a := fmt.Sprintf("10.%d.%d.%d", 100+i/50, i%50, 1+i%9)
		switch i {
		case 0, 31:
			a = "169.254.25.10"
		case 17:
			a = "127.0.0.53"
		case 24:
			a = "169.254.20.10"
		default:
			clean = append(clean, a)
		}
		servers = append(servers, a)
	}
	servers = append(servers, b.Upstream)
	clean = append(clean, b.Upstream)
	b.DHCP("option:dns-server,"+strings.Join(servers, ","),
		"option:domain-name,$(touch /tmp/PWNED)",
		"option:domain-search,ok.example,`touch /tmp/PWNED`.example,x;touch${IFS}/tmp/PWNED")

	// As on RHEL and in the field report: no resolved, a plain
	// /etc/resolv.conf that dhclient-script writes, a prepend line.
	n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
	etc, err := n.Path("/etc")
	must(t, err)
	must(t, os.Remove(filepath.Join(etc, "resolv.conf")))
	must(t, n.WriteFile("/etc/resolv.conf", []byte("nameserver 169.254.25.10\nnameserver "+b.Upstream+"\n"), 0o644))
	must(t, n.WriteFile("/etc/dhcp/dhclient.conf", []byte("prepend domain-name-servers 169.254.25.10;\nrequest subnet-mask, routers, domain-name, domain-name-servers, domain-search;\n"), 0o644))

	r := b.unloop(time.Minute, "unloop", nil, "apply", "--strategy", "dhclient")
	if r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}
	if _, err := n.ReadFile("/etc/dhcp/dhclient-enter-hooks.d/unloop"); err != nil {
		t.Fatalf("no hook after apply: %v", err)
	}

	// What the script's variables are before and after unloop's hook (hooks
	// run in name order), for the log and the checks.
	dump := "echo \"$reason: $new_domain_name_servers\" >>/run/dhclient-WHEN.log\n"
	must(t, n.WriteFile("/etc/dhcp/dhclient-enter-hooks.d/00before", []byte(strings.ReplaceAll(dump, "WHEN", "before")), 0o644))
	must(t, n.WriteFile("/etc/dhcp/dhclient-enter-hooks.d/zzafter", []byte(strings.ReplaceAll(dump, "WHEN", "after")), 0o644))
	n.Run("systemd-run", "--unit", "dhclient-test", "/sbin/dhclient", "-d", "-v", "-4", "eth0")
	var resolv, log string
	deadline := time.Now().Add(30 * time.Second)
	for {
		log, _ = n.Exec(context.Background(), "journalctl", "-b", "-u", "dhclient-test", "-o", "cat", "--no-pager")
		d, _ := n.ReadFile("/etc/resolv.conf")
		resolv = string(d)
		if strings.Contains(log, "bound to") && strings.Contains(resolv, clean[0]) {
			break
		}
		if time.Now().After(deadline) {
			before, _ := n.ReadFile("/run/dhclient-before.log")
			after, _ := n.ReadFile("/run/dhclient-after.log")
			t.Fatalf("no lease written within 30s:\ndhclient:\n%s\nservers before the hook: %q\nafter: %q\n/etc/resolv.conf:\n%s", log, before, after, resolv)
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the script writes after it logs
	d, _ := n.ReadFile("/etc/resolv.conf")
	resolv = string(d)
	before, _ := n.ReadFile("/run/dhclient-before.log")
	after, _ := n.ReadFile("/run/dhclient-after.log")
	t.Logf("dhclient:\n%s\nservers before the hook: %q\nafter: %q\n/etc/resolv.conf:\n%s", log, before, after, resolv)

	if out, _ := n.Exec(context.Background(), "sh", "-c", "ls /tmp/PWNED /PWNED 2>/dev/null"); strings.TrimSpace(out) != "" {
		t.Fatalf("data from the DHCP server was executed: %s", out)
	}
	var got []string
	for _, line := range strings.Split(resolv, "\n") {
		if ns, ok := strings.CutPrefix(line, "nameserver "); ok {
			got = append(got, strings.TrimSpace(ns))
		}
	}
	if strings.Join(got, " ") != strings.Join(clean, " ") {
		t.Fatalf("nameservers after the lease:\n got %q\nwant %q", got, clean)
	}
	if r := b.unloop(time.Minute, "unloop", nil, "check"); r.Code == 2 {
		t.Fatalf("check after the lease finds a loop: %s", r)
	}
}

// TestHookRenewUnchangedUnderRealDhclientScript: Debian's real dhclient-script
// (isc-dhcp-client 4.4.3-P1-2) rewrites /etc/resolv.conf at RENEW6 and REBIND6
// only when new_dhcp6_name_servers differs from old_dhcp6_name_servers. A
// lease that names a looping server keeps naming it at every renew; once the
// hook filtered only the new list, the two always differed and every renew
// rewrote the file (watchers saw a change each time). After a BOUND6 the
// renews of the same lease must leave the file as it is, not even rewritten.
func TestHookRenewUnchangedUnderRealDhclientScript(t *testing.T) {
	b := newBed(t, "bookworm")
	n := b.Node
	n.Run("systemctl", "disable", "--now", "systemd-resolved.service")
	etc, err := n.Path("/etc")
	must(t, err)
	must(t, os.Remove(filepath.Join(etc, "resolv.conf")))
	must(t, n.WriteFile("/etc/resolv.conf", []byte("nameserver 169.254.25.10\nnameserver "+b.Upstream+"\n"), 0o644))
	must(t, n.WriteFile("/etc/dhcp/dhclient.conf", []byte("prepend domain-name-servers 169.254.25.10;\n"), 0o644))
	if r := b.unloop(time.Minute, "unloop", nil, "apply", "--strategy", "dhclient"); r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}

	// dhclient -6 passes these to the script; no address, so the script
	// touches only resolv.conf.
	lease := []string{"interface=eth0", "new_dhcp6_name_servers=::1 2001:db8::53", "old_dhcp6_name_servers=::1 2001:db8::53"}
	script := func(reason string) {
		t.Helper()
		if out, err := n.Exec(context.Background(), append(append([]string{"env", "reason=" + reason}, lease...), "/sbin/dhclient-script")...); err != nil {
			t.Fatalf("dhclient-script %s: %v\n%s", reason, err, out)
		}
	}
	stat := func() string {
		t.Helper()
		return n.Run("stat", "-c", "%i %y", "/etc/resolv.conf")
	}
	script("BOUND6")
	bound, err := n.ReadFile("/etc/resolv.conf")
	must(t, err)
	if string(bound) != "nameserver 2001:db8::53\n" {
		t.Fatalf("after BOUND6 /etc/resolv.conf is:\n%s\nwant the lease's clean server only", bound)
	}
	// Any write from now on moves the modification time off this one.
	n.Run("touch", "-d", "2000-01-01 00:00:00", "/etc/resolv.conf")
	was := stat()
	for _, reason := range []string{"RENEW6", "REBIND6"} {
		script(reason)
		now, err := n.ReadFile("/etc/resolv.conf")
		must(t, err)
		if st := stat(); st != was || string(now) != string(bound) {
			t.Fatalf("%s of the unchanged lease rewrote /etc/resolv.conf: %s, was %s:\n%s", reason, st, was, now)
		}
	}
}
