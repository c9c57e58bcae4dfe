package remediate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/hostcfgtest"
	"github.com/unloop/unloop/remediate/journal"
	"github.com/unloop/unloop/remediate/node"
)

// unloopOwn are the paths apply adds that rollback keeps: the journal and the lock.
func unloopOwn(rel string) bool {
	return strings.HasPrefix(rel, "var/lib/unloop") || rel == "run/unloop.lock"
}

// unloopInfra are the folders unloop keeps for itself: the journal's.
func unloopInfra(rel string) bool {
	return strings.HasPrefix(rel, "var/lib/unloop")
}

// TestStrategies applies each strategy offline to a node tree from the field:
// the plan's diffs match a golden file, the node checks clean afterwards, a
// second apply changes nothing, and rollback brings back every byte, mode and link.
func TestStrategies(t *testing.T) {
	tests := []struct {
		tree     string
		strategy []string // nil: auto
		want     []string // kind:path of the file and link changes
	}{
		{"ubuntu-2004-kubeadm-stub", []string{"kubelet"}, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"ubuntu-2004-kubeadm-stub", []string{"stub"}, []string{"file:" + StubDropIn, "link:/etc/resolv.conf"}},
		{"ubuntu-2004-kubeadm-stub", nil, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"ubuntu-misspelled-key", nil, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"ubuntu-typo-path", nil, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"ubuntu-flag-loops", []string{"kubelet"}, []string{"file:/etc/default/kubelet"}},
		{"ubuntu-kubespray-resolved-dns", nil, []string{"file:" + UnloopResolvConf, "file:/etc/kubernetes/kubelet-config.yaml"}},
		{"rhel-kubespray-dhclient", []string{"dhclient"}, []string{"file:" + RHELEnterHooks, "file:" + RHELHook, "file:/etc/dhcp/dhclient.conf", "file:/etc/resolv.conf"}},
		{"rhel-kubespray-dhclient", []string{"kubelet"}, []string{"file:" + UnloopResolvConf, "file:/etc/kubernetes/kubelet-config.yaml"}},
		{"debian-dhclient-headerless", nil, []string{"file:" + DebianHook, "file:/etc/resolv.conf"}},
		{"docker-corefile", []string{"corefile"}, []string{"file:/etc/coredns/Corefile"}},
		{"upstream-given", []string{"corefile", "dhclient"}, []string{"file:" + DebianHook, "file:/etc/resolv.conf"}},
		{"kubespray-default", nil, []string{"file:" + UnloopResolvConf, "file:/etc/kubernetes/kubelet-config.yaml"}},
		{"zero-address", []string{"kubelet", "corefile"}, []string{"file:" + UnloopResolvConf, "file:/var/lib/kubelet/config.yaml", "file:/etc/coredns/Corefile"}},
		{"resolved-no-servers", nil, []string{"file:" + UnloopResolvConf, "file:/var/lib/kubelet/config.yaml"}},
		{"ubuntu-networkd-node-local-dns", []string{"kubelet"}, []string{"file:" + UnloopResolvConf, "file:/var/lib/kubelet/config.yaml"}},
		{"kubeadm-coredns-stub-copy", nil, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"fedora-networkmanager-resolved", nil, []string{"file:/etc/kubernetes/kubelet-config.yaml"}},
		{"fedora-networkmanager-resolved", []string{"stub"}, []string{"file:" + StubDropIn, "link:/etc/resolv.conf"}},
		// dns=dnsmasq made dns=default; offline, NetworkManager is not reloaded, so its dnsmasq's address goes from the file it wrote too.
		{"ubuntu-1604-networkmanager-dnsmasq", nil, []string{"file:/etc/NetworkManager/NetworkManager.conf", "file:/run/resolvconf/resolv.conf"}},
		{"ubuntu-1604-networkmanager-dnsmasq", []string{"kubelet"}, []string{"file:" + UnloopResolvConf, "file:/var/lib/kubelet/config.yaml"}},
		{"networkmanager-dnsmasq", nil, []string{"file:/etc/NetworkManager/conf.d/dns.conf", "file:/etc/resolv.conf"}},
		// NetworkManager's no-stub-resolv.conf is clean: kubelet is pointed there, no file of unloop's.
		{"networkmanager-dnsmasq", []string{"kubelet"}, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"networkmanager-dnsmasq-lease-loops", nil, []string{"file:" + UnloopResolvConf, "file:/var/lib/kubelet/config.yaml"}},
		// With resolved, the keyfile is edited and, offline, resolved's uplink file too.
		{"networkmanager-resolved-keyfile", nil, []string{"file:/etc/NetworkManager/system-connections/eth0.nmconnection", "file:/run/systemd/resolve/resolv.conf"}},
		// kubelet's own rules (issue 23): resolvConf "" and clusterDNS are fixed by pointing kubelet at a clean file.
		{"kubelet-resolvconf-empty", nil, []string{"file:/var/lib/kubelet/config.yaml"}},
		{"kubelet-resolv-conf-flag-empty-dualstack", nil, []string{"file:/var/lib/kubelet/kubeadm-flags.env"}},
		{"k3s-kubelet-arg-resolv-conf-empty", nil, []string{"file:/etc/rancher/k3s/config.yaml.d/99-unloop-resolvconf.yaml"}},
		{"kubespray-cluster-dns", nil, []string{"file:" + UnloopResolvConf, "file:/etc/kubernetes/kubelet-config.yaml"}},
		// Kubelets that live elsewhere: the layout's own file, never a base file.
		{"k3s-config-d", nil, []string{"file:/etc/rancher/k3s/config.yaml.d/99-unloop-resolvconf.yaml"}},
		{"k3s-kubelet-arg", nil, []string{"file:/etc/systemd/system/k3s.service"}},
		{"rke2-server", nil, []string{"file:/etc/rancher/rke2/config.yaml.d/99-unloop-resolvconf.yaml"}},
		{"rke2-agent", nil, []string{"file:/etc/rancher/rke2/config.yaml.d/99-unloop-resolvconf.yaml"}},
		{"eks-al2023-nodeadm", nil, []string{"file:/etc/kubernetes/kubelet/config.json.d/99-unloop-resolvconf.conf"}},
		{"kubelet-config-dir", nil, []string{"file:/etc/kubernetes/kubelet.conf.d/99-unloop-resolvconf.conf"}},
		// A site's file that kubelet or k3s reads after 99-unloop-*: unloop's
		// file is named to be read after it, and check then finds it in force.
		{"kubelet-config-dir-letter", nil, []string{"file:/etc/kubernetes/kubelet.conf.d/zz-unloop-resolvconf.conf"}},
		{"kubelet-config-dir-subfolder", nil, []string{"file:/etc/kubernetes/kubelet.conf.d/zz-unloop-resolvconf.conf"}},
		{"k3s-config-d-custom", nil, []string{"file:/etc/rancher/k3s/config.yaml.d/zz-unloop-resolvconf.yaml"}},
		// Debian's resolvconf fixed where it reads the server (issue 24): head, base, dnsmasq's registration.
		{"debian-resolvconf-head", nil, []string{"file:/etc/resolvconf/resolv.conf.d/head", "file:/run/resolvconf/resolv.conf"}},
		{"debian-resolvconf-head", []string{"resolvconf"}, []string{"file:/etc/resolvconf/resolv.conf.d/head", "file:/run/resolvconf/resolv.conf"}},
		{"debian-resolvconf-base", nil, []string{"file:/etc/resolvconf/resolv.conf.d/base", "file:/run/resolvconf/resolv.conf"}},
		{"debian-resolvconf-dnsmasq", nil, []string{"file:/run/resolvconf/interface/lo.dnsmasq", "file:/etc/default/dnsmasq", "file:/run/resolvconf/resolv.conf"}},
		// openresolv fixed where it reads the server (issue 24): resolvconf.conf's value, then its file.
		{"openresolv-name-servers", nil, []string{"file:/etc/resolvconf.conf", "file:/etc/resolv.conf"}},
		{"openresolv-name-servers", []string{"openresolv"}, []string{"file:/etc/resolvconf.conf", "file:/etc/resolv.conf"}},
		{"openresolv-local-only", nil, []string{"file:/etc/resolvconf.conf", "file:/etc/resolv.conf"}},
		{"openresolv-record", nil, []string{"file:/etc/resolvconf.conf", "file:/etc/resolv.conf"}},
		{"microk8s", nil, []string{"file:/var/snap/microk8s/7394/args/kubelet"}},
		{"k8s-snap", nil, []string{"file:/var/snap/k8s/common/args/kubelet"}},
	}
	for _, tt := range tests {
		name := tt.tree + "/" + strings.Join(tt.strategy, ",")
		if tt.strategy == nil {
			name = tt.tree + "/auto"
		}
		t.Run(name, func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			opts := treeOptions(t, comment)
			opts.Strategies = tt.strategy
			env := node.Env{Root: root}
			// Real nodes have these; a test tree may not, and the journal and lock live there.
			for _, d := range []string{"var/lib", "run"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			before := hostcfgtest.State(t, dir, nil)
			beforeDirs := hostcfgtest.Dirs(t, dir, unloopInfra)

			pl, err := MakePlan(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			var diffs strings.Builder
			for _, c := range pl.Changes {
				if c.Kind == KindFile || c.Kind == KindLink {
					got = append(got, c.Kind+":"+c.Path)
					fmt.Fprintf(&diffs, "## %s %s %s [%s]\n%s\n", c.Action, c.Kind, c.Path, c.Strategy, c.Diff)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("changes %q, want %q", got, tt.want)
			}
			if !pl.Changed || len(pl.Unfixed) > 0 {
				t.Fatalf("changed=%v unfixed=%v", pl.Changed, pl.Unfixed)
			}
			golden(t, filepath.Join("testdata", "plans", strings.ReplaceAll(name, "/", "_")+".diff"), []byte(diffs.String()))

			res, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("apply: %v", err)
			}
			if !res.Plan.Changed || res.Run == "" || !res.Verified {
				t.Fatalf("apply: changed=%v run=%q verified=%v", res.Plan.Changed, res.Run, res.Verified)
			}
			rep, _, err := Check(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Status == "error" {
				t.Fatalf("check after apply: %q", codes(rep.Findings))
			}
			again, err := Apply(context.Background(), env, opts)
			if err != nil {
				t.Fatalf("second apply: %v", err)
			}
			if again.Plan.Changed || again.Run != "" {
				t.Fatalf("second apply changed=%v run=%q, want no change", again.Plan.Changed, again.Run)
			}

			for i := range 2 { // the second is refused and changes nothing
				_, err := Rollback(context.Background(), env, opts, res.Run, false)
				if i == 0 && err != nil {
					t.Fatalf("rollback: %v", err)
				}
				if i == 1 && !errors.Is(err, ErrRolledBack) {
					t.Fatalf("second rollback: %v, want %v", err, ErrRolledBack)
				}
				if got := hostcfgtest.Dirs(t, dir, unloopInfra); !slices.Equal(got, beforeDirs) {
					t.Errorf("folders after rollback %q, want %q (a folder apply made is left)", got, beforeDirs)
				}
				after := hostcfgtest.State(t, dir, unloopOwn)
				if !maps.Equal(before, after) {
					for k := range maps.Keys(before) {
						if before[k] != after[k] {
							t.Errorf("%s after rollback:\n%s\nwant:\n%s", k, after[k], before[k])
						}
					}
					for k := range maps.Keys(after) {
						if _, ok := before[k]; !ok {
							t.Errorf("%s left after rollback: %s", k, after[k])
						}
					}
					t.FailNow()
				}
			}
		})
	}
}

// A run killed mid-apply leaves its journal in state started: the next apply
// rolls it back before planning, so the node never keeps half a run.
func TestApplyRecoversCrashedRun(t *testing.T) {
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	opts := treeOptions(t, comment)
	env := node.Env{Root: root}
	before := hostcfgtest.State(t, dir, nil)

	snap, err := root.Snapshot("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	half := []byte("nameserver 192.168.2.136\n")
	left := []journal.Left{journal.LeftFile("/etc/resolv.conf", half)}
	if _, err := journal.New(root, "20260101T000000Z-dead", []string{"dhclient"}, []*hostcfg.Snapshot{snap}, left, nil); err != nil {
		t.Fatal(err)
	}
	// Half of that run: one file written, then the process died.
	if err := root.WriteFile("/etc/resolv.conf", half, 0o644, 0, 0); err != nil {
		t.Fatal(err)
	}

	res, err := Apply(context.Background(), env, opts)
	if err != nil {
		t.Fatalf("apply after a crash: %v", err)
	}
	crashed, err := journal.Load(root, "20260101T000000Z-dead")
	if err != nil {
		t.Fatal(err)
	}
	if crashed.State != journal.RunRolledBack {
		t.Errorf("crashed run is %s, want rolled back", crashed.State)
	}
	if !res.Plan.Changed {
		t.Fatal("apply after the crash changed nothing: it planned from the half-applied node")
	}
	if _, err := Rollback(context.Background(), env, opts, res.Run, false); err != nil {
		t.Fatal(err)
	}
	if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
		t.Fatalf("after recovery, apply and rollback the node is not as it was:\n%v\nwant\n%v", after, before)
	}
}

// When no upstream answers, apply refuses after the check: the result still
// carries the check's report, so `--output json` has something to say.
func TestApplyRefusalKeepsReport(t *testing.T) {
	dir, _ := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "rhel-kubespray-dhclient.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	dead := func(context.Context, netip.Addr) error { return errors.New("i/o timeout") }
	before := hostcfgtest.State(t, dir, nil)
	res, err := Apply(context.Background(), node.Env{Root: root, Probe: dead}, node.Options{})
	if err == nil || !strings.Contains(err.Error(), "no upstream answers DNS") {
		t.Fatalf("apply: %v, want a refusal naming the dead upstreams", err)
	}
	if res == nil || res.Plan.Report == nil || len(res.Plan.Report.Findings) == 0 || res.Plan.Changed {
		t.Fatalf("refused apply's result: %+v", res)
	}
	if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
		t.Fatal("a refused apply changed the node")
	}
}

// TestStaleCopies: a DNS-server pod's stale copy is no part of apply's check
// after the fix (the file fix is right); the plan lists the pod to recreate,
// and a check afterwards still names it until it is.
func TestStaleCopies(t *testing.T) {
	dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", "kubespray-pods-containerd.txtar"))
	root, err := hostcfg.NewRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"var/lib", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := treeOptions(t, comment)
	env := node.Env{Root: root}
	res, err := Apply(context.Background(), env, opts)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	var pods []string
	for _, c := range res.Plan.Changes {
		if c.Kind == KindPods {
			pods = append(pods, c.Pods...)
		}
	}
	if !slices.Contains(pods, "kube-system/nodelocaldns-x7k2p") {
		t.Errorf("the plan lists pods %q to recreate, want kube-system/nodelocaldns-x7k2p", pods)
	}
	rep, _, err := Check(context.Background(), env, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got := codes(rep.Findings); len(got) != 1 || !strings.HasPrefix(got[0], "pod-resolv-conf-stale@") {
		t.Errorf("after apply: %q, want only the stale copy", got)
	}
}

// TestPlansWithoutChanges: on a healthy node the plan changes nothing and
// apply writes nothing (no run to roll back); where the only fixes are by hand
// (a Corefile kubelet mounted into node-local-dns's pod), apply writes nothing
// and leaves them to the user (outcome loops-left, exit 5); where the
// strategy asked for does not apply (the stub strategy for a copy of the stub
// file), apply refuses and writes nothing.
func TestPlansWithoutChanges(t *testing.T) {
	tests := []struct {
		tree     string
		strategy []string
		unfixed  []string // codes apply refuses over, or (left) leaves to the user
		left     bool
	}{
		{tree: "kind-docker-engine"},
		{tree: "k3s-coredns-manifest"},
		{tree: "nodelocaldns-addon"},
		{tree: "nodelocaldns-self-forward", unfixed: []string{"corefile-forward-loop", "corefile-forward-loop", "corefile-forward-loop"}, left: true},
		{tree: "kubeadm-coredns-stub-copy", strategy: []string{"stub"}, unfixed: []string{"nameserver-resolved-stub"}},
	}
	for _, tt := range tests {
		t.Run(tt.tree+"/"+strings.Join(tt.strategy, ","), func(t *testing.T) {
			dir, comment := hostcfgtest.Tree(t, filepath.Join("testdata", "nodes", tt.tree+".txtar"))
			root, err := hostcfg.NewRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"var/lib", "run"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			opts := treeOptions(t, comment)
			opts.Strategies = tt.strategy
			env := node.Env{Root: root}
			before := hostcfgtest.State(t, dir, nil)
			pl, err := MakePlan(context.Background(), env, opts)
			if err != nil {
				t.Fatal(err)
			}
			var unfixed []string
			for _, f := range pl.Unfixed {
				unfixed = append(unfixed, string(f.Code))
			}
			if pl.Changed || len(pl.Changes) > 0 || !slices.Equal(unfixed, tt.unfixed) {
				t.Fatalf("plan changed=%v changes=%d unfixed=%q, want no change, unfixed %q", pl.Changed, len(pl.Changes), unfixed, tt.unfixed)
			}
			res, err := Apply(context.Background(), env, opts)
			switch {
			case tt.left:
				if o, _ := res.Outcome(); err != nil || res.Run != "" || o != OutcomeLoopsLeft || len(res.Plan.Left()) != len(tt.unfixed) {
					t.Fatalf("apply: run %q, %v, outcome %s, left %d; want nothing written, loops-left, %d left", res.Run, err, o, len(res.Plan.Left()), len(tt.unfixed))
				}
			case tt.unfixed != nil && !errors.Is(err, ErrUnfixed):
				t.Fatalf("apply: %v, want %v", err, ErrUnfixed)
			case tt.unfixed == nil && (err != nil || res.Run != ""):
				t.Fatalf("apply: run %q, %v; want nothing done", res.Run, err)
			}
			if after := hostcfgtest.State(t, dir, unloopOwn); !maps.Equal(before, after) {
				t.Errorf("apply wrote to the node")
			}
		})
	}
}
