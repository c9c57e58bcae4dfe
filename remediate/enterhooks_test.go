package remediate

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/block"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// enterHooksTree is the RHEL field tree with an os-release and, when data is
// not nil, an admin's /etc/dhcp/dhclient-enter-hooks of that mode.
func enterHooksTree(t *testing.T, osRelease string, data *string, mode os.FileMode) (string, node.Env, node.Options) {
	t.Helper()
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	if osRelease != "" {
		must(t, os.WriteFile(filepath.Join(dir, "etc/os-release"), []byte(osRelease), 0o644))
	}
	if data != nil {
		p := filepath.Join(dir, RHELEnterHooks)
		must(t, os.WriteFile(p, []byte(*data), mode))
		must(t, os.Chmod(p, mode))
	}
	for _, d := range []string{"var/lib", "run"} {
		must(t, os.MkdirAll(filepath.Join(dir, d), 0o755))
	}
	root, err := hostcfg.NewRoot(dir)
	must(t, err)
	opts := treeOptions(t, comment)
	opts.Strategies = []string{node.StrategyDhclient}
	return dir, node.Env{Root: root}, opts
}

func ptr(s string) *string { return &s }

// TestEnterHooks plans and applies the dhclient strategy on RHEL layouts with
// and without an enter hook of the admin's: the plan's diff of
// /etc/dhcp/dhclient-enter-hooks matches a golden file, the file ends up with
// the right mode, and rollback gives back every byte of the admin's file (or
// removes unloop's own).
func TestEnterHooks(t *testing.T) {
	admin := "#!/bin/bash\n# the admin's: no default route from this lease\nnew_routers=''\n"
	for _, tt := range []struct {
		name      string
		osRelease string
		data      *string
		mode      os.FileMode
		wantMode  os.FileMode
	}{
		{"create-el7", osCentOS7, nil, 0, 0o755},
		{"create-el9", osRHEL9, nil, 0, 0o755},
		{"splice-executable", osCentOS7, ptr(admin), 0o750, 0o750},
		{"splice-no-final-newline", osCentOS7, ptr("new_routers=''"), 0o755, 0o755},
		{"splice-empty", osCentOS7, ptr(""), 0o700, 0o700},
		// RHEL 8's and 9's dhclient-script source the file executable or not:
		// the admin's code already runs, and unloop's block can join it.
		{"splice-not-executable-el9", osRHEL9, ptr(admin), 0o644, 0o644},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, env, opts := enterHooksTree(t, tt.osRelease, tt.data, tt.mode)
			pl, err := MakePlan(context.Background(), env, opts)
			must(t, err)
			i := slices.IndexFunc(pl.Changes, func(c Change) bool { return c.Path == RHELEnterHooks })
			if i < 0 {
				t.Fatalf("no change of %s in the plan", RHELEnterHooks)
			}
			c := pl.Changes[i]
			if !strings.Contains(c.Reason, "before dhclient-script writes /etc/resolv.conf") {
				t.Errorf("reason %q does not say the filter runs before the write", c.Reason)
			}
			golden(t, filepath.Join("testdata", "enterhooks", tt.name+".diff"), []byte(fmt.Sprintf("## %s [%s]\n%s", c.Action, c.Reason, c.Diff)))

			res, err := Apply(context.Background(), env, opts)
			must(t, err)
			if again, err := Apply(context.Background(), env, opts); err != nil || again.Plan.Changed {
				t.Fatalf("a second apply: changed=%v, %v; want no change", again != nil && again.Plan.Changed, err)
			}
			p := filepath.Join(dir, RHELEnterHooks)
			fi, err := os.Stat(p)
			must(t, err)
			if fi.Mode().Perm() != tt.wantMode {
				t.Errorf("mode %#o, want %#o", fi.Mode().Perm(), tt.wantMode)
			}
			got, err := os.ReadFile(p)
			must(t, err)
			if !strings.HasSuffix(string(got), block.Text(enterNote, enterBody, false)) && !strings.HasSuffix(string(got), block.Text(enterNote, enterBody, true)) {
				t.Fatalf("the block is not at the end:\n%s", got)
			}
			if tt.data != nil && !strings.HasPrefix(string(got), *tt.data) {
				t.Fatalf("the admin's bytes were changed:\n%s", got)
			}
			if strings.Contains(string(got), "exit_status") {
				t.Fatalf("the block touches exit_status:\n%s", got)
			}

			if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			after, err := os.ReadFile(p)
			if tt.data == nil {
				if !os.IsNotExist(err) {
					t.Fatalf("rollback left unloop's enter hook: %v %q", err, after)
				}
				return
			}
			must(t, err)
			if string(after) != *tt.data {
				t.Fatalf("after rollback:\n%q\nwant:\n%q", after, *tt.data)
			}
			fi, err = os.Stat(p)
			must(t, err)
			if fi.Mode().Perm() != tt.mode {
				t.Errorf("mode after rollback %#o, want %#o", fi.Mode().Perm(), tt.mode)
			}
		})
	}
}

// TestEnterHooksRefused: RHEL 7's script sources the enter hook only when it
// is executable. A file there that is not is switched off on purpose: apply
// refuses, names the file and the fix, and writes nothing. Without an
// os-release RHEL 7 is assumed. A begin marker without its end is refused too.
func TestEnterHooksRefused(t *testing.T) {
	for _, tt := range []struct {
		name, osRelease, data string
		mode                  os.FileMode
		want                  []string
	}{
		{"not-executable-el7", osCentOS7, "exit_status=1\n", 0o644, []string{RHELEnterHooks, "not executable", "chmod 0755"}},
		{"not-executable-unknown", "", "exit_status=1\n", 0o600, []string{RHELEnterHooks, "not executable", "chmod 0755"}},
		{"begin-without-end", osCentOS7, "x=1\n" + strings.SplitAfter(block.Text("something", "foo\n", false), "\n")[0] + "foo\n", 0o755, []string{RHELEnterHooks + ":2", block.End}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, env, opts := enterHooksTree(t, tt.osRelease, &tt.data, tt.mode)
			before := hostcfgtest.State(t, dir, nil)
			_, err := MakePlan(context.Background(), env, opts)
			if err == nil {
				t.Fatal("plan: no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("plan's error %q does not say %q", err, w)
				}
			}
			if _, err := Apply(context.Background(), env, opts); err == nil || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("apply: %v, want a refusal that changed nothing", err)
			}
			sameTree(t, before, hostcfgtest.State(t, dir, unloopOwn))
		})
	}
}

// TestEnterHooksRollbackKeepsLaterEdits: after apply the admin edits their
// enter hook above unloop's block; rollback removes the block by its markers
// and keeps the edit, byte for byte.
func TestEnterHooksRollbackKeepsLaterEdits(t *testing.T) {
	admin := "#!/bin/bash\nnew_routers=''"
	dir, env, opts := enterHooksTree(t, osCentOS7, &admin, 0o755)
	res, err := Apply(context.Background(), env, opts)
	must(t, err)
	p := filepath.Join(dir, RHELEnterHooks)
	data, err := os.ReadFile(p)
	must(t, err)
	edited := strings.Replace(string(data), "#!/bin/bash\n", "#!/bin/bash\n# added after unloop's run\n", 1)
	must(t, os.WriteFile(p, []byte(edited), 0o755))
	if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	must(t, err)
	if want := "#!/bin/bash\n# added after unloop's run\nnew_routers=''"; string(got) != want {
		t.Fatalf("after rollback:\n%q\nwant:\n%q", got, want)
	}
}

// TestNetworkManagerOwnsDHCP: where NetworkManager handles the leases no
// dhclient hook runs at a renew, so auto never picks dhclient there (kubelet
// instead), and asking for dhclient leaves the finding unfixed. Where
// dhclient-script wrote the file, dhclient stays the fix.
func TestNetworkManagerOwnsDHCP(t *testing.T) {
	nmConf := "[main]\ndhcp=dhclient\n"
	nmResolv := "# Generated by NetworkManager\nsearch example.com\nnameserver 169.254.25.10\nnameserver 192.168.2.136\n"
	for _, tt := range []struct {
		name, osRelease, resolv string
		wantDhclient            bool
	}{
		{"el9-networkmanager-file", osRHEL9, nmResolv, false},
		{"el7-networkmanager-file", osCentOS7, nmResolv, false},
		{"el9-dhclient-script-file", osRHEL9, "", true},
		{"el7-dhclient-script-file", osCentOS7, "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, env, opts := enterHooksTree(t, tt.osRelease, nil, 0)
			must(t, os.MkdirAll(filepath.Join(dir, "etc/NetworkManager"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, "etc/NetworkManager/NetworkManager.conf"), []byte(nmConf), 0o644))
			if tt.resolv != "" {
				must(t, os.WriteFile(filepath.Join(dir, "etc/resolv.conf"), []byte(tt.resolv), 0o644))
			}
			opts.Strategies = nil
			pl, err := MakePlan(context.Background(), env, opts)
			must(t, err)
			offered := false
			for _, f := range pl.Report.Findings {
				offered = offered || slices.Contains(f.Fixes, node.StrategyDhclient)
			}
			if offered != tt.wantDhclient || slices.Contains(pl.Strategies, node.StrategyDhclient) != tt.wantDhclient {
				t.Fatalf("dhclient offered %v, chosen %v (strategies %q), want %v", offered, pl.Strategies, pl.Strategies, tt.wantDhclient)
			}
			if !tt.wantDhclient && !slices.Contains(pl.Strategies, node.StrategyKubelet) {
				t.Fatalf("auto chose %q, want kubelet", pl.Strategies)
			}
		})
	}
}

// TestEnterHooksAdminMarkers: lines of the admin's that look like unloop's
// markers are the admin's. A comment "# BEGIN unloop-free zone" is not refused
// over, and their own Ansible blockinfile block with the marker
// "# {mark} unloop" is not deleted: apply adds unloop's block after them, and
// rollback gives back every byte of the admin's file.
func TestEnterHooksAdminMarkers(t *testing.T) {
	for _, tt := range []struct{ name, data string }{
		{"comment", "#!/bin/bash\n# BEGIN unloop-free zone: nothing below talks to unloop\nnew_routers=''\n"},
		{"blockinfile", "#!/bin/bash\n# BEGIN unloop\nnew_routers=''\n# END unloop\n"},
		{"blockinfile-note", "#!/bin/bash\n# BEGIN unloop: " + enterNote + "\nnew_routers=''\n# END unloop\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, env, opts := enterHooksTree(t, osRHEL9, &tt.data, 0o755)
			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			p := filepath.Join(dir, RHELEnterHooks)
			got, err := os.ReadFile(p)
			must(t, err)
			if !strings.HasPrefix(string(got), tt.data) || !strings.Contains(string(got)[len(tt.data):], ". "+RHELHook) {
				t.Fatalf("after apply:\n%s\nwant the admin's lines, then unloop's block", got)
			}
			if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			got, err = os.ReadFile(p)
			must(t, err)
			if string(got) != tt.data {
				t.Fatalf("after rollback:\n%q\nwant:\n%q", got, tt.data)
			}
		})
	}
}

// oldBlock is the block the release before hashed markers spliced into
// dhclient-enter-hooks, byte for byte (its testdata/enterhooks/*.diff).
const oldBlock = "# BEGIN unloop: keeps DNS forwarding loops out of /etc/resolv.conf; `unloop rollback` removes this block\n" +
	"if [ -f /etc/dhcp/dhclient.d/unloop.sh ]; then\n" +
	"\t. /etc/dhcp/dhclient.d/unloop.sh\n" +
	"fi\n" +
	"# END unloop\n"

// TestEnterHooksOldMarkers: a node the previous release fixed holds its block
// with the old markers. Rolling back that release's run removes the block and
// keeps the admin's bytes; a re-apply replaces it with the new markers (one
// block, never two); and rolling that back gives back the old block.
func TestEnterHooksOldMarkers(t *testing.T) {
	admin := "#!/bin/bash\nnew_routers=''\n"
	dir, env, opts := enterHooksTree(t, osCentOS7, &admin, 0o755)
	p := filepath.Join(dir, RHELEnterHooks)
	res, err := Apply(context.Background(), env, opts)
	must(t, err)
	// What the previous release left: its run's journal, and its block.
	must(t, os.WriteFile(p, []byte(admin+oldBlock), 0o755))
	if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
		t.Fatalf("rollback of the old release's run: %v", err)
	}
	got, err := os.ReadFile(p)
	must(t, err)
	if string(got) != admin {
		t.Fatalf("after rollback:\n%q\nwant:\n%q", got, admin)
	}

	must(t, os.WriteFile(p, []byte(admin+oldBlock), 0o755))
	res, err = Apply(context.Background(), env, opts)
	must(t, err)
	got, err = os.ReadFile(p)
	must(t, err)
	if want := admin + block.Text(enterNote, enterBody, false); string(got) != want {
		t.Fatalf("re-apply over the old block:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	got, err = os.ReadFile(p)
	must(t, err)
	if string(got) != admin+oldBlock {
		t.Fatalf("after rollback:\n%q\nwant:\n%q", got, admin+oldBlock)
	}
}

// TestEnterHooksEditedBlockIsTheAdmins: once the admin edited what is between
// unloop's markers, the block is theirs: rollback does not take it out but
// refuses the path (a conflict), keeping the file byte for byte.
func TestEnterHooksEditedBlockIsTheAdmins(t *testing.T) {
	admin := "#!/bin/bash\nnew_routers=''\n"
	dir, env, opts := enterHooksTree(t, osRHEL9, &admin, 0o755)
	res, err := Apply(context.Background(), env, opts)
	must(t, err)
	p := filepath.Join(dir, RHELEnterHooks)
	data, err := os.ReadFile(p)
	must(t, err)
	edited := strings.Replace(string(data), "fi\n", "fi\nnew_ntp_servers=''\n", 1)
	must(t, os.WriteFile(p, []byte(edited), 0o755))
	if _, err := Rollback(context.Background(), env, opts, res.Run, false); err == nil || !strings.Contains(err.Error(), RHELEnterHooks) {
		t.Fatalf("rollback: %v; want the path refused", err)
	}
	got, err := os.ReadFile(p)
	must(t, err)
	if string(got) != edited {
		t.Fatalf("after rollback:\n%q\nwant the admin's edit kept:\n%q", got, edited)
	}
}
