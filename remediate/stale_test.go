package remediate

import (
	"context"
	"errors"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
)

// TestApplyRefusesStaleFile: another writer changes a file between the read
// the plan reasons from and apply's write (dhclient renewing the lease, an
// admin, Ansible). Apply must refuse, name the file, and write nothing: the
// plan's edits splice at lines and offsets of the bytes it read, and on other
// bytes they cut the wrong place. The writer is the Probe seam, which apply
// calls while planning, between reading the node and writing it.
func TestApplyRefusesStaleFile(t *testing.T) {
	tests := []struct {
		name     string
		tree     string
		strategy []string
		upstream string
		// writeAt is the probe call (1-based) during which the other writer
		// strikes: do changes the tree in dir.
		writeAt int
		do      func(dir string) error
		want    string // the error names the file
	}{
		{
			// The hook removes line 3 of the file it read; the writer moves the
			// looping server to line 4 and puts a comment on line 3.
			name: "dhclient: resolv.conf rewritten", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
			writeAt: 1,
			do:      prepend("/etc/resolv.conf", "search corp.example\n"),
			want:    "/etc/resolv.conf: changed since unloop read it",
		},
		{
			// A renew writes a file without the looping server: the plan's line
			// 3 is now 192.168.2.138, a good server it would cut silently.
			name: "dhclient: the renew already dropped the looping line", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
			writeAt: 1,
			do:      replace("/etc/resolv.conf", "nameserver 192.168.2.136\nnameserver 10.1.1.1\nnameserver 192.168.2.138\n"),
			want:    "/etc/resolv.conf: changed since unloop read it",
		},
		{
			name: "dhclient: dhclient.conf edited", tree: "rhel-kubespray-dhclient", strategy: []string{"dhclient"},
			writeAt: 1,
			do:      prepend("/etc/dhcp/dhclient.conf", "# edited by ansible\n"),
			want:    "/etc/dhcp/dhclient.conf: changed since unloop read it",
		},
		{
			name: "kubelet: the env file holding --resolv-conf edited", tree: "ubuntu-flag-loops", strategy: []string{"kubelet"},
			writeAt: 1,
			do:      prepend("/etc/default/kubelet", "# KUBELET_EXTRA_ARGS set by the image\n"),
			want:    "/etc/default/kubelet: changed since unloop read it",
		},
		{
			name: "kubelet: config.yaml edited", tree: "ubuntu-2004-kubeadm-stub", strategy: []string{"kubelet"},
			writeAt: 1,
			do:      appendTo("/var/lib/kubelet/config.yaml", "maxPods: 200\n"),
			want:    "/var/lib/kubelet/config.yaml: changed since unloop read it",
		},
		{
			name: "corefile: Corefile edited", tree: "docker-corefile", strategy: []string{"corefile"}, upstream: "192.0.2.53",
			writeAt: 1,
			do:      prepend("/etc/coredns/Corefile", "# reformatted\n\n"),
			want:    "/etc/coredns/Corefile: changed since unloop read it",
		},
		{
			// resolvconf (the package) took /etc/resolv.conf over: a file, not
			// resolved's stub link any more.
			name: "stub: /etc/resolv.conf relinked", tree: "ubuntu-2004-kubeadm-stub", strategy: []string{"stub"},
			writeAt: 1,
			do:      relink("/etc/resolv.conf", "../run/resolvconf/resolv.conf"),
			want:    "/etc/resolv.conf: changed since unloop read it",
		},
		{
			// After planning: the kubelet strategy read and planned config.yaml,
			// then the stub strategy asks resolved's uplink server (the last
			// probe) and the writer strikes. Apply's own check, right before
			// journaling, must refuse.
			name: "stub,kubelet: config.yaml edited after its plan", tree: "ubuntu-misspelled-key", strategy: []string{"stub", "kubelet"},
			upstream: "192.0.2.53", writeAt: 3,
			do:   appendTo("/var/lib/kubelet/config.yaml", "maxPods: 200\n"),
			want: "/var/lib/kubelet/config.yaml changed since unloop read it",
		},
	}
	for _, tt := range tests {
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
			opts := Options{Strategies: tt.strategy}
			if tt.upstream != "" {
				opts.Upstreams = []netip.Addr{netip.MustParseAddr(tt.upstream)}
			}
			env := Env{Root: root, Probe: probe}

			// The same node, no writer: apply would change it (so a refusal
			// below is the writer's doing, not a node with nothing to do).
			pl, err := MakePlan(context.Background(), Env{Root: root, Probe: func(context.Context, netip.Addr) error { return nil }}, opts)
			if err != nil || !pl.Changed {
				t.Fatalf("without a writer: changed=%v err=%v", pl != nil && pl.Changed, err)
			}

			res, err := Apply(context.Background(), env, opts)
			if calls < tt.writeAt {
				t.Fatalf("the probe ran %d times, the writer waits for call %d", calls, tt.writeAt)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("apply: %v, want a refusal containing %q", err, tt.want)
			}
			var se *StepError
			if errors.As(err, &se) {
				t.Errorf("apply failed at step %q: it began writing instead of refusing", se.Step)
			}
			if res != nil && res.Run != "" {
				t.Errorf("apply journaled run %s", res.Run)
			}
			// The writer's version stays; nothing of unloop's is added, not
			// even a journal (only the lock file may be new).
			after := hostcfgtest.State(t, dir, func(rel string) bool { return rel == "run/unloop.lock" })
			want := writerState(t, tt.tree, tt.do)
			if !maps.Equal(after, want) {
				for k := range maps.Keys(after) {
					if after[k] != want[k] {
						t.Errorf("%s: %q, want %q", k, after[k], want[k])
					}
				}
				for k := range maps.Keys(want) {
					if _, ok := after[k]; !ok {
						t.Errorf("%s is gone", k)
					}
				}
			}
		})
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
