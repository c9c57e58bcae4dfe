package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// generatedHook runs apply --strategy dhclient on a node tree of the field and
// returns the hook it wrote (the real one, not a copy of its template).
func generatedHook(t *testing.T, tree, hookPath string) string {
	t.Helper()
	dir, comment := hostcfgtest.Tree(t, filepath.Join(nodesDir, tree+".txtar"))
	r := run(t, unloopBin(), nil, append([]string{"apply", "--root", dir, "--offline", "--strategy", "dhclient"}, treeArgs(comment)...)...)
	if r.Code != 0 {
		t.Fatalf("apply: %s", r)
	}
	p := filepath.Join(dir, hookPath)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("apply wrote no hook at %s: %v", hookPath, err)
	}
	return p
}

// shells are the shells dhclient-script runs under: Debian's script is
// #!/bin/sh (dash), RHEL's is #!/bin/bash; both with -e, and -u for good measure.
func shells(t *testing.T) [][]string {
	var out [][]string
	for _, sh := range [][]string{{"dash", "-e", "-u"}, {"bash", "-e", "-u"}, {"bash", "--posix", "-e", "-u"}, {"busybox", "sh", "-e", "-u"}} {
		if _, err := exec.LookPath(sh[0]); err == nil {
			out = append(out, sh)
		}
	}
	if len(out) < 2 {
		t.Fatalf("want dash and bash to test the hook under, found %v", out)
	}
	return out
}

// TestHookNeverExecutesData sources the generated dhclient hook the way
// dhclient-script does, under set -e -u in dash and bash, with hostile
// server lists from the DHCP server: command substitutions, globs, separators,
// option-looking words, newlines, hundreds of addresses. The hook must never
// run any of it (a sentinel file would appear), never glob, never fail, and
// leave exactly the clean addresses, in order.
func TestHookNeverExecutesData(t *testing.T) {
	hook := generatedHook(t, "debian-dhclient-headerless", "/etc/dhcp/dhclient-enter-hooks.d/unloop")
	data, err := os.ReadFile(hook)
	must(t, err)
	if !strings.Contains(string(data), "unloop_upstreams='10.1.0.2'") || !strings.Contains(string(data), "169.254.25.10") {
		t.Fatalf("the hook is not for this tree:\n%s", data)
	}

	var many []string
	var manyWant []string
	for i := range 300 {
		a := fmt.Sprintf("10.%d.%d.%d", i/250, i%250, 1+i%7)
		switch i % 50 {
		case 7:
			a = "169.254.25.10"
		case 13:
			a = "127.0.0.53"
		case 29:
			a = "169.254.20.10"
		default:
			manyWant = append(manyWant, a)
		}
		many = append(many, a)
	}

	for _, tc := range []struct {
		name   string
		v4, v6 string // new_domain_name_servers, new_dhcp6_name_servers; "-" unset
		want4  string
		want6  string
	}{
		{"plain", "169.254.25.10 10.1.0.9", "-", "10.1.0.9", "-"},
		{"only-looping", "169.254.25.10 127.0.0.1", "-", "10.1.0.2", "-"},
		{"unset", "-", "-", "-", "-"},
		{"empty", "", "", "", ""},
		{"command-substitution", "$(touch PWNED) 10.1.0.9", "-", "10.1.0.9", "-"},
		{"command-substitution-whole", "10.1.0.9$(touch PWNED)", "-", "10.1.0.2", "-"},
		{"backticks", "`touch PWNED` 10.1.0.9", "-", "10.1.0.9", "-"},
		{"arithmetic", "$((1+1)) 10.1.0.9", "-", "10.1.0.9", "-"},
		{"parameter", "${PWNED:=x} $HOME 10.1.0.9", "-", "10.1.0.9", "-"},
		{"glob", "* ?? [a-z]* 10.1.0.9", "-", "10.1.0.9", "-"},
		{"semicolon", ";touch PWNED; 10.1.0.9;touch PWNED", "-", "10.1.0.2", "-"},
		{"and-or-pipe", "10.1.0.9&&touch PWNED || touch PWNED | touch PWNED", "-", "10.1.0.2", "-"},
		{"redirect", ">PWNED 10.1.0.9 <PWNED 2>PWNED", "-", "10.1.0.9", "-"},
		{"quotes", `'10.1.0.9' "10.1.0.8" 10.1.0.7`, "-", "10.1.0.7", "-"},
		{"newlines-tabs", "10.1.0.9\n169.254.25.10\t10.1.0.8\n", "-", "10.1.0.9 10.1.0.8", "-"},
		{"options", "-n -e --help 10.1.0.9", "-", "10.1.0.9", "-"},
		{"backslashes", `10.1.0.9\ 10.1.0.8\n\\`, "-", "10.1.0.2", "-"},
		{"printf-format", "%s%n%x 10.1.0.9", "-", "10.1.0.9", "-"},
		{"300-servers", strings.Join(many, " "), "-", strings.Join(manyWant, " "), "-"},
		{"ipv6", "-", "::1 fe80::1 2001:db8::53 $(touch PWNED)", "-", "fe80::1 2001:db8::53"},
		{"ipv6-only-looping", "-", "::1 0:0:0:0:0:0:0:1", "-", "10.1.0.2"}, // no v6 upstream: the v4 one
		{"ipv6-zone", "-", "fe80::1%eth0 ::1%lo fe80::2%$(touch PWNED) fe80::3%", "-", "fe80::1%eth0"},
		{"ipv4-mapped", "-", "::ffff:169.254.25.10 ::ffff:127.0.0.53 2001:db8::53", "-", "2001:db8::53"},
	} {
		for _, sh := range shells(t) {
			t.Run(tc.name+"/"+strings.Join(sh, " "), func(t *testing.T) {
				dir := t.TempDir()
				for _, f := range []string{"a", "bb", "cc"} { // what a glob would find
					must(t, os.WriteFile(filepath.Join(dir, f), nil, 0o644))
				}
				// dhclient-script sources the hook in its own shell; print the
				// variables and the shell's options after it.
				// The lease's previous lists (old_*) are the same here: the hook
				// must clean them alike, or a renew of this lease rewrites the file.
				script := `. "$1"; old=same
					if [ "${new_domain_name_servers-<unset>}" != "${old_domain_name_servers-<unset>}" ] ||
						[ "${new_dhcp6_name_servers-<unset>}" != "${old_dhcp6_name_servers-<unset>}" ]; then
						old="${old_domain_name_servers-<unset>}/${old_dhcp6_name_servers-<unset>}"
					fi
					printf '4=%s|6=%s|old=%s|opts=%s' "${new_domain_name_servers-<unset>}" "${new_dhcp6_name_servers-<unset>}" "$old" "$-"`
				cmd := exec.Command(sh[0], append(sh[1:], "-c", script, "dhclient-script", hook)...)
				cmd.Dir = dir
				cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=/nonexistent", "reason=RENEW", "interface=eth0"}
				if tc.v4 != "-" {
					cmd.Env = append(cmd.Env, "new_domain_name_servers="+tc.v4, "old_domain_name_servers="+tc.v4)
				}
				if tc.v6 != "-" {
					cmd.Env = append(cmd.Env, "new_dhcp6_name_servers="+tc.v6, "old_dhcp6_name_servers="+tc.v6)
				}
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("sourcing the hook failed under set -e -u: %v\n%s", err, out)
				}
				if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
					t.Fatalf("the hook executed data from the DHCP server: PWNED exists\n%s", out)
				}
				w4, w6 := tc.want4, tc.want6
				if w4 == "-" {
					w4 = "<unset>"
				}
				if w6 == "-" {
					w6 = "<unset>"
				}
				got := string(out)
				opts := got[strings.Index(got, "|opts=")+len("|opts="):]
				if want := fmt.Sprintf("4=%s|6=%s|old=same|opts=%s", w4, w6, opts); got != want {
					t.Fatalf("after the hook:\n got %q\nwant %q", got, want)
				}
				if strings.Contains(opts, "f") {
					t.Fatalf("the hook left globbing off in dhclient-script's shell: $- is %q", opts)
				}
			})
		}
	}
}

// TestRHELHookFiltersTheFile runs the RHEL hook's unloop_config (which
// dhclient-script calls after it wrote /etc/resolv.conf) on hostile file
// content: it must drop looping and malformed nameserver lines, keep every
// other line as it was, and execute nothing.
func TestRHELHookFiltersTheFile(t *testing.T) {
	hook := generatedHook(t, "rhel-kubespray-dhclient", "/etc/dhcp/dhclient.d/unloop.sh")
	data, err := os.ReadFile(hook)
	must(t, err)
	// The function works on the node's /etc/resolv.conf: point it at a file
	// of the test's own (the only change to the hook under test).
	const fixed = "unloop_rewrite /etc/resolv.conf "
	if strings.Count(string(data), fixed) != 1 {
		t.Fatalf("the RHEL hook does not name /etc/resolv.conf once:\n%s", data)
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"field",
			"; generated by /usr/sbin/dhclient-script\nnameserver 169.254.25.10\nnameserver 192.168.2.136\n",
			"; generated by /usr/sbin/dhclient-script\nnameserver 192.168.2.136\n"},
		{"only-looping",
			"search example.com\nnameserver 169.254.25.10\nnameserver 127.0.0.1\n",
			"search example.com\nnameserver 192.168.2.136\nnameserver 192.168.2.138\n"},
		{"hostile",
			"search $(touch PWNED) `touch PWNED`\nnameserver $(touch PWNED)\nnameserver 10.1.0.9;touch PWNED\nnameserver *\nnameserver 10.1.0.9\noptions ndots:5 \\\n",
			"search $(touch PWNED) `touch PWNED`\nnameserver 10.1.0.9\noptions ndots:5 \\\n"},
		{"no-final-newline", "nameserver 169.254.25.10\nnameserver 10.1.0.9", "nameserver 10.1.0.9\n"},
		{"zoned-link-local", "nameserver fe80::1%eth0\nnameserver ::1%lo\nnameserver fe80::2%$(x)\n", "nameserver fe80::1%eth0\n"},
		{"clean-untouched", "search a\nnameserver 10.1.0.9 \n", "search a\nnameserver 10.1.0.9 \n"},
	} {
		for _, sh := range shells(t) {
			t.Run(tc.name+"/"+strings.Join(sh, " "), func(t *testing.T) {
				dir := t.TempDir()
				must(t, os.WriteFile(filepath.Join(dir, "a"), nil, 0o644))
				resolv := filepath.Join(dir, "resolv.conf")
				must(t, os.WriteFile(resolv, []byte(tc.in), 0o644))
				h := filepath.Join(dir, "unloop.sh")
				must(t, os.WriteFile(h, []byte(strings.Replace(string(data), fixed, "unloop_rewrite "+resolv+" ", 1)), 0o755))
				cmd := exec.Command(sh[0], append(sh[1:], "-c", `. "$1"; unloop_config`, "dhclient-script", h)...)
				cmd.Dir = dir
				cmd.Env = []string{"PATH=/usr/bin:/bin", "reason=RENEW", "interface=eth0"}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("unloop_config failed: %v\n%s", err, out)
				}
				if _, err := os.Stat(filepath.Join(dir, "PWNED")); err == nil {
					t.Fatal("the hook executed data from the file")
				}
				got, err := os.ReadFile(resolv)
				must(t, err)
				if string(got) != tc.want {
					t.Fatalf("the file after unloop_config:\n%s\nwant:\n%s", got, tc.want)
				}
				if left, _ := filepath.Glob(filepath.Join(dir, "resolv.conf.unloop.*")); len(left) > 0 {
					t.Fatalf("temp files left: %v", left)
				}
			})
		}
	}
}
