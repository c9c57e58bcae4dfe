package remediate

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/node"
)

// TestNetworkManagerAtItsSource: auto fixes a server NetworkManager is told
// to use where it is told: the conf.d file's [global-dns-domain-*] servers=,
// the keyfile's ipv4.dns (its mode 0600 kept), the ifcfg profile's DNS1 (the
// others numbered again), each edited in place; offline NetworkManager is not
// reloaded, so the lines it wrote into /etc/resolv.conf are removed too (it
// drops them at its reload). Apply verifies, and rollback restores every
// byte. (Online, the reload over D-Bus and the resolv.conf NetworkManager
// writes again are tests/reliability's TestNetworkManagerFixedAtItsSource.)
func TestNetworkManagerAtItsSource(t *testing.T) {
	for _, tt := range []struct {
		tree, name string
		strategy   []string
		file       string
		mode       os.FileMode
		want       string // a line the edited file must hold
	}{
		{"networkmanager-global-dns", "auto", nil, "/etc/NetworkManager/conf.d/90-dns.conf", 0o644, "\nservers=10.20.0.2\n"},
		{"networkmanager-keyfile-dns", "auto", nil, "/etc/NetworkManager/system-connections/eth0.nmconnection", 0o600, "# kubespray: the node cache first\ndns=10.0.0.2;\n"},
		{"networkmanager-keyfile-dns", "networkmanager", []string{"networkmanager"}, "/etc/NetworkManager/system-connections/eth0.nmconnection", 0o600, "\ndns=10.0.0.2;\n"},
		{"networkmanager-ifcfg-dns", "auto", nil, "/etc/sysconfig/network-scripts/ifcfg-eth0", 0o644, "PREFIX=24\nDNS1=10.0.0.2\nDNS2=\"10.0.0.3\"\n"},
	} {
		t.Run(tt.tree+"/"+tt.name, func(t *testing.T) {
			dir, env, opts := networkdTree(t, tt.tree)
			opts.Strategies = tt.strategy
			before := hostcfgtest.State(t, dir, nil)

			pl, err := MakePlan(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			got, diffs := planLines(pl)
			want := []string{"file:" + tt.file + ":modify:", "file:/etc/resolv.conf:modify:", "unit:NetworkManager.service:reload:offline", "pods::recreate:left to you"}
			if !slices.Equal(got, want) || len(pl.Unfixed) > 0 {
				t.Fatalf("changes %q unfixed %v, want %q", got, pl.Unfixed, want)
			}
			golden(t, filepath.Join("testdata", "plans", tt.tree+"_"+tt.name+".diff"), []byte(diffs))

			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			p := filepath.Join(dir, tt.file)
			b, err := os.ReadFile(p)
			if err != nil || !strings.Contains(string(b), tt.want) || strings.Contains(string(b), "169.254.") {
				t.Fatalf("%s after apply (%v):\n%s\nwant it to hold %q and no looping server", tt.file, err, b, tt.want)
			}
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != tt.mode {
				t.Errorf("%s's mode after apply: %v %v, want %v", tt.file, fi.Mode(), err, tt.mode)
			}
			rep, _, err := Check(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			if left := remainingErrors(rep); len(left) > 0 {
				t.Errorf("check after apply still finds %s", left)
			}

			if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
				t.Errorf("after rollback the tree differs:\n%q\nwant\n%q", after, before)
			}
		})
	}
}

// A profile edited after apply is the admin's: rollback refuses it and
// keeps the newer bytes.
func TestNetworkManagerRollbackRefusesNewerEdit(t *testing.T) {
	rollbackRefusesEdit(t, "networkmanager-keyfile-dns", "etc/NetworkManager/system-connections/eth0.nmconnection",
		func(b []byte) []byte { return []byte(strings.Replace(string(b), "dns=10.0.0.2;", "dns=10.0.0.3;", 1)) })
}

// nmBus records NetworkManager's reloads; the rest is restartBus (units
// restart and stay up).
type nmBus struct {
	restartBus
	mu    sync.Mutex
	calls []string
}

func (b *nmBus) ReloadNetworkManager(_ context.Context, conf bool, conns []string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, fmt.Sprintf("conf=%v connections=%q", conf, conns))
	return nil
}

// Rollback reloads NetworkManager by what it restored: a conf.d file is a
// Reload of the configuration, a profile a LoadConnections of that file (and
// Reapply), never the other.
func TestNetworkManagerRollbackReloads(t *testing.T) {
	for _, tt := range []struct{ tree, want string }{
		{"networkmanager-global-dns", `conf=true connections=[]`},
		{"networkmanager-keyfile-dns", `conf=false connections=["/etc/NetworkManager/system-connections/eth0.nmconnection"]`},
		{"networkmanager-ifcfg-dns", `conf=false connections=["/etc/sysconfig/network-scripts/ifcfg-eth0"]`},
	} {
		t.Run(tt.tree, func(t *testing.T) {
			_, env, opts := networkdTree(t, tt.tree)
			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			bus := &nmBus{restartBus: restartBus{active: func(int) bool { return true }, jobErr: func(int) error { return nil }}}
			env.Bus = bus
			opts.Offline = false
			if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
				t.Fatalf("rollback: %v", err)
			}
			if !slices.Equal(bus.calls, []string{tt.want}) {
				t.Errorf("NetworkManager reloaded %q, want %q", bus.calls, tt.want)
			}
		})
	}
}

var _ node.Bus = (*nmBus)(nil)

// Where dns=default would write a server that loops too (a lease's, which
// no edit of NetworkManager's takes out), the networkmanager strategy does
// not offer itself: a plan with it alone lists the finding as unfixed and
// changes nothing, and the finding says why.
func TestNetworkManagerDnsmasqLeaseLoops(t *testing.T) {
	_, env, opts := networkdTree(t, "networkmanager-dnsmasq-lease-loops")
	opts.Strategies = []string{"networkmanager"}
	pl, err := MakePlan(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := planLines(pl); len(got) > 0 {
		t.Errorf("plan changes %q, want none", got)
	}
	var says bool
	for _, f := range pl.Unfixed {
		says = says || f.Code == "networkmanager-injects-nameserver" && strings.Contains(f.Message, "with dns=default NetworkManager would write 169.254.25.10, which loops too")
	}
	if !says {
		t.Errorf("unfixed %v, want the dns=dnsmasq finding saying dns=default would write 169.254.25.10, which loops too", pl.Unfixed)
	}
}
