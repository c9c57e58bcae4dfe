package remediate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
)

// staleCase: another writer changes a file between the read the plan reasons
// from and apply's write (dhclient renewing the lease, an admin, Ansible). The
// writer is the Probe seam, which apply calls while planning, between reading
// the node and writing it.
type staleCase struct {
	name     string
	tree     string
	strategy []string
	upstream string
	// writeAt is the probe call (1-based) during which the other writer
	// strikes: do changes the tree in dir.
	writeAt int
	do      func(dir string) error
	file    string // the file the writer changes, which the refusal names
}

var staleCases = []staleCase{
	{
		// The hook removes line 3 of the file it read; the writer moves the
		// looping server to line 4 and puts a comment on line 3.
		name: "dhclient: resolv.conf rewritten", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
		writeAt: 1,
		do:      prepend("/etc/resolv.conf", "search corp.example\n"),
		file:    "/etc/resolv.conf",
	},
	{
		// A renew writes a file without the looping server: the plan's line
		// 3 is now 192.168.2.138, a good server it would cut silently.
		name: "dhclient: the renew already dropped the looping line", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
		writeAt: 1,
		do:      replace("/etc/resolv.conf", "nameserver 192.168.2.136\nnameserver 10.1.1.1\nnameserver 192.168.2.138\n"),
		file:    "/etc/resolv.conf",
	},
	{
		name: "dhclient: dhclient.conf edited", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
		writeAt: 1,
		do:      prepend("/etc/dhcp/dhclient.conf", "# edited by ansible\n"),
		file:    "/etc/dhcp/dhclient.conf",
	},
	{
		name: "kubelet: the env file holding --resolv-conf edited", tree: "ubuntu-flag-loops", strategy: []string{"kubelet"},
		writeAt: 1,
		do:      prepend("/etc/default/kubelet", "# KUBELET_EXTRA_ARGS set by the image\n"),
		file:    "/etc/default/kubelet",
	},
	{
		name: "kubelet: config.yaml edited", tree: "ubuntu-2004-kubeadm-stub", strategy: []string{"kubelet"},
		writeAt: 1,
		do:      appendTo("/var/lib/kubelet/config.yaml", "maxPods: 200\n"),
		file:    "/var/lib/kubelet/config.yaml",
	},
	{
		name: "corefile: Corefile edited", tree: "docker-corefile", strategy: []string{"corefile"}, upstream: "192.0.2.53",
		writeAt: 1,
		do:      prepend("/etc/coredns/Corefile", "# reformatted\n\n"),
		file:    "/etc/coredns/Corefile",
	},
	{
		// resolvconf (the package) took /etc/resolv.conf over: a file, not
		// resolved's stub link any more.
		name: "stub: /etc/resolv.conf relinked", tree: "ubuntu-2004-kubeadm-stub", strategy: []string{"stub"},
		writeAt: 1,
		do:      relink("/etc/resolv.conf", "../run/resolvconf/resolv.conf"),
		file:    "/etc/resolv.conf",
	},
	{
		// After planning: the kubelet strategy read and planned config.yaml,
		// then the stub strategy asks resolved's uplink server (the last
		// probe) and the writer strikes. Apply's own check, right before
		// journaling, must refuse.
		name: "stub,kubelet: config.yaml edited after its plan", tree: "ubuntu-misspelled-key", strategy: []string{"stub", "kubelet"},
		upstream: "192.0.2.53", writeAt: 3,
		do:   appendTo("/var/lib/kubelet/config.yaml", "maxPods: 200\n"),
		file: "/var/lib/kubelet/config.yaml",
	},
}

// TestApplyReplansStaleFile: the other writer strikes once. Apply must not
// write over it (a lost update) nor fail the boot: it plans again from what is
// there now, and the node ends as if the writer had come first.
func TestApplyReplansStaleFile(t *testing.T) {
	for _, tt := range staleCases {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			calls := 0
			probe := func(context.Context, netip.Addr) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls == tt.writeAt {
					if err := tt.do(dir); err != nil {
						t.Errorf("the other writer: %v", err)
					}
				}
				return nil // every upstream answers
			}
			opts := tt.options()
			var log bytes.Buffer
			_, err = Apply(context.Background(), node.Env{Root: root, Probe: probe, Log: slog.New(slog.NewTextHandler(&log, nil))}, opts)
			if calls < tt.writeAt {
				t.Fatalf("the probe ran %d times, the writer waits for call %d", calls, tt.writeAt)
			}
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !strings.Contains(log.String(), "planning again") {
				t.Errorf("apply did not say it planned again:\n%s", log.String())
			}
			// What apply makes of the writer's version, with no race at all.
			ref, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			if err := tt.do(ref); err != nil {
				t.Fatal(err)
			}
			refRoot, err := hostcfg.NewRoot(ref)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Apply(context.Background(), node.Env{Root: refRoot, Probe: func(context.Context, netip.Addr) error { return nil }}, opts); err != nil {
				t.Fatalf("apply after the writer: %v", err)
			}
			sameState(t, hostcfgtest.State(t, dir, unloopOwn), hostcfgtest.State(t, ref, unloopOwn))
		})
	}
}

// TestApplyRefusesStaleFile: the other writer strikes at every plan. After
// planning again maxReplans times apply gives up, says so, and has written
// nothing: the writer's version stays, and nothing of unloop's is added, not
// even a journal (only the lock file may be new). Unless the writer's version
// no longer needs that file edited: then apply goes on without it.
func TestApplyRefusesStaleFile(t *testing.T) {
	for _, tt := range staleCases {
		t.Run(tt.name, func(t *testing.T) {
			dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			calls, strikes := 0, 0
			// Every strike leaves other bytes: an idempotent writer would
			// let a later plan through.
			strike := func(dir string) error {
				strikes++
				if err := tt.do(dir); err != nil {
					return err
				}
				return stamp(dir, tt, strikes)
			}
			probe := func(context.Context, netip.Addr) error {
				mu.Lock()
				defer mu.Unlock()
				calls++
				if calls >= tt.writeAt {
					if err := strike(dir); err != nil {
						t.Errorf("the other writer: %v", err)
					}
				}
				return nil // every upstream answers
			}
			res, err := Apply(context.Background(), node.Env{Root: root, Probe: probe}, tt.options())
			ref, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			n := strikes
			for strikes = 0; strikes < n; {
				if err := strike(ref); err != nil {
					t.Fatal(err)
				}
			}
			if err == nil {
				// The plan made from the writer's version no longer edits
				// the file it changes (the renew dropped the looping line):
				// apply may fix the rest, and the writer's file is kept.
				hp, _ := filepath.EvalSymlinks(filepath.Join(ref, tt.file))
				rel, _ := filepath.Rel(ref, hp)
				if got, want := hostcfgtest.State(t, dir, nil)[rel], hostcfgtest.State(t, ref, nil)[rel]; got != want {
					t.Errorf("%s: %q, want the writer's %q", rel, got, want)
				}
				return
			}
			if !strings.Contains(err.Error(), tt.file) || !errors.Is(err, hostcfg.ErrChanged) || !strings.Contains(err.Error(), "planned again 3 times") {
				t.Fatalf("apply: %v, want a refusal naming %s after planning again 3 times", err, tt.file)
			}
			var se *StepError
			if errors.As(err, &se) {
				t.Errorf("apply failed at step %q: it began writing instead of refusing", se.Step)
			}
			if res != nil && res.Run != "" {
				t.Errorf("apply journaled run %s", res.Run)
			}
			sameState(t, hostcfgtest.State(t, dir, func(rel string) bool { return rel == "run/unloop.lock" }), hostcfgtest.State(t, ref, nil))
		})
	}
}

func (tt staleCase) options() node.Options {
	opts := node.Options{Strategies: tt.strategy}
	if tt.upstream != "" {
		opts.Upstreams = []netip.Addr{netip.MustParseAddr(tt.upstream)}
	}
	return opts
}

// stamp makes the writer's n-th strike differ from the one before: a comment
// line in the file it changed (the file a link leads to, for a relink).
func stamp(dir string, tt staleCase, n int) error {
	hp, err := filepath.EvalSymlinks(filepath.Join(dir, tt.file))
	if err != nil {
		return err
	}
	f, err := os.OpenFile(hp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = fmt.Fprintf(f, "# strike %d\n", n)
	return err
}

func sameState(t *testing.T, got, want map[string]string) {
	t.Helper()
	for k := range maps.Keys(got) {
		if got[k] != want[k] {
			t.Errorf("%s: %q, want %q", k, got[k], want[k])
		}
	}
	for k := range maps.Keys(want) {
		if _, ok := got[k]; !ok {
			t.Errorf("%s is gone", k)
		}
	}
}

// TestApplyDHCPRenewBeforeRename: dhclient-script renews the lease and
// rewrites resolv.conf (a temp file renamed over it) after apply read the
// file and before its rename, the window the test hook opens every time:
// before apply's last check ("rename"), and after it, at the very instant of
// the write ("exchange", which a plain rename lost).
// Apply must refuse that write, roll back what it wrote, plan again from the
// renewed file, and end with the renewed servers, less the looping one.
func TestApplyDHCPRenewBeforeRename(t *testing.T) {
	for _, step := range []string{"rename", "exchange"} {
		t.Run(step, func(t *testing.T) { testApplyDHCPRenewAt(t, step) })
	}
}

func testApplyDHCPRenewAt(t *testing.T, step string) {
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	renewed := "; generated by /usr/sbin/dhclient-script\nnameserver 169.254.25.10\nnameserver 10.9.9.9\nnameserver 10.9.9.10\n"
	renews := 0
	root = root.WithTestHook(func(s, p string) {
		if s != step || p != "/etc/resolv.conf" || renews > 0 {
			return
		}
		renews++
		tmp := filepath.Join(dir, "etc/resolv.conf.dhclient-new")
		if err := os.WriteFile(tmp, []byte(renewed), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "etc/resolv.conf")); err != nil {
			t.Fatal(err)
		}
	})
	var log bytes.Buffer
	env := node.Env{Root: root, Probe: func(context.Context, netip.Addr) error { return nil }, Log: slog.New(slog.NewTextHandler(&log, nil))}
	res, err := Apply(context.Background(), env, node.Options{Strategies: []string{"dhclient"}})
	if renews != 1 {
		t.Fatalf("the renew ran %d times, want 1", renews)
	}
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, log.String())
	}
	got, err := os.ReadFile(filepath.Join(dir, "etc/resolv.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "; generated by /usr/sbin/dhclient-script\nnameserver 10.9.9.9\nnameserver 10.9.9.10\n"; string(got) != want {
		t.Errorf("resolv.conf after apply:\n%s\nwant the renewed servers less the looping one:\n%s", got, want)
	}
	if !strings.Contains(log.String(), "planning again") {
		t.Errorf("apply did not say it planned again:\n%s", log.String())
	}
	runs, err := journal.List(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 2 || runs[0].ID != res.Run || runs[0].State != journal.RunApplied || runs[1].State != journal.RunRolledBack {
		t.Errorf("runs: want the refused one rolled back and the second applied, got %d runs", len(runs))
	}
}

// TestApplyCorefileSwappedForLink: a user who owns /etc/coredns swaps the
// Corefile for a link to a file elsewhere inside the root after apply's last
// read. Apply must refuse, write nothing there, and not plan again through
// the link.
func TestApplyCorefileSwappedForLink(t *testing.T) {
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "docker-corefile.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(dir, "etc/profile.d/x.sh")
	if err := os.MkdirAll(filepath.Dir(victim), 0o755); err != nil {
		t.Fatal(err)
	}
	corefile := filepath.Join(dir, "etc/coredns/Corefile")
	orig, err := os.ReadFile(corefile)
	if err != nil {
		t.Fatal(err)
	}
	// The victim holds what the Corefile held: content alone can't tell them apart.
	if err := os.WriteFile(victim, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	root = root.WithTestHook(func(step, p string) {
		if step != "rename" || p != "/etc/coredns/Corefile" {
			return
		}
		if _, err := os.Lstat(corefile); err == nil {
			if err := os.Remove(corefile); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("/etc/profile.d/x.sh", corefile); err != nil {
				t.Fatal(err)
			}
		}
	})
	opts := node.Options{Strategies: []string{"corefile"}, Upstreams: []netip.Addr{netip.MustParseAddr("192.0.2.53")}}
	_, err = Apply(context.Background(), node.Env{Root: root, Probe: func(context.Context, netip.Addr) error { return nil }}, opts)
	if err == nil || !errors.Is(err, hostcfg.ErrSwapped) || !strings.Contains(err.Error(), "/etc/coredns/Corefile") {
		t.Fatalf("apply: %v, want a refusal naming the Corefile", err)
	}
	if strings.Contains(err.Error(), "planned again") {
		t.Errorf("apply planned again through the link: %v", err)
	}
	if got, _ := os.ReadFile(victim); !bytes.Equal(got, orig) {
		t.Errorf("the link's target was written:\n%s", got)
	}
	if target, _ := os.Readlink(corefile); target != "/etc/profile.d/x.sh" {
		t.Errorf("the swapped-in link is %q now", target)
	}
}

// writerState is the tree as the other writer alone leaves it.
func writerState(t *testing.T, tree string, do func(string) error) map[string]string {
	t.Helper()
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tree+".txtar"))
	if err := do(dir); err != nil {
		t.Fatal(err)
	}
	return hostcfgtest.State(t, dir, nil)
}

// The other writer's edits of the node path p (a path without links).
func edit(p string, change func(old []byte) []byte) func(dir string) error {
	return func(dir string) error {
		hp := filepath.Join(dir, p)
		old, err := os.ReadFile(hp)
		if err != nil {
			return err
		}
		return os.WriteFile(hp, change(old), 0o644)
	}
}

func prepend(p, s string) func(string) error {
	return edit(p, func(old []byte) []byte { return append([]byte(s), old...) })
}

func appendTo(p, s string) func(string) error {
	return edit(p, func(old []byte) []byte { return append(old, s...) })
}

func replace(p, s string) func(string) error {
	return edit(p, func([]byte) []byte { return []byte(s) })
}

// relink points the link p at target (relative to p's folder), a file naming
// a clean server.
func relink(p, target string) func(string) error {
	return func(dir string) error {
		link := filepath.Join(dir, p)
		dst := filepath.Join(filepath.Dir(link), target)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, []byte("nameserver 10.0.0.2\n"), 0o644); err != nil {
			return err
		}
		if err := os.Remove(link); err != nil {
			return err
		}
		return os.Symlink(target, link)
	}
}
