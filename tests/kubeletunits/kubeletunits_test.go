// Package kubeletunits checks hostcfg's reading of kubelet's command line
// against systemd itself: on a booted node, a fake kubelet records the argv
// systemd gives it, and kubelet.Discover must find the same --config and
// --resolv-conf, the same unit files, and offsets that SetFlagValue can edit
// so that systemd then passes the new value.
package kubeletunits

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/unloop/unloop/hostcfg"
	"github.com/unloop/unloop/hostcfg/kubelet"
	"github.com/unloop/unloop/tests/node"
)

// fakeKubelet writes its arguments, NUL-terminated, where the test reads them.
const fakeKubelet = "#!/bin/sh\nprintf '%s\\0' \"$@\" > /run/kubelet.argv\n"

// oneshot makes `systemctl restart` wait for the fake kubelet to finish, and
// lifts the start rate limit the many restarts would hit.
const oneshot = `-- etc/systemd/system/kubelet.service.d/zz-test-oneshot.conf --
[Unit]
StartLimitIntervalSec=0
[Service]
Type=oneshot
Restart=no
`

var cases = []struct {
	name  string
	files string // txtar; a file named "PATH -> TARGET" is a link
}{{
	name: "kubeadm",
	files: `-- usr/lib/systemd/system/kubelet.service --
[Unit]
Description=kubelet: The Kubernetes Node Agent

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
-- usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf --
# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --resolv-conf=/run/systemd/resolve/resolv.conf"
-- etc/default/kubelet --
# extra flags
KUBELET_EXTRA_ARGS='--node-ip=10.0.0.5 --v=2'
`,
}, {
	name: "kubeadm, the user's --resolv-conf in /etc/default/kubelet wins",
	files: `-- usr/lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet
-- usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf --
[Service]
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
-- var/lib/kubelet/kubeadm-flags.env --
KUBELET_KUBEADM_ARGS="--resolv-conf=/run/systemd/resolve/resolv.conf"
-- etc/default/kubelet --
KUBELET_EXTRA_ARGS=--resolv-conf /etc/kubelet/resolv.conf   
`,
}, {
	name: "kubespray",
	files: `-- etc/systemd/system/kubelet.service --
[Unit]
Description=Kubernetes Kubelet Server

[Service]
EnvironmentFile=-/etc/kubernetes/kubelet.env
ExecStart=/usr/local/bin/kubelet \
		$KUBE_LOGTOSTDERR \
		$KUBE_LOG_LEVEL \
		$KUBELET_API_SERVER \
		$KUBELET_ADDRESS \
		$KUBELET_HOSTNAME \
		$KUBELET_ARGS \
		$KUBELET_NETWORK_PLUGIN \
		$KUBELET_CLOUDPROVIDER
Restart=always
-- etc/kubernetes/kubelet.env --
KUBE_LOGTOSTDERR="--logtostderr=true"
KUBE_LOG_LEVEL="--v=2"
KUBELET_ADDRESS="--node-ip=10.0.0.11"
KUBELET_HOSTNAME="--hostname-override=node1"

KUBELET_ARGS="--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf \
--config=/etc/kubernetes/kubelet-config.yaml \
--kubeconfig=/etc/kubernetes/kubelet.conf \
--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock \
--resolv-conf=/run/systemd/resolve/resolv.conf \
 "
KUBELET_NETWORK_PLUGIN="--network-plugin=cni --cni-conf-dir=/etc/cni/net.d"
KUBELET_CLOUDPROVIDER=""

PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin:/usr/local/sbin
`,
}, {
	name: "quotes, escapes, ${VAR}, $$, %% and comments inside a continuation",
	files: `-- etc/systemd/system/kubelet.service --
[Service]
Environment="ONE=--config=/etc/k/one word.yaml" 'TWO=--v=3 --resolv-conf /r/two' PCT=50
Environment=RC=/etc/from-environment
EnvironmentFile=/etc/kubelet.d/*.env
EnvironmentFile=-/etc/kubelet.d/missing
ExecStart=/usr/local/bin/kubelet "${ONE}" $TWO \
# a comment line inside the continuation
  --literal=$$RC --pct=%%${PCT} "--quoted=a b" \x41\t \
  --resolv_conf=${RC}
-- etc/kubelet.d/a.env --
RC='/etc/from-file'
-- etc/kubelet.d/b.env --
# later files win
RC="/etc/from-b\"quoted\""
`,
}, {
	name: "drop-ins: same names across folders, a masked one, ExecStart resets",
	files: `-- lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/local/bin/kubelet --resolv-conf=/from/lib
-- etc/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/local/bin/kubelet --resolv-conf=/from/etc
-- usr/lib/systemd/system/kubelet.service.d/20-b.conf --
[Service]
ExecStart=
ExecStart=/usr/local/bin/kubelet --resolv-conf=/from/usr-lib-20
-- run/systemd/system/kubelet.service.d/20-b.conf --
[Service]
ExecStart=
ExecStart=/usr/local/bin/kubelet --resolv-conf=/from/run-20 --config /from/run-20.yaml
-- run/systemd/system/kubelet.service.d/10-a.conf --
[Service]
ExecStart=
ExecStart=/usr/local/bin/kubelet --resolv-conf=/from/run-10
-- usr/lib/systemd/system/kubelet.service.d/30-c.conf --
[Service]
ExecStart=
ExecStart=/usr/local/bin/kubelet --resolv-conf=/from/masked
-- etc/systemd/system/kubelet.service.d/30-c.conf -> /dev/null --
`,
}, {
	name: "Environment= in drop-ins, one of them for every service",
	files: `-- usr/lib/systemd/system/kubelet.service --
[Service]
ExecStart=/usr/bin/kubelet $KUBELET_CONFIG_ARGS $KUBELET_EXTRA_ARGS
-- etc/systemd/system/service.d/50-all.conf --
[Service]
Environment=KUBELET_CONFIG_ARGS=--config=/etc/from-service-d.yaml
-- etc/systemd/system/kubelet.service.d/60-extra.conf --
[Service]
Environment="KUBELET_EXTRA_ARGS=--v=2 --resolv-conf=/run/from-drop-in/resolv.conf"
`,
}, {
	name: "an : prefix leaves variables alone",
	files: `-- etc/systemd/system/kubelet.service --
[Service]
Environment=RC=/expanded
ExecStart=:/usr/local/bin/kubelet --resolv-conf=$RC --config=${RC}
`,
}}

// clean removes every file a case may have written.
const clean = `rm -rf /etc/systemd/system/kubelet.service /etc/systemd/system/kubelet.service.d \
	/run/systemd/system/kubelet.service /run/systemd/system/kubelet.service.d \
	/usr/lib/systemd/system/kubelet.service /usr/lib/systemd/system/kubelet.service.d \
	/etc/systemd/system/service.d/50-all.conf \
	/var/lib/kubelet /etc/default/kubelet /etc/kubernetes /etc/kubelet.d /run/kubelet.argv`

func TestKubeletFlagsAsSystemdPassesThem(t *testing.T) {
	for _, release := range []string{"bookworm", "trixie"} {
		t.Run(release, func(t *testing.T) {
			t.Parallel()
			n := node.Boot(t, node.Options{Release: release})
			for _, p := range []string{"/usr/bin/kubelet", "/usr/local/bin/kubelet"} {
				if err := n.WriteFile(p, []byte(fakeKubelet), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					n.Run("sh", "-c", clean)
					writeFiles(t, n, tc.files+oneshot)
					argv := runKubelet(t, n)
					root, err := hostcfg.NewRoot(n.Root())
					if err != nil {
						t.Fatal(err)
					}
					k, err := kubelet.Discover(root, nil)
					if err != nil {
						t.Fatal(err)
					}

					// The unit files systemd loaded, in its order. Names may
					// differ where /lib is /usr/lib: compare the files.
					show := strings.Fields(n.Run("systemctl", "show", "-P", "FragmentPath", "-P", "DropInPaths", "kubelet.service"))
					if got, want := resolveAll(t, root, k.UnitFiles), resolveAll(t, root, show); !slices.Equal(got, want) {
						t.Errorf("unit files %q, systemd read %q", k.UnitFiles, show)
					}
					withSystemds, err := kubelet.Discover(root, show)
					if err != nil || !sameFlags(withSystemds, k) {
						t.Errorf("with systemd's unit list: %+v, %v", withSystemds, err)
					}

					want := flagsOf(argv)
					for name, got := range map[string]*kubelet.Flag{"config": k.ConfigFlag, "resolv-conf": k.ResolvConfFlag} {
						w, ok := want[name]
						switch {
						case !ok && got != nil:
							t.Errorf("--%s %q found, systemd passed none in %q", name, got.Value, argv)
						case ok && got == nil:
							t.Errorf("--%s %q passed by systemd, not found (argv %q)", name, w, argv)
						case ok && got.Value != w:
							t.Errorf("--%s %q found, systemd passed %q (argv %q)", name, got.Value, w, argv)
						}
					}

					// Splice a new value where the flag says and let systemd read it.
					f := k.ResolvConfFlag
					if f == nil || f.ValueStart < 0 {
						t.Logf("--resolv-conf %+v: not a literal value, not edited", f)
						return
					}
					old, err := n.ReadFile(f.File)
					if err != nil {
						t.Fatal(err)
					}
					edited, err := kubelet.SetFlagValue(old, *f, "/etc/unloop/resolv.conf")
					if err != nil {
						t.Fatal(err)
					}
					if err := n.WriteFile(f.File, edited, 0o644); err != nil {
						t.Fatal(err)
					}
					if got := flagsOf(runKubelet(t, n))["resolv-conf"]; got != "/etc/unloop/resolv.conf" {
						t.Errorf("after SetFlagValue on %s systemd passes --resolv-conf %q", f.File, got)
					}
				})
			}
		})
	}
}

func resolveAll(t *testing.T, root *hostcfg.Root, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		rp, err := root.Resolve(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rp)
	}
	return out
}

func sameFlags(a, b *kubelet.Setup) bool {
	v := func(f *kubelet.Flag) string {
		if f == nil {
			return "<none>"
		}
		return f.Value
	}
	return v(a.ConfigFlag) == v(b.ConfigFlag) && v(a.ResolvConfFlag) == v(b.ResolvConfFlag)
}

// writeFiles writes a txtar of node files, links for names "PATH -> TARGET".
func writeFiles(t *testing.T, n *node.Node, files string) {
	t.Helper()
	for _, f := range txtar.Parse([]byte(files)).Files {
		if p, target, ok := strings.Cut(f.Name, " -> "); ok {
			if _, err := n.Exec(context.Background(), "mkdir", "-p", "/"+p[:strings.LastIndex(p, "/")]); err != nil {
				t.Fatal(err)
			}
			if err := n.Symlink(target, "/"+p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := n.WriteFile("/"+f.Name, f.Data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// runKubelet (re)starts the unit and returns the arguments the fake got.
func runKubelet(t *testing.T, n *node.Node) []string {
	t.Helper()
	n.Run("systemctl", "daemon-reload")
	n.Run("rm", "-f", "/run/kubelet.argv")
	n.Run("sh", "-c", "systemctl reset-failed kubelet.service 2>/dev/null || true")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := n.Exec(ctx, "systemctl", "restart", "kubelet.service"); err != nil {
		t.Fatalf("%v\n%s", err, n.Run("sh", "-c", "journalctl -u kubelet.service --no-pager | tail -20"))
	}
	data, err := n.ReadFile("/run/kubelet.argv")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(string(bytes.TrimSuffix(data, []byte{0})), "\x00")
}

// flagsOf reads --config and --resolv-conf out of argv as kubelet's pflag does:
// --name=value or --name value, "_" the same as "-", the last one wins.
func flagsOf(argv []string) map[string]string {
	out := map[string]string{}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		if a == "--" {
			break
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name = strings.ReplaceAll(name, "_", "-")
		if name != "config" && name != "resolv-conf" {
			continue
		}
		if !hasValue {
			if i+1 >= len(argv) {
				break
			}
			i++
			value = argv[i]
		}
		out[name] = value
	}
	return out
}
